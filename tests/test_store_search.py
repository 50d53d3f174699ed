"""Full-text search: newest first by default (both plans: sorting the hits, walking the time
index), best match first on request, keyset pages without gaps or duplicates, sessions kept
apart."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

import watui.store.repository as repository_module
from watui.domain.models import Message
from watui.store import ChatStorageRepository, with_session_id
from watui.store.fts import walk_is_cheaper

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ALICE = "4915111111111@s.whatsapp.net"
BOB = "4915222222222@s.whatsapp.net"
GROUP = "120363000000000001@g.us"
SESSIONS = ("home", "work", "club")


def msg(mid: str, chat: str, at: float, content: str, session: str, **kw) -> Message:
    return Message(id=mid, chat_jid=chat, sender=chat, timestamp=T0 + timedelta(seconds=at),
                   content=content, session_id=session, **kw)


def key(hit) -> tuple[str, str, str]:
    return hit.message.session_id, hit.message.chat_jid, hit.message.id


def newest_first(hits) -> list:
    """The order the store promises: time, then session, message id and chat, all descending."""
    return sorted(hits, key=lambda h: (h.message.timestamp, h.message.session_id, h.message.id,
                                       h.message.chat_jid), reverse=True)


@pytest.fixture
async def repo(tmp_path):
    r = await ChatStorageRepository.open(tmp_path / "watui.db")
    yield r
    await r.close()


@pytest.fixture(params=["auto", "walk", "sort"])
def plan(request, monkeypatch):
    """Each newest-first plan must give the same, exact answer; "auto" lets the store choose."""
    if request.param != "auto":
        walk = request.param == "walk"
        monkeypatch.setattr(repository_module, "walk_is_cheaper", lambda *args: walk)
    return request.param


@pytest.fixture
async def corpus(repo):
    """Three sessions; 'pizza' in about a third of 240 messages. Stored newest batch first and
    each batch in random order, as a history sync arrives, so rowid order is not time order.
    Timestamps repeat (ties across sessions and chats), the same message id sits in two
    sessions, and some hits are deleted."""
    rng = random.Random(7)
    rows: list[Message] = []
    for n in range(240):
        session = SESSIONS[n % 3]
        chat = (ALICE, BOB, GROUP)[rng.randrange(3)]
        at = rng.randrange(60)  # many equal timestamps
        words = ["pizza" if rng.random() < 0.35 else "pasta", "tonight", f"w{n}"]
        rows.append(msg(f"m{n:03d}", chat, at, " ".join(words), session, deleted=n % 17 == 0))
    # the same message (same chat, id and time) seen by two accounts
    rows.append(msg("shared", GROUP, 30, "pizza for everyone", "home"))
    rows.append(msg("shared", GROUP, 30, "pizza for everyone", "work"))
    rows.sort(key=lambda m: m.timestamp, reverse=True)
    for start in range(0, len(rows), 40):
        batch = rows[start:start + 40]
        rng.shuffle(batch)
        for session in SESSIONS:
            await repo.store_messages([m for m in batch if m.session_id == session], history=True)
    return rows


def expected_hits(rows: list[Message], sessions, word: str = "pizza") -> list[tuple[str, str, str]]:
    wanted = [m for m in rows if m.session_id in sessions and word in m.content.split() and not m.deleted]
    wanted.sort(key=lambda m: (m.timestamp, m.session_id, m.id, m.chat_jid), reverse=True)
    return [(m.session_id, m.chat_jid, m.id) for m in wanted]


async def test_newest_first_across_sessions_and_within_one(repo, corpus, plan):
    everyone = await repo.search("pizza", session_ids=SESSIONS, limit=1000)
    assert [key(h) for h in everyone] == expected_hits(corpus, SESSIONS)
    assert {h.message.session_id for h in everyone} == set(SESSIONS)
    assert all("«pizza»" in h.snippet for h in everyone)
    for session in SESSIONS:
        own = await repo.search("pizza", session_ids=[session], limit=1000)
        assert [key(h) for h in own] == expected_hits(corpus, [session])
    two = await repo.search("pizza", session_ids=["club", "home"], limit=7)
    assert [key(h) for h in two] == expected_hits(corpus, ["club", "home"])[:7]


async def test_pages_have_no_gaps_and_no_duplicates(repo, corpus, plan):
    for sessions in (SESSIONS, ["work"], ["home", "work"]):
        for size in (1, 7, 50):
            seen: list[tuple[str, str, str]] = []
            before = None
            while True:
                page = await repo.search("pizza", session_ids=sessions, limit=size, before=before)
                seen += [key(h) for h in page]
                if len(page) < size:
                    break
                before = page[-1].message
            assert seen == expected_hits(corpus, sessions), (sessions, size)


async def test_a_session_never_sees_another_sessions_hits(repo, corpus, plan):
    for session in SESSIONS:
        hits = await repo.search("pizza", session_ids=[session], limit=1000)
        assert hits and {h.message.session_id for h in hits} == {session}
        with with_session_id(session):
            assert [key(h) for h in await repo.search("pizza", limit=1000)] == [key(h) for h in hits]
    assert await repo.search("pizza", limit=1000) == []  # no context: 'default', which has none
    # a cursor taken from another session's hit only says where to continue
    other = (await repo.search("pizza", session_ids=["work"], limit=3))[-1].message
    page = await repo.search("pizza", session_ids=["home"], limit=1000, before=other)
    assert {h.message.session_id for h in page} == {"home"}
    # the shared message is found once per session that has it, never merged
    shared = [key(h) for h in await repo.search("everyone", session_ids=SESSIONS)]
    assert shared == [("work", GROUP, "shared"), ("home", GROUP, "shared")]


async def test_relevance_puts_the_best_match_first(repo, plan):
    await repo.store_messages([
        msg("weak", ALICE, 100, "a long message that mentions pizza once among many other words", "home"),
        msg("strong", BOB, 1, "pizza pizza pizza", "home"),
        msg("none", ALICE, 50, "nothing to see", "home"),
    ])
    newest = await repo.search("pizza", session_ids=["home"])
    ranked = await repo.search("pizza", session_ids=["home"], order="relevance")
    assert [h.message.id for h in newest] == ["weak", "strong"]
    assert [h.message.id for h in ranked] == ["strong", "weak"]
    assert ranked[0].rank <= ranked[1].rank and ranked[0].snippet == "«pizza» «pizza» «pizza»"
    assert {h.message.id: h.rank for h in newest} == {h.message.id: h.rank for h in ranked}


async def test_bad_order_and_paged_relevance_are_refused(repo):
    with pytest.raises(ValueError, match=r"^order: expected 'newest' or 'relevance', got 'oldest'$"):
        await repo.search("pizza", order="oldest")
    anchor = msg("a", ALICE, 0, "pizza", "default")
    with pytest.raises(ValueError, match=r"^before: only newest-first results are paged$"):
        await repo.search("pizza", order="relevance", before=anchor)


async def test_a_common_word_is_found_newest_first_whichever_plan_is_cheaper(repo):
    # 600 messages, every one a hit: the store walks the time index; a rarer word is sorted
    rows = [msg(f"c{n}", (ALICE, BOB)[n % 2], n, f"ok {'rare' if n % 100 == 0 else ''}", "home")
            for n in range(600)]
    await repo.store_messages(rows[300:], history=True)
    await repo.store_messages(rows[:300], history=True)  # older ones arrive last
    hits = await repo.search("ok", session_ids=["home"], limit=5)
    assert [h.message.id for h in hits] == ["c599", "c598", "c597", "c596", "c595"]
    rare = await repo.search("rare", session_ids=["home"], limit=5)
    assert [h.message.id for h in rare] == ["c500", "c400", "c300", "c200", "c100"]


def test_the_plan_choice_follows_hits_and_store_size():
    assert not walk_is_cheaper(hits=10, messages=1_000_000, limit=50)  # few hits: sort them
    assert not walk_is_cheaper(hits=2_000, messages=1_000_000, limit=50)
    assert walk_is_cheaper(hits=20_000, messages=1_000_000, limit=50)  # a common word: walk
    assert walk_is_cheaper(hits=600, messages=600, limit=5)  # everything matches
    assert not walk_is_cheaper(hits=40, messages=600, limit=50)  # fewer hits than the page
