"""Keep Go's writes off the terminal when the engine runs inside the UI process.

whatsmeow writes straight to file descriptors 1 and 2 ("Press Ctrl+C to exit", panics), and
neonize adds a stderr log handler at import; either tears through a full-screen UI. The
recipe measured with Textual 8.2.8 (neonize-notes §5): keep duplicates of the terminal's fds
for the UI, point sys.__stdout__/__stderr__ at them (Textual writes to sys.__stderr__ and
sizes itself from sys.__stdout__), and put a log file on fds 1 and 2 for everything else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from watui.logs import rotate_log

_done = False


def divert_stdio(log_path: Path) -> None:
    """Once per process, before neonize is imported and before the UI starts."""
    global _done
    if _done:
        return
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    rotate_log(log_path)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    terminal_err = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(log_fd, 0o600)  # an older file may have been created looser
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = sys.__stdout__ = terminal_out
    sys.stderr = sys.__stderr__ = terminal_err
    _done = True
