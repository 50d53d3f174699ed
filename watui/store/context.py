"""The seed's WithSessionID / GetSessionID / GetSessionIDOrDefault, over a ContextVar.

Each session's consumer task runs its handlers inside ``with_session_id(session)``, so a
repository call that names no session writes to the session whose event is being handled.
An unset context means the 'default' session (the seed's backward compatibility), never
"all sessions".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from watui.domain.session_id import validate_session_id

DEFAULT_SESSION_ID = "default"

_session_id: ContextVar[str | None] = ContextVar("watui_session_id", default=None)


@contextmanager
def with_session_id(session_id: str) -> Iterator[str]:
    token = _session_id.set(validate_session_id(session_id))
    try:
        yield session_id
    finally:
        _session_id.reset(token)


def get_session_id() -> str | None:
    return _session_id.get()


def get_session_id_or_default() -> str:
    return _session_id.get() or DEFAULT_SESSION_ID


def resolve_session_id(explicit: str | None = None) -> str:
    """An explicit id wins, then the context's, then 'default'; always validated."""
    return validate_session_id(explicit or get_session_id_or_default())
