"""Logging goes to files in the data dir, never to the terminal: a stray line on stderr
would tear through the TUI, and over SSH there is no other console to read it on.

Log files are private (0600, in a 0700 directory) like everything else watui writes: an
existing looser file is tightened, and so is every file a rotation starts."""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

from watui.paths import PRIVATE_FILE_MODE, ensure_private_dir, ensure_private_file

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are 0600 whatever the umask (the stock one opens
    the file a rotation starts with the umask's mode, usually 0644)."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(logs_dir: Path, *, level: int = logging.INFO, name: str = "watui.log") -> Path:
    """Send every logger to a rotating private file and nowhere else. Returns its path."""
    ensure_private_dir(logs_dir)
    path = logs_dir / name
    ensure_private_file(path)  # an existing 0644 log is tightened
    handler = PrivateRotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return path


LOG_MAX_BYTES = 5_000_000
LOG_KEEP = 3


def rotate_log(path: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> None:
    """For logs written to a raw file descriptor (an engine child's, or Go's in inline mode),
    which a RotatingFileHandler cannot rotate: before the writer opens it, a log past
    ``max_bytes`` becomes ``.1`` (``.1`` becomes ``.2`` ...)."""
    try:
        if path.stat().st_size < max_bytes:
            return
    except FileNotFoundError:
        return
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))
