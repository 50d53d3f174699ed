"""Errors with the one-line messages users see. The seed's wording is kept where it has one."""


class WatuiError(Exception):
    """Base of every error watui reports as one line, without a traceback."""


class SessionNotFound(WatuiError, KeyError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"session not found: {session_id}")
        self.session_id = session_id

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class NoSessionsAvailable(WatuiError):
    def __init__(self) -> None:
        super().__init__(
            "no sessions available: please initialize at least one session through SessionManager"
        )


class SessionExists(WatuiError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"session already exists: {session_id}")
        self.session_id = session_id


class InvalidSessionId(WatuiError, ValueError):
    pass


class InvalidJID(WatuiError, ValueError):
    pass


class InvalidPhoneNumber(WatuiError, ValueError):
    pass


class ConfigError(WatuiError):
    pass


class StoreError(WatuiError):
    pass


class EngineError(WatuiError):
    """A backend could not do what was asked (not connected, send refused, ...)."""
