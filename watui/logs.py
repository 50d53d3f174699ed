"""Logging goes to files in the data dir, never to the terminal: a stray line on stderr
would tear through the TUI, and over SSH there is no other console to read it on."""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(logs_dir: Path, *, level: int = logging.INFO, name: str = "watui.log") -> Path:
    """Send every logger to a rotating private file and nowhere else. Returns its path."""
    logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = logs_dir / name
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    handler = RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
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
