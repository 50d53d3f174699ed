"""SIGKILL during a migration. A legacy store as the seed left it (40,000 messages: its
upgrade takes a second or more) is upgraded by the real `watui db upgrade` in a subprocess,
which is killed during the backup copy, right after the backup is written, at seeded random
points of the migration itself, and just after its commit. After each kill: the store opens
and is either at the old version byte for byte, or at the new one with every message; every
file named like a backup is a complete copy of the original; running the upgrade again
succeeds and every message is there exactly once with the fields the seed's store held."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from watui.store import ChatStorageRepository
from watui.store.files import inspect_store_file, partial_backup_path
from watui.store.migrations import LATEST_VERSION, upgrade_store

try:
    from fixtures.legacy_store import LegacyStore, build_legacy_store
except ImportError:  # tests/ became a package
    from tests.fixtures.legacy_store import LegacyStore, build_legacy_store

REPO = Path(__file__).resolve().parents[1]
CHATS, PER_CHAT = 100, 400  # 40,000 messages, ~19 MB: the upgrade takes 1-2 s
LEGACY_VERSION = 2
# Where in the migration the kills land, as fractions of the measured upgrade time: one
# seeded random point in each third of its first three quarters (the same points on every
# run; short of the end, so each lands inside the transaction even on a faster run).
_rng = random.Random(8)
KILL_FRACTIONS = [_rng.uniform(start, start + 0.23) for start in (0.05, 0.28, 0.51)]


@dataclass
class Original:
    path: Path
    legacy: LegacyStore
    sha256: str
    digest: str  # every table's rows, for comparing backups with it
    upgraded: str  # what the messages and chats look like after an uninterrupted upgrade
    upgrade_seconds: float


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows_digest(path: Path, queries: list[str]) -> str:
    digest = hashlib.sha256()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for query in queries:
            digest.update(query.encode())
            for row in conn.execute(query):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def _content_digest(path: Path) -> str:
    """Schema and rows of every table: equal for a store and a complete copy of it."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
        tables = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
    finally:
        conn.close()
    return _rows_digest(path, [f"SELECT {sql!r}" for _, sql in tables] + [
        f'SELECT * FROM "{name}" ORDER BY rowid' for name, _ in tables
    ])


def _upgraded_digest(path: Path) -> str:
    """Every message, every column; the chats without the two columns the upgrade fills
    with the time it ran (a chat created for orphan messages)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        chat_columns = [r[1] for r in conn.execute("PRAGMA table_info(chats)") if r[1] not in ("created_at", "updated_at")]
    finally:
        conn.close()
    return _rows_digest(path, [
        "SELECT * FROM messages ORDER BY session_id, chat_jid, id",
        f"SELECT {', '.join(chat_columns)} FROM chats ORDER BY session_id, jid",
    ])


def _assert_fields_as_the_seed_held_them(path: Path, legacy: LegacyStore) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            """SELECT chat_jid, id, session_id, sender, content, timestamp, is_from_me, media_type,
                      filename, url, media_key, file_sha256, file_enc_sha256, file_length
               FROM messages"""
        ).fetchall()
    finally:
        conn.close()
    got = {(r[0], r[1]): r[2:] for r in rows}
    assert len(rows) == len(got) == legacy.message_count
    for m in legacy.all_messages():
        assert got[(m.chat_jid, m.id)] == (
            "default", m.sender, m.content, m.timestamp_ms, int(m.is_from_me), m.media_type,
            m.filename, m.url, m.media_key or None, m.file_sha256 or None,
            m.file_enc_sha256 or None, m.file_length,
        ), m.id


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Original:
    base = tmp_path_factory.mktemp("legacy")
    legacy = build_legacy_store(base / "original.db", chats=CHATS, messages_per_chat=PER_CHAT)
    reference = base / "reference" / "watui.db"
    reference.parent.mkdir()
    shutil.copy(legacy.path, reference)
    started = time.monotonic()
    upgrade_store(reference)
    seconds = time.monotonic() - started
    _assert_fields_as_the_seed_held_them(reference, legacy)
    return Original(
        legacy.path, legacy, _sha256(legacy.path), _content_digest(legacy.path),
        _upgraded_digest(reference), seconds,
    )


def _spawn_upgrade(tmp_path: Path, original: Original) -> tuple[subprocess.Popen[bytes], Path]:
    """`watui db upgrade` on a copy of the original, in its own data dir."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    shutil.copy(original.path, data / "watui.db")
    env = dict(os.environ, PYTHONPATH=str(REPO), WATUI_CONFIG=str(tmp_path / "config.toml"))
    for name in list(env):
        if name == "SESSIONS" or name.endswith(("DB_URI", "DB_KEYS_URI")) or name == "WATUI_DATA_DIR":
            del env[name]
    process = subprocess.Popen(
        [sys.executable, "-m", "watui", "--data-dir", str(data), "db", "upgrade"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    return process, data / "watui.db"


def _backups(store: Path) -> list[Path]:
    return sorted(store.parent.glob(f"{store.name}.bak-*"))


def _wait_for(process: subprocess.Popen[bytes], condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the upgrade ended before the kill: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the kill point")
        time.sleep(0.0005)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL


async def _check_after_kill(store: Path, original: Original) -> str:
    """The store as the killed upgrade left it, then upgraded again. Returns 'old'/'new'."""
    # it opens (SQLite rolls back the killed transaction) at one version or the other
    version = inspect_store_file(store).version
    assert version in (LEGACY_VERSION, LATEST_VERSION), f"store left at version {version}"
    if version == LEGACY_VERSION:
        assert _sha256(store) == original.sha256, "the old store is not as it was, byte for byte"
    else:
        assert _upgraded_digest(store) == original.upgraded
    # upgrading again (what the next `watui db upgrade` or app start does) finishes the job
    async with await ChatStorageRepository.open(store) as repo:
        assert await repo.schema_version() == LATEST_VERSION
        assert await repo.integrity_check() == []  # integrity, foreign keys, full-text index
        assert await repo.row_counts() == {"default": (len(original.legacy.chats), original.legacy.message_count)}
    assert _upgraded_digest(store) == original.upgraded  # every message once, every field equal
    # every file named like a backup -- those the killed upgrade left and the one written
    # now -- is a complete copy of the original
    backups = _backups(store)
    assert backups, "no backup of the original was kept"
    for backup in backups:
        assert _content_digest(backup) == original.digest, f"{backup.name} is not a copy of the original"
    assert not partial_backup_path(store).exists(), "a partial backup was left behind"
    return "old" if version == LEGACY_VERSION else "new"


async def test_sigkill_during_the_backup_copy(tmp_path, original):
    """Frozen (SIGSTOP) while the copy is being written, then killed: the original is
    untouched, and the half-written copy has no backup's name."""
    for attempt in range(5):
        run = tmp_path / f"attempt{attempt}"
        run.mkdir()
        process, store = _spawn_upgrade(run, original)
        partial = partial_backup_path(store)

        def copying() -> bool:
            return any(f.stat().st_size > 0 for f in (partial, *_backups(store)) if f.exists())

        try:
            _wait_for(process, copying)
            process.send_signal(signal.SIGSTOP)
            caught = partial.exists()
        finally:
            _kill(process)
        for backup in _backups(store):  # whenever the kill came, nothing half-written has that name
            assert _content_digest(backup) == original.digest, f"{backup.name} is not a copy of the original"
        if not caught:
            continue  # the copy finished between two looks: try again
        assert _sha256(store) == original.sha256
        assert not Path(f"{store}-journal").exists()  # the migration had not begun
        assert await _check_after_kill(store, original) == "old"
        return
    pytest.fail("the kill never landed during the backup copy")


async def test_sigkill_right_after_the_backup_is_written(tmp_path, original):
    process, store = _spawn_upgrade(tmp_path, original)
    try:
        _wait_for(process, lambda: bool(_backups(store)))
    finally:
        _kill(process)
    assert len(_backups(store)) == 1
    assert await _check_after_kill(store, original) == "old"


async def test_sigkill_at_random_points_of_the_migration(tmp_path, original):
    outcomes = []
    for n, fraction in enumerate(KILL_FRACTIONS):
        run = tmp_path / f"kill{n}"
        run.mkdir()
        process, store = _spawn_upgrade(run, original)
        try:
            # timed from the start of the transaction (the backup copy is its first step)
            _wait_for(process, lambda: partial_backup_path(store).exists() or bool(_backups(store)))
            time.sleep(fraction * original.upgrade_seconds)
        finally:
            _kill(process)
        journal = Path(f"{store}-journal")
        in_flight = journal.exists() and journal.stat().st_size > 0
        outcomes.append((round(fraction, 2), in_flight, await _check_after_kill(store, original)))
    # the points are meant to land inside the transaction: at least one must have
    assert any(in_flight for _, in_flight, _ in outcomes), outcomes


async def test_sigkill_just_after_the_commit(tmp_path, original):
    """Killed as soon as the new version is visible to a reader: the store is entirely new."""
    process, store = _spawn_upgrade(tmp_path, original)

    def committed() -> bool:
        try:
            conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0)
            try:
                return conn.execute("SELECT MAX(version) FROM schema_info").fetchone()[0] == LATEST_VERSION
            finally:
                conn.close()
        except sqlite3.OperationalError:  # locked while the upgrade commits
            return False

    try:
        _wait_for(process, committed)
    finally:
        _kill(process)
    assert await _check_after_kill(store, original) == "new"
