"""The seed system's chat storage, reproduced for the baselines: go-whatsapp-web-multidevice
at HEAD (docs: reference-systems §2). Its layout -- device_id in composite primary keys that
start with the random message id, single-column indexes, no full-text index, times as text
the way mattn/go-sqlite3 writes them -- its write pattern (update-then-insert per row) and
its queries (GetChats, GetMessages, SearchMessages with LIKE, name LIKE '%x%').
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import HistoryRows, store_path
from watui.domain.models import Message

# --- the seed's layout (reference-systems §2, at HEAD) ---------------------------------------
SEED_DDL = (
    """CREATE TABLE IF NOT EXISTS chats (
        jid VARCHAR(255) NOT NULL, device_id VARCHAR(255) NOT NULL DEFAULT '',
        name VARCHAR(255) NOT NULL, last_message_time TIMESTAMP NOT NULL,
        ephemeral_expiration INTEGER DEFAULT 0,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        archived BOOLEAN DEFAULT FALSE,
        PRIMARY KEY (jid, device_id))""",
    """CREATE TABLE IF NOT EXISTS messages (
        id VARCHAR(255) NOT NULL, chat_jid VARCHAR(255) NOT NULL, device_id VARCHAR(255) NOT NULL DEFAULT '',
        sender VARCHAR(255) NOT NULL, content TEXT, timestamp TIMESTAMP NOT NULL, is_from_me BOOLEAN DEFAULT FALSE,
        media_type VARCHAR(50), filename VARCHAR(255), url TEXT, media_key BLOB, file_sha256 BLOB,
        file_enc_sha256 BLOB, file_length INTEGER DEFAULT 0,
        created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        call_metadata TEXT, referral_metadata TEXT, direct_path TEXT,
        PRIMARY KEY (id, chat_jid, device_id))""",
    "CREATE INDEX IF NOT EXISTS idx_messages_chat_jid ON messages(chat_jid)",
    "CREATE INDEX IF NOT EXISTS idx_messages_device ON messages(device_id)",
    "CREATE INDEX IF NOT EXISTS idx_messages_timestamp ON messages(timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_messages_media_type ON messages(media_type)",
    "CREATE INDEX IF NOT EXISTS idx_messages_sender ON messages(sender)",
    "CREATE INDEX IF NOT EXISTS idx_chats_last_message ON chats(last_message_time)",
    "CREATE INDEX IF NOT EXISTS idx_chats_name ON chats(name)",
    "CREATE INDEX IF NOT EXISTS idx_chats_device ON chats(device_id)",
    "CREATE INDEX IF NOT EXISTS idx_chats_archived ON chats(archived)",
)
SEED_UPDATE_CHAT = """UPDATE chats SET name = ?, last_message_time = ?, ephemeral_expiration = ?,
    updated_at = ?, archived = ? WHERE jid = ? AND device_id = ?"""
SEED_INSERT_CHAT = """INSERT INTO chats (jid, device_id, name, last_message_time, ephemeral_expiration,
    created_at, updated_at, archived) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
SEED_UPDATE_MESSAGE = """UPDATE messages SET sender = ?, content = ?, timestamp = ?, is_from_me = ?,
    media_type = ?, call_metadata = ?, filename = ?, url = ?, direct_path = ?, media_key = ?, file_sha256 = ?,
    file_enc_sha256 = ?, file_length = ?, referral_metadata = ?, updated_at = ?
    WHERE id = ? AND chat_jid = ? AND device_id = ?"""
SEED_INSERT_MESSAGE = """INSERT INTO messages (id, chat_jid, device_id, sender, content, timestamp, is_from_me,
    media_type, call_metadata, filename, url, direct_path, media_key, file_sha256, file_enc_sha256,
    file_length, referral_metadata, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def go_time(when: datetime) -> str:
    """time.Time as mattn/go-sqlite3 stores it."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f000+00:00")


def create_seed_store(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    for statement in SEED_DDL:
        conn.execute(statement)
    return conn


def seed_ingest(conn: sqlite3.Connection, hist: HistoryRows, device_id: str) -> int:
    """The seed's history-sync write pattern for every conversation of ``hist``."""
    written = 0
    for batch in hist.batches:
        by_chat: dict[str, list[Message]] = {}
        for m in batch.messages:
            by_chat.setdefault(m.chat_jid, []).append(m)
        for chat in batch.chats:
            now = go_time(datetime.now(UTC))
            cur = conn.execute(SEED_UPDATE_CHAT, (chat.name, go_time(chat.last_message_time), 0, now,
                                                  chat.archived, chat.jid, device_id))
            if cur.rowcount == 0:
                conn.execute(SEED_INSERT_CHAT, (chat.jid, device_id, chat.name, go_time(chat.last_message_time),
                                                0, now, now, chat.archived))
            messages = by_chat.get(chat.jid, [])
            if not messages:
                continue
            conn.execute("BEGIN")
            now = go_time(datetime.now(UTC))
            for m in messages:
                if not m.content and not m.media_type:
                    continue
                ts = go_time(m.timestamp)
                key = m.media_key or None
                sha = m.file_sha256 or None
                enc = m.file_enc_sha256 or None
                cur = conn.execute(SEED_UPDATE_MESSAGE, (
                    m.sender, m.content, ts, m.is_from_me, m.media_type, None, m.filename, m.url, None,
                    key, sha, enc, m.file_length, None, now, m.id, m.chat_jid, device_id))
                if cur.rowcount == 0:
                    conn.execute(SEED_INSERT_MESSAGE, (
                        m.id, m.chat_jid, device_id, m.sender, m.content, ts, m.is_from_me,
                        m.media_type, None, m.filename, m.url, None, key, sha, enc, m.file_length,
                        None, now, now))
                written += 1
            conn.execute("COMMIT")
    return written


def seed_copy_path(scale: float) -> Path:
    return store_path(scale).with_name(store_path(scale).stem + "-seed.db")


def ensure_seed_copy(scale: float, source: Path) -> Path:
    """The same rows in the seed's layout (built once; rebuilt when the source is newer)."""
    path = seed_copy_path(scale)
    if path.exists() and path.stat().st_mtime >= source.stat().st_mtime:
        return path
    print(f"building the seed-layout copy at {path} ...", flush=True)
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for statement in SEED_DDL:
        conn.execute(statement)
    conn.execute("ATTACH DATABASE ? AS w", (str(source),))
    go_time = "strftime('%Y-%m-%d %H:%M:%f', {0} / 1000.0, 'unixepoch') || '000000+00:00'"
    device = "(SELECT device_jid FROM w.sessions s WHERE s.session_id = {0}.session_id)"
    conn.execute("BEGIN")
    conn.execute(
        f"""INSERT INTO chats (jid, device_id, name, last_message_time, ephemeral_expiration,
                               created_at, updated_at, archived)
            SELECT jid, {device.format('c')}, name, {go_time.format('last_message_time')},
                   ephemeral_expiration, {go_time.format('created_at')}, {go_time.format('updated_at')}, archived
            FROM w.chats c"""
    )
    conn.execute(
        f"""INSERT INTO messages (id, chat_jid, device_id, sender, content, timestamp, is_from_me,
                media_type, filename, url, media_key, file_sha256, file_enc_sha256, file_length,
                created_at, updated_at)
            SELECT id, chat_jid, {device.format('m')}, sender, content, {go_time.format('timestamp')},
                   is_from_me, media_type, filename, url, media_key, file_sha256, file_enc_sha256,
                   file_length, {go_time.format('created_at')}, {go_time.format('updated_at')}
            FROM w.messages m ORDER BY m.rowid"""
    )
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE w")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


SEED_CHAT_PAGE = """
SELECT c.device_id, c.jid, c.name, c.last_message_time, c.ephemeral_expiration, c.created_at,
       c.updated_at, c.archived,
       (SELECT m.content FROM messages m WHERE m.chat_jid = c.jid AND m.device_id = c.device_id
        ORDER BY m.timestamp DESC LIMIT 1)
FROM chats c WHERE c.device_id = ? ORDER BY c.last_message_time DESC LIMIT 50"""
SEED_MESSAGES = """
SELECT id, chat_jid, device_id, sender, content, timestamp, is_from_me, media_type, call_metadata,
       filename, url, direct_path, media_key, file_sha256, file_enc_sha256, file_length,
       referral_metadata, created_at, updated_at
FROM messages WHERE chat_jid = ? AND device_id = ? {extra} ORDER BY timestamp DESC LIMIT 50"""
SEED_SEARCH = """
SELECT id, chat_jid, device_id, sender, content, timestamp, is_from_me, media_type, filename, url,
       media_key, file_sha256, file_enc_sha256, file_length, created_at, updated_at
FROM messages WHERE LOWER(content) LIKE ? ORDER BY timestamp DESC LIMIT 50"""
SEED_LOOKUP = """
SELECT c.device_id, c.jid, c.name, c.last_message_time, c.ephemeral_expiration, c.created_at,
       c.updated_at, c.archived
FROM chats c WHERE c.name LIKE ? AND c.device_id = ? ORDER BY c.last_message_time DESC LIMIT 20"""


