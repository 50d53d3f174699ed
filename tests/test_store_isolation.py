"""Session isolation: two sessions with the same chat jids and message ids. For every public
repository method, called for 'work' (explicitly, and through the context), 'personal' rows
are neither returned nor changed, and nothing lands in 'default'."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from watui.domain.events import MessageReceived
from watui.domain.models import Chat, ChatFilter, Message, MessageFilter, MessageStatus
from watui.store import (
    ChatStorageRepository,
    get_session_id,
    get_session_id_or_default,
    with_session_id,
)

T0 = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
ALICE = "4915111111111@s.whatsapp.net"
BOB = "4915222222222@s.whatsapp.net"
GROUP = "120363000000000001@g.us"
ME = "4915000000000@s.whatsapp.net"
TABLES = ("chats", "messages", "contacts", "outbox", "reactions", "pending_updates", "sessions", "drafts")
MARK = {"personal": ("personal", "🏠"), "work": ("work", "💼")}


def m(mid: str, chat: str, at: float, text: str, session: str, **kw) -> Message:
    kw.setdefault("sender", ME if kw.get("is_from_me") else chat)
    return Message(id=mid, chat_jid=chat, timestamp=T0 + timedelta(seconds=at), content=text,
                   session_id=session, **kw)


async def populate(repo: ChatStorageRepository, sid: str) -> None:
    tag, emoji = MARK[sid]
    for jid, name in ((ALICE, "Alice"), (BOB, "Bob"), (GROUP, "Team")):
        await repo.store_chat(Chat(jid=jid, name=f"{name} {tag}", last_message_time=T0, session_id=sid))
    await repo.store_messages([
        m("m1", ALICE, 1, f"{tag} hello one", sid),
        m("m2", ALICE, 2, f"{tag} hello two", sid),
        m("m3", BOB, 3, f"{tag} hello three", sid),
        m("m4", GROUP, 4, f"{tag} hello four", sid, sender=BOB, push_name=f"Bobby {tag}"),
        m("m5", GROUP, 5, f"{tag} mine", sid, is_from_me=True, status=MessageStatus.SENT),
    ])
    for mid, at in (("o1", 6), ("o2", 7), ("o3", 8)):
        await repo.store_sent_message_with_context(m(mid, ALICE, at, f"{tag} typed {mid}", sid))
    await repo.mark_send_failed(ALICE, "o2", f"{tag} failure", sid)
    await repo.mark_sent(ALICE, "o3", T0 + timedelta(seconds=9), sid)
    await repo.apply_reaction(ALICE, "m1", BOB, emoji, T0 + timedelta(seconds=10), sid)
    await repo.apply_receipt(ALICE, ["future1"], MessageStatus.DELIVERED, sid)
    await repo.apply_edit(ALICE, "future2", f"{tag} early edit", T0 + timedelta(seconds=11), sid)
    await repo.store_push_names([(BOB, f"Bobby {tag}"), (ALICE, f"Ali {tag}")], sid)
    await repo.upsert_session_record(sid, label=f"label {tag}")
    await repo.save_draft(ALICE, f"{tag} half-typed", sid)


def dump(path, sid: str) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t} WHERE session_id = ?", (sid,)).fetchall(), key=repr)
                for t in TABLES}
    finally:
        conn.close()


@pytest.fixture
async def store(tmp_path):
    path = tmp_path / "watui.db"
    repo = await ChatStorageRepository.open(path)
    await populate(repo, "personal")
    await populate(repo, "work")
    yield repo, path
    await repo.close()


def S(s: str | None) -> str:
    """A Chat/Message session field: the explicit session, or empty for 'the context's'."""
    return s or ""


LATER = T0 + timedelta(minutes=5)

# name -> (call(repo, s), exempt from the "no personal data returned" check)
OPS = {
    "store_chat": lambda r, s: r.store_chat(
        Chat(jid=ALICE, name="Alice renamed work", last_message_time=LATER, pinned=True, session_id=S(s))),
    "get_chat": lambda r, s: r.get_chat(ALICE, s),
    "get_chat_by_session": lambda r, s: r.get_chat_by_session(ALICE, s),
    "get_chats": lambda r, s: r.get_chats(ChatFilter(session_id=S(s), limit=100)),
    "get_chats_filtered": lambda r, s: r.get_chats(
        ChatFilter(session_id=S(s), search="alice", unread_only=True, include_archived=False)),
    "lookup_chats_name": lambda r, s: r.lookup_chats("Ali", s),
    "lookup_chats_number": lambda r, s: r.lookup_chats("+49 15", s),
    "store_message_duplicate_id": lambda r, s: r.store_message(m("m1", ALICE, 1, "work dup", S(s))),
    "store_message_new": lambda r, s: r.store_message(m("m9", ALICE, 60, "work new", S(s))),
    "store_message_applies_parked": lambda r, s: r.store_messages(
        [m("future1", ALICE, 61, "work f1", S(s), is_from_me=True, status=MessageStatus.SENT),
         m("future2", ALICE, 62, "work f2", S(s))]),
    "store_messages_history": lambda r, s: r.store_messages(
        [m("m1", ALICE, 1, "work dup", S(s)), m("h1", ALICE, 70, "work history", S(s))],
        chats=[Chat(jid=ALICE, name="Alice hist work", last_message_time=LATER, unread_count=0,
                    last_message_id="h1", session_id=S(s))]),
    "create_message": lambda r, s: r.create_message(MessageReceived(
        message=m("m2", GROUP, 80, "work received", S(s), sender=BOB, push_name="Bob P work"),
        chat_name="Team renamed work")),
    "store_sent_message_with_context": lambda r, s: r.store_sent_message_with_context(
        m("o9", ALICE, 90, "work outgoing", S(s))),
    "store_sent_duplicate_id": lambda r, s: r.store_sent_message_with_context(
        m("o1", ALICE, 6, "work typed o1", S(s))),
    "get_message": lambda r, s: r.get_message(ALICE, "m1", s),
    "get_messages": lambda r, s: r.get_messages(MessageFilter(session_id=S(s), chat_jid=ALICE, limit=100)),
    "get_messages_search": lambda r, s: r.get_messages(MessageFilter(session_id=S(s), search="hello")),
    "search": lambda r, s: r.search("hello", session_ids=[s] if s else None),
    "outbox_pending": lambda r, s: r.outbox_pending(s, include_failed=True),
    "mark_sent": lambda r, s: r.mark_sent(ALICE, "o1", LATER, s),
    "mark_send_failed": lambda r, s: r.mark_send_failed(ALICE, "o1", "work boom", s),
    "requeue": lambda r, s: r.requeue(ALICE, "o2", s),
    "apply_receipt": lambda r, s: r.apply_receipt(ALICE, ["o1", "m1", "future1", "x"], MessageStatus.READ, s),
    "apply_edit": lambda r, s: r.apply_edit(ALICE, "m1", "work edited", LATER, s),
    "apply_edit_parked": lambda r, s: r.apply_edit(ALICE, "future2", "work later edit", LATER, s),
    "apply_revoke": lambda r, s: r.apply_revoke(ALICE, "m2", s),
    "apply_revoke_parked": lambda r, s: r.apply_revoke(ALICE, "future3", s),
    "apply_reaction": lambda r, s: r.apply_reaction(ALICE, "m1", BOB, "💼💼", LATER, s),
    "apply_reaction_remove": lambda r, s: r.apply_reaction(ALICE, "m1", BOB, "", LATER, s),
    "get_reactions": lambda r, s: r.get_reactions(ALICE, ["m1", "m2"], s),
    "delete_message": lambda r, s: r.delete_message(ALICE, "o3", s),
    "mark_read": lambda r, s: r.mark_read(ALICE, s),
    "unread_count": lambda r, s: r.unread_count(s),
    "unread_count_chat": lambda r, s: r.unread_count(s, ALICE),
    "unread_totals": lambda r, s: r.unread_totals(["work"]),
    "store_push_names": lambda r, s: r.store_push_names([(BOB, "Bobby work 2")], s),
    "get_contact_name": lambda r, s: r.get_contact_name(BOB, s),
    "save_draft": lambda r, s: r.save_draft(ALICE, "work rewritten draft", s),
    "save_draft_empty_removes": lambda r, s: r.save_draft(ALICE, "  ", s),
    "get_drafts": lambda r, s: r.get_drafts(s),
    "upsert_session_record": lambda r, s: r.upsert_session_record("work", label="label work 2"),
    "get_session_record": lambda r, s: r.get_session_record("work"),
    "delete_session_data": lambda r, s: r.delete_session_data("work"),
    "schema_version": lambda r, s: r.schema_version(),
    "integrity_check": lambda r, s: r.integrity_check(),
    # admin views that list every session by design: they must still change nothing
    "row_counts": lambda r, s: r.row_counts(),
    "list_session_records": lambda r, s: r.list_session_records(),
}
LISTS_ALL_SESSIONS = {"row_counts", "list_session_records"}


@pytest.mark.parametrize("mode", ["explicit", "context"])
@pytest.mark.parametrize("name", list(OPS))
async def test_method_does_not_touch_the_other_session(store, name, mode):
    repo, path = store
    personal_before = dump(path, "personal")
    work_before = dump(path, "work")
    if mode == "explicit":
        result = await OPS[name](repo, "work")
    else:
        with with_session_id("work"):
            result = await OPS[name](repo, None)
    assert dump(path, "personal") == personal_before
    assert dump(path, "default") == {t: [] for t in TABLES}
    if name not in LISTS_ALL_SESSIONS:
        text = repr(result)
        assert "personal" not in text and "🏠" not in text, text
        assert "'default'" not in text
    if name in ("schema_version", "integrity_check", "row_counts", "list_session_records", "unread_totals"):
        return
    # it did act on 'work' (reads returned something, writes changed something)
    touched = dump(path, "work") != work_before
    assert touched or result not in (None, [], {}, 0, False), f"{name} did nothing for 'work'"


async def test_delete_session_data_removes_only_that_session(store):
    repo, path = store
    removed = await repo.delete_session_data("work")
    assert removed > 0
    assert all(rows == [] for rows in dump(path, "work").values())
    assert all(rows for rows in dump(path, "personal").values())
    assert set(await repo.row_counts()) == {"personal"}
    assert await repo.search("hello", session_ids=["work"]) == []
    assert len(await repo.search("hello", session_ids=["personal"])) == 4
    assert await repo.integrity_check() == []


async def test_explicit_session_list_searches_exactly_those(store):
    repo, _ = store
    hits = await repo.search("hello", session_ids=["work", "personal"])
    assert {h.message.session_id for h in hits} == {"work", "personal"}
    assert {h.message.session_id for h in await repo.search("hello", session_ids=["work"])} == {"work"}
    assert await repo.search("hello") == []  # no context: 'default' only, never all sessions
    with with_session_id("personal"):
        assert {h.message.session_id for h in await repo.search("hello")} == {"personal"}


async def test_unread_totals_per_session(store):
    repo, _ = store
    await repo.mark_read(ALICE, "personal")
    totals = await repo.unread_totals(["work", "personal", "default"])
    assert totals["work"] == totals["personal"] + 2 and totals["default"] == 0


async def test_parked_updates_are_per_session(store):
    repo, _ = store
    # 'future1' is parked in both sessions; storing it in 'work' applies work's receipt only
    await repo.store_message(m("future1", ALICE, 50, "work f1", "work", is_from_me=True, status=MessageStatus.SENT))
    await repo.store_message(m("future2", ALICE, 51, "work f2", "work"))
    assert (await repo.get_message(ALICE, "future1", "work")).status == MessageStatus.DELIVERED
    assert (await repo.get_message(ALICE, "future2", "work")).content == "work early edit"
    await repo.store_message(m("future2", ALICE, 51, "personal f2", "personal"))
    assert (await repo.get_message(ALICE, "future2", "personal")).content == "personal early edit"


# --- the context-var default path ----------------------------------------------------------
async def test_omitted_session_means_the_context_then_default(tmp_path):
    async with await ChatStorageRepository.open(tmp_path / "watui.db") as repo:
        assert get_session_id() is None and get_session_id_or_default() == "default"
        with with_session_id("work"):
            assert get_session_id() == "work"
            assert await repo.store_message(m("m1", ALICE, 1, "in work", ""))
            await repo.store_chat(Chat(jid=BOB, name="Bob", last_message_time=T0))
            assert [c.jid for c in await repo.get_chats()] == [ALICE, BOB]
            assert (await repo.get_message(ALICE, "m1")).session_id == "work"
            # an explicit session still wins over the context
            assert await repo.store_message(m("m1", ALICE, 1, "in home", "home"))
            assert await repo.get_chats(ChatFilter(session_id="default")) == []
        assert await repo.get_message(ALICE, "m1") is None  # no context: 'default'
        assert await repo.store_message(m("m1", ALICE, 1, "in default", ""))
        assert (await repo.get_message(ALICE, "m1")).content == "in default"
        assert await repo.row_counts() == {"default": (1, 1), "home": (1, 1), "work": (2, 1)}
        # "" is not "all sessions"
        assert [c.session_id for c in await repo.get_chats(ChatFilter(session_id=""))] == ["default"]
        assert await repo.unread_count("") == 1


async def test_invalid_session_ids_are_rejected(tmp_path):
    async with await ChatStorageRepository.open(tmp_path / "watui.db") as repo:
        for bad in ("Work", "../x", "a b", "x" * 40):
            with pytest.raises(ValueError):
                await repo.get_chats(ChatFilter(session_id=bad))
            with pytest.raises(ValueError):
                await repo.store_message(m("m1", ALICE, 1, "x", bad))
