"""The store file on disk: private permissions, recognising what a file is, backups.

The store holds private conversations, so it is created 0600 inside a 0700 directory,
whatever the process umask, and the WAL side files are tightened after SQLite creates them.
A file that is not ours is never written to.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from watui import paths
from watui.domain.errors import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"
FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) 0700. An existing directory is left as is:
    ``[store] path`` may point into a directory of the user's that is not ours to chmod."""
    if directory.is_dir():
        return
    try:
        paths.ensure_private_dir(directory)
    except OSError as exc:
        raise StoreError(f"{directory}: cannot create the store directory: {exc.strerror or exc}") from exc


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 (before SQLite opens it, so it never exists wider)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, FILE_MODE)  # the umask may have removed bits we want; never adds any
    finally:
        os.close(fd)


def tighten_side_files(path: Path) -> None:
    """chmod the store and its -wal/-shm/-journal to 0600 where they exist."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(candidate.stat().st_mode) != FILE_MODE:
                os.chmod(candidate, FILE_MODE)


@dataclass(slots=True)
class StoreFileInfo:
    """What an existing file is, found without writing to it."""

    exists: bool
    empty: bool = True
    version: int = 0
    tables: set[str] = field(default_factory=set)
    chat_columns: set[str] = field(default_factory=set)


def _readonly_uri(path: Path) -> str:
    """Read-only, and when no -wal/-journal exists also ``immutable``: then SQLite creates no
    side files at all, so looking at a file we may refuse leaves its directory as it was."""
    quoted = str(path.resolve()).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    side = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
    return f"file:{quoted}?mode=ro" + ("" if side else "&immutable=1")


def inspect_store_file(path: Path) -> StoreFileInfo:
    """Recognise ``path``: missing/empty, a legacy or watui store (with its schema version),
    or raise StoreError for anything else. Opens read-only; never writes."""
    if not path.exists():
        return StoreFileInfo(exists=False)
    if not path.is_file():
        raise StoreError(f"{path}: not a regular file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the store: {exc.strerror or exc}") from exc
    if header == b"":
        return StoreFileInfo(exists=True, empty=True)
    if header != SQLITE_HEADER:
        raise StoreError(f"{path}: not an SQLite database (refusing to touch it)")
    try:
        conn = sqlite3.connect(_readonly_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
            )
        }
        info = StoreFileInfo(exists=True, empty=not tables, tables=tables)
        if not tables:
            return info
        if "chats" in tables:
            info.chat_columns = {row[1] for row in conn.execute("PRAGMA table_info(chats)")}
        if "schema_info" in tables:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_info").fetchone()
            info.version = int(row[0] or 0)
        return info
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()


def backup_path_for(path: Path, old_version: int, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{path.name}.bak-v{old_version}-{stamp}"
    candidate = path.with_name(base)
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{base}-{n}")
        n += 1
    return candidate


def backup_store(source: sqlite3.Connection, path: Path, old_version: int) -> Path:
    """Copy the open store to ``<name>.bak-v<old>-<timestamp>`` with the SQLite backup API."""
    target = backup_path_for(path, old_version)
    create_private_file(target)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    except sqlite3.Error as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise StoreError(f"{path}: cannot write the backup {target.name}: {exc}") from exc
    tighten_side_files(target)
    return target


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "StoreFileInfo",
    "backup_path_for",
    "backup_store",
    "create_private_file",
    "ensure_private_dir",
    "inspect_store_file",
    "tighten_side_files",
]
