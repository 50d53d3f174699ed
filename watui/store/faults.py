"""Which store errors mean "the store cannot be written right now" and which mean "this data
was refused".

A full disk, a read-only file, another process holding the lock past the busy timeout, an
I/O error or a file that cannot be opened are conditions of the machine: the same write can
succeed once they clear, so the caller keeps the data and tries again (the session's event
consumer, the outbox). Anything else is about the data itself (a bad event) and retrying
cannot help. The session, the outbox path and the CLI all decide with :func:`unwritable_reason`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from watui.domain.errors import StoreError

# primary SQLite result codes (the low byte of an extended code)
_SHORT_REASONS = {
    3: "permission denied",  # SQLITE_PERM
    5: "locked by another process",  # SQLITE_BUSY (past the busy timeout)
    6: "locked by another process",  # SQLITE_LOCKED
    8: "the store is read-only",  # SQLITE_READONLY
    10: "disk I/O error",  # SQLITE_IOERR
    13: "database or disk is full",  # SQLITE_FULL
    14: "cannot open the database file",  # SQLITE_CANTOPEN
}
# the same conditions by SQLite's message, for errors that carry no code
_MESSAGES = (
    ("database or disk is full", "database or disk is full"),
    ("readonly database", "the store is read-only"),
    ("database is locked", "locked by another process"),
    ("database table is locked", "locked by another process"),
    ("disk i/o error", "disk I/O error"),
    ("unable to open database file", "cannot open the database file"),
)


class StoreUnwritable(StoreError):
    """The store could not be written for a reason outside the data (see the module
    docstring); nothing of the write was kept and the same write may succeed later.
    ``reason`` is the short form a status line shows."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot write the store {path}: {reason}")
        self.path = str(path)
        self.reason = reason


def unwritable_reason(error: BaseException) -> str | None:
    """The short reason when ``error`` -- or an error it was raised from or while handling
    (a failed ROLLBACK TO after SQLite already rolled the transaction back) -- says the store
    is unwritable; None when the data itself was refused."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = _own_reason(current)
        if reason:
            return reason
        current = current.__cause__ or current.__context__
    return None


def _own_reason(error: BaseException) -> str | None:
    if isinstance(error, StoreUnwritable):
        return error.reason
    if not isinstance(error, sqlite3.Error):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SHORT_REASONS:
        return _SHORT_REASONS[code & 0xFF]
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        for needle, reason in _MESSAGES:
            if needle in text:
                return reason
    return None


def as_unwritable(error: BaseException, path: str | Path) -> BaseException:
    """``error`` as a StoreUnwritable (one clear line naming the store) when it says the store
    is unwritable, else ``error`` itself."""
    if isinstance(error, StoreUnwritable):
        return error
    reason = unwritable_reason(error)
    if reason is None:
        return error
    unwritable = StoreUnwritable(path, reason)
    unwritable.__cause__ = error  # SQLite's own words stay in the log's traceback
    return unwritable


__all__ = ["StoreUnwritable", "as_unwritable", "unwritable_reason"]
