"""Process isolation: each session's engine client runs in its own supervised child process.

The Go side of neonize can kill its whole process (fatal map races, nil-pointer panics) in
ways Python cannot catch. :class:`ProcessClient` implements the client protocol on the
app's loop and forwards every call to a child (:mod:`watui.engine.isolation.child`) that
hosts the real client; a crash takes down that one child, which is restarted with backoff.

This package never imports neonize (the child imports the backend by a dotted factory path)
and must stay import-light: ``python -m watui.engine.isolation.child`` imports it before the
child has pointed its stdout and stderr at the log file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["FrameError", "ProcessClient"]

if TYPE_CHECKING:
    from watui.engine.isolation.codec import FrameError
    from watui.engine.isolation.proxy import ProcessClient


def __getattr__(name: str) -> Any:  # lazy, see the module docstring
    if name == "ProcessClient":
        from watui.engine.isolation.proxy import ProcessClient  # noqa: PLC0415

        return ProcessClient
    if name == "FrameError":
        from watui.engine.isolation.codec import FrameError  # noqa: PLC0415

        return FrameError
    raise AttributeError(name)
