"""Schema migrations: the seed's legacy store upgrades in place with nothing lost; anything
that is not ours, or is newer, or fails half-way, is left exactly as it was."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import pytest

from watui.domain.errors import StoreError
from watui.domain.models import ChatFilter, Message, MessageFilter, MessageStatus, from_millis
from watui.store import ChatStorageRepository, migrations
from watui.store.files import inspect_store_file
from watui.store.timeconv import legacy_to_millis

try:
    from fixtures.legacy_store import GO_ZERO_MS, build_legacy_store
except ImportError:  # tests/ became a package
    from tests.fixtures.legacy_store import GO_ZERO_MS, build_legacy_store

LATEST = ChatStorageRepository.latest_version


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_info").fetchone()[0]
    finally:
        conn.close()


def _snapshot(path) -> dict[str, bytes]:
    """The bytes of the store and any side files, to prove nothing was written."""
    out = {}
    for suffix in ("", "-wal", "-journal"):
        candidate = f"{path}{suffix}"
        if os.path.exists(candidate):
            with open(candidate, "rb") as fh:
                out[suffix] = fh.read()
    return out


# --- timestamp conversion ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2024-03-01 12:00:00.123456789+07:00", datetime(2024, 3, 1, 5, 0, 0, 123000, tzinfo=UTC)),
        ("2024-03-01 12:00:00.5-03:30", datetime(2024, 3, 1, 15, 30, 0, 500000, tzinfo=UTC)),
        ("2024-03-01 12:00:00+00:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01 12:00:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01T12:00:00Z", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01T12:00:00.250Z", datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2024-03-01T14:00:00+02:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01 12:00:00.1 +0100 CET", datetime(2024, 3, 1, 11, 0, 0, 100000, tzinfo=UTC)),
        (1709294400, datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (1709294400123, datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        ("1709294400", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (b"2024-03-01 12:00:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_legacy_timestamps_become_utc_millis(cell, expected):
    assert from_millis(legacy_to_millis(cell)) == expected


def test_go_zero_time_and_garbage():
    assert legacy_to_millis("0001-01-01 00:00:00+00:00") == GO_ZERO_MS
    assert legacy_to_millis(None, 42) == 42
    assert legacy_to_millis("not a time", 7) == 7
    assert legacy_to_millis("", 7) == 7


# --- the legacy upgrade --------------------------------------------------------------------
@pytest.fixture
def legacy(tmp_path):
    return build_legacy_store(tmp_path / "chatstorage.db")


async def test_legacy_v2_store_upgrades_with_nothing_lost(legacy):
    before = sqlite3.connect(legacy.path)
    legacy_counts = (
        before.execute("SELECT COUNT(*) FROM chats").fetchone()[0],
        before.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
    )
    before.close()
    assert _version(legacy.path) == 2
    assert legacy_counts == (len(legacy.chats) - 1, legacy.message_count)  # one chat is missing

    async with await ChatStorageRepository.open(legacy.path) as repo:
        assert await repo.schema_version() == LATEST
        # every chat, including the one the orphan messages needed, tagged 'default'
        assert await repo.row_counts() == {"default": (len(legacy.chats), legacy.message_count)}
        chats = await repo.get_chats(ChatFilter(limit=1000))
        assert {c.jid for c in chats} == set(legacy.chats)
        for chat in chats:
            want = legacy.chats[chat.jid]
            assert chat.session_id == "default"
            assert chat.name == want.name
            assert chat.last_message_time == from_millis(want.last_message_time_ms)
            assert chat.ephemeral_expiration == want.ephemeral_expiration
            assert chat.is_group == chat.jid.endswith("@g.us")
            assert chat.unread_count == 0
            newest = want.newest
            assert chat.last_message_id == (newest.id if newest else "")
            if newest:
                assert chat.last_message_sender == newest.sender
                assert chat.last_message_is_from_me == newest.is_from_me

            got = await repo.get_messages(MessageFilter(chat_jid=chat.jid, limit=1000))
            assert len(got) == len(want.messages)
            by_id = {m.id: m for m in got}
            for exp in want.messages:
                m = by_id[exp.id]
                assert m.session_id == "default"
                assert m.chat_jid == exp.chat_jid
                assert m.sender == exp.sender
                assert m.content == exp.content
                assert m.timestamp == from_millis(exp.timestamp_ms)
                assert m.is_from_me == exp.is_from_me
                assert m.media_type == exp.media_type
                assert m.filename == exp.filename
                assert m.url == exp.url
                assert m.media_key == exp.media_key
                assert m.file_sha256 == exp.file_sha256
                assert m.file_enc_sha256 == exp.file_enc_sha256
                assert m.file_length == exp.file_length
                assert m.status == (MessageStatus.SENT if exp.is_from_me else MessageStatus.RECEIVED)
                assert not m.deleted and not m.edited
            # legacy history is not "unread": no read receipts for years of messages
            assert await repo.mark_read(chat.jid) == []
        # the full-text index covers the migrated messages
        hits = await repo.search("résumé")
        assert hits and all("«" in h.snippet for h in hits)
        assert await repo.integrity_check() == []

    conn = sqlite3.connect(legacy.path)
    try:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_info ORDER BY version")] == list(
            range(1, LATEST + 1)
        )
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        pk = [r[1] for r in sorted(conn.execute("PRAGMA table_info(messages)"), key=lambda r: r[5]) if r[5]]
        assert pk == ["session_id", "chat_jid", "id"]  # migration 8: a chat's messages together
        fks = conn.execute("PRAGMA foreign_key_list(messages)").fetchall()
        assert {(r[2], r[3], r[4]) for r in fks} == {("chats", "chat_jid", "jid"), ("chats", "session_id", "session_id")}
        assert conn.execute("SELECT typeof(timestamp) FROM messages GROUP BY 1").fetchall() == [("integer",)]
    finally:
        conn.close()


async def test_backup_is_written_before_migrating(legacy):
    async with await ChatStorageRepository.open(legacy.path):
        pass
    backups = sorted(legacy.path.parent.glob("chatstorage.db.bak-v2-*"))
    assert len(backups) == 1
    assert _mode(backups[0]) == 0o600
    conn = sqlite3.connect(backups[0])
    try:
        assert conn.execute("SELECT MAX(version) FROM schema_info").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == legacy.message_count
    finally:
        conn.close()
    # an up-to-date store is not backed up again
    async with await ChatStorageRepository.open(legacy.path):
        pass
    assert len(list(legacy.path.parent.glob("chatstorage.db.bak-*"))) == 1


async def test_foreign_keys_are_enforced_on_every_connection(legacy):
    async with await ChatStorageRepository.open(legacy.path) as repo:
        for conn in (repo._w, repo._r):
            assert (await conn.execute_fetchall("PRAGMA foreign_keys"))[0][0] == 1
            assert (await conn.execute_fetchall("PRAGMA journal_mode"))[0][0] == "wal"
            assert (await conn.execute_fetchall("PRAGMA busy_timeout"))[0][0] == 10000
            assert (await conn.execute_fetchall("PRAGMA synchronous"))[0][0] == 1  # NORMAL
        with pytest.raises(sqlite3.IntegrityError):
            await repo._w.execute(
                "INSERT INTO messages (id, chat_jid, session_id, sender, timestamp) "
                "VALUES ('x', 'nochat@s.whatsapp.net', 'default', 's', 0)"
            )


@pytest.mark.parametrize("failing_version", [3, 4, LATEST])
async def test_failed_migration_leaves_the_store_as_it_was(legacy, monkeypatch, failing_version):
    before = _snapshot(legacy.path)
    migration = migrations.MIGRATIONS[failing_version - 1]
    real_apply = migration.apply

    def half_then_fail(conn):
        real_apply(conn)  # do all the work (tables dropped, renamed, rows copied) ...
        raise RuntimeError("disk on fire")  # ... then fail before COMMIT

    monkeypatch.setattr(migration, "apply", half_then_fail)
    with pytest.raises(StoreError) as info:
        await ChatStorageRepository.open(legacy.path)
    assert str(legacy.path) in str(info.value)
    assert "disk on fire" in str(info.value)
    assert _snapshot(legacy.path) == before
    assert _version(legacy.path) == 2
    monkeypatch.undo()
    # and it still upgrades once the problem is gone
    async with await ChatStorageRepository.open(legacy.path) as repo:
        assert (await repo.row_counts())["default"][1] == legacy.message_count


async def test_fk_violation_aborts_the_upgrade(legacy, monkeypatch):
    migration = migrations.MIGRATIONS[2]
    real_apply = migration.apply

    def orphaning(conn):
        real_apply(conn)
        # a bad migration that leaves a message without its chat (deferred, so only the
        # check before COMMIT can catch it)
        conn.execute("PRAGMA defer_foreign_keys=ON")
        conn.execute(
            "INSERT INTO messages (id, chat_jid, session_id, sender, timestamp) "
            "VALUES ('x', 'gone@s.whatsapp.net', 'default', 's', 0)"
        )

    monkeypatch.setattr(migration, "apply", orphaning)
    before = _snapshot(legacy.path)
    with pytest.raises(StoreError, match="foreign key"):
        await ChatStorageRepository.open(legacy.path)
    assert _snapshot(legacy.path) == before
    assert _version(legacy.path) == 2


async def test_newer_store_is_refused_and_untouched(tmp_path):
    path = tmp_path / "watui.db"
    async with await ChatStorageRepository.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_info (version) VALUES (?)", (LATEST + 1,))
    conn.commit()
    conn.close()
    before = _snapshot(path)
    with pytest.raises(StoreError) as info:
        await ChatStorageRepository.open(path)
    assert str(info.value) == (
        f"{path}: store schema version {LATEST + 1} is newer than this watui (knows up to {LATEST}); upgrade watui"
    )
    assert _snapshot(path) == before


async def test_non_watui_sqlite_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()
    before = _snapshot(path)
    with pytest.raises(StoreError, match="not a watui chat store") as info:
        await ChatStorageRepository.open(path)
    assert str(path) in str(info.value)
    assert _snapshot(path) == before


async def test_gowa_v8_layout_is_refused(tmp_path):
    path = tmp_path / "gowa8.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_info (version INTEGER PRIMARY KEY DEFAULT 0, updated_at TIMESTAMP)")
    conn.execute(
        "CREATE TABLE chats (jid TEXT NOT NULL, device_id TEXT NOT NULL DEFAULT '', name TEXT, "
        "last_message_time TIMESTAMP, PRIMARY KEY (jid, device_id))"
    )
    conn.execute("CREATE TABLE messages (id TEXT, chat_jid TEXT, device_id TEXT)")
    conn.execute("INSERT INTO schema_info (version) VALUES (2)")
    conn.commit()
    conn.close()
    before = _snapshot(path)
    with pytest.raises(StoreError, match="device_id"):
        await ChatStorageRepository.open(path)
    assert _snapshot(path) == before


async def test_garbage_file_is_refused_and_untouched(tmp_path):
    path = tmp_path / "watui.db"
    path.write_bytes(os.urandom(8192))
    before = _snapshot(path)
    with pytest.raises(StoreError, match="not an SQLite database") as info:
        await ChatStorageRepository.open(path)
    assert str(path) in str(info.value)
    assert _snapshot(path) == before
    assert not os.path.exists(f"{path}-wal")


async def test_migrate_false_on_an_old_store_asks_for_watui_db_upgrade(legacy):
    before = _snapshot(legacy.path)
    with pytest.raises(StoreError, match="watui db upgrade") as info:
        await ChatStorageRepository.open(legacy.path, migrate=False)
    assert "version 2" in str(info.value)
    assert _snapshot(legacy.path) == before
    assert not list(legacy.path.parent.glob("*.bak-*"))


async def test_migrate_false_does_not_create_a_store(tmp_path):
    path = tmp_path / "new" / "watui.db"
    with pytest.raises(StoreError, match="watui db upgrade"):
        await ChatStorageRepository.open(path, migrate=False)
    assert not path.exists()


async def test_migrate_false_opens_a_current_store(tmp_path):
    path = tmp_path / "watui.db"
    async with await ChatStorageRepository.open(path):
        pass
    async with await ChatStorageRepository.open(path, migrate=False) as repo:
        assert await repo.schema_version() == LATEST


async def test_fresh_store_walks_every_migration(tmp_path):
    path = tmp_path / "watui.db"
    async with await ChatStorageRepository.open(path) as repo:
        assert await repo.schema_version() == LATEST
        assert await repo.integrity_check() == []
    info = inspect_store_file(path)
    assert {"chats", "messages", "sessions", "contacts", "outbox", "reactions", "pending_updates", "messages_fts"} <= info.tables
    conn = sqlite3.connect(path)
    try:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_info ORDER BY version")] == list(range(1, LATEST + 1))
        indexes = {r[0]: r[1] for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        assert "session_id, last_message_time DESC, jid" in indexes["idx_chats_session_time"]
        assert "session_id, chat_jid, timestamp DESC, id" in indexes["idx_messages_session_chat_time"]
        assert "name COLLATE NOCASE" in indexes["idx_chats_session_name"]
    finally:
        conn.close()
    assert not list(tmp_path.glob("*.bak-*"))  # nothing to back up


def test_migration_list_is_append_only():
    """Versions are 1..N in order; 1 and 2 are the seed's v7 DDL, never edited."""
    assert [m.version for m in migrations.MIGRATIONS] == list(range(1, LATEST + 1))
    conn = sqlite3.connect(":memory:")
    migrations.MIGRATIONS[0].apply(conn)
    migrations.MIGRATIONS[1].apply(conn)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(chats)")]
    assert cols == ["jid", "name", "last_message_time", "ephemeral_expiration", "created_at", "updated_at"]
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'idx_messages_id'").fetchone()


async def test_store_file_modes(tmp_path):
    data = tmp_path / "data" / "deeper"
    path = data / "watui.db"
    old = os.umask(0)  # the store must not depend on a sane umask
    try:
        repo = await ChatStorageRepository.open(path)
    finally:
        os.umask(old)
    try:
        await repo.store_message(
            Message(id="m1", chat_jid="a@s.whatsapp.net", sender="a@s.whatsapp.net",
                    timestamp=datetime.now(UTC) - timedelta(seconds=1), content="hi")
        )
        assert _mode(path) == 0o600
        assert _mode(data) == 0o700
        assert _mode(tmp_path / "data") == 0o700
        for suffix in ("-wal", "-shm"):
            assert os.path.exists(f"{path}{suffix}")
            assert _mode(f"{path}{suffix}") == 0o600
    finally:
        await repo.close()


async def test_legacy_store_with_wider_modes_is_tightened(legacy):
    os.chmod(legacy.path, 0o644)
    async with await ChatStorageRepository.open(legacy.path):
        assert _mode(legacy.path) == 0o600


def _build_at(path, version: int) -> None:
    """A store as an older watui left it: migrations 1..version applied, nothing more."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE schema_info (version INTEGER PRIMARY KEY DEFAULT 0, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")
    for migration in migrations.MIGRATIONS[:version]:
        migration.apply(conn)
        conn.execute("INSERT INTO schema_info (version) VALUES (?)", (migration.version,))
    conn.close()


@pytest.mark.parametrize("version", [3, 4, 5])
async def test_intermediate_versions_upgrade(tmp_path, version):
    path = tmp_path / "watui.db"
    _build_at(path, version)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO chats (jid, session_id, name, last_message_time) VALUES ('a@s.whatsapp.net', 'work', 'A', 1000)")
    conn.execute(
        "INSERT INTO messages (id, chat_jid, session_id, sender, content, timestamp) "
        "VALUES ('m1', 'a@s.whatsapp.net', 'work', 'a@s.whatsapp.net', 'kept across upgrades', 1000)"
    )
    conn.commit()
    conn.close()
    async with await ChatStorageRepository.open(path) as repo:
        assert await repo.schema_version() == LATEST
        got = await repo.get_message("a@s.whatsapp.net", "m1", "work")
        assert got.content == "kept across upgrades" and got.timestamp == from_millis(1000)
        assert [h.message.id for h in await repo.search("kept", session_ids=["work"])] == ["m1"]
        assert await repo.integrity_check() == []
    assert len(list(tmp_path.glob(f"watui.db.bak-v{version}-*"))) == 1
