"""The sim's own error (for test/demo operations on the network, never raised to the app)."""

from watui.domain.errors import WatuiError


class SimError(WatuiError):
    """The sim network refused a test/demo operation (unknown account, expired code ...)."""
