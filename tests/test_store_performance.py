"""The store's performance changes keep its behaviour (no timings here: bench/ measures):
migration 8 (message key order, bulk full-text indexing, chat-list indexes), the fast path
for new chats of a history sync, group commit of concurrent batches, the push-name cache,
the batch read helpers, the checkpoint task, and the session consumer merging history
chunks."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from watui.domain import events as ev
from watui.domain.models import Chat, ChatFilter, Message, MessageFilter, MessageStatus
from watui.engine.sim.testing import QuietClient
from watui.sessions.session import MAX_HISTORY_BATCH, Session, _runs
from watui.store import ChatStorageRepository, with_session_id
from watui.store import migrations

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ALICE = "4915111111111@s.whatsapp.net"
BOB = "4915222222222@s.whatsapp.net"
GROUP = "120363000000000001@g.us"
ME = "4915000000000@s.whatsapp.net"


def msg(mid: str, chat: str = ALICE, at: float = 0, content: str = "", **kw) -> Message:
    kw.setdefault("sender", ME if kw.get("is_from_me") else chat)
    return Message(id=mid, chat_jid=chat, timestamp=T0 + timedelta(seconds=at), content=content or f"text {mid}", **kw)


@pytest.fixture
async def repo(tmp_path):
    r = await ChatStorageRepository.open(tmp_path / "watui.db")
    yield r
    await r.close()


def _build_at(path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE schema_info (version INTEGER PRIMARY KEY DEFAULT 0, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")
    for migration in migrations.MIGRATIONS[:version]:
        migration.apply(conn)
        conn.execute("INSERT INTO schema_info (version) VALUES (?)", (migration.version,))
    conn.close()


# --- migration 8 ------------------------------------------------------------------------------
async def test_migration_8_rekeys_messages_and_keeps_rows_index_and_outbox(tmp_path):
    path = tmp_path / "watui.db"
    _build_at(path, 7)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("INSERT INTO chats (jid, session_id, name, last_message_time) VALUES (?, 'work', 'Alice', 2000)", (ALICE,))
    for i in range(5):
        conn.execute(
            "INSERT INTO messages (id, chat_jid, session_id, sender, content, timestamp, is_from_me, status) "
            "VALUES (?, ?, 'work', ?, ?, ?, ?, ?)",
            (f"m{i}", ALICE, ME if i == 4 else ALICE, f"kept zebra {i}", 1000 + i, 1 if i == 4 else 0, 1 if i == 4 else 0),
        )
    conn.execute("INSERT INTO outbox (session_id, chat_jid, message_id, attempts) VALUES ('work', ?, 'm4', 2)", (ALICE,))
    rowids = dict(conn.execute("SELECT id, rowid FROM messages").fetchall())
    conn.close()

    async with await ChatStorageRepository.open(path) as repo:
        assert await repo.schema_version() == migrations.LATEST_VERSION
        assert await repo.integrity_check() == []
        # the full-text index still points at the right rows (rowids kept)
        hits = await repo.search("zebra", session_ids=["work"])
        assert sorted(h.message.id for h in hits) == [f"m{i}" for i in range(5)]
        pending = await repo.outbox_pending("work")
        assert [m.id for m in pending] == ["m4"]
        # new rows are indexed, edits and deletes keep the index right
        await repo.store_messages([msg("m9", content="fresh zebra", session_id="work")])
        await repo.apply_edit(ALICE, "m0", "changed text", T0, session_id="work")
        assert await repo.delete_message(ALICE, "m1", session_id="work")
        assert sorted(h.message.id for h in await repo.search("zebra", session_ids=["work"])) == ["m2", "m3", "m4", "m9"]
        assert await repo.integrity_check() == []
        # the outbox still cascades from its message
        assert await repo.delete_message(ALICE, "m4", session_id="work")
        assert await repo.outbox_pending("work") == []

    conn = sqlite3.connect(path)
    try:
        pk = [r[1] for r in sorted(conn.execute("PRAGMA table_info(messages)"), key=lambda r: r[5]) if r[5]]
        assert pk == ["session_id", "chat_jid", "id"]
        assert dict(conn.execute("SELECT id, rowid FROM messages WHERE id IN ('m2', 'm3')").fetchall()) == {
            k: rowids[k] for k in ("m2", "m3")
        }
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {"messages_fts_ad", "messages_fts_au"}  # inserts are indexed in bulk
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        assert {"idx_messages_session_chat_time", "idx_outbox_session_created", "idx_chats_session_pinned",
                "idx_chats_session_unread"} <= indexes
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


async def test_every_insert_path_fills_the_full_text_index(repo):
    await repo.store_messages([msg("a1", content="alpha one"), msg("a2", content="alpha two", at=1)])
    await repo.create_message(ev.MessageReceived(msg("a3", content="alpha three", at=2), chat_name="Alice"))
    await repo.store_sent_message_with_context(msg("a4", content="alpha four", at=3, is_from_me=True))
    await repo.store_messages(
        [msg("h1", chat=BOB, content="alpha history", at=-5)],
        [Chat(jid=BOB, name="Bob", last_message_time=T0, unread_count=1)],
        history=True,
    )
    # a duplicate merged into its row does not enter the index twice
    await repo.store_messages([msg("a1", content="alpha one")])
    assert sorted(h.message.id for h in await repo.search("alpha", limit=50)) == ["a1", "a2", "a3", "a4", "h1"]
    assert await repo.integrity_check() == []


# --- history sync: a new chat's unread rule applied before the rows are written --------------
def _history(chat: str, unread: int, n: int = 8) -> tuple[list[Message], list[Chat]]:
    messages = [msg(f"{chat[:4]}-{i}", chat=chat, at=i, is_from_me=(i % 3 == 0)) for i in range(n)]
    return messages, [Chat(jid=chat, name="X", last_message_time=T0 + timedelta(seconds=n), unread_count=unread)]


@pytest.mark.parametrize("unread", [0, 1, 3, 20])
async def test_new_chat_history_matches_the_rule_for_known_chats(tmp_path, unread):
    async def state(repo) -> tuple:
        rows = await repo._r.execute_fetchall(
            "SELECT id, is_read FROM messages WHERE chat_jid = ? ORDER BY id", (ALICE,)
        )
        chat = await repo.get_chat_by_session(ALICE, "default")
        return rows, chat.unread_count, chat.last_message_id

    messages, chats = _history(ALICE, unread)
    async with await ChatStorageRepository.open(tmp_path / "new.db") as fresh:
        assert await fresh.store_messages(messages, chats, history=True) == len(messages)
        new_chat = await state(fresh)
    async with await ChatStorageRepository.open(tmp_path / "known.db") as known:
        await known.store_chat(Chat(jid=ALICE, name="X", last_message_time=T0))  # exists first
        await known.store_messages(messages, chats, history=True)
        known_chat = await state(known)
    assert new_chat == known_chat
    incoming_unread = [mid for mid, is_read in new_chat[0] if not is_read]
    # 5 incoming of 8; fewer stored than the phone's count: all of them stay unread
    assert len(incoming_unread) == min(unread, 5)


# --- group commit -----------------------------------------------------------------------------
async def test_concurrent_batches_of_many_sessions_are_all_stored(repo):
    async def one(session: str, base: int) -> int:
        with with_session_id(session):
            return await repo.store_messages([msg(f"{session}-{i}", at=base + i) for i in range(20)])

    results = await asyncio.gather(*(one(f"s{n}", n * 100) for n in range(8)))
    assert results == [20] * 8
    for n in range(8):
        page = await repo.get_messages(MessageFilter(session_id=f"s{n}", chat_jid=ALICE, limit=50))
        assert len(page) == 20 and all(m.session_id == f"s{n}" for m in page)
        assert await repo.unread_count(f"s{n}") == 20
    assert await repo.integrity_check() == []


async def test_a_failing_batch_fails_alone_in_a_group_commit(repo):
    async def good(session: str) -> int:
        with with_session_id(session):
            return await repo.store_messages([msg(f"{session}-ok", content="survivor")])

    async def bad() -> int:
        with with_session_id("broken"):
            return await repo.store_messages([msg("fine"), Message(id="", chat_jid=ALICE, sender=ALICE, timestamp=T0)])

    results = await asyncio.gather(good("a"), bad(), good("b"), return_exceptions=True)
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], ValueError)
    assert await repo.get_message(ALICE, "fine", "broken") is None  # all of the bad batch undone
    assert {h.message.session_id for h in await repo.search("survivor", session_ids=["a", "b"])} == {"a", "b"}
    assert await repo.integrity_check() == []


async def test_a_cancelled_store_leaves_the_others_to_be_written(repo):
    with with_session_id("a"):
        first = asyncio.create_task(repo.store_messages([msg("a1")]))
    with with_session_id("b"):
        second = asyncio.create_task(repo.store_messages([msg("b1")]))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == 1
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await repo.get_message(ALICE, "b1", "b") is not None


# --- push names, batch reads ------------------------------------------------------------------
async def test_push_names_written_once_still_name_chats_created_later(repo):
    await repo.store_push_names([(BOB, "Bob")])
    assert await repo.get_contact_name(BOB) == "Bob"
    await repo.store_messages([msg("b1", chat=BOB)])  # the 1:1 chat appears without a name
    assert (await repo.get_chat_by_session(BOB, "default")).name == ""
    await repo.store_push_names([(BOB, "Bob")])  # same name again: the chat still takes it
    assert (await repo.get_chat_by_session(BOB, "default")).name == "Bob"
    await repo.store_push_names([(BOB, "Robert")])
    assert await repo.get_contact_name(BOB) == "Robert"
    assert await repo.delete_session_data("default") > 0
    await repo.store_push_names([(BOB, "Robert")])  # forgotten with the session's rows
    assert await repo.get_contact_name(BOB) == "Robert"


async def test_batch_reads(repo):
    await repo.store_push_names([(ALICE, "Alice")])
    await repo.store_chat(Chat(jid=GROUP, name="Group", last_message_time=T0))
    await repo.store_chat(Chat(jid=BOB, name="Bob chat", last_message_time=T0 + timedelta(seconds=5), pinned=True))
    names = await repo.get_contact_names([ALICE, BOB, GROUP, "nobody@s.whatsapp.net", ""])
    assert names == {ALICE: "Alice", BOB: "Bob chat", GROUP: "Group"}
    assert names[ALICE] == await repo.get_contact_name(ALICE)
    chats = await repo.get_chats_by_jid([BOB, GROUP, "nobody@s.whatsapp.net"])
    assert set(chats) == {BOB, GROUP} and chats[BOB].pinned
    assert [c.jid for c in await repo.get_pinned_chats()] == [BOB]
    assert await repo.get_pinned_chats("other") == []
    await repo.store_messages([msg("u1"), msg("u2", chat=GROUP, sender=ALICE)])
    assert await repo.unread_totals(["default", "other"]) == {"default": 2, "other": 0}


async def test_the_checkpoint_task_runs_until_close(tmp_path):
    repo = await ChatStorageRepository.open(tmp_path / "watui.db")
    task = repo._checkpoint_task
    assert task is not None and not task.done()
    await repo.close()
    assert task.done()


# --- the session consumer merges waiting history chunks ---------------------------------------
def _chunk(chats: list[str], per_chat: int = 3, base: int = 0, done: bool = False) -> ev.HistorySyncBatch:
    messages = tuple(msg(f"{c[:6]}-{base}-{i}", chat=c, at=base + i) for c in chats for i in range(per_chat))
    return ev.HistorySyncBatch(
        chats=tuple(Chat(jid=c, name=c[:4], last_message_time=T0, unread_count=1) for c in chats),
        messages=messages, push_names=((chats[0], "Someone"),), progress=50.0, done=done,
    )


def test_runs_merge_history_chunks_about_different_chats_only():
    a, b, c = _chunk([ALICE]), _chunk([BOB]), _chunk([ALICE], base=10)
    receipt = ev.Receipt(ALICE, ("x",), ev.ReceiptKind.READ, ALICE, T0)
    assert [len(r) for r in _runs([a, b, c])] == [2, 1]  # c names Alice again
    assert [len(r) for r in _runs([a, receipt, b])] == [1, 1, 1]
    big = _chunk([GROUP], per_chat=MAX_HISTORY_BATCH)
    assert [len(r) for r in _runs([a, big])] == [1, 1]


async def test_merged_history_stores_what_chunks_one_by_one_store(tmp_path):
    chunks = [_chunk([ALICE, GROUP]), _chunk([BOB]), _chunk([ALICE], base=20), _chunk(["4915333@s.whatsapp.net"], done=True)]

    async def ingest(path, together: bool):
        repo = await ChatStorageRepository.open(path)
        client = QuietClient()
        session = Session("hist", client, repo, lambda notice: None)
        calls = []
        real = repo.store_history

        async def counting(session_id, messages, *args, **kwargs):
            calls.append(len(messages))
            return await real(session_id, messages, *args, **kwargs)

        repo.store_history = counting
        await session.start()
        for chunk in chunks:
            client.sink(chunk)
            if not together:
                await session.drain()
        await session.drain()
        rows = await repo._r.execute_fetchall(
            "SELECT session_id, chat_jid, id, is_read, status FROM messages ORDER BY chat_jid, id"
        )
        chats = await repo.get_chats(ChatFilter(session_id="hist", limit=50))
        status = (session.status.synced_messages, session.status.sync_progress)
        await session.stop()
        await repo.close()
        return calls, rows, [(c.jid, c.unread_count, c.last_message_id, c.name) for c in chats], status

    one_by_one = await ingest(tmp_path / "a.db", together=False)
    together = await ingest(tmp_path / "b.db", together=True)
    assert len(together[0]) < len(one_by_one[0]) == 4  # fewer transactions
    assert together[1:] == one_by_one[1:]
    assert together[3] == (sum(len(c.messages) for c in chunks), None)
    assert all(r[4] == MessageStatus.RECEIVED for r in together[1])
