"""ChatStorageRepository behaviour: the seed's cases, paging, unread, outbox, receipts,
out-of-order updates, duplicates, search, delete-for-me."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from watui.domain.events import MessageReceived
from watui.domain.models import (
    Chat,
    ChatFilter,
    MediaType,
    Message,
    MessageFilter,
    MessageStatus,
    PageCursor,
)
from watui.store import ChatStorageRepository, with_session_id
from watui.store.fts import fts_query

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
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


# --- the seed's cases ----------------------------------------------------------------------
async def test_store_chat_with_session(repo):
    stored = await repo.store_chat(Chat(jid=ALICE, name="Alice", last_message_time=T0, session_id="work"))
    assert stored.session_id == "work"
    chat = await repo.get_chat_by_session(ALICE, "work")
    assert chat is not None and chat.name == "Alice" and chat.session_id == "work"
    assert await repo.get_chat(ALICE) is None  # context-less: 'default'
    with with_session_id("work"):
        assert (await repo.get_chat(ALICE)).name == "Alice"


async def test_get_chats_filtered_by_session(repo):
    await repo.store_chat(Chat(jid=ALICE, name="A work", last_message_time=T0, session_id="work"))
    await repo.store_chat(Chat(jid=ALICE, name="A home", last_message_time=T0, session_id="home"))
    await repo.store_chat(Chat(jid=BOB, name="B home", last_message_time=T0, session_id="home"))
    work = await repo.get_chats(ChatFilter(session_id="work"))
    home = await repo.get_chats(ChatFilter(session_id="home"))
    assert [(c.jid, c.name, c.session_id) for c in work] == [(ALICE, "A work", "work")]
    assert {(c.jid, c.session_id) for c in home} == {(ALICE, "home"), (BOB, "home")}
    assert await repo.get_chats(ChatFilter()) == []  # default session has none


async def test_store_message_with_session(repo):
    assert await repo.store_message(msg("m1", session_id="work"))
    assert await repo.get_message(ALICE, "m1", "work") is not None
    assert await repo.get_message(ALICE, "m1") is None
    with with_session_id("work"):
        m = await repo.get_message(ALICE, "m1")
    assert m.session_id == "work" and m.content == "text m1"
    # the chat row was created so the foreign key holds
    assert (await repo.get_chat_by_session(ALICE, "work")).last_message_id == "m1"


async def test_message_round_trip_every_field(repo):
    original = Message(
        id="3EB0ABC", chat_jid=GROUP, sender=BOB, timestamp=T0 + timedelta(milliseconds=123),
        content="caption ✨", is_from_me=False, media_type=MediaType.IMAGE, filename="p.jpg",
        url="https://mmg/x", media_key=b"\x00\x01k", file_sha256=b"sha", file_enc_sha256=b"enc",
        file_length=12345, mimetype="image/jpeg", push_name="Bob", status=MessageStatus.RECEIVED,
        quoted_message_id="q1", quoted_sender=ALICE, quoted_preview="quoted text",
    )
    await repo.store_message(original)
    got = await repo.get_message(GROUP, "3EB0ABC")
    expected = Message(**{f: getattr(original, f) for f in Message.__slots__})
    expected.session_id = "default"
    assert got == expected
    chat = await repo.get_chat(GROUP)
    assert chat.is_group and chat.last_message_preview == "[image] caption ✨"


# --- ordering and paging -------------------------------------------------------------------
async def test_chats_latest_activity_first_with_keyset_paging(repo):
    jids = [f"49{i:011d}@s.whatsapp.net" for i in range(25)]
    # pairs share a timestamp, so the jid breaks ties
    await repo.store_messages([msg(f"m{i}", jid, at=i // 2) for i, jid in enumerate(jids)])
    all_chats = await repo.get_chats(ChatFilter(limit=1000))
    keys = [(c.last_message_time, c.jid) for c in all_chats]
    assert keys == sorted(keys, reverse=True) and len(keys) == 25
    paged, cursor = [], None
    while True:
        page = await repo.get_chats(ChatFilter(limit=7, before=cursor))
        if not page:
            break
        paged += page
        cursor = PageCursor(page[-1].last_message_time, page[-1].jid)
    assert [c.jid for c in paged] == [c.jid for c in all_chats]


async def test_messages_newest_first_with_keyset_paging(repo):
    await repo.store_messages([msg(f"m{i:03d}", at=i // 3) for i in range(50)])
    everything = await repo.get_messages(MessageFilter(chat_jid=ALICE, limit=1000))
    keys = [(m.timestamp, m.id) for m in everything]
    assert keys == sorted(keys, reverse=True) and len(keys) == 50
    paged, cursor = [], None
    while page := await repo.get_messages(MessageFilter(chat_jid=ALICE, limit=8, before=cursor)):
        paged += page
        cursor = PageCursor(page[-1].timestamp, page[-1].id)
    assert [m.id for m in paged] == [m.id for m in everything]


async def test_limits_are_clamped(repo):
    await repo.store_messages([msg(f"m{i}", at=i) for i in range(3)])
    assert len(await repo.get_messages(MessageFilter(chat_jid=ALICE, limit=0))) == 1
    assert len(await repo.get_messages(MessageFilter(chat_jid=ALICE, limit=10**9))) == 3
    assert len(await repo.get_chats(ChatFilter(limit=-5))) == 1


async def test_get_messages_needs_a_chat_unless_searching(repo):
    with pytest.raises(ValueError):
        await repo.get_messages(MessageFilter())
    await repo.store_message(msg("m1", content="needle here"))
    assert [m.id for m in await repo.get_messages(MessageFilter(search="needle"))] == ["m1"]


async def test_message_filters(repo):
    await repo.store_messages([
        msg("in1", at=1),
        msg("out1", at=2, is_from_me=True),
        msg("img", at=3, media_type="image", content="holiday photo"),
        msg("other", BOB, at=4, content="holiday elsewhere"),
    ])
    f = MessageFilter(chat_jid=ALICE)
    assert [m.id for m in await repo.get_messages(MessageFilter(chat_jid=ALICE, is_from_me=True))] == ["out1"]
    assert {m.id for m in await repo.get_messages(MessageFilter(chat_jid=ALICE, is_from_me=False))} == {"in1", "img"}
    assert [m.id for m in await repo.get_messages(MessageFilter(chat_jid=ALICE, media_only=True))] == ["img"]
    assert [m.id for m in await repo.get_messages(MessageFilter(chat_jid=ALICE, search="holiday"))] == ["img"]
    assert len(await repo.get_messages(f)) == 3


async def test_chat_filters(repo):
    await repo.store_chat(Chat(jid=ALICE, name="Ärzte Team", last_message_time=T0, archived=True))
    await repo.store_chat(Chat(jid=BOB, name="Bob", last_message_time=T0 + timedelta(seconds=1)))
    await repo.store_message(msg("b1", BOB, at=5))
    assert [c.jid for c in await repo.get_chats(ChatFilter(include_archived=False))] == [BOB]
    assert [c.jid for c in await repo.get_chats(ChatFilter(unread_only=True))] == [BOB]
    assert [c.jid for c in await repo.get_chats(ChatFilter(search="ärzte"))] == [ALICE]  # unicode case
    assert [c.jid for c in await repo.get_chats(ChatFilter(search="222222"))] == [BOB]  # jid substring
    assert await repo.get_chats(ChatFilter(search="%")) == []


async def test_store_chat_keeps_known_name_and_latest_time(repo):
    await repo.store_chat(Chat(jid=ALICE, name="Alice", last_message_time=T0 + timedelta(hours=1)))
    await repo.store_chat(Chat(jid=ALICE, name="", last_message_time=T0))
    chat = await repo.get_chat(ALICE)
    assert chat.name == "Alice" and chat.last_message_time == T0 + timedelta(hours=1)
    await repo.store_chat(Chat(jid=ALICE, name="Alice B.", last_message_time=T0, pinned=True))
    chat = await repo.get_chat(ALICE)
    assert chat.name == "Alice B." and chat.pinned


# --- ingest: duplicates, unread, last message ----------------------------------------------
async def test_duplicates_are_stored_exactly_once(repo):
    batch = [msg(f"m{i}", at=i) for i in range(10)]
    assert await repo.store_messages(batch) == 10
    assert await repo.store_messages(batch) == 0
    assert await repo.store_messages(batch[:3] + batch[:3] + [msg("new", at=20)]) == 1
    assert await repo.store_message(batch[0]) is False
    assert (await repo.row_counts())["default"] == (1, 11)
    chat = await repo.get_chat(ALICE)
    assert chat.unread_count == 11 and chat.last_message_id == "new"
    assert await repo.integrity_check() == []


async def test_duplicate_does_not_undo_state(repo):
    original = msg("m1", content="original", is_from_me=True, status=MessageStatus.SENT)
    await repo.store_message(original)
    await repo.apply_receipt(ALICE, ["m1"], MessageStatus.READ)
    await repo.apply_edit(ALICE, "m1", "edited", T0 + timedelta(minutes=1))
    await repo.store_message(original)  # history sync brings the old copy again
    m = await repo.get_message(ALICE, "m1")
    assert m.status == MessageStatus.READ and m.content == "edited" and m.edited
    await repo.apply_revoke(ALICE, "m1")
    await repo.store_message(original)
    m = await repo.get_message(ALICE, "m1")
    assert m.deleted and m.content == ""


async def test_unread_counters(repo):
    await repo.store_messages([msg("a1", at=1), msg("a2", at=2), msg("me", at=3, is_from_me=True)])
    await repo.store_messages([msg("b1", BOB, at=4)])
    assert await repo.unread_count() == 3
    assert await repo.unread_count(chat_jid=ALICE) == 2
    assert (await repo.get_chat(ALICE)).unread_count == 2
    unread = await repo.mark_read(ALICE)
    assert [m.id for m in unread] == ["a1", "a2"]  # oldest first, incoming only
    assert await repo.mark_read(ALICE) == []
    assert (await repo.get_chat(ALICE)).unread_count == 0
    assert await repo.unread_count() == 1
    assert await repo.unread_totals(["default", "work"]) == {"default": 1, "work": 0}


async def test_last_message_moves_only_forward(repo):
    await repo.store_message(msg("new", at=100, content="newest"))
    await repo.store_message(msg("old", at=1, content="older"))  # late arrival of an old one
    chat = await repo.get_chat(ALICE)
    assert chat.last_message_id == "new" and chat.last_message_preview == "newest"
    assert chat.last_message_time == T0 + timedelta(seconds=100)
    await repo.store_message(msg("newer", at=200, is_from_me=True, content="mine"))
    chat = await repo.get_chat(ALICE)
    assert (chat.last_message_id, chat.last_message_is_from_me, chat.last_message_sender) == ("newer", True, ME)


async def test_history_sync_takes_the_servers_unread_count(repo):
    history = [msg(f"h{i}", at=i) for i in range(10)]
    chat = Chat(jid=ALICE, name="Alice", last_message_time=T0 + timedelta(seconds=9), unread_count=3,
                last_message_id="h9", pinned=True)
    assert await repo.store_messages(history, chats=[chat]) == 10
    stored = await repo.get_chat(ALICE)
    assert stored.unread_count == 3 and stored.pinned and stored.name == "Alice"
    assert [m.id for m in await repo.mark_read(ALICE)] == ["h7", "h8", "h9"]


async def test_live_named_chat_does_not_reset_unread_or_flags(repo):
    await repo.store_chat(Chat(jid=GROUP, name="Old subject", last_message_time=T0, pinned=True, archived=True))
    await repo.store_messages([msg("g1", GROUP, at=1, sender=BOB)])
    named = Chat(jid=GROUP, name="New subject", last_message_time=T0 + timedelta(seconds=2))
    await repo.store_messages([msg("g2", GROUP, at=2, sender=BOB)], chats=[named])
    chat = await repo.get_chat(GROUP)
    assert chat.name == "New subject" and chat.unread_count == 2 and chat.pinned and chat.archived


async def test_create_message_stores_chat_name_and_push_name(repo):
    with with_session_id("work"):
        m = await repo.create_message(
            MessageReceived(message=msg("g1", GROUP, sender=BOB, push_name="Bobby"), chat_name="Team")
        )
        assert m.session_id == "work"
        assert (await repo.get_chat(GROUP)).name == "Team"
        assert await repo.get_contact_name(BOB) == "Bobby"
        await repo.create_message(MessageReceived(message=msg("a1", ALICE, push_name="Ali")))
        assert (await repo.get_chat(ALICE)).name == "Ali"  # a 1:1 chat takes the push name
    assert await repo.get_contact_name(BOB) is None  # not in 'default'


async def test_push_names(repo):
    await repo.store_chat(Chat(jid=ALICE, name="", last_message_time=T0))
    await repo.store_chat(Chat(jid=BOB, name="Bob (saved)", last_message_time=T0))
    assert await repo.store_push_names([(ALICE, "Alice"), (BOB, "bobby"), ("", "x"), (ME, "")]) == 2
    assert await repo.get_contact_name(ALICE) == "Alice"
    assert (await repo.get_chat(ALICE)).name == "Alice"  # an unnamed chat gets the name
    assert (await repo.get_chat(BOB)).name == "Bob (saved)"  # a named one keeps its name
    assert await repo.get_contact_name("nobody@s.whatsapp.net") is None


# --- outbox --------------------------------------------------------------------------------
async def test_outbox_flow(repo):
    first = await repo.store_sent_message_with_context(msg("o1", at=1, content="first"))
    await repo.store_sent_message_with_context(msg("o2", at=2, content="second"))
    assert first.status == MessageStatus.PENDING and first.is_from_me and first.session_id == "default"
    assert [m.id for m in await repo.outbox_pending()] == ["o1", "o2"]

    assert await repo.mark_send_failed(ALICE, "o1", "no connection")
    m = await repo.get_message(ALICE, "o1")
    assert m.status == MessageStatus.FAILED and m.error == "no connection"
    assert [m.id for m in await repo.outbox_pending()] == ["o2"]
    assert [m.id for m in await repo.outbox_pending(include_failed=True)] == ["o1", "o2"]

    assert await repo.requeue(ALICE, "o1")
    assert (await repo.get_message(ALICE, "o1")).status == MessageStatus.PENDING
    assert [m.id for m in await repo.outbox_pending()] == ["o1", "o2"]

    sent_at = T0 + timedelta(seconds=30)
    assert await repo.mark_sent(ALICE, "o1", sent_at)
    m = await repo.get_message(ALICE, "o1")
    assert m.status == MessageStatus.SENT and m.timestamp == sent_at and m.error == ""
    assert [m.id for m in await repo.outbox_pending()] == ["o2"]
    # a late failure never undoes a send
    assert not await repo.mark_send_failed(ALICE, "o1", "late")
    assert (await repo.get_message(ALICE, "o1")).status == MessageStatus.SENT
    # a receipt also clears the outbox, and mark_sent never lowers it
    await repo.apply_receipt(ALICE, ["o2"], MessageStatus.READ)
    assert await repo.outbox_pending() == []
    await repo.mark_sent(ALICE, "o2", sent_at)
    assert (await repo.get_message(ALICE, "o2")).status == MessageStatus.READ
    assert not await repo.requeue(ALICE, "o2")  # only FAILED messages are retried
    assert await repo.unread_count() == 0  # our own messages are never unread


async def test_sends_acked_within_one_server_second_keep_the_order_they_were_sent_in(repo):
    # WhatsApp acks in whole seconds. Sent at 10.900 and 11.050 by our clock, both stamped
    # second 10 by the server; two typed offline, sent five minutes later in one second.
    local = [("a1", 10.9), ("a2", 11.05), ("b1", 20.0), ("b2", 20.001)]
    for mid, at in local:
        await repo.store_sent_message_with_context(msg(mid, at=at, content=mid, is_from_me=True))
    second = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    for mid, server in [("a1", 10), ("a2", 10), ("b1", 320), ("b2", 320)]:
        assert await repo.mark_sent(ALICE, mid, second(server))
    page = await repo.get_messages(MessageFilter(chat_jid=ALICE, limit=10))
    assert [m.id for m in reversed(page)] == ["a1", "a2", "b1", "b2"]
    times = {m.id: m.timestamp for m in page}
    assert times["a1"] == second(10) and times["a2"] == second(10) + timedelta(milliseconds=1)
    assert times["b1"] == second(320) and times["b2"] == second(320) + timedelta(milliseconds=1)
    # the engine acks twice (its answer and its event): the second ack changes nothing
    assert await repo.mark_sent(ALICE, "a2", second(10))
    assert (await repo.get_message(ALICE, "a2")).timestamp == times["a2"]
    chat = await repo.get_chat(ALICE)
    assert chat.last_message_time == times["b2"]


async def test_outbox_attempts_are_counted(repo, tmp_path):
    await repo.store_sent_message_with_context(msg("o1"))
    await repo.mark_send_failed(ALICE, "o1", "e1")
    await repo.requeue(ALICE, "o1")
    await repo.mark_send_failed(ALICE, "o1", "e2")
    conn = sqlite3.connect(tmp_path / "watui.db")
    try:
        assert conn.execute("SELECT attempts, last_error FROM outbox").fetchall() == [(2, "e2")]
    finally:
        conn.close()


async def test_outbox_survives_reopen(tmp_path):
    path = tmp_path / "watui.db"
    async with await ChatStorageRepository.open(path) as repo:
        await repo.store_sent_message_with_context(msg("o1", content="typed before the crash"))
    async with await ChatStorageRepository.open(path) as repo:
        assert [m.content for m in await repo.outbox_pending()] == ["typed before the crash"]


# --- receipts and out-of-order updates -----------------------------------------------------
async def test_receipts_are_monotonic(repo):
    await repo.store_messages([msg("o1", is_from_me=True, status=MessageStatus.SENT),
                               msg("o2", at=1, is_from_me=True, status=MessageStatus.SENT)])
    assert await repo.apply_receipt(ALICE, ["o1", "o2"], MessageStatus.READ) == 2
    assert await repo.apply_receipt(ALICE, ["o1", "o2"], MessageStatus.DELIVERED) == 0
    assert await repo.apply_receipt(ALICE, "o1", MessageStatus.READ) == 0
    assert {m.status for m in await repo.get_messages(MessageFilter(chat_jid=ALICE))} == {MessageStatus.READ}
    assert await repo.apply_receipt(ALICE, ["o1"], MessageStatus.PLAYED) == 1


async def test_updates_before_the_message_converge(repo):
    edited_at = T0 + timedelta(minutes=5)
    assert await repo.apply_receipt(ALICE, ["o1"], MessageStatus.DELIVERED) == 0
    assert await repo.apply_receipt(ALICE, ["o1"], MessageStatus.READ) == 0
    assert await repo.apply_receipt(ALICE, ["o1"], MessageStatus.DELIVERED) == 0  # parked max stays READ
    assert not await repo.apply_edit(ALICE, "o1", "fixed typo", edited_at)
    assert not await repo.apply_edit(ALICE, "o1", "stale edit", edited_at - timedelta(minutes=1))
    assert not await repo.apply_reaction(ALICE, "o1", BOB, "👍", T0)
    assert not await repo.apply_revoke(ALICE, "m2")
    assert await repo.get_message(ALICE, "o1") is None

    await repo.store_messages([msg("o1", is_from_me=True, status=MessageStatus.SENT, content="fixd typo"),
                               msg("m2", at=1, content="oops")])
    o1 = await repo.get_message(ALICE, "o1")
    assert o1.status == MessageStatus.READ
    assert o1.content == "fixed typo" and o1.edited and o1.edited_at == edited_at
    assert [(r.sender, r.emoji) for r in (await repo.get_reactions(ALICE, ["o1"]))["o1"]] == [(BOB, "👍")]
    m2 = await repo.get_message(ALICE, "m2")
    assert m2.deleted and m2.content == ""
    assert (await repo.get_chat(ALICE)).unread_count == 0  # the revoked one is not unread
    assert (await repo.get_chat(ALICE)).last_message_preview == "This message was deleted"
    # the parked rows are gone, the index follows the edit
    assert [m.id for m in await repo.get_messages(MessageFilter(chat_jid=ALICE, search="fixed"))] == ["o1"]
    assert await repo.get_messages(MessageFilter(chat_jid=ALICE, search="oops")) == []
    assert await repo.integrity_check() == []
    # applying the same message again applies nothing twice
    await repo.store_messages([msg("o1", is_from_me=True, status=MessageStatus.SENT)])
    assert (await repo.get_message(ALICE, "o1")).content == "fixed typo"


async def test_edit_and_revoke_in_place(repo):
    await repo.store_messages([msg("m1", content="helo wrld"), msg("m2", at=1, content="keep me")])
    assert await repo.apply_edit(ALICE, "m2", "hello world", T0 + timedelta(minutes=1))
    assert await repo.apply_edit(ALICE, "m2", "older edit", T0)  # known, but older: ignored
    m2 = await repo.get_message(ALICE, "m2")
    assert m2.content == "hello world" and m2.edited
    assert (await repo.get_chat(ALICE)).last_message_preview == "hello world"
    assert [h.message.id for h in await repo.search("hello")] == ["m2"]
    assert await repo.apply_revoke(ALICE, "m1")
    m1 = await repo.get_message(ALICE, "m1")
    assert m1.deleted and m1.content == "" and m1.media_key == b""
    assert await repo.apply_edit(ALICE, "m1", "resurrect?", T0 + timedelta(hours=1))
    assert (await repo.get_message(ALICE, "m1")).content == ""  # a tombstone stays one
    assert await repo.integrity_check() == []


async def test_reactions(repo):
    await repo.store_messages([msg("m1"), msg("m2", at=1)])
    await repo.apply_reaction(ALICE, "m1", BOB, "👍", T0 + timedelta(seconds=5))
    await repo.apply_reaction(ALICE, "m1", ME, "❤️", T0 + timedelta(seconds=6))
    await repo.apply_reaction(ALICE, "m1", BOB, "😂", T0 + timedelta(seconds=4))  # older: ignored
    await repo.apply_reaction(ALICE, "m2", BOB, "🔥", T0 + timedelta(seconds=7))
    got = await repo.get_reactions(ALICE, ["m1", "m2", "none"])
    assert [(r.sender, r.emoji) for r in got["m1"]] == [(BOB, "👍"), (ME, "❤️")]
    assert [r.emoji for r in got["m2"]] == ["🔥"]
    await repo.apply_reaction(ALICE, "m1", BOB, "", T0 + timedelta(seconds=8))  # removed
    assert [(r.sender, r.emoji) for r in (await repo.get_reactions(ALICE, "m1"))["m1"]] == [(ME, "❤️")]


# --- delete for me -------------------------------------------------------------------------
async def test_delete_for_me_fixes_the_last_message(repo):
    await repo.store_messages([msg("m1", at=1, content="one"), msg("m2", at=2, content="two"),
                               msg("m3", at=3, content="three")])
    await repo.apply_reaction(ALICE, "m3", BOB, "👍", T0)
    assert await repo.delete_message(ALICE, "m3")
    assert not await repo.delete_message(ALICE, "m3")
    assert await repo.get_message(ALICE, "m3") is None
    chat = await repo.get_chat(ALICE)
    assert (chat.last_message_id, chat.last_message_preview) == ("m2", "two")
    assert chat.last_message_time == T0 + timedelta(seconds=2)
    assert chat.unread_count == 2
    assert await repo.get_reactions(ALICE, ["m3"]) == {}
    assert await repo.search("three") == []
    await repo.delete_message(ALICE, "m1")
    assert (await repo.get_chat(ALICE)).last_message_id == "m2"
    await repo.delete_message(ALICE, "m2")
    chat = await repo.get_chat(ALICE)
    assert chat.last_message_id == "" and chat.unread_count == 0
    assert await repo.integrity_check() == []


async def test_delete_for_me_of_a_pending_message_clears_the_outbox(repo):
    await repo.store_sent_message_with_context(msg("o1"))
    assert await repo.delete_message(ALICE, "o1")
    assert await repo.outbox_pending() == []


# --- search --------------------------------------------------------------------------------
async def test_search_ranks_and_highlights(repo):
    await repo.store_messages([
        msg("weak", at=1, content="a long message that mentions pizza once among many other words here"),
        msg("strong", BOB, at=2, content="pizza pizza pizza"),
        msg("none", at=3, content="nothing to see"),
        msg("accent", at=4, content="Crème brûlée for dessert"),
    ])
    await repo.store_chat(Chat(jid=BOB, name="Bob", last_message_time=T0))
    hits = await repo.search("pizza", order="relevance")
    assert [h.message.id for h in hits] == ["strong", "weak"]
    assert hits[0].rank <= hits[1].rank
    assert hits[0].snippet == "«pizza» «pizza» «pizza»"
    assert hits[0].chat_name == "Bob"
    assert [h.message.id for h in await repo.search("creme brulee")] == ["accent"]  # diacritics
    assert [h.message.id for h in await repo.search("piz", order="relevance")] == ["strong", "weak"]  # prefix
    assert [h.message.id for h in await repo.search("long pizza")] == ["weak"]  # all terms
    assert await repo.search("pizza", session_ids=[]) == []


@pytest.mark.parametrize(
    "query",
    ['"foo', "a AND (", "OR", "NOT", "*", "pizza*", "col:pizza", "NEAR(a b)", "^pizza", "'", "(((",
     '"', '""', "AND AND", "-pizza", "+", "a:b:c", "{pizza}", "\\", "pizza\x00", "   ", "", "🍕", "_"],
)
async def test_nasty_queries_never_raise(repo, query):
    await repo.store_message(msg("m1", content="pizza AND pasta (with cheese) or NOT"))
    hits = await repo.search(query)
    assert isinstance(hits, list)
    assert isinstance(await repo.get_messages(MessageFilter(chat_jid=ALICE, search=query)), list)


def test_fts_query_quotes_everything():
    assert fts_query('say "hi" AND (x') == '"say" """hi""" "AND" "(x"*'
    assert fts_query("(( ** ::") is None


# --- lookup, sessions, admin ---------------------------------------------------------------
async def test_lookup_chats_by_name_and_number_prefix(repo, tmp_path):
    await repo.store_chat(Chat(jid=ALICE, name="alice Cooper", last_message_time=T0))
    await repo.store_chat(Chat(jid="4916333@s.whatsapp.net", name="Alfred", last_message_time=T0))
    await repo.store_chat(Chat(jid=BOB, name="Bob", last_message_time=T0))
    assert [c.name for c in await repo.lookup_chats("AL")] == ["Alfred", "alice Cooper"]
    assert [c.name for c in await repo.lookup_chats("ali")] == ["alice Cooper"]
    assert [c.jid for c in await repo.lookup_chats("+49 152")] == [BOB]
    assert [c.jid for c in await repo.lookup_chats("4915")] == [BOB, ALICE]
    assert await repo.lookup_chats("zzz") == []
    assert len(await repo.lookup_chats("", limit=2)) == 2
    conn = sqlite3.connect(tmp_path / "watui.db")
    try:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT jid FROM chats WHERE session_id = ? AND name >= ? COLLATE NOCASE "
            "AND name < ? COLLATE NOCASE", ("default", "al", "al\U0010ffff"),
        ).fetchall()
        assert "idx_chats_session_name" in str(plan)
    finally:
        conn.close()


async def test_session_records(repo):
    assert await repo.get_session_record("work") is None
    rec = await repo.upsert_session_record("work", label="Work")
    assert rec["label"] == "Work" and rec["device_jid"] == ""
    rec = await repo.upsert_session_record("work", device_jid="4915:3@s.whatsapp.net", push_name="Me")
    assert (rec["label"], rec["device_jid"], rec["push_name"]) == ("Work", "4915:3@s.whatsapp.net", "Me")
    await repo.upsert_session_record("home")
    assert [r["session_id"] for r in await repo.list_session_records()] == ["work", "home"]


async def test_delete_session_data_needs_a_name(repo):
    for bad in ("", None):
        with pytest.raises(ValueError):
            await repo.delete_session_data(bad)


async def test_reads_run_while_a_batch_is_written(repo):
    await repo.store_message(msg("seed"))
    big = [msg(f"b{i}", BOB, at=i, content=f"bulk message number {i}") for i in range(3000)]
    writer = asyncio.create_task(repo.store_messages(big))
    chats = await repo.get_chats()  # the reader is not blocked by the write transaction
    assert chats
    assert await writer == 3000
    assert (await repo.row_counts())["default"] == (2, 3001)


async def test_closed_store_refuses_work(tmp_path):
    repo = await ChatStorageRepository.open(tmp_path / "watui.db")
    await repo.close()
    await repo.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        await repo.get_chats()


async def test_read_receipt_from_another_own_device_marks_incoming_read(repo):
    await repo.store_messages([msg("a1", at=1), msg("a2", at=2), msg("a3", at=3)])
    assert await repo.unread_count() == 3
    assert await repo.apply_receipt(ALICE, ["a1", "a2"], MessageStatus.READ) == 2
    assert await repo.unread_count() == 1
    assert [m.id for m in await repo.mark_read(ALICE)] == ["a3"]
    # an incoming message that arrives already READ (history) is not unread
    await repo.store_message(msg("a4", at=4, status=MessageStatus.READ))
    assert await repo.unread_count() == 0


async def test_history_flag_overrides_the_heuristic(repo):
    await repo.store_messages([msg("a1", at=1), msg("a2", at=2)])
    bare = Chat(jid=ALICE, name="Alice", last_message_time=T0)
    await repo.store_messages([], chats=[bare])  # a name only: unread stays
    assert await repo.unread_count() == 2
    await repo.store_messages([], chats=[bare], history=True)  # the server says 0 unread
    assert await repo.unread_count() == 0 and await repo.mark_read(ALICE) == []
    await repo.store_messages([msg("a3", at=3)], chats=[Chat(jid=ALICE, name="", last_message_time=T0,
                                                          unread_count=5, pinned=True)], history=False)
    chat = await repo.get_chat(ALICE)
    assert chat.unread_count == 1 and not chat.pinned and chat.name == "Alice"


async def test_changed_content_keeps_the_index_in_sync(repo):
    await repo.store_message(msg("m1", content="apples"))
    await repo.store_message(msg("m1", content="oranges"))  # a corrected copy, not an edit
    assert [h.message.id for h in await repo.search("oranges")] == ["m1"]
    assert await repo.search("apples") == []
    assert await repo.integrity_check() == []


@pytest.mark.parametrize(
    ("content", "media_type", "deleted"),
    [("hi  there\n you", "", False), ("", "image", False), ("cap", "video", False), ("x", "", True), ("", "", False)],
)
def test_preview_text_matches_message_preview(content, media_type, deleted):
    from watui.store.migrations import preview_text

    m = Message(id="i", chat_jid=ALICE, sender=ALICE, timestamp=T0, content=content, media_type=media_type,
                deleted=deleted)
    assert preview_text(content, media_type, deleted) == m.preview


async def test_vacuum_keeps_search_working(repo):
    await repo.store_messages([msg(f"m{i:03d}", at=i, content=f"word{i} common") for i in range(200)])
    for i in range(0, 200, 2):
        await repo.delete_message(ALICE, f"m{i:03d}")
    await repo.vacuum()
    assert await repo.integrity_check() == []
    hits = await repo.search("word51")
    assert [h.message.id for h in hits] == ["m051"] and hits[0].message.content == "word51 common"
    assert len(await repo.search("common", session_ids=["default"])) == 50


async def test_drafts_round_trip_and_empty_text_removes(tmp_path):
    async with await ChatStorageRepository.open(tmp_path / "d.db") as repo:
        await repo.save_draft("1@s.whatsapp.net", "half a thought", "work")
        await repo.save_draft("2@s.whatsapp.net", "another", "work")
        await repo.save_draft("1@s.whatsapp.net", "half a thought, finished", "work")
        assert await repo.get_drafts("work") == {
            "1@s.whatsapp.net": "half a thought, finished", "2@s.whatsapp.net": "another"
        }
        await repo.save_draft("2@s.whatsapp.net", "   ", "work")
        assert await repo.get_drafts("work") == {"1@s.whatsapp.net": "half a thought, finished"}
        assert await repo.get_drafts("default") == {}


async def test_mark_sent_with_the_servers_id_rekeys_and_applies_parked_receipts(tmp_path):
    from datetime import UTC, datetime

    from watui.domain import Message, MessageStatus

    chat = "4915111@s.whatsapp.net"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with await ChatStorageRepository.open(tmp_path / "k.db") as repo:
        with with_session_id("work"):
            await repo.store_sent_message_with_context(
                Message(id="LOCAL1", chat_jid=chat, sender="", timestamp=now, content="hi", is_from_me=True,
                        status=MessageStatus.PENDING))
            # the delivery receipt names the server's id and beats the send's answer here
            await repo.apply_receipt(chat, ["SRV1"], MessageStatus.DELIVERED)
            assert await repo.mark_sent(chat, "LOCAL1", now, server_id="SRV1")
            assert await repo.get_message(chat, "LOCAL1") is None
            stored = await repo.get_message(chat, "SRV1")
            assert stored.content == "hi" and stored.status is MessageStatus.DELIVERED
            assert await repo.outbox_pending() == []
            assert (await repo.get_chat(chat)).last_message_id == "SRV1"
            # a late duplicate answer changes nothing
            assert await repo.mark_sent(chat, "LOCAL1", now, server_id="SRV1")
            assert len(await repo.get_messages(MessageFilter(chat_jid=chat))) == 1
