"""One watui per data dir. Two instances on the same sessions would each connect the same
WhatsApp devices, and WhatsApp answers that by replacing one stream with the other, over
and over. The lock is an flock on a file in the data dir: the kernel drops it when the
process dies, however it dies, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from watui.domain.errors import WatuiError

LOCK_NAME = "watui.lock"


class InstanceLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise WatuiError(
                f"another watui is already running on {self.path.parent} (pid {owner}); "
                "quit it first, or use --data-dir for a separate set of sessions"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
