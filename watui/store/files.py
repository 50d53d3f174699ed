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


def _file_uri(path: Path, mode: str) -> str:
    quoted = str(path.resolve()).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{quoted}?mode={mode}"


def _readonly_uri(path: Path, *, immutable: bool = True) -> str:
    """Read-only, and when no -wal/-journal exists also ``immutable``: then SQLite creates no
    side files at all, so looking at a file we may refuse leaves its directory as it was.
    ``immutable=False`` where another connection may be writing (immutable skips locking)."""
    side = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
    return _file_uri(path, "ro") + ("" if side or not immutable else "&immutable=1")


# What a read-only connection answers when the file needs SQLite's crash recovery first: a
# hot rollback journal (a writer was killed mid-transaction, e.g. during a migration of a
# legacy store) or a WAL index to rebuild.
_NEEDS_RECOVERY = {sqlite3.SQLITE_READONLY_ROLLBACK, sqlite3.SQLITE_READONLY_RECOVERY}


def inspect_store_file(path: Path) -> StoreFileInfo:
    """Recognise ``path``: missing/empty, a legacy or watui store (with its schema version),
    or raise StoreError for anything else. Opens read-only and never changes what the file
    holds; the one write it may cause is SQLite's own crash recovery (see
    ``recover_interrupted_write``), which any SQLite client does on its first read."""
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
        return _read_store_info(path)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) not in _NEEDS_RECOVERY:
            raise StoreError(f"{path}: not a usable SQLite database: {exc}") from exc
    recover_interrupted_write(path)
    try:
        return _read_store_info(path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable SQLite database: {exc}") from exc


def recover_interrupted_write(path: Path) -> None:
    """Let SQLite roll back the transaction of a writer that was killed (its hot journal
    holds the pages as they were at the last COMMIT), so the file reads as it was committed.
    A read-only connection cannot do it and would call the store unusable. This changes no
    committed row: it is what the killed writer's next start, or any SQLite client, does."""
    try:
        conn = sqlite3.connect(_file_uri(path, "rw"), uri=True)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(
            f"{path}: an interrupted write left it needing recovery, and recovering failed: {exc}"
        ) from exc
    tighten_side_files(path)


def _read_store_info(path: Path) -> StoreFileInfo:
    conn = sqlite3.connect(_readonly_uri(path), uri=True)
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


def partial_backup_path(path: Path) -> Path:
    """Where a backup is written before it gets its name: hidden, and not matching
    ``<name>.bak-*``, so a copy cut short can never pass for a backup."""
    return path.with_name(f".{path.name}.backup-in-progress")


def backup_store(path: Path, old_version: int) -> Path:
    """Copy the committed store to ``<name>.bak-v<old>-<timestamp>`` with the SQLite backup
    API, through its own read-only connection. The copy is written under a temporary name,
    synced, then renamed: a process killed half-way leaves no file with a backup's name.

    The caller holds the store's write lock (BEGIN IMMEDIATE), so nobody commits between
    the copy and the migration, and a partial file found now was left by a killed upgrade."""
    target = backup_path_for(path, old_version)
    partial = partial_backup_path(path)
    try:
        partial.unlink(missing_ok=True)
        create_private_file(partial)
        source = sqlite3.connect(_readonly_uri(path, immutable=False), uri=True)
        try:
            source.execute("PRAGMA busy_timeout=10000")
            dest = sqlite3.connect(partial)
            try:
                dest.execute("PRAGMA synchronous=FULL")  # the copy is on disk before the rename
                source.backup(dest)
            finally:
                dest.close()
        finally:
            source.close()
        tighten_side_files(partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise StoreError(f"{path}: cannot write the backup {target.name}: {exc}") from exc
    paths.fsync_dir(target.parent)  # the rename itself survives a crash
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
    "partial_backup_path",
    "recover_interrupted_write",
    "tighten_side_files",
]
