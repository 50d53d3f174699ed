"""Versioned schema migrations for the chat store.

The list is append-only: a released migration is never edited or reordered (the seed rewrote
its migrations in place at v8 and every v7 store broke with "no such column: device_id").
Migrations 1 and 2 are the seed's single-session layout exactly as go-whatsapp-web-multidevice
v7 shipped it, so a fresh store walks the same path a legacy store does. Migration 3 is the
seed's multi-session migration, done as a real data migration. 4+ are watui's.

``upgrade_store`` applies every pending migration inside ONE ``BEGIN IMMEDIATE`` transaction
on a plain sqlite3 connection with foreign keys enforced; each migration is recorded in
``schema_info``; a foreign_key_check runs before COMMIT; any error rolls the whole upgrade back,
so a failed upgrade leaves the file exactly as it was (same bytes, same version). An existing
store with a schema is copied to ``<name>.bak-v<old>-<timestamp>`` first, inside that
transaction (written under a temporary name, then renamed).

A process killed at any point leaves the store at the old version or the new one (SQLite rolls
an interrupted transaction back on the next open: ``files.recover_interrupted_write``), and no
file named like a backup that is not a complete one (tests/test_faults_kill_migration.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watui.domain.errors import StoreError
from watui.store.files import (
    StoreFileInfo,
    backup_store,
    create_private_file,
    ensure_private_dir,
    inspect_store_file,
    tighten_side_files,
)
from watui.store.timeconv import legacy_to_millis

# Milliseconds since the epoch, UTC, as an SQL expression (no unixepoch(): SQLite < 3.38).
NOW_MS_SQL = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

PREVIEW_MAX = 200


class MigrationError(StoreError):
    pass


def preview_text(content: str, media_type: str, deleted: bool) -> str:
    """The chat list's one-line preview: Message.preview's rules (a test holds them equal),
    without building a Message on the ingest hot path."""
    if deleted:
        return "This message was deleted"
    text = " ".join((content or "").split())
    if media_type:
        label = f"[{media_type}]"
        text = f"{label} {text}" if text else label
    return text[:PREVIEW_MAX]


@dataclass(slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _run_all(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    # One execute per statement: executescript() may COMMIT behind our back.
    for statement in statements:
        conn.execute(statement)


def _sql(*statements: str) -> Callable[[sqlite3.Connection], None]:
    return lambda conn: _run_all(conn, statements)


# --- 1, 2: the seed's v7 layout, verbatim (go-whatsapp-web-multidevice before 1b762b8) ------
_M1 = (
    """CREATE TABLE IF NOT EXISTS chats (
        jid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        last_message_time TIMESTAMP NOT NULL,
        ephemeral_expiration INTEGER DEFAULT 0,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        id TEXT NOT NULL,
        chat_jid TEXT NOT NULL,
        sender TEXT NOT NULL,
        content TEXT,
        timestamp TIMESTAMP NOT NULL,
        is_from_me BOOLEAN DEFAULT FALSE,
        media_type TEXT,
        filename TEXT,
        url TEXT,
        media_key BLOB,
        file_sha256 BLOB,
        file_enc_sha256 BLOB,
        file_length INTEGER DEFAULT 0,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (id, chat_jid),
        FOREIGN KEY (chat_jid) REFERENCES chats(jid) ON DELETE CASCADE
    )""",
    "CREATE INDEX IF NOT EXISTS idx_messages_chat_jid ON messages(chat_jid)",
    "CREATE INDEX IF NOT EXISTS idx_messages_timestamp ON messages(timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_messages_media_type ON messages(media_type)",
    "CREATE INDEX IF NOT EXISTS idx_messages_sender ON messages(sender)",
    "CREATE INDEX IF NOT EXISTS idx_chats_last_message ON chats(last_message_time)",
    "CREATE INDEX IF NOT EXISTS idx_chats_name ON chats(name)",
)

_M2 = ("CREATE INDEX IF NOT EXISTS idx_messages_id ON messages(id)",)


# --- 3: multi-session (session_id in every key), legacy TIMESTAMP text -> INTEGER ms UTC ----
def _bool_sql(column: str) -> str:
    return (
        f"CASE WHEN lower(trim(CAST({column} AS TEXT))) IN ('1', 'true', 't', 'yes', 'y') "
        "THEN 1 ELSE 0 END"
    )


def _migration_3(conn: sqlite3.Connection) -> None:
    conn.create_function("watui_legacy_ms", 2, legacy_to_millis, deterministic=True)
    now = NOW_MS_SQL
    # Table-rebuild procedure (https://sqlite.org/lang_altertable.html#otheralter), with
    # foreign keys left ON: the new child points at the new parent while both are built, the
    # old tables are dropped child first, then the new ones take the old names (the rename
    # rewrites the child's REFERENCES).
    conn.execute(
        f"""CREATE TABLE chats_new (
            jid TEXT NOT NULL,
            session_id TEXT NOT NULL DEFAULT 'default',
            name TEXT NOT NULL DEFAULT '',
            last_message_time INTEGER NOT NULL DEFAULT 0,
            ephemeral_expiration INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL DEFAULT ({now}),
            updated_at INTEGER NOT NULL DEFAULT ({now}),
            PRIMARY KEY (jid, session_id)
        )"""
    )
    conn.execute(
        f"""CREATE TABLE messages_new (
            id TEXT NOT NULL,
            chat_jid TEXT NOT NULL,
            session_id TEXT NOT NULL DEFAULT 'default',
            sender TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            timestamp INTEGER NOT NULL,
            is_from_me INTEGER NOT NULL DEFAULT 0,
            media_type TEXT NOT NULL DEFAULT '',
            filename TEXT NOT NULL DEFAULT '',
            url TEXT NOT NULL DEFAULT '',
            media_key BLOB,
            file_sha256 BLOB,
            file_enc_sha256 BLOB,
            file_length INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL DEFAULT ({now}),
            updated_at INTEGER NOT NULL DEFAULT ({now}),
            PRIMARY KEY (id, chat_jid, session_id),
            FOREIGN KEY (chat_jid, session_id) REFERENCES chats_new(jid, session_id)
                ON DELETE CASCADE
        )"""
    )
    conn.execute(
        f"""INSERT INTO chats_new (jid, session_id, name, last_message_time, ephemeral_expiration,
                                   created_at, updated_at)
            SELECT jid, 'default', COALESCE(name, ''),
                   watui_legacy_ms(last_message_time, watui_legacy_ms(created_at, 0)),
                   COALESCE(CAST(ephemeral_expiration AS INTEGER), 0),
                   watui_legacy_ms(created_at, {now}),
                   watui_legacy_ms(updated_at, watui_legacy_ms(created_at, {now}))
            FROM chats"""
    )
    # Legacy stores never enforced foreign keys (mattn/go-sqlite3 leaves them off): a message
    # may name a chat that has no row. Create that chat rather than drop the messages.
    conn.execute(
        f"""INSERT INTO chats_new (jid, session_id, name, last_message_time, created_at, updated_at)
            SELECT m.chat_jid, 'default', '',
                   MAX(watui_legacy_ms(m.timestamp, watui_legacy_ms(m.created_at, 0))),
                   {now}, {now}
            FROM messages m
            WHERE NOT EXISTS (SELECT 1 FROM chats c WHERE c.jid = m.chat_jid)
            GROUP BY m.chat_jid"""
    )
    conn.execute(
        f"""INSERT INTO messages_new (id, chat_jid, session_id, sender, content, timestamp,
                is_from_me, media_type, filename, url, media_key, file_sha256, file_enc_sha256,
                file_length, created_at, updated_at)
            SELECT id, chat_jid, 'default', COALESCE(sender, ''), COALESCE(content, ''),
                   watui_legacy_ms(timestamp, watui_legacy_ms(created_at, 0)),
                   {_bool_sql('is_from_me')},
                   COALESCE(media_type, ''), COALESCE(filename, ''), COALESCE(url, ''),
                   media_key, file_sha256, file_enc_sha256,
                   COALESCE(CAST(file_length AS INTEGER), 0),
                   watui_legacy_ms(created_at, {now}),
                   watui_legacy_ms(updated_at, watui_legacy_ms(created_at, {now}))
            FROM messages"""
    )
    conn.execute("DROP TABLE messages")
    conn.execute("DROP TABLE chats")
    conn.execute("ALTER TABLE chats_new RENAME TO chats")
    conn.execute("ALTER TABLE messages_new RENAME TO messages")
    conn.execute(
        "CREATE INDEX idx_chats_session_time ON chats(session_id, last_message_time DESC, jid DESC)"
    )
    conn.execute(
        "CREATE INDEX idx_messages_session_chat_time "
        "ON messages(session_id, chat_jid, timestamp DESC, id DESC)"
    )
    _assert_foreign_keys(conn, "migration 3")


# --- 4: watui's chat/message columns, sessions registry, contacts ---------------------------
_CHAT_COLUMNS_4 = (
    "is_group INTEGER NOT NULL DEFAULT 0",
    "unread_count INTEGER NOT NULL DEFAULT 0",
    "archived INTEGER NOT NULL DEFAULT 0",
    "pinned INTEGER NOT NULL DEFAULT 0",
    "muted_until INTEGER",
    "last_message_id TEXT NOT NULL DEFAULT ''",
    "last_message_preview TEXT NOT NULL DEFAULT ''",
    "last_message_sender TEXT NOT NULL DEFAULT ''",
    "last_message_is_from_me INTEGER NOT NULL DEFAULT 0",
)
_MESSAGE_COLUMNS_4 = (
    "mimetype TEXT NOT NULL DEFAULT ''",
    "push_name TEXT NOT NULL DEFAULT ''",
    "status INTEGER NOT NULL DEFAULT 0",
    "quoted_message_id TEXT NOT NULL DEFAULT ''",
    "quoted_sender TEXT NOT NULL DEFAULT ''",
    "quoted_preview TEXT NOT NULL DEFAULT ''",
    "edited INTEGER NOT NULL DEFAULT 0",
    "edited_at INTEGER",
    "deleted INTEGER NOT NULL DEFAULT 0",
    "error TEXT NOT NULL DEFAULT ''",
    "is_read INTEGER NOT NULL DEFAULT 0",
)


def _migration_4(conn: sqlite3.Connection) -> None:
    for column in _CHAT_COLUMNS_4:
        conn.execute(f"ALTER TABLE chats ADD COLUMN {column}")
    for column in _MESSAGE_COLUMNS_4:
        conn.execute(f"ALTER TABLE messages ADD COLUMN {column}")
    # History from before watui: nothing is "unread" (mark_read would otherwise answer with
    # read receipts for years of messages), and our own stored messages were sent.
    conn.execute("UPDATE messages SET is_read = 1")
    conn.execute("UPDATE messages SET status = 2 WHERE is_from_me = 1")
    conn.execute("UPDATE chats SET is_group = 1 WHERE jid LIKE '%@g.us'")
    latest = conn.execute(
        """SELECT c.jid, c.session_id, m.id, m.content, m.media_type, m.deleted, m.sender,
                  m.is_from_me
           FROM chats c
           JOIN messages m ON m.rowid = (
               SELECT m2.rowid FROM messages m2
               WHERE m2.session_id = c.session_id AND m2.chat_jid = c.jid
               ORDER BY m2.timestamp DESC, m2.id DESC LIMIT 1)"""
    ).fetchall()
    conn.executemany(
        """UPDATE chats SET last_message_id = ?, last_message_preview = ?,
                            last_message_sender = ?, last_message_is_from_me = ?
           WHERE session_id = ? AND jid = ?""",
        [
            (mid, preview_text(content, media_type, deleted), sender, from_me, sid, jid)
            for jid, sid, mid, content, media_type, deleted, sender, from_me in latest
        ],
    )
    conn.execute(
        f"""CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            device_jid TEXT NOT NULL DEFAULT '',
            push_name TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL}),
            updated_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL})
        )"""
    )
    conn.execute(
        f"""CREATE TABLE contacts (
            session_id TEXT NOT NULL,
            jid TEXT NOT NULL,
            push_name TEXT NOT NULL DEFAULT '',
            full_name TEXT NOT NULL DEFAULT '',
            updated_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL}),
            PRIMARY KEY (session_id, jid)
        )"""
    )
    conn.execute("CREATE INDEX idx_chats_session_name ON chats(session_id, name COLLATE NOCASE)")


# --- 5: outbox, reactions, out-of-order updates --------------------------------------------
_M5 = (
    f"""CREATE TABLE outbox (
        session_id TEXT NOT NULL,
        chat_jid TEXT NOT NULL,
        message_id TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL}),
        PRIMARY KEY (session_id, message_id),
        FOREIGN KEY (message_id, chat_jid, session_id)
            REFERENCES messages(id, chat_jid, session_id) ON DELETE CASCADE
    )""",
    "CREATE INDEX idx_outbox_session_created ON outbox(session_id, created_at)",
    """CREATE TABLE reactions (
        session_id TEXT NOT NULL,
        chat_jid TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        emoji TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        PRIMARY KEY (session_id, chat_jid, message_id, sender)
    )""",
    # A receipt, edit, revoke or reaction that arrives before its message waits here and is
    # applied when the message is stored. kind: receipt | edit | revoke | reaction.
    f"""CREATE TABLE pending_updates (
        session_id TEXT NOT NULL,
        chat_jid TEXT NOT NULL,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sender TEXT NOT NULL DEFAULT '',
        status INTEGER,
        content TEXT,
        emoji TEXT,
        at INTEGER,
        created_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL}),
        PRIMARY KEY (session_id, chat_jid, message_id, kind, sender)
    )""",
)


# --- 6: full-text index over message content ------------------------------------------------
_M6 = (
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        content,
        content='messages',
        content_rowid='rowid',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    """CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
    END""",
    """CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.rowid, old.content);
    END""",
    """CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages
        WHEN old.content IS NOT new.content BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.rowid, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
    END""",
)


# --- 7: drafts ---------------------------------------------------------------------------------
# What the user typed and has not sent, per chat: kept across chat switches and restarts.
_M7 = (
    """CREATE TABLE drafts (
        session_id TEXT NOT NULL,
        chat_jid TEXT NOT NULL,
        text TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, chat_jid)
    )""",
)


# --- 8: ingest at scale: message key order, bulk full-text indexing, chat-list indexes ------
# Measured with bench/ (docs/benchmarks.md):
# * messages' primary key was (id, chat_jid, session_id), the seed's order. Message ids are
#   random, so every insert landed on a random page of that index, and at a million rows a
#   history sync spent most of its time writing those pages back at each commit. Keyed
#   (session_id, chat_jid, id), a chat's messages sit together: 3x the ingest rate into a
#   1M-message store. Every lookup names the session and chat anyway.
# * the per-row FTS insert trigger made each inserted message its own FTS5 write (the
#   statement savepoint around a trigger flushes FTS5's pending terms), about 3/4 of the raw
#   insert time. New rows are indexed in bulk by the repository, in the same transaction,
#   right after they are inserted (ChatStorageRepository._insert_indexed): it is the only
#   writer of messages. The update and delete triggers stay.
# * the chat list is loaded pinned chats first, then a page at a time by last activity; the
#   sidebar sums unread counts: partial indexes keep both to the rows they need.
_MESSAGE_COLUMNS_8 = (
    "id TEXT NOT NULL",
    "chat_jid TEXT NOT NULL",
    "session_id TEXT NOT NULL DEFAULT 'default'",
    "sender TEXT NOT NULL DEFAULT ''",
    "content TEXT NOT NULL DEFAULT ''",
    "timestamp INTEGER NOT NULL",
    "is_from_me INTEGER NOT NULL DEFAULT 0",
    "media_type TEXT NOT NULL DEFAULT ''",
    "filename TEXT NOT NULL DEFAULT ''",
    "url TEXT NOT NULL DEFAULT ''",
    "media_key BLOB",
    "file_sha256 BLOB",
    "file_enc_sha256 BLOB",
    "file_length INTEGER NOT NULL DEFAULT 0",
    f"created_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL})",
    f"updated_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL})",
    *_MESSAGE_COLUMNS_4,
)
_OUTBOX_COLUMNS_8 = (
    "session_id", "chat_jid", "message_id", "attempts", "last_error", "created_at",
)
_FTS_TRIGGERS_8 = (
    """CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.rowid, old.content);
    END""",
    """CREATE TRIGGER messages_fts_au AFTER UPDATE OF content ON messages
        WHEN old.content IS NOT new.content BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.rowid, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
    END""",
)


def _migration_8(conn: sqlite3.Connection) -> None:
    # Table rebuild (https://sqlite.org/lang_altertable.html#otheralter) with foreign keys
    # ON, as in migration 3: outbox (the child) is rebuilt beside messages so that dropping
    # messages cascades into nothing. Rowids are kept, so the full-text index stays valid;
    # its triggers are dropped first so the drop cannot touch it.
    conn.execute("PRAGMA cache_size=-65536")  # building a million-row key wants the room
    for trigger in ("messages_fts_ai", "messages_fts_ad", "messages_fts_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    columns = [c.split()[0] for c in _MESSAGE_COLUMNS_8]
    conn.execute(
        f"""CREATE TABLE messages_new (
            {", ".join(_MESSAGE_COLUMNS_8)},
            PRIMARY KEY (session_id, chat_jid, id),
            FOREIGN KEY (chat_jid, session_id) REFERENCES chats(jid, session_id) ON DELETE CASCADE
        )"""
    )
    conn.execute(
        f"""CREATE TABLE outbox_new (
            session_id TEXT NOT NULL,
            chat_jid TEXT NOT NULL,
            message_id TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL DEFAULT ({NOW_MS_SQL}),
            PRIMARY KEY (session_id, message_id),
            FOREIGN KEY (message_id, chat_jid, session_id)
                REFERENCES messages_new(id, chat_jid, session_id) ON DELETE CASCADE
        )"""
    )
    names = ", ".join(columns)
    conn.execute(
        f"INSERT INTO messages_new (rowid, {names}) SELECT rowid, {names} FROM messages ORDER BY rowid"
    )
    outbox = ", ".join(_OUTBOX_COLUMNS_8)
    conn.execute(f"INSERT INTO outbox_new (rowid, {outbox}) SELECT rowid, {outbox} FROM outbox")
    conn.execute("DROP TABLE outbox")
    conn.execute("DROP TABLE messages")
    conn.execute("ALTER TABLE messages_new RENAME TO messages")
    conn.execute("ALTER TABLE outbox_new RENAME TO outbox")
    conn.execute(
        "CREATE INDEX idx_messages_session_chat_time "
        "ON messages(session_id, chat_jid, timestamp DESC, id DESC)"
    )
    conn.execute("CREATE INDEX idx_outbox_session_created ON outbox(session_id, created_at)")
    for trigger in _FTS_TRIGGERS_8:
        conn.execute(trigger)
    conn.execute(
        "CREATE INDEX idx_chats_session_pinned ON chats(session_id, last_message_time DESC, jid DESC) "
        "WHERE pinned = 1"
    )
    conn.execute(
        "CREATE INDEX idx_chats_session_unread ON chats(session_id, unread_count) WHERE unread_count > 0"
    )
    conn.execute("PRAGMA cache_size=-2000")
    _assert_foreign_keys(conn, "migration 8")


# --- 9: newest-first search ------------------------------------------------------------------
# Search results are shown newest first. For a common word (21,581 hits in 1,000,000 messages)
# sorting every hit by time means reading every hit's row: 35-40 ms. This index lets the search
# walk each session's messages newest first and stop at the page's last hit, testing each entry
# against the full-text match by rowid (ChatStorageRepository.search). chat_jid is part of the
# key so the index gives the search's complete order (timestamp, id, chat) within a session:
# without it SQLite cannot stop early and sorts everything (250 ms). Its price is one more index
# entry per stored message, ~10% of a history sync's insert time (bench/ingest.py).
_M9 = (
    "CREATE INDEX idx_messages_session_time "
    "ON messages(session_id, timestamp DESC, id DESC, chat_jid DESC)",
)

MIGRATIONS: list[Migration] = [
    Migration(1, "seed v7: chats and messages (single session)", _sql(*_M1)),
    Migration(2, "seed v7: index on message id", _sql(*_M2)),
    Migration(3, "multi-session: session_id in every key; times as INTEGER ms UTC", _migration_3),
    Migration(4, "watui chat/message columns, sessions registry, contacts", _migration_4),
    Migration(5, "outbox, reactions, pending out-of-order updates", _sql(*_M5)),
    Migration(6, "full-text index over message content", _sql(*_M6)),
    Migration(7, "drafts per chat", _sql(*_M7)),
    Migration(8, "messages keyed by session, chat, id; bulk full-text indexing; chat-list indexes", _migration_8),
    Migration(9, "messages by session and time, for newest-first search", _sql(*_M9)),
]

LATEST_VERSION = len(MIGRATIONS)


def _assert_foreign_keys(conn: sqlite3.Connection, where: str) -> None:
    violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        shown = ", ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in violations[:5])
        raise MigrationError(f"{where}: {len(violations)} foreign key violation(s): {shown}")


def check_store_shape(path: Path, info: StoreFileInfo) -> int:
    """The schema version of an existing file, or StoreError when it is not ours or is newer."""
    if not info.exists or info.empty:
        return 0
    ours = {"schema_info", "chats", "messages"}
    if (
        "schema_info" not in info.tables
        or (info.version >= 1 and not {"chats", "messages"} <= info.tables)
        or (info.version == 0 and not info.tables <= ours)
    ):
        raise StoreError(
            f"{path}: not a watui chat store (no schema_info/chats tables); refusing to touch it"
        )
    version = info.version
    if version > LATEST_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this watui "
            f"(knows up to {LATEST_VERSION}); upgrade watui"
        )
    if "chats" in info.tables:
        if version < 3 and ("device_id" in info.chat_columns or "session_id" in info.chat_columns):
            raise StoreError(
                f"{path}: schema version {version} but its chats table has a "
                f"{'device_id' if 'device_id' in info.chat_columns else 'session_id'} column: "
                "a go-whatsapp-web-multidevice v8+ (or unknown) layout, not supported"
            )
        if version >= 3 and "session_id" not in info.chat_columns:
            raise StoreError(f"{path}: schema version {version} but chats has no session_id column")
    return version


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    old_version: int
    new_version: int
    backup: Path | None = None


def _connect_for_migration(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def upgrade_store(path: str | Path, *, backup: bool = True) -> UpgradeResult:
    """Bring the store at ``path`` to LATEST_VERSION (creating it, 0600 in a 0700 directory,
    when missing). Synchronous: the repository runs it in a thread; ``watui db upgrade``
    can call it directly."""
    path = Path(path).expanduser()
    info = inspect_store_file(path)
    version = check_store_shape(path, info)
    if version == LATEST_VERSION:
        return UpgradeResult(version, version)
    ensure_private_dir(path.parent)
    if not info.exists:
        create_private_file(path)
    try:
        conn = _connect_for_migration(path)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    backup_file: Path | None = None
    try:
        current = version
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_info (
                    version INTEGER PRIMARY KEY DEFAULT 0,
                    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
                )"""
            )
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_info").fetchone()[0]
            if current > LATEST_VERSION:  # another, newer watui got there first
                raise StoreError(
                    f"{path}: store schema version {current} is newer than this watui "
                    f"(knows up to {LATEST_VERSION}); upgrade watui"
                )
            if backup and 1 <= current < LATEST_VERSION:
                # Under the write lock: the copy is exactly what gets migrated (nobody can
                # commit in between), and only one upgrader at a time writes a backup.
                backup_file = backup_store(path, current)
            for migration in MIGRATIONS[current:]:
                try:
                    migration.apply(conn)
                    conn.execute(
                        "INSERT OR REPLACE INTO schema_info (version, updated_at) "
                        "VALUES (?, CURRENT_TIMESTAMP)",
                        (migration.version,),
                    )
                except StoreError:
                    raise
                except Exception as exc:
                    raise MigrationError(f"migration {migration.version} failed: {exc}") from exc
            _assert_foreign_keys(conn, "after migrating")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, StoreError) and str(exc).startswith(str(path)):
                raise
            if isinstance(exc, Exception):
                raise MigrationError(
                    f"{path}: upgrade from schema version {current} failed, the store was left "
                    f"unchanged: {exc}"
                ) from exc
            raise
    finally:
        conn.close()
    tighten_side_files(path)
    return UpgradeResult(version, LATEST_VERSION, backup_file)


def read_schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_info").fetchone()[0])


__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "Migration",
    "MigrationError",
    "UpgradeResult",
    "check_store_shape",
    "preview_text",
    "read_schema_version",
    "upgrade_store",
]
