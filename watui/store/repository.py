"""ChatStorageRepository: every session's chats and messages in one SQLite file.

Two aiosqlite connections: a writer (every write is one ``BEGIN IMMEDIATE`` transaction,
serialised by an asyncio lock) and a query-only reader (WAL lets it read while a history-sync
batch is being written).

Session rule, everywhere: a ``session_id`` argument that is None or "" means the session of
the current context (watui.store.context.resolve_session_id), else 'default' -- never "all
sessions". A Chat/Message whose ``session_id`` is empty belongs to the context's session.
Returned objects always carry their real session_id. Every statement that touches chats,
messages, contacts, outbox, reactions or pending_updates names the session in its WHERE or
VALUES; the only cross-session reads are the explicit admin/badge helpers (row_counts,
unread_totals, search with an explicit session list, integrity_check).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Container, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import aiosqlite

from watui.domain.errors import StoreError
from watui.domain.events import MessageReceived, Reaction
from watui.domain.models import (
    EPOCH,
    Chat,
    ChatFilter,
    Message,
    MessageFilter,
    MessageStatus,
    SearchHit,
    from_millis,
    to_millis,
    utc_now,
)
from watui.domain.session_id import validate_session_id
from watui.store.context import resolve_session_id
from watui.store.files import inspect_store_file, tighten_side_files
from watui.store.faults import as_unwritable
from watui.store.fts import NEWEST, PROBE_CAP, PROBE_SQL, check_order, fts_query, search_sql, walk_is_cheaper
from watui.store.migrations import (
    LATEST_VERSION,
    check_store_shape,
    preview_text,
    upgrade_store,
)

log = logging.getLogger("watui.store")

MAX_LIMIT = 1000
CHECKPOINT_INTERVAL = 1.0  # seconds between WAL checkpoints (on their own connection)
WRITER_AUTOCHECKPOINT = 10_000  # pages (~40 MB of WAL) before the writer checkpoints itself
_CHUNK = 500  # ids per IN (...) list
_PAIR_CHUNK = 400  # (chat, id) pairs per VALUES list: under SQLite's old 999-variable limit

_RECEIPT, _EDIT, _REVOKE, _REACTION = "receipt", "edit", "revoke", "reaction"
_PENDING_ORDER = {_RECEIPT: 0, _REACTION: 1, _EDIT: 2, _REVOKE: 3}

_MSG_COLS = (
    "id, chat_jid, session_id, sender, content, timestamp, is_from_me, media_type, filename, "
    "url, media_key, file_sha256, file_enc_sha256, file_length, mimetype, push_name, status, "
    "quoted_message_id, quoted_sender, quoted_preview, edited, edited_at, deleted, error"
)
_MSG_COLS_M = ", ".join(f"m.{c.strip()}" for c in _MSG_COLS.split(","))

_CHAT_COLS = (
    "jid, session_id, name, last_message_time, ephemeral_expiration, created_at, updated_at, "
    "is_group, unread_count, archived, pinned, muted_until, last_message_id, "
    "last_message_preview, last_message_sender, last_message_is_from_me"
)

_INSERT_MESSAGE = f"""
INSERT INTO messages ({_MSG_COLS}, is_read, created_at, updated_at)
VALUES ({", ".join("?" * 27)})
ON CONFLICT(id, chat_jid, session_id) DO UPDATE SET
    sender = CASE WHEN excluded.sender != '' THEN excluded.sender ELSE messages.sender END,
    content = CASE WHEN messages.deleted = 0 AND messages.edited = 0 AND excluded.content != ''
                   THEN excluded.content ELSE messages.content END,
    media_type = CASE WHEN messages.deleted = 0 AND excluded.media_type != ''
                      THEN excluded.media_type ELSE messages.media_type END,
    filename = CASE WHEN messages.deleted = 0 AND excluded.filename != ''
                    THEN excluded.filename ELSE messages.filename END,
    url = CASE WHEN messages.deleted = 0 AND excluded.url != '' THEN excluded.url ELSE messages.url END,
    media_key = CASE WHEN messages.deleted = 0 AND length(excluded.media_key) > 0
                     THEN excluded.media_key ELSE messages.media_key END,
    file_sha256 = CASE WHEN messages.deleted = 0 AND length(excluded.file_sha256) > 0
                       THEN excluded.file_sha256 ELSE messages.file_sha256 END,
    file_enc_sha256 = CASE WHEN messages.deleted = 0 AND length(excluded.file_enc_sha256) > 0
                           THEN excluded.file_enc_sha256 ELSE messages.file_enc_sha256 END,
    file_length = CASE WHEN messages.deleted = 0 AND excluded.file_length > 0
                       THEN excluded.file_length ELSE messages.file_length END,
    mimetype = CASE WHEN excluded.mimetype != '' THEN excluded.mimetype ELSE messages.mimetype END,
    push_name = CASE WHEN excluded.push_name != '' THEN excluded.push_name ELSE messages.push_name END,
    status = MAX(messages.status, excluded.status),
    quoted_message_id = CASE WHEN excluded.quoted_message_id != ''
                             THEN excluded.quoted_message_id ELSE messages.quoted_message_id END,
    quoted_sender = CASE WHEN excluded.quoted_sender != ''
                         THEN excluded.quoted_sender ELSE messages.quoted_sender END,
    quoted_preview = CASE WHEN messages.deleted = 0 AND excluded.quoted_preview != ''
                          THEN excluded.quoted_preview ELSE messages.quoted_preview END,
    deleted = MAX(messages.deleted, excluded.deleted),
    is_read = MAX(messages.is_read, excluded.is_read),
    updated_at = excluded.updated_at
"""

# Rows the batch found absent under the write lock.
_INSERT_NEW_MESSAGE = _INSERT_MESSAGE[: _INSERT_MESSAGE.index("ON CONFLICT")]

# A chat touched by new messages: created when missing (so the messages' foreign key holds),
# last_message_* moved only forward, unread_count incremented by the new unread ones.
_NEWER = (
    "(chats.last_message_id = '' OR excluded.last_message_time > chats.last_message_time "
    "OR (excluded.last_message_time = chats.last_message_time "
    "AND excluded.last_message_id >= chats.last_message_id))"
)
_TOUCH_CHAT = f"""
INSERT INTO chats (jid, session_id, name, last_message_time, is_group, created_at, updated_at,
                   unread_count, last_message_id, last_message_preview, last_message_sender,
                   last_message_is_from_me)
VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(jid, session_id) DO UPDATE SET
    unread_count = chats.unread_count + excluded.unread_count,
    last_message_id = CASE WHEN {_NEWER} THEN excluded.last_message_id ELSE chats.last_message_id END,
    last_message_preview = CASE WHEN {_NEWER} THEN excluded.last_message_preview
                                ELSE chats.last_message_preview END,
    last_message_sender = CASE WHEN {_NEWER} THEN excluded.last_message_sender
                               ELSE chats.last_message_sender END,
    last_message_is_from_me = CASE WHEN {_NEWER} THEN excluded.last_message_is_from_me
                                   ELSE chats.last_message_is_from_me END,
    last_message_time = MAX(chats.last_message_time, excluded.last_message_time),
    updated_at = excluded.updated_at
"""

_UPSERT_CHAT = f"""
INSERT INTO chats ({_CHAT_COLS})
VALUES ({", ".join("?" * 16)})
ON CONFLICT(jid, session_id) DO UPDATE SET
    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE chats.name END,
    last_message_time = MAX(chats.last_message_time, excluded.last_message_time),
    ephemeral_expiration = excluded.ephemeral_expiration,
    is_group = MAX(chats.is_group, excluded.is_group),
    archived = excluded.archived,
    pinned = excluded.pinned,
    muted_until = excluded.muted_until,
    updated_at = excluded.updated_at
"""

_NAME_CHAT = """
INSERT INTO chats (jid, session_id, name, last_message_time, is_group, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(jid, session_id) DO UPDATE SET
    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE chats.name END,
    is_group = MAX(chats.is_group, excluded.is_group),
    updated_at = excluded.updated_at
"""

_PARK = """
INSERT INTO pending_updates (session_id, chat_jid, message_id, kind, sender, status, content,
                             emoji, at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(session_id, chat_jid, message_id, kind, sender) DO UPDATE SET
    status = MAX(pending_updates.status, excluded.status),
    content = CASE WHEN COALESCE(excluded.at, 0) >= COALESCE(pending_updates.at, 0)
                   THEN excluded.content ELSE pending_updates.content END,
    emoji = CASE WHEN COALESCE(excluded.at, 0) >= COALESCE(pending_updates.at, 0)
                 THEN excluded.emoji ELSE pending_updates.emoji END,
    at = MAX(COALESCE(pending_updates.at, 0), COALESCE(excluded.at, 0))
"""


# --- conversions ---------------------------------------------------------------------------
def _now_ms() -> int:
    return to_millis(utc_now())


def _dt(ms: int | None) -> datetime:
    if ms is None:
        return EPOCH
    try:
        return from_millis(ms)
    except (OverflowError, ValueError, OSError):
        return EPOCH


def _opt_dt(ms: int | None) -> datetime | None:
    return None if ms is None else _dt(ms)


def _blob(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def _status(value: int) -> MessageStatus:
    try:
        return MessageStatus(value)
    except ValueError:
        return MessageStatus.RECEIVED


def _message_from_row(r: Sequence[Any]) -> Message:
    return Message(
        id=r[0],
        chat_jid=r[1],
        session_id=r[2],
        sender=r[3] or "",
        content=r[4] or "",
        timestamp=_dt(r[5]),
        is_from_me=bool(r[6]),
        media_type=r[7] or "",
        filename=r[8] or "",
        url=r[9] or "",
        media_key=_blob(r[10]),
        file_sha256=_blob(r[11]),
        file_enc_sha256=_blob(r[12]),
        file_length=int(r[13] or 0),
        mimetype=r[14] or "",
        push_name=r[15] or "",
        status=_status(r[16]),
        quoted_message_id=r[17] or "",
        quoted_sender=r[18] or "",
        quoted_preview=r[19] or "",
        edited=bool(r[20]),
        edited_at=_opt_dt(r[21]),
        deleted=bool(r[22]),
        error=r[23] or "",
    )


def _chat_from_row(r: Sequence[Any]) -> Chat:
    return Chat(
        jid=r[0],
        session_id=r[1],
        name=r[2] or "",
        last_message_time=_dt(r[3]),
        ephemeral_expiration=int(r[4] or 0),
        created_at=_opt_dt(r[5]),
        updated_at=_opt_dt(r[6]),
        is_group=bool(r[7]),
        unread_count=int(r[8] or 0),
        archived=bool(r[9]),
        pinned=bool(r[10]),
        muted_until=_opt_dt(r[11]),
        last_message_id=r[12] or "",
        last_message_preview=r[13] or "",
        last_message_sender=r[14] or "",
        last_message_is_from_me=bool(r[15]),
    )


def _is_conversation_record(chat: Chat) -> bool:
    return bool(
        chat.last_message_id or chat.unread_count > 0 or chat.archived or chat.pinned
        or chat.muted_until is not None
    )


def _is_group_jid(jid: str) -> int:
    return 1 if jid.endswith("@g.us") else 0


def _clamp(limit: int, default: int = 50) -> int:
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        limit = default
    return max(1, min(limit, MAX_LIMIT))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ids(message_ids: Iterable[str] | str) -> list[str]:
    if isinstance(message_ids, str):
        message_ids = [message_ids]
    return list(dict.fromkeys(i for i in message_ids if i))


def _fold(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else ""


def _qs(n: int) -> str:
    return ", ".join("?" * n)


def _require(value: str, what: str) -> str:
    if not value:
        raise ValueError(f"{what} is required")
    return value


def _message_rows(
    messages: Iterable[Message], sid_of: Callable[[str], str], now: int, read: Container[tuple[str, str]] = (),
) -> tuple[dict[tuple[str, str, str], tuple[Any, ...]], dict[tuple[str, str], list[tuple[str, str, str]]]]:
    """Messages as rows (``_MSG_COLS``, is_read, created_at, updated_at) keyed by (session,
    chat, id) -- a later copy of a message replaces an earlier one -- and each chat's keys in
    arrival order. ``sid_of``: a message's session_id -> the session it is stored in.
    ``read``: the (session, chat) whose rows are all read."""
    batch: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    by_chat: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    read_status = MessageStatus.READ
    named, sid = None, ""  # a chunk's messages name the same session: resolve it once
    chat_sid, chat_jid_now = "", ""
    chat_keys: list[tuple[str, str, str]] = []
    chat_read = False
    for m in messages:
        mid, chat_jid = m.id, m.chat_jid
        if not mid or not chat_jid:
            raise ValueError(f"message needs an id and a chat_jid: {mid!r} in {chat_jid!r}")
        if m.session_id != named:
            named = m.session_id
            sid = sid_of(named)
        if chat_jid != chat_jid_now or sid != chat_sid:  # messages come chat by chat
            chat_sid, chat_jid_now = sid, chat_jid
            chat_keys = by_chat.setdefault((sid, chat_jid), [])
            chat_read = (sid, chat_jid) in read
        ts = m.timestamp
        if ts.tzinfo is None:
            raise ValueError(f"naive datetime {ts!r}: domain times must be timezone-aware")
        from_me = 1 if m.is_from_me else 0
        deleted = 1 if m.deleted else 0
        status = int(m.status)
        key = (sid, chat_jid, mid)
        size = len(batch)
        batch[key] = (
            mid, chat_jid, sid, m.sender or "", m.content or "", round(ts.timestamp() * 1000),
            from_me, m.media_type or "", m.filename or "", m.url or "",
            m.media_key or None, m.file_sha256 or None, m.file_enc_sha256 or None,
            int(m.file_length or 0), m.mimetype or "", m.push_name or "", status,
            m.quoted_message_id or "", m.quoted_sender or "", m.quoted_preview or "",
            1 if m.edited else 0, to_millis(m.edited_at) if m.edited_at else None,
            deleted, m.error or "",
            1 if (chat_read or from_me or deleted or status >= read_status) else 0, now, now,
        )
        if len(batch) > size:  # a first copy (a later one replaces the row, not the place)
            chat_keys.append(key)
    return batch, by_chat


def _keep_newest_unread(
    batch: dict[tuple[str, str, str], tuple[Any, ...]], keys: Sequence[tuple[str, str, str]],
    unread: int, read_tail: tuple[int, int, int],
) -> None:
    """The server's unread count (> 0) for a chat new to the store: of its incoming rows (not
    yet written) the newest ``unread`` stay unread, the older ones are marked read. Fewer
    incoming than ``unread``: all stay unread. ``read_tail``: (1, created_at, updated_at)."""
    incoming = [key for key in keys if not batch[key][6] and not batch[key][22]]
    if len(incoming) < unread:
        return
    incoming.sort(key=lambda key: (batch[key][5], key[2]), reverse=True)
    for key in incoming[unread:]:
        row = batch[key]
        if not row[24]:
            batch[key] = row[:24] + read_tail


def _history_pieces(
    messages: list[Message], chats: list[Chat], size: int
) -> list[tuple[list[Message], list[Chat]]]:
    """A history chunk as pieces of about ``size`` messages, each chat whole: its record
    and all its messages in one piece (the unread rule needs them together). One piece when
    the chunk is small; none when it is empty."""
    if len(messages) <= size:
        return [(messages, chats)] if messages or chats else []
    by_jid: dict[str, list[Message]] = {}
    for m in messages:
        by_jid.setdefault(m.chat_jid, []).append(m)
    records: dict[str, list[Chat]] = {}
    for c in chats:
        records.setdefault(c.jid, []).append(c)
    pieces: list[tuple[list[Message], list[Chat]]] = []
    piece_messages: list[Message] = []
    piece_chats: list[Chat] = []
    for jid in dict.fromkeys([*records, *by_jid]):
        piece_messages += by_jid.get(jid, ())
        piece_chats += records.get(jid, ())
        if len(piece_messages) >= size:
            pieces.append((piece_messages, piece_chats))
            piece_messages, piece_chats = [], []
    if piece_messages or piece_chats:
        pieces.append((piece_messages, piece_chats))
    return pieces


def _existing_chats(raw: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (session, jid) chats have a row. A chat without one has no messages
    either (the foreign key), so its new messages need no duplicate check."""
    by_sid: dict[str, list[str]] = {}
    for sid, jid in keys:
        by_sid.setdefault(sid, []).append(jid)
    found: set[tuple[str, str]] = set()
    for sid, jids in by_sid.items():
        for chunk in _chunks(jids):
            rows = raw.execute(
                f"SELECT jid FROM chats WHERE session_id = ? AND jid IN ({_qs(len(chunk))})", (sid, *chunk)
            ).fetchall()
            found.update((sid, r[0]) for r in rows)
    return found


def _insert_indexed(raw: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows known to be new, then add them to the full-text index in one statement.
    New rows take rowids above the current maximum, so ``rowid > before`` is exactly them;
    this runs before anything else in the transaction can edit them (an edit of a row the
    index has not seen would corrupt it)."""
    before = raw.execute("SELECT COALESCE(MAX(rowid), 0) FROM messages").fetchone()[0]
    raw.executemany(_INSERT_NEW_MESSAGE, rows)
    raw.execute(
        "INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE rowid > ?", (before,)
    )


def _settle_record_unread(
    raw: sqlite3.Connection, chat_rows: list[tuple[Any, ...]], unread_of: dict[tuple[str, str], int],
    whole: dict[tuple[str, str], int],
) -> None:
    """The server's unread count of each conversation record of a chat that had messages
    (new chats had theirs applied before their rows were written): the newest N incoming
    messages stay unread, and the chat's count is the record's (a record written whole
    has it already)."""
    for row in chat_rows:
        jid, sid, unread = row[0], row[1], row[8]
        if (sid, jid) in unread_of:
            continue  # applied to the new rows before they were written
        bound = ""
        params: tuple[Any, ...] = (sid, jid)
        if unread > 0:
            cutoff = raw.execute(
                """SELECT timestamp, id FROM messages
                   WHERE session_id = ? AND chat_jid = ? AND is_from_me = 0 AND deleted = 0
                   ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET ?""",
                (sid, jid, unread - 1),
            ).fetchall()
            if not cutoff:
                continue  # fewer stored than unread: all of them stay unread
            bound = " AND (timestamp, id) < (?, ?)"
            params = (sid, jid, cutoff[0][0], cutoff[0][1])
        raw.execute(
            "UPDATE messages SET is_read = 1 WHERE session_id = ? AND chat_jid = ? "
            f"AND is_from_me = 0 AND is_read = 0{bound}",
            params,
        )
    counts = [(row[8], row[1], row[0]) for row in chat_rows if whole.get((row[1], row[0]), -1) < 0]
    if counts:
        raw.executemany("UPDATE chats SET unread_count = ? WHERE session_id = ? AND jid = ?", counts)


def _with_newest(chat: tuple[Any, ...], newest: tuple[Any, ...]) -> tuple[Any, ...]:
    """A new chat's row (``_CHAT_COLS``) once its newest new message is in: what _TOUCH_CHAT
    would do to it, done before it is written (the unread count stays the server's)."""
    ts, mid = newest[5], newest[0]
    if chat[12] == "" or ts > chat[3] or (ts == chat[3] and mid >= chat[12]):
        chat = (*chat[:12], mid, preview_text(newest[4], newest[7], newest[22]), newest[3], newest[6])
    if ts > chat[3]:
        chat = (*chat[:3], ts, *chat[4:])
    return chat


class _StoreRequest:
    __slots__ = ("messages", "chats", "history", "sid", "future")

    def __init__(self, messages: list[Message], chats: list[Chat], history: bool | None, sid: str) -> None:
        self.messages = messages
        self.chats = chats
        self.history = history
        self.sid = sid
        self.future: asyncio.Future[int] = asyncio.get_running_loop().create_future()


class ChatStorageRepository:
    """The seed's IChatStorageRepository in snake_case, session-partitioned, on aiosqlite."""

    latest_version: ClassVar[int] = LATEST_VERSION

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._w = writer
        self._r = reader
        self._write_lock = asyncio.Lock()
        self._closed = False
        # sessions that may have parked updates: storing a message checks pending_updates only
        # for these (one round trip less per batch on the ingest path)
        self._pending_sids: set[str] = set()
        self._queued: list[_StoreRequest] = []  # store_messages batches waiting to be written
        self._ckpt: aiosqlite.Connection | None = None  # checkpoints only (see _checkpoints)
        self._checkpoint_task: asyncio.Task[None] | None = None
        # (session, jid) -> push name already in contacts: a burst from the same people
        # needs no write transaction for their names
        self._names_stored: dict[tuple[str, str], str] = {}

    # --- lifecycle -------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: str | Path, *, migrate: bool = True) -> ChatStorageRepository:
        """Open (creating or upgrading when ``migrate``) the store at ``path``."""
        path = Path(path).expanduser()
        info = await asyncio.to_thread(inspect_store_file, path)
        version = check_store_shape(path, info)
        if version < LATEST_VERSION:
            if not migrate:
                if version == 0:
                    raise StoreError(
                        f"{path}: no chat store here yet; run `watui db upgrade` to create it"
                    )
                raise StoreError(
                    f"{path}: store schema version {version} is older than this watui "
                    f"(needs {LATEST_VERSION}); run `watui db upgrade`"
                )
            await asyncio.to_thread(upgrade_store, path)
        writer = await _connect(path, reader=False)
        try:
            reader = await _connect(path, reader=True)
        except BaseException:
            await writer.close()
            raise
        await asyncio.to_thread(tighten_side_files, path)
        repo = cls(path, writer, reader)
        try:
            rows = await reader.execute_fetchall("SELECT DISTINCT session_id FROM pending_updates")
        except BaseException:
            await repo.close()
            raise
        repo._pending_sids = {r[0] for r in rows}
        try:
            repo._ckpt = await _connect(path, reader=False, checkpointer=True)
        except BaseException:
            await repo.close()
            raise
        repo._checkpoint_task = asyncio.create_task(repo._checkpoints(), name="watui-store-checkpoint")
        return repo

    async def _checkpoints(self) -> None:
        """Copy the WAL into the database every CHECKPOINT_INTERVAL on a connection of its own.
        Left to the writer (SQLite's autocheckpoint), a checkpoint -- a thousand random page
        writes and an fsync -- ran inside some unlucky commit and held every session's writes
        for 100-250 ms (bench/ui.py flood). PASSIVE never waits for readers or the writer."""
        while not self._closed:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            try:
                await self._ckpt.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
            except (sqlite3.Error, ValueError) as exc:  # closed under us, or busy: next time
                log.debug("store checkpoint skipped: %s", exc)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        async with self._write_lock:
            await self._w.close()
        await self._r.close()
        if self._ckpt is not None:
            await self._ckpt.close()

    async def __aenter__(self) -> ChatStorageRepository:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        async with self._write_lock:
            conn = self._w
            try:
                # inside the try: a cancel while BEGIN is on its way still rolls it back
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                error = as_unwritable(exc, self.path)  # disk full, read-only, locked: one clear line
                if error is exc:
                    raise
                raise error from exc

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        return list(await self._r.execute_fetchall(sql, params))

    @staticmethod
    def _sid(explicit: str | None) -> str:
        return resolve_session_id(explicit or None)

    # --- admin -----------------------------------------------------------------------------
    async def schema_version(self) -> int:
        rows = await self._read("SELECT COALESCE(MAX(version), 0) FROM schema_info")
        return int(rows[0][0])

    async def integrity_check(self) -> list[str]:
        """Problems found by integrity_check, foreign_key_check and the FTS index check;
        empty when the store is sound."""
        problems: list[str] = []
        rows = await self._read("PRAGMA integrity_check")
        problems += [str(r[0]) for r in rows if str(r[0]).lower() != "ok"]
        rows = await self._read("PRAGMA foreign_key_check")
        problems += [f"foreign key: {t} rowid {rowid} has no parent in {parent}" for t, rowid, parent, _ in rows]
        async with self._write_lock:
            try:
                # rank 1: also compare the index with the messages it was built from
                await self._w.execute(
                    "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
                )
            except sqlite3.Error as exc:
                problems.append(f"full-text index: {exc}")
        return problems

    async def vacuum(self) -> None:
        """VACUUM the store, then rebuild the full-text index: messages has no INTEGER PRIMARY
        KEY, so VACUUM may renumber the rowids the index points at. Never run a bare VACUUM."""
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        async with self._write_lock:
            await self._w.execute("VACUUM")
            await self._w.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")

    async def row_counts(self) -> dict[str, tuple[int, int]]:
        """{session_id: (chats, messages)} for every session with rows."""
        counts: dict[str, list[int]] = {}
        for sid, n in await self._read("SELECT session_id, COUNT(*) FROM chats GROUP BY session_id"):
            counts.setdefault(sid, [0, 0])[0] = n
        for sid, n in await self._read("SELECT session_id, COUNT(*) FROM messages GROUP BY session_id"):
            counts.setdefault(sid, [0, 0])[1] = n
        return {sid: (c[0], c[1]) for sid, c in sorted(counts.items())}

    # --- chats -----------------------------------------------------------------------------
    @staticmethod
    def _chat_row(chat: Chat, sid: str, now: int) -> tuple[Any, ...]:
        _require(chat.jid, "chat jid")
        return (
            chat.jid,
            sid,
            chat.name or "",
            to_millis(chat.last_message_time),
            int(chat.ephemeral_expiration or 0),
            to_millis(chat.created_at) if chat.created_at else now,
            now,
            1 if chat.is_group or chat.jid.endswith("@g.us") else 0,
            max(int(chat.unread_count or 0), 0),
            1 if chat.archived else 0,
            1 if chat.pinned else 0,
            to_millis(chat.muted_until) if chat.muted_until else None,
            chat.last_message_id or "",
            chat.last_message_preview or "",
            chat.last_message_sender or "",
            1 if chat.last_message_is_from_me else 0,
        )

    async def store_chat(self, chat: Chat) -> Chat:
        """Upsert a chat. A known name is never replaced by an empty one; last_message_time
        only moves forward; flags (archived, pinned, muted_until) take the given values.
        unread_count and last_message_* are the messages' business once the chat exists."""
        sid = self._sid(chat.session_id)
        row = self._chat_row(chat, sid, _now_ms())
        self._names_stored.pop((sid, chat.jid), None)  # it may be a new chat without a name
        async with self._write() as conn:
            await conn.execute(_UPSERT_CHAT, row)
        return replace(chat, session_id=sid)

    async def get_chat(self, jid: str, session_id: str | None = None) -> Chat | None:
        return await self.get_chat_by_session(jid, session_id)

    async def get_chat_by_session(self, jid: str, session_id: str | None) -> Chat | None:
        sid = self._sid(session_id)
        rows = await self._read(
            f"SELECT {_CHAT_COLS} FROM chats WHERE session_id = ? AND jid = ?", (sid, jid)
        )
        return _chat_from_row(rows[0]) if rows else None

    async def get_chats_by_jid(self, jids: Iterable[str], session_id: str | None = None) -> dict[str, Chat]:
        """{jid: Chat} for those of ``jids`` that exist in the session (one query per 500)."""
        sid = self._sid(session_id)
        wanted = list(dict.fromkeys(j for j in jids if j))
        found: dict[str, Chat] = {}
        for chunk in _chunks(wanted):
            rows = await self._read(
                f"SELECT {_CHAT_COLS} FROM chats WHERE session_id = ? AND jid IN ({_qs(len(chunk))})",
                (sid, *chunk),
            )
            found.update((r[0], _chat_from_row(r)) for r in rows)
        return found

    async def get_chats(self, filter: ChatFilter | None = None) -> list[Chat]:  # noqa: A002
        f = filter or ChatFilter()
        sid = self._sid(f.session_id)
        where = ["session_id = ?"]
        params: list[Any] = [sid]
        if not f.include_archived:
            where.append("archived = 0")
        if f.unread_only:
            where.append("unread_count > 0")
        if f.search.strip():
            needle = f.search.strip().casefold()
            where.append("(instr(watui_fold(name), ?) > 0 OR instr(watui_fold(jid), ?) > 0)")
            params += [needle, needle]
        if f.before is not None:
            where.append("(last_message_time, jid) < (?, ?)")
            params += [to_millis(f.before.timestamp), f.before.key]
        params.append(_clamp(f.limit))
        rows = await self._read(
            f"SELECT {_CHAT_COLS} FROM chats WHERE {' AND '.join(where)} "
            "ORDER BY last_message_time DESC, jid DESC LIMIT ?",
            params,
        )
        return [_chat_from_row(r) for r in rows]

    async def get_pinned_chats(self, session_id: str | None = None) -> list[Chat]:
        """A session's pinned chats, latest activity first (the chat list shows them on top,
        whatever page the rest is loaded in)."""
        sid = self._sid(session_id)
        rows = await self._read(
            f"SELECT {_CHAT_COLS} FROM chats WHERE session_id = ? AND pinned = 1 "
            "ORDER BY last_message_time DESC, jid DESC",
            (sid,),
        )
        return [_chat_from_row(r) for r in rows]

    async def lookup_chats(self, prefix: str, session_id: str | None = None, limit: int = 20) -> list[Chat]:
        """Chats whose name starts with ``prefix`` (case-insensitive, served by the
        (session_id, name COLLATE NOCASE) index), then those whose jid or phone number does."""
        sid = self._sid(session_id)
        limit = _clamp(limit, 20)
        prefix = prefix.strip()
        if not prefix:
            return await self.get_chats(ChatFilter(session_id=sid, limit=limit))
        high = prefix + "\U0010ffff"
        rows = await self._read(
            f"SELECT {_CHAT_COLS} FROM chats WHERE session_id = ? "
            "AND name >= ? COLLATE NOCASE AND name < ? COLLATE NOCASE "
            "ORDER BY name COLLATE NOCASE, last_message_time DESC LIMIT ?",
            (sid, prefix, high, limit),
        )
        found = {r[0]: _chat_from_row(r) for r in rows}
        jid_prefixes = [prefix.lower()]
        digits = re.sub(r"\D", "", prefix)
        if digits and re.fullmatch(r"[+\d\s().-]+", prefix):
            jid_prefixes.append(digits)
        for jp in dict.fromkeys(jid_prefixes):
            if len(found) >= limit:
                break
            rows = await self._read(
                f"SELECT {_CHAT_COLS} FROM chats WHERE session_id = ? AND jid >= ? AND jid < ? "
                "ORDER BY last_message_time DESC, jid DESC LIMIT ?",
                (sid, jp, jp + "\U0010ffff", limit),
            )
            for r in rows:
                found.setdefault(r[0], _chat_from_row(r))
        return list(found.values())[:limit]

    # --- messages: ingest ------------------------------------------------------------------
    async def store_message(self, message: Message) -> bool:
        """Store one message; True when it was new."""
        return await self.store_messages([message]) == 1

    async def store_messages(
        self, messages: Iterable[Message], chats: Iterable[Chat] = (), *, history: bool | None = None
    ) -> int:
        """Store a batch in ONE transaction; returns how many were new (a duplicate is stored
        exactly once). Chats missing for any message are created.

        ``chats`` come in two kinds. A conversation record from a history sync is upserted
        whole (name, flags) and its ``unread_count`` is the server's: the newest that many
        incoming messages stay unread, older ones count as read. A chat that only names a
        chat (a live message's group subject) just sets the name, so a new message does not
        unpin, unmute or mark anything read. ``history=True``/``False`` says which for all of
        them; None decides per chat: a record is one that carries last_message_id,
        unread_count, archived, pinned or muted_until."""
        messages = list(messages)
        chats = list(chats)
        if not messages and not chats:
            return 0
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        # Group commit: batches that wait for the write lock are written together, each in
        # its own savepoint (one failing batch fails alone), under ONE commit. Ten sessions
        # each storing a few messages 20 times a second meant ~400 commits a second and a
        # writer queue a quarter of a second long (bench/ui.py flood).
        request = _StoreRequest(messages, chats, history, self._sid(None))
        self._queued.append(request)
        try:
            async with self._write_lock:
                if not request.future.done():
                    await self._write_queued()
        except asyncio.CancelledError:
            if request in self._queued:
                self._queued.remove(request)
            elif request.future.done() and not request.future.cancelled():
                request.future.exception()  # written (or failed) by another caller: nobody else reads it
            raise
        # every outcome, an error included, is read from the future: _write_queued never
        # raises what it has set on a future, so no failure is left unretrieved
        return request.future.result()

    async def _store_merged(self, conn: aiosqlite.Connection, queued: list[_StoreRequest]) -> dict[int, int]:
        """Batches with the same ``history`` mode written as one (a handful of statements
        for all of them instead of a dozen each). When that fails, nothing of it stays and
        the caller writes them one by one, so a bad batch fails alone. {index: new rows}."""
        done: dict[int, int] = {}
        start = 0
        while start < len(queued):
            end = start + 1
            while end < len(queued) and queued[end].history == queued[start].history:
                end += 1
            group = queued[start:end]
            if len(group) > 1:
                keyed: list[list[tuple[str, str, str]]] = []
                messages: list[Message] = []
                chats: list[Chat] = []
                try:
                    for request in group:
                        own = []
                        for m in request.messages:
                            sid = self._sid(m.session_id or request.sid)
                            own.append((sid, m.chat_jid, m.id))
                            messages.append(m if m.session_id == sid else replace(m, session_id=sid))
                        chats += [
                            c if c.session_id else replace(c, session_id=request.sid) for c in request.chats
                        ]
                        keyed.append(own)
                    inserted: set[tuple[str, str, str]] = set()
                    await conn.execute("SAVEPOINT store_merged")
                except Exception:  # a malformed batch: the one-by-one path reports it
                    start = end
                    continue
                try:
                    await self._store_batch(conn, messages, chats, history=group[0].history, inserted_keys=inserted)
                except Exception:
                    await conn.execute("ROLLBACK TO store_merged")
                    await conn.execute("RELEASE store_merged")
                else:
                    await conn.execute("RELEASE store_merged")
                    for offset, own in enumerate(keyed):
                        done[start + offset] = len(set(own) & inserted)
            start = end
        return done

    async def _write_queued(self) -> None:
        """Under the write lock: every queued store_messages batch in one transaction."""
        queued, self._queued = self._queued, []
        conn = self._w
        alone = len(queued) == 1
        results: dict[int, int] = {}
        try:
            # inside the try: a cancel while BEGIN is on its way still rolls it back
            await conn.execute("BEGIN IMMEDIATE")
            if not alone:
                results.update(await self._store_merged(conn, queued))
            for index, request in enumerate(queued):
                if index in results:
                    continue
                if alone:
                    results[index] = await self._store_batch(
                        conn, request.messages, request.chats, history=request.history,
                        default_sid=request.sid,
                    )
                    continue
                await conn.execute("SAVEPOINT store_batch")
                try:
                    results[index] = await self._store_batch(
                        conn, request.messages, request.chats, history=request.history,
                        default_sid=request.sid,
                    )
                except Exception as exc:  # this batch alone is undone
                    if not conn.in_transaction:
                        # SQLite rolled the whole transaction back (disk full, read-only, I/O
                        # error): every batch fails with this error, not "no such savepoint"
                        raise
                    await conn.execute("ROLLBACK TO store_batch")
                    await conn.execute("RELEASE store_batch")
                    request.future.set_exception(as_unwritable(exc, self.path))
                    continue
                await conn.execute("RELEASE store_batch")
            await conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            unfinished = [r for r in queued if not r.future.done()]
            if isinstance(exc, asyncio.CancelledError):
                # the lock holder was cancelled: the batches go back in the queue (the
                # holder's own is taken out by its store_messages), and the next caller to
                # get the lock writes them
                self._queued[0:0] = unfinished
                raise
            error = as_unwritable(exc, self.path)
            for request in unfinished:
                request.future.set_exception(error)
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: not only a failed write
            return  # each caller reads its own outcome from its future
        for index, request in enumerate(queued):
            if not request.future.done():
                request.future.set_result(results[index])

    # A history write never holds the lock for more than this many messages while another
    # write waits (~0.1 s here): a bigger chunk is written piece by piece, each piece whole
    # chats, and commits between pieces only when someone waits. Alone, a whole chunk is one
    # transaction: each commit flushes a full-text segment and rewrites the index pages the
    # last one touched (5,000-message transactions: 0.66x raw; 20,000: 0.79x; bench/ingest.py).
    HISTORY_PIECE: ClassVar[int] = 5_000

    async def store_history(
        self, session_id: str, messages: Iterable[Message], chats: Iterable[Chat] = (),
        push_names: Iterable[tuple[str, str]] = (),
    ) -> int:
        """One history-sync chunk of ``session_id``: its conversation records (taken as
        ``store_messages(..., history=True)`` takes them), their messages and the senders'
        push names, in ONE transaction -- unless the chunk is longer than HISTORY_PIECE and
        another write is waiting: then it commits after the piece it is on, lets that write
        in, and goes on. Each chat (record and messages) is written whole in one piece. Every
        row is stored in ``session_id``, whatever session it names: an engine cannot write
        into another account. Returns how many messages were new."""
        sid = validate_session_id(session_id)
        pieces = _history_pieces(list(messages), list(chats), self.HISTORY_PIECE)
        names, write_names = self._names_to_write(sid, push_names)
        if not pieces and not write_names:
            return 0
        inserted = 0
        done = 0
        while True:
            async with self._write() as conn:
                while done < len(pieces):
                    piece_messages, piece_chats = pieces[done]
                    inserted += await self._store_batch(
                        conn, piece_messages, piece_chats, history=True, only_sid=sid
                    )
                    done += 1
                    if done < len(pieces) and self._writers_waiting():
                        break
                if done == len(pieces) and write_names:
                    await self._upsert_contacts(conn, sid, names, _now_ms())
            if done == len(pieces):
                break
        if write_names:
            self._remember_names(sid, names)
        return inserted

    def _writers_waiting(self) -> bool:
        """Whether another write waits for the lock: a queued store_messages batch, or any
        other writer (asyncio.Lock keeps its waiters in ``_waiters``; a Python without it
        counts as someone waiting, which only means smaller transactions)."""
        if self._queued:
            return True
        waiters = getattr(self._write_lock, "_waiters", self)
        return waiters is self or bool(waiters)

    async def _store_batch(
        self, conn: aiosqlite.Connection, messages: list[Message], chats: list[Chat], *,
        history: bool | None = None, default_sid: str | None = None,
        inserted_keys: set[tuple[str, str, str]] | None = None, only_sid: str | None = None,
    ) -> int:
        """``default_sid``: the session of rows that name none (the caller's context's,
        resolved before a group commit runs the batch in another task). ``only_sid``: the
        session of every row, whatever it names. ``inserted_keys`` receives the (session,
        chat, id) of every new row.

        The batch is worked out and written in the writer connection's own thread, in one
        call: one round trip instead of one per statement (each is a hop between threads,
        a few milliseconds apiece on a busy machine: bench/ingest.py), and building the
        rows does not hold up the event loop (see :func:`_on_writer_thread`)."""
        # sessions are resolved here, in the caller's context: the writer's thread has none
        fallback = only_sid or self._sid(default_sid)
        inserted, pending, deferred = await _on_writer_thread(
            conn, self._write_batch, messages, chats, history, fallback, only_sid, inserted_keys
        )
        if pending:
            # parked receipts, edits, revokes and reactions for the new rows, before the
            # records' unread counts are settled (as they always were)
            for sid in pending:
                await self._apply_pending(conn, sid)
            await _on_writer_thread(conn, _settle_record_unread, *deferred)
        return inserted

    def _write_batch(
        self, raw: sqlite3.Connection, messages: list[Message], chats: list[Chat], history: bool | None,
        fallback: str, only_sid: str | None, inserted_keys: set[tuple[str, str, str]] | None,
    ) -> tuple[int, set[str], tuple[Any, ...]]:
        """_store_batch's work, on the writer's thread. Returns (new rows, the sessions with
        parked updates to apply, what _settle_record_unread needs when there are some)."""
        now = _now_ms()
        sid_cache: dict[str, str] = {}

        def sid_of(value: str) -> str:
            sid = sid_cache.get(value)
            if sid is None:
                sid = sid_cache[value] = only_sid or validate_session_id(value or fallback)
            return sid

        chat_rows: list[tuple[Any, ...]] = []  # conversation records (server's unread count)
        name_rows: list[tuple[Any, ...]] = []  # names only
        for chat in chats:
            record = history if history is not None else _is_conversation_record(chat)
            sid = sid_of(chat.session_id)
            if record:
                chat_rows.append(self._chat_row(chat, sid, now))
            else:
                _require(chat.jid, "chat jid")
                name_rows.append(
                    (chat.jid, sid, chat.name or "", to_millis(chat.last_message_time),
                     1 if chat.is_group or chat.jid.endswith("@g.us") else 0, now, now)
                )

        # Chats that exist before this batch: only their messages can be duplicates, and
        # only their unread state needs the store's help. A history sync into a new account
        # (every chat new) skips both round trips.
        if only_sid is not None:
            keys = {(only_sid, jid) for jid in {m.chat_jid for m in messages}}
        else:
            keys = {(sid_of(m.session_id), m.chat_jid) for m in messages}
        keys.update((row[1], row[0]) for row in chat_rows)
        keys.update((row[1], row[0]) for row in name_rows)
        known = _existing_chats(raw, keys) if keys else set()
        for key in keys - known:  # a new chat may lack the name store_push_names would give it
            self._names_stored.pop(key, None)

        # The conversation record of a NEW chat: the server's unread count applies to the
        # chat's rows before they are written (the newest N incoming stay unread: the rule
        # the UPDATE at the end applies to chats that had messages), and a record that comes
        # once is written whole, its newest message folded in, instead of being followed by
        # a _TOUCH_CHAT and an unread-count UPDATE.
        unread_of: dict[tuple[str, str], int] = {}
        whole: dict[tuple[str, str], int] = {}  # new chat -> index of its only record, or -1
        for index, row in enumerate(chat_rows):
            chat_key = (row[1], row[0])
            if chat_key not in known:
                # the same chat twice: the passes below would leave the smaller count
                unread_of[chat_key] = min(row[8], unread_of.get(chat_key, row[8]))
                whole[chat_key] = -1 if chat_key in whole else index

        # One pass over the messages builds the rows; every later step works per chat (each
        # extra pass over a 5,000-message history chunk showed in the ingest profile). Rows
        # of a new chat with nothing unread (most of a history sync) are built read.
        read = {chat_key for chat_key, unread in unread_of.items() if unread <= 0}
        batch, by_chat = _message_rows(messages, sid_of, now, read)
        if batch:
            read_tail = (1, now, now)
            for chat_key, unread in unread_of.items():
                if unread > 0:
                    _keep_newest_unread(batch, by_chat.get(chat_key, ()), unread, read_tail)

        existing: set[tuple[str, str, str]] = set()
        pairs_by_sid: dict[str, list[tuple[str, str]]] = {}
        for chat_key in by_chat.keys() & known:
            pairs_by_sid.setdefault(chat_key[0], []).extend((k[1], k[2]) for k in by_chat[chat_key])
        for sid, pairs in pairs_by_sid.items():
            for chunk in _chunks(pairs, _PAIR_CHUNK):
                # one primary-key probe per (chat, id)
                rows = raw.execute(
                    f"""SELECT m.chat_jid, m.id FROM (VALUES {", ".join(["(?, ?)"] * len(chunk))}) v
                        JOIN messages m ON m.session_id = ? AND m.chat_jid = v.column1
                                       AND m.id = v.column2""",
                    (*(x for pair in chunk for x in pair), sid),
                ).fetchall()
                existing.update((sid, cj, mid) for cj, mid in rows)

        # Per chat: the new rows, the newest of them and how many are unread.
        new_rows: list[tuple[Any, ...]] = []
        touched: list[tuple[Any, ...]] = []
        for chat_key, chat_keys in by_chat.items():
            newest: tuple[Any, ...] | None = None
            newest_ts, newest_id, unread = 0, "", 0
            for key in chat_keys:
                if existing and key in existing:
                    continue
                row = batch[key]
                new_rows.append(row)
                if inserted_keys is not None:
                    inserted_keys.add(key)
                ts = row[5]
                if newest is None or ts > newest_ts or (ts == newest_ts and key[2] > newest_id):
                    newest, newest_ts, newest_id = row, ts, key[2]
                if not row[24]:
                    unread += 1
            if newest is None:
                continue
            index = whole.get(chat_key, -1)
            if index >= 0:
                chat_rows[index] = _with_newest(chat_rows[index], newest)
            else:
                sid, chat_jid = chat_key
                touched.append((
                    chat_jid, sid, newest_ts, _is_group_jid(chat_jid), now, now, unread, newest_id,
                    preview_text(newest[4], newest[7], newest[22]), newest[3], newest[6],
                ))

        if chat_rows:
            raw.executemany(_UPSERT_CHAT, chat_rows)
        if name_rows:
            raw.executemany(_NAME_CHAT, name_rows)
        if touched:
            raw.executemany(_TOUCH_CHAT, touched)
        if existing:
            # stored before: merged by the upsert (the update trigger re-indexes the text)
            raw.executemany(_INSERT_MESSAGE, [batch[key] for key in existing])
        pending: set[str] = set()
        if new_rows:
            # new for certain (checked under the write lock): a plain INSERT, which costs
            # about half the upsert's per-row price
            _insert_indexed(raw, new_rows)
            pending = {key[0] for key in keys} & self._pending_sids
        deferred = (chat_rows, unread_of, whole)
        if pending:
            return len(new_rows), pending, deferred
        _settle_record_unread(raw, *deferred)
        return len(new_rows), pending, ()

    async def create_message(self, event: MessageReceived) -> Message:
        """Store a received (or sent-elsewhere) message with the chat name and push name it
        carries. The session is the message's, else the context's."""
        m = event.message
        sid = self._sid(m.session_id)
        m = replace(m, session_id=sid)
        now = _now_ms()
        async with self._write() as conn:
            if event.chat_name:
                await conn.execute(
                    _NAME_CHAT,
                    (m.chat_jid, sid, event.chat_name, to_millis(m.timestamp),
                     _is_group_jid(m.chat_jid), now, now),
                )
            await self._store_batch(conn, [m], [])
            if m.push_name and not m.is_from_me and m.sender:
                # also names a 1:1 chat that has no name yet
                await self._upsert_contacts(conn, sid, [(m.sender, m.push_name)], now)
        return m

    async def store_sent_message_with_context(self, message: Message, *, consumes_draft: bool = False) -> Message:
        """Store an outgoing message as PENDING with its outbox row, in one transaction, before
        the engine sends it (so it survives a crash). Session: the message's, else context's.
        ``consumes_draft``: the text is the chat's draft (the composer's Enter); the stored
        draft goes in the same transaction, so a crash finds the text in one place or the other,
        never in neither and never in both (to come back into the composer and be sent twice)."""
        sid = self._sid(message.session_id)
        m = replace(message, session_id=sid, is_from_me=True, status=MessageStatus.PENDING, error="")
        now = _now_ms()
        async with self._write() as conn:
            await self._store_batch(conn, [m], [])
            await conn.execute(
                """INSERT INTO outbox (session_id, chat_jid, message_id, attempts, last_error, created_at)
                   SELECT session_id, chat_jid, id, 0, '', ? FROM messages
                   WHERE session_id = ? AND chat_jid = ? AND id = ? AND status <= 1
                   ON CONFLICT(session_id, message_id) DO NOTHING""",
                (now, sid, m.chat_jid, m.id),
            )
            if consumes_draft:
                await conn.execute(
                    "DELETE FROM drafts WHERE session_id = ? AND chat_jid = ?", (sid, m.chat_jid)
                )
            rows = await conn.execute_fetchall(
                f"SELECT {_MSG_COLS} FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
                (sid, m.chat_jid, m.id),
            )
        return _message_from_row(rows[0]) if rows else m

    # --- messages: read --------------------------------------------------------------------
    async def get_message(self, chat_jid: str, message_id: str, session_id: str | None = None) -> Message | None:
        sid = self._sid(session_id)
        rows = await self._read(
            f"SELECT {_MSG_COLS} FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
            (sid, chat_jid, message_id),
        )
        return _message_from_row(rows[0]) if rows else None

    async def get_messages(self, filter: MessageFilter) -> list[Message]:  # noqa: A002
        """Newest first. Needs a chat_jid unless ``search`` is given (then all chats of the
        session). Page with ``before=PageCursor(timestamp, key=message id)``."""
        f = filter
        sid = self._sid(f.session_id)
        if not f.chat_jid and not f.search.strip():
            raise ValueError("get_messages needs a chat_jid (or a search)")
        where = ["m.session_id = ?"]
        params: list[Any] = [sid]
        source = "messages m"
        if f.search.strip():
            match = fts_query(f.search)
            if match is None:
                return []
            # CROSS JOIN: the hits drive. Given a session (and chat), SQLite would rather walk
            # its messages through an index and ask FTS5 about each one: seconds on a big store.
            source = "messages_fts CROSS JOIN messages m ON m.rowid = messages_fts.rowid"
            where.insert(0, "messages_fts MATCH ?")
            params.insert(0, match)
            where.append("m.deleted = 0")
        if f.chat_jid:
            where.append("m.chat_jid = ?")
            params.append(f.chat_jid)
        if f.is_from_me is not None:
            where.append("m.is_from_me = ?")
            params.append(1 if f.is_from_me else 0)
        if f.media_only:
            where.append("m.media_type != '' AND m.deleted = 0")
        if f.before is not None:
            where.append("(m.timestamp, m.id) < (?, ?)")
            params += [to_millis(f.before.timestamp), f.before.key]
        params.append(_clamp(f.limit))
        rows = await self._read(
            f"SELECT {_MSG_COLS_M} FROM {source} WHERE {' AND '.join(where)} "
            "ORDER BY m.timestamp DESC, m.id DESC LIMIT ?",
            params,
        )
        return [_message_from_row(r) for r in rows]

    async def search(
        self, query: str, *, session_ids: Iterable[str] | None = None, limit: int = 50,
        order: str = NEWEST, before: Message | None = None,
    ) -> list[SearchHit]:
        """Full-text search with « » around the matched terms in the snippet. ``order``
        "newest" (the default): newest first, paged with ``before`` = the last hit's message
        (the next page holds exactly the hits after it); "relevance": best match first (not
        paged). SearchHit.rank is bm25 either way (lower is better). ``session_ids`` None: the
        context's session; an explicit list: exactly those sessions."""
        order = check_order(order)
        if before is not None and order != NEWEST:
            raise ValueError("before: only newest-first results are paged")
        sids = [self._sid(None)] if session_ids is None else [validate_session_id(s) for s in session_ids]
        sids = list(dict.fromkeys(sids))
        match = fts_query(query)
        if match is None or not sids:
            return []
        limit = _clamp(limit)
        cursor: tuple[Any, ...] = ()
        if before is not None:
            cursor = (to_millis(before.timestamp), self._sid(before.session_id), before.id, before.chat_jid)
        walk = False
        if order == NEWEST:
            (messages, hits), = await self._read(PROBE_SQL, (match, PROBE_CAP))
            walk = walk_is_cheaper(hits, messages, limit)
        sql = search_sql(order, walk=walk, sessions=len(sids), cursor=bool(cursor), columns=_MSG_COLS_M)
        rows = await self._read(sql, (match, *sids, *cursor, limit, match))
        return [
            SearchHit(message=_message_from_row(r), snippet=r[24], rank=float(r[25]), chat_name=r[26])
            for r in rows
        ]

    # --- outbox ----------------------------------------------------------------------------
    async def outbox_pending(self, session_id: str | None = None, *, include_failed: bool = False) -> list[Message]:
        """Outgoing messages still to send, oldest first (FAILED ones too when asked)."""
        sid = self._sid(session_id)
        statuses = "(1, -1)" if include_failed else "(1)"
        rows = await self._read(
            f"""SELECT {_MSG_COLS_M} FROM outbox o
                CROSS JOIN messages m ON m.session_id = o.session_id AND m.chat_jid = o.chat_jid
                                AND m.id = o.message_id
                WHERE o.session_id = ? AND m.status IN {statuses}
                ORDER BY o.created_at, o.rowid""",
            (sid,),
        )
        return [_message_from_row(r) for r in rows]

    async def mark_sent(
        self, chat_jid: str, message_id: str, timestamp: datetime, session_id: str | None = None,
        *, server_id: str | None = None,
    ) -> bool:
        """The server took the message: outbox row gone, status at least SENT (never lowered),
        the server's timestamp kept. ``server_id``: the id the server gave it when the engine
        could not send with ours (neonize 0.5.2); the row takes that id, since receipts,
        edits and reactions will name it, and updates already parked under it apply now."""
        sid = self._sid(session_id)
        ts = to_millis(timestamp)
        async with self._write() as conn:
            if server_id and server_id != message_id:
                if not await self._rekey(conn, sid, chat_jid, message_id, server_id):
                    return False
                message_id = server_id
            found = await conn.execute_fetchall(
                "SELECT timestamp, status FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
                (sid, chat_jid, message_id),
            )
            if not found:
                return False
            ts = await _sent_time(conn, sid, chat_jid, message_id, ts, *found[0])
            await conn.execute(
                """UPDATE messages SET status = MAX(status, 2), timestamp = ?, error = '',
                                       updated_at = ?
                   WHERE session_id = ? AND chat_jid = ? AND id = ?""",
                (ts, _now_ms(), sid, chat_jid, message_id),
            )
            await conn.execute(
                "DELETE FROM outbox WHERE session_id = ? AND chat_jid = ? AND message_id = ?",
                (sid, chat_jid, message_id),
            )
            await conn.execute(
                """UPDATE chats SET last_message_time = MAX(last_message_time, ?)
                   WHERE session_id = ? AND jid = ? AND last_message_id = ?""",
                (ts, sid, chat_jid, message_id),
            )
            return True

    async def _rekey(
        self, conn: aiosqlite.Connection, sid: str, chat_jid: str, old_id: str, new_id: str
    ) -> bool:
        exists = await conn.execute_fetchall(
            "SELECT id FROM messages WHERE session_id = ? AND chat_jid = ? AND id IN (?, ?)",
            (sid, chat_jid, old_id, new_id),
        )
        found = {row[0] for row in exists}
        if old_id not in found:
            return new_id in found
        await conn.execute(
            "DELETE FROM outbox WHERE session_id = ? AND chat_jid = ? AND message_id = ?",
            (sid, chat_jid, old_id),
        )
        if new_id in found:  # the server's copy got here first: ours is the duplicate
            await conn.execute(
                "DELETE FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
                (sid, chat_jid, old_id),
            )
        else:
            await conn.execute(
                "UPDATE messages SET id = ? WHERE session_id = ? AND chat_jid = ? AND id = ?",
                (new_id, sid, chat_jid, old_id),
            )
        await conn.execute(
            "UPDATE chats SET last_message_id = ? WHERE session_id = ? AND jid = ? AND last_message_id = ?",
            (new_id, sid, chat_jid, old_id),
        )
        if sid in self._pending_sids:
            await self._apply_pending(conn, sid)
        return True

    async def mark_send_failed(
        self, chat_jid: str, message_id: str, reason: str, session_id: str | None = None
    ) -> bool:
        """FAILED with the reason, attempts bumped; the outbox row stays for a retry. A message
        the server already took is never marked failed."""
        sid = self._sid(session_id)
        async with self._write() as conn:
            cur = await conn.execute(
                """UPDATE messages SET status = -1, error = ?, updated_at = ?
                   WHERE session_id = ? AND chat_jid = ? AND id = ? AND status <= 1""",
                (reason, _now_ms(), sid, chat_jid, message_id),
            )
            changed = cur.rowcount > 0
            await conn.execute(
                """UPDATE outbox SET attempts = attempts + 1, last_error = ?
                   WHERE session_id = ? AND chat_jid = ? AND message_id = ?""",
                (reason, sid, chat_jid, message_id),
            )
            return changed

    async def requeue(self, chat_jid: str, message_id: str, session_id: str | None = None) -> bool:
        """Retry a FAILED message: PENDING again, back in the outbox."""
        sid = self._sid(session_id)
        async with self._write() as conn:
            cur = await conn.execute(
                """UPDATE messages SET status = 1, error = '', updated_at = ?
                   WHERE session_id = ? AND chat_jid = ? AND id = ? AND status = -1 AND is_from_me = 1""",
                (_now_ms(), sid, chat_jid, message_id),
            )
            if cur.rowcount == 0:
                return False
            await conn.execute(
                """INSERT INTO outbox (session_id, chat_jid, message_id, attempts, last_error, created_at)
                   VALUES (?, ?, ?, 0, '', ?) ON CONFLICT(session_id, message_id) DO NOTHING""",
                (sid, chat_jid, message_id, _now_ms()),
            )
            return True

    # --- updates that may arrive before their message ------------------------------------
    async def _known_ids(self, conn: aiosqlite.Connection, sid: str, chat_jid: str, ids: list[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(ids):
            rows = await conn.execute_fetchall(
                f"SELECT id FROM messages WHERE session_id = ? AND chat_jid = ? AND id IN ({_qs(len(chunk))})",
                (sid, chat_jid, *chunk),
            )
            known.update(r[0] for r in rows)
        return known

    async def _park(
        self, conn: aiosqlite.Connection, sid: str, chat_jid: str, message_id: str, kind: str, *,
        sender: str = "", status: int | None = None, content: str | None = None,
        emoji: str | None = None, at: int | None = None,
    ) -> None:
        self._pending_sids.add(sid)
        await conn.execute(
            _PARK, (sid, chat_jid, message_id, kind, sender, status, content, emoji, at, _now_ms())
        )

    async def _receipt_known(
        self, conn: aiosqlite.Connection, sid: str, chat_jid: str, ids: list[str], status: int
    ) -> int:
        changed = 0
        for chunk in _chunks(ids):
            cur = await conn.execute(
                f"""UPDATE messages SET status = ?, error = CASE WHEN ? >= 2 THEN '' ELSE error END
                    WHERE session_id = ? AND chat_jid = ? AND id IN ({_qs(len(chunk))}) AND status < ?""",
                (status, status, sid, chat_jid, *chunk, status),
            )
            changed += max(cur.rowcount, 0)
            if status >= MessageStatus.READ:
                # READ on an incoming message comes from another of our own devices: it is read
                cur = await conn.execute(
                    f"""UPDATE messages SET is_read = 1
                        WHERE session_id = ? AND chat_jid = ? AND id IN ({_qs(len(chunk))})
                        AND is_from_me = 0 AND is_read = 0""",
                    (sid, chat_jid, *chunk),
                )
                if cur.rowcount > 0:
                    await conn.execute(
                        """UPDATE chats SET unread_count = MAX(unread_count - ?, 0)
                           WHERE session_id = ? AND jid = ?""",
                        (cur.rowcount, sid, chat_jid),
                    )
            if status >= MessageStatus.SENT:
                await conn.execute(
                    f"""DELETE FROM outbox WHERE session_id = ? AND chat_jid = ?
                        AND message_id IN ({_qs(len(chunk))})""",
                    (sid, chat_jid, *chunk),
                )
        return changed

    async def _refresh_preview(self, conn: aiosqlite.Connection, sid: str, chat_jid: str, message_id: str) -> None:
        rows = await conn.execute_fetchall(
            "SELECT content, media_type, deleted FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
            (sid, chat_jid, message_id),
        )
        if rows:
            content, media_type, deleted = rows[0]
            await conn.execute(
                """UPDATE chats SET last_message_preview = ?
                   WHERE session_id = ? AND jid = ? AND last_message_id = ?""",
                (preview_text(content, media_type, deleted), sid, chat_jid, message_id),
            )

    async def _edit_known(
        self, conn: aiosqlite.Connection, sid: str, chat_jid: str, message_id: str, content: str, at: int
    ) -> None:
        await conn.execute(
            """UPDATE messages SET content = ?, edited = 1, edited_at = ?, updated_at = ?
               WHERE session_id = ? AND chat_jid = ? AND id = ? AND deleted = 0
                 AND (edited_at IS NULL OR edited_at <= ?)""",
            (content, at, _now_ms(), sid, chat_jid, message_id, at),
        )
        await self._refresh_preview(conn, sid, chat_jid, message_id)

    async def _revoke_known(self, conn: aiosqlite.Connection, sid: str, chat_jid: str, message_id: str) -> None:
        # A tombstone keeps nothing of what it replaced, edits included: it must come out the
        # same whether an edit arrived before the revoke or (refused) after it.
        rows = await conn.execute_fetchall(
            "SELECT is_from_me, is_read, deleted FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
            (sid, chat_jid, message_id),
        )
        if not rows or rows[0][2]:
            return
        from_me, is_read, _ = rows[0]
        await conn.execute(
            """UPDATE messages SET deleted = 1, content = '', filename = '', url = '',
                   media_key = NULL, file_sha256 = NULL, file_enc_sha256 = NULL, file_length = 0,
                   quoted_preview = '', is_read = 1, edited = 0, edited_at = NULL, updated_at = ?
               WHERE session_id = ? AND chat_jid = ? AND id = ?""",
            (_now_ms(), sid, chat_jid, message_id),
        )
        if not from_me and not is_read:
            await conn.execute(
                "UPDATE chats SET unread_count = MAX(unread_count - 1, 0) WHERE session_id = ? AND jid = ?",
                (sid, chat_jid),
            )
        await conn.execute(
            "DELETE FROM outbox WHERE session_id = ? AND chat_jid = ? AND message_id = ?",
            (sid, chat_jid, message_id),
        )
        await self._refresh_preview(conn, sid, chat_jid, message_id)

    async def _reaction_known(
        self, conn: aiosqlite.Connection, sid: str, chat_jid: str, message_id: str,
        sender: str, emoji: str, at: int,
    ) -> None:
        if emoji:
            await conn.execute(
                """INSERT INTO reactions (session_id, chat_jid, message_id, sender, emoji, timestamp)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(session_id, chat_jid, message_id, sender) DO UPDATE SET
                       emoji = excluded.emoji, timestamp = excluded.timestamp
                   WHERE excluded.timestamp >= reactions.timestamp""",
                (sid, chat_jid, message_id, sender, emoji, at),
            )
        else:
            await conn.execute(
                """DELETE FROM reactions WHERE session_id = ? AND chat_jid = ? AND message_id = ?
                   AND sender = ? AND timestamp <= ?""",
                (sid, chat_jid, message_id, sender, at),
            )

    async def _apply_pending(self, conn: aiosqlite.Connection, sid: str) -> None:
        rows = await conn.execute_fetchall(
            """SELECT chat_jid, message_id, kind, sender, status, content, emoji, at
               FROM pending_updates p
               WHERE p.session_id = ? AND EXISTS (
                   SELECT 1 FROM messages m WHERE m.session_id = p.session_id
                   AND m.chat_jid = p.chat_jid AND m.id = p.message_id)""",
            (sid,),
        )
        if not rows:
            left = await conn.execute_fetchall(
                "SELECT EXISTS (SELECT 1 FROM pending_updates WHERE session_id = ?)", (sid,)
            )
            if not left[0][0]:
                self._pending_sids.discard(sid)
            return
        for chat_jid, mid, kind, sender, status, content, emoji, at in sorted(
            rows, key=lambda r: (_PENDING_ORDER.get(r[2], 9), r[7] or 0)
        ):
            if kind == _RECEIPT:
                await self._receipt_known(conn, sid, chat_jid, [mid], int(status))
            elif kind == _REACTION:
                await self._reaction_known(conn, sid, chat_jid, mid, sender, emoji or "", at or 0)
            elif kind == _EDIT:
                await self._edit_known(conn, sid, chat_jid, mid, content or "", at or 0)
            elif kind == _REVOKE:
                await self._revoke_known(conn, sid, chat_jid, mid)
        await conn.executemany(
            """DELETE FROM pending_updates WHERE session_id = ? AND chat_jid = ? AND message_id = ?
               AND kind = ? AND sender = ?""",
            [(sid, r[0], r[1], r[2], r[3]) for r in rows],
        )
        left = await conn.execute_fetchall(
            "SELECT EXISTS (SELECT 1 FROM pending_updates WHERE session_id = ?)", (sid,)
        )
        if not left[0][0]:
            self._pending_sids.discard(sid)

    async def apply_receipt(
        self, chat_jid: str, message_ids: Iterable[str] | str, status: MessageStatus,
        session_id: str | None = None,
    ) -> int:
        """Raise the status of these messages to ``status`` (never lowers it); returns how many
        changed. Ids not stored yet are parked and applied when they arrive."""
        sid = self._sid(session_id)
        ids = _ids(message_ids)
        if not ids:
            return 0
        status = int(status)
        async with self._write() as conn:
            known = await self._known_ids(conn, sid, chat_jid, ids)
            changed = await self._receipt_known(conn, sid, chat_jid, [i for i in ids if i in known], status)
            for mid in ids:
                if mid not in known:
                    await self._park(conn, sid, chat_jid, mid, _RECEIPT, status=status)
            return changed

    async def apply_edit(
        self, chat_jid: str, message_id: str, content: str, edited_at: datetime,
        session_id: str | None = None,
    ) -> bool:
        """Replace the text (the full-text index follows by trigger). An older edit never
        overwrites a newer one; a revoked message stays revoked. False when parked."""
        sid = self._sid(session_id)
        at = to_millis(edited_at)
        async with self._write() as conn:
            if not await self._known_ids(conn, sid, chat_jid, [message_id]):
                await self._park(conn, sid, chat_jid, message_id, _EDIT, content=content, at=at)
                return False
            await self._edit_known(conn, sid, chat_jid, message_id, content, at)
            return True

    async def apply_revoke(self, chat_jid: str, message_id: str, session_id: str | None = None) -> bool:
        """Deleted for everyone: the row stays as a tombstone (deleted=1, no content, no media
        keys). False when parked."""
        sid = self._sid(session_id)
        async with self._write() as conn:
            if not await self._known_ids(conn, sid, chat_jid, [message_id]):
                await self._park(conn, sid, chat_jid, message_id, _REVOKE, at=_now_ms())
                return False
            await self._revoke_known(conn, sid, chat_jid, message_id)
            return True

    async def apply_reaction(
        self, chat_jid: str, message_id: str, sender: str, emoji: str, timestamp: datetime,
        session_id: str | None = None,
    ) -> bool:
        """Set (or with an empty emoji remove) ``sender``'s reaction; an older reaction never
        replaces a newer one. False when parked."""
        sid = self._sid(session_id)
        at = to_millis(timestamp)
        async with self._write() as conn:
            if not await self._known_ids(conn, sid, chat_jid, [message_id]):
                await self._park(conn, sid, chat_jid, message_id, _REACTION, sender=sender, emoji=emoji, at=at)
                return False
            await self._reaction_known(conn, sid, chat_jid, message_id, sender, emoji, at)
            return True

    async def get_reactions(
        self, chat_jid: str, message_ids: Iterable[str] | str, session_id: str | None = None
    ) -> dict[str, list[Reaction]]:
        """{message_id: [Reaction, ...]} oldest first, for the given messages of one chat."""
        sid = self._sid(session_id)
        ids = _ids(message_ids)
        out: dict[str, list[Reaction]] = {}
        for chunk in _chunks(ids):
            rows = await self._read(
                f"""SELECT message_id, sender, emoji, timestamp FROM reactions
                    WHERE session_id = ? AND chat_jid = ? AND message_id IN ({_qs(len(chunk))})
                    ORDER BY timestamp, sender""",
                (sid, chat_jid, *chunk),
            )
            for mid, sender, emoji, ts in rows:
                out.setdefault(mid, []).append(
                    Reaction(chat_jid=chat_jid, message_id=mid, sender=sender, emoji=emoji, timestamp=_dt(ts))
                )
        return out

    # --- deleting --------------------------------------------------------------------------
    async def delete_message(self, chat_jid: str, message_id: str, session_id: str | None = None) -> bool:
        """Delete for me: the row goes; the chat's last_message_* fall back to the next newest."""
        sid = self._sid(session_id)
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                "SELECT is_from_me, is_read FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?",
                (sid, chat_jid, message_id),
            )
            if not rows:
                return False
            from_me, is_read = rows[0]
            key = (sid, chat_jid, message_id)
            await conn.execute(
                "DELETE FROM reactions WHERE session_id = ? AND chat_jid = ? AND message_id = ?", key
            )
            await conn.execute(
                "DELETE FROM pending_updates WHERE session_id = ? AND chat_jid = ? AND message_id = ?", key
            )
            await conn.execute(
                "DELETE FROM outbox WHERE session_id = ? AND chat_jid = ? AND message_id = ?", key
            )
            await conn.execute("DELETE FROM messages WHERE session_id = ? AND chat_jid = ? AND id = ?", key)
            if not from_me and not is_read:
                await conn.execute(
                    "UPDATE chats SET unread_count = MAX(unread_count - 1, 0) WHERE session_id = ? AND jid = ?",
                    (sid, chat_jid),
                )
            chat = await conn.execute_fetchall(
                "SELECT last_message_id FROM chats WHERE session_id = ? AND jid = ?", (sid, chat_jid)
            )
            if chat and chat[0][0] == message_id:
                nxt = await conn.execute_fetchall(
                    """SELECT id, timestamp, content, media_type, deleted, sender, is_from_me
                       FROM messages WHERE session_id = ? AND chat_jid = ?
                       ORDER BY timestamp DESC, id DESC LIMIT 1""",
                    (sid, chat_jid),
                )
                if nxt:
                    mid, ts, content, media_type, deleted, sender, nfrom_me = nxt[0]
                    await conn.execute(
                        """UPDATE chats SET last_message_id = ?, last_message_time = ?,
                               last_message_preview = ?, last_message_sender = ?,
                               last_message_is_from_me = ?, updated_at = ?
                           WHERE session_id = ? AND jid = ?""",
                        (mid, ts, preview_text(content, media_type, deleted), sender, nfrom_me,
                         _now_ms(), sid, chat_jid),
                    )
                else:
                    await conn.execute(
                        """UPDATE chats SET last_message_id = '', last_message_preview = '',
                               last_message_sender = '', last_message_is_from_me = 0, updated_at = ?
                           WHERE session_id = ? AND jid = ?""",
                        (_now_ms(), sid, chat_jid),
                    )
            return True

    async def delete_session_data(self, session_id: str) -> int:
        """Remove every row of ``session_id`` from every table (chats, messages, contacts,
        outbox, reactions, pending updates, the sessions registry). The session must be named:
        there is no "current"/"default" fallback here. Returns the number of rows removed."""
        if not session_id:
            raise ValueError("delete_session_data needs an explicit session id")
        sid = validate_session_id(session_id)
        total = 0
        self._names_stored = {k: v for k, v in self._names_stored.items() if k[0] != sid}
        async with self._write() as conn:
            for table in ("drafts", "pending_updates", "reactions", "outbox", "messages", "chats", "contacts", "sessions"):
                cur = await conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (sid,))
                total += max(cur.rowcount, 0)
        self._pending_sids.discard(sid)
        return total

    # --- unread ----------------------------------------------------------------------------
    async def mark_read(self, chat_jid: str, session_id: str | None = None) -> list[Message]:
        """Mark the chat read; returns the incoming messages that were unread (oldest first),
        for read receipts."""
        sid = self._sid(session_id)
        async with self._write() as conn:
            rows = await conn.execute_fetchall(
                f"""SELECT {_MSG_COLS} FROM messages
                    WHERE session_id = ? AND chat_jid = ? AND is_from_me = 0 AND is_read = 0
                    ORDER BY timestamp, id""",
                (sid, chat_jid),
            )
            if rows:
                await conn.execute(
                    """UPDATE messages SET is_read = 1
                       WHERE session_id = ? AND chat_jid = ? AND is_from_me = 0 AND is_read = 0""",
                    (sid, chat_jid),
                )
            await conn.execute(
                "UPDATE chats SET unread_count = 0 WHERE session_id = ? AND jid = ? AND unread_count != 0",
                (sid, chat_jid),
            )
        return [_message_from_row(r) for r in rows if not r[22]]

    async def unread_count(self, session_id: str | None = None, chat_jid: str | None = None) -> int:
        sid = self._sid(session_id)
        if chat_jid:
            rows = await self._read(
                "SELECT COALESCE(SUM(unread_count), 0) FROM chats WHERE session_id = ? AND jid = ?",
                (sid, chat_jid),
            )
        else:
            rows = await self._read(
                "SELECT COALESCE(SUM(unread_count), 0) FROM chats WHERE session_id = ?", (sid,)
            )
        return int(rows[0][0])

    async def unread_totals(self, session_ids: Iterable[str]) -> dict[str, int]:
        """{session_id: unread messages} for exactly the given sessions (sidebar badges)."""
        sids = list(dict.fromkeys(validate_session_id(s) for s in session_ids))
        totals = dict.fromkeys(sids, 0)
        if sids:
            rows = await self._read(
                f"""SELECT session_id, COALESCE(SUM(unread_count), 0) FROM chats
                    WHERE session_id IN ({_qs(len(sids))}) AND unread_count > 0
                    GROUP BY session_id""",
                sids,
            )
            totals.update({sid: int(n) for sid, n in rows})
        return totals

    # --- contacts --------------------------------------------------------------------------
    async def _upsert_contacts(
        self, conn: aiosqlite.Connection, sid: str, pairs: list[tuple[str, str]], now: int
    ) -> None:
        for jid, _ in pairs:  # known again once the transaction is in (store_push_names)
            self._names_stored.pop((sid, jid), None)
        await conn.executemany(
            """INSERT INTO contacts (session_id, jid, push_name, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT(session_id, jid) DO UPDATE SET
                   push_name = excluded.push_name, updated_at = excluded.updated_at
               WHERE contacts.push_name != excluded.push_name""",
            [(sid, jid, name, now) for jid, name in pairs],
        )
        # a 1:1 chat that has no name yet takes the contact's push name
        await conn.executemany(
            "UPDATE chats SET name = ? WHERE session_id = ? AND jid = ? AND name = ''",
            [(name, sid, jid) for jid, name in pairs],
        )

    async def store_push_names(self, pairs: Iterable[tuple[str, str]], session_id: str | None = None) -> int:
        sid = self._sid(session_id)
        clean, write = self._names_to_write(sid, pairs)
        if write:
            async with self._write() as conn:
                await self._upsert_contacts(conn, sid, clean, _now_ms())
            self._remember_names(sid, clean)
        return len(clean)

    def _names_to_write(self, sid: str, pairs: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], bool]:
        """The (jid, push name) pairs that name someone (the last name per jid), and whether
        they need a write: not when every one is stored already and no chat was created
        since (that drops the entry) that could still want the name."""
        clean = list({jid: name for jid, name in pairs if jid and name}.items())
        known = self._names_stored
        return clean, not all(known.get((sid, jid)) == name for jid, name in clean)

    def _remember_names(self, sid: str, names: list[tuple[str, str]]) -> None:
        """After the commit: these names are stored."""
        known = self._names_stored
        if len(known) > 100_000:
            known.clear()
        known.update(((sid, jid), name) for jid, name in names)

    async def get_contact_name(self, jid: str, session_id: str | None = None) -> str | None:
        """The best name we know for ``jid`` in this session: full name, push name, chat name."""
        sid = self._sid(session_id)
        rows = await self._read(
            """SELECT COALESCE(NULLIF(full_name, ''), NULLIF(push_name, ''))
               FROM contacts WHERE session_id = ? AND jid = ?""",
            (sid, jid),
        )
        if rows and rows[0][0]:
            return rows[0][0]
        rows = await self._read(
            "SELECT name FROM chats WHERE session_id = ? AND jid = ? AND name != ''", (sid, jid)
        )
        return rows[0][0] if rows else None

    async def get_contact_names(self, jids: Iterable[str], session_id: str | None = None) -> dict[str, str]:
        """{jid: the name get_contact_name gives} for those of ``jids`` we know a name for,
        in one query per 500 jids instead of one or two per jid."""
        sid = self._sid(session_id)
        wanted = list(dict.fromkeys(j for j in jids if j))
        names: dict[str, str] = {}
        for chunk in _chunks(wanted):
            rows = await self._read(
                f"""SELECT jid, COALESCE(NULLIF(full_name, ''), NULLIF(push_name, '')) FROM contacts
                    WHERE session_id = ? AND jid IN ({_qs(len(chunk))})""",
                (sid, *chunk),
            )
            names.update((jid, name) for jid, name in rows if name)
        rest = [j for j in wanted if j not in names]
        for chunk in _chunks(rest):
            rows = await self._read(
                f"SELECT jid, name FROM chats WHERE session_id = ? AND jid IN ({_qs(len(chunk))}) AND name != ''",
                (sid, *chunk),
            )
            names.update(rows)
        return names

    # --- drafts ----------------------------------------------------------------------------
    async def save_draft(self, chat_jid: str, text: str, session_id: str | None = None) -> None:
        """Keep unsent text for a chat; empty text removes the draft."""
        sid = self._sid(session_id)
        async with self._write() as conn:
            if text.strip():
                await conn.execute(
                    """INSERT INTO drafts (session_id, chat_jid, text, updated_at) VALUES (?, ?, ?, ?)
                       ON CONFLICT(session_id, chat_jid) DO UPDATE
                       SET text = excluded.text, updated_at = excluded.updated_at""",
                    (sid, chat_jid, text, _now_ms()),
                )
            else:
                await conn.execute(
                    "DELETE FROM drafts WHERE session_id = ? AND chat_jid = ?", (sid, chat_jid)
                )

    async def get_drafts(self, session_id: str | None = None) -> dict[str, str]:
        """Every draft of one session, by chat jid."""
        sid = self._sid(session_id)
        rows = await self._read("SELECT chat_jid, text FROM drafts WHERE session_id = ?", (sid,))
        return {jid: text for jid, text in rows}

    # --- sessions registry -----------------------------------------------------------------
    async def upsert_session_record(
        self, session_id: str, label: str | None = None, device_jid: str | None = None,
        push_name: str | None = None,
    ) -> dict[str, Any]:
        """Create or update a session's registry row; None leaves a field as it was."""
        sid = validate_session_id(session_id)
        now = _now_ms()
        async with self._write() as conn:
            await conn.execute(
                """INSERT INTO sessions (session_id, label, device_jid, push_name, created_at, updated_at)
                   VALUES (?, COALESCE(?, ''), COALESCE(?, ''), COALESCE(?, ''), ?, ?)
                   ON CONFLICT(session_id) DO UPDATE SET
                       label = COALESCE(?, sessions.label),
                       device_jid = COALESCE(?, sessions.device_jid),
                       push_name = COALESCE(?, sessions.push_name),
                       updated_at = excluded.updated_at""",
                (sid, label, device_jid, push_name, now, now, label, device_jid, push_name),
            )
        record = await self.get_session_record(sid)
        assert record is not None
        return record

    async def get_session_record(self, session_id: str) -> dict[str, Any] | None:
        sid = validate_session_id(session_id)
        rows = await self._read(
            "SELECT session_id, label, device_jid, push_name, created_at, updated_at FROM sessions "
            "WHERE session_id = ?",
            (sid,),
        )
        return _session_record(rows[0]) if rows else None

    async def list_session_records(self) -> list[dict[str, Any]]:
        rows = await self._read(
            "SELECT session_id, label, device_jid, push_name, created_at, updated_at FROM sessions "
            "ORDER BY created_at, session_id"
        )
        return [_session_record(r) for r in rows]


def _session_record(r: Sequence[Any]) -> dict[str, Any]:
    return {
        "session_id": r[0],
        "label": r[1],
        "device_jid": r[2],
        "push_name": r[3],
        "created_at": _dt(r[4]),
        "updated_at": _dt(r[5]),
    }


async def _sent_time(
    conn: aiosqlite.Connection, sid: str, chat_jid: str, message_id: str, server_ms: int,
    stored_ms: int, status: int,
) -> int:
    """The time a sent message is stored with: the server's, moved just after our messages
    already sent in the same chat within its second. WhatsApp's times are whole seconds, so a
    burst (or an outbox sent after a reconnect) would tie and sort by random ids; this keeps
    the order the messages were sent in. A second ack of the same send keeps the time the
    first one gave."""
    if status >= MessageStatus.SENT and server_ms <= stored_ms < server_ms + 1000:
        return stored_ms
    (latest,), = await conn.execute_fetchall(
        """SELECT MAX(timestamp) FROM messages
           WHERE session_id = ? AND chat_jid = ? AND is_from_me = 1 AND status >= 2
             AND timestamp >= ? AND timestamp < ? AND id != ?""",
        (sid, chat_jid, server_ms, server_ms + 1000, message_id),
    )
    return server_ms if latest is None else max(server_ms, latest + 1)


async def _on_writer_thread(conn: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(sqlite3_connection, *args)`` run on the connection's own thread, in its queue.

    aiosqlite has no public call for this: ``_execute`` queues a function on its thread and
    ``_conn`` is its sqlite3 connection. Both exist unchanged from 0.17 to 0.22; pyproject
    caps the version and tests/test_store_history.py exercises this path, so a change shows
    up as a failing test rather than as silent misbehaviour."""
    return await conn._execute(fn, conn._conn, *args)


async def _connect(path: Path, *, reader: bool, checkpointer: bool = False) -> aiosqlite.Connection:
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    try:
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=10000")
        mode = await conn.execute_fetchall("PRAGMA journal_mode=WAL")
        if not mode or str(mode[0][0]).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the store to WAL mode (got {mode!r})")
        await conn.execute("PRAGMA synchronous=NORMAL")
        if reader:
            await conn.execute("PRAGMA query_only=ON")
        elif not checkpointer:
            # the checkpoint task keeps the WAL short; this is the safety net if it cannot
            await conn.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT}")
        await conn.create_function("watui_fold", 1, _fold, deterministic=True)
    except sqlite3.Error as exc:
        await conn.close()
        raise StoreError(f"{path}: cannot open the store: {exc}") from exc
    except BaseException:
        await conn.close()
        raise
    return conn


__all__ = ["MAX_LIMIT", "ChatStorageRepository"]
