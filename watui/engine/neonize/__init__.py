"""The neonize (whatsmeow) backend: the only package in watui that imports neonize.

Importing this package itself does NOT import neonize, so that a process that only talks
to a neonize worker (process isolation) can use names from here without loading the Go
library. Modules below that import neonize call :func:`quiet_neonize_logging` right after.
"""

from __future__ import annotations

import importlib
import logging

_QUIET_LOGGERS = ("neonize", "whatsmeow", "Whatsmeow")


def quiet_neonize_logging() -> None:
    """Undo what importing neonize does to logging, so that nothing reaches the terminal.

    ``neonize.utils.log`` runs ``logging.basicConfig`` at import with a stderr handler on the
    root logger (only if the root had no handler yet), and sets the root level to INFO. We
    remove exactly that handler (other root handlers, the app's log file or pytest's capture,
    stay) and restore the default level it changed. The neonize/whatsmeow loggers get a
    NullHandler so that, while no handler is configured at all, their warnings do not fall
    through to Python's last-resort stderr handler; records still propagate to the root, so
    the app's log file sees them once ``watui.logs.setup_logging`` has run. Idempotent.
    """
    # neonize.utils re-exports a Logger named ``log`` that shadows the submodule attribute,
    # so ``from neonize.utils import log`` would give the Logger: fetch the module itself.
    neonize_log = importlib.import_module("neonize.utils.log")
    root = logging.getLogger()
    handler = getattr(neonize_log, "stream_handler", None)
    if handler is not None and handler in root.handlers:
        root.removeHandler(handler)
        if root.level == logging.INFO:  # what basicConfig set; the app sets its own later
            root.setLevel(logging.WARNING)
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


__all__ = ["quiet_neonize_logging"]
