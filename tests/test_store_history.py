"""store_history: a session's history-sync chunk. New chats are written whole (their unread
count and newest message folded into one row) and end up exactly as chats the store already
knew; a long chunk is written in pieces of whole chats, one transaction unless another write
waits, which then gets in between pieces; rows never leave the session they are stored for."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from watui.domain.models import Chat, Message, MessageStatus
from watui.store import ChatStorageRepository, with_session_id
from watui.store.repository import _history_pieces

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ME = "4915000000000@s.whatsapp.net"


def jid(n: int) -> str:
    return f"49151{n:07d}@s.whatsapp.net" if n % 4 else f"1203630{n:011d}@g.us"


def chunk(chats: int, seed: int = 1) -> tuple[list[Message], list[Chat]]:
    """Conversation records with their messages: unread counts of 0, a few, and more than
    there are; records whose last message is older, newer or as old as the messages; messages
    from me, deleted ones, equal timestamps."""
    rng = random.Random(seed)
    messages: list[Message] = []
    records: list[Chat] = []
    for n in range(chats):
        chat = jid(n)
        count = rng.choice((1, 3, 8, 20))
        for k in range(count):
            from_me = rng.random() < 0.3
            messages.append(Message(
                id=f"{n}-{k}", chat_jid=chat, sender=ME if from_me else chat, content=f"m {n} {k}",
                timestamp=T0 + timedelta(seconds=rng.randrange(50)), is_from_me=from_me,
                deleted=rng.random() < 0.1, status=MessageStatus.READ if from_me else MessageStatus.RECEIVED,
            ))
        record_at = T0 + timedelta(seconds=rng.choice((0, 25, 49, 80)))
        records.append(Chat(
            jid=chat, name=f"chat {n}", last_message_time=record_at, unread_count=rng.choice((0, 0, 2, 50)),
            last_message_id=rng.choice(("", f"{n}-0", "zz-later")), last_message_preview="from the phone",
            pinned=n % 7 == 0,
        ))
    return messages, records


async def state(repo: ChatStorageRepository, session_id: str) -> tuple[list, list]:
    chats = await repo._r.execute_fetchall(
        """SELECT jid, name, last_message_time, unread_count, pinned, last_message_id, last_message_preview,
                  last_message_sender, last_message_is_from_me FROM chats WHERE session_id = ? ORDER BY jid""",
        (session_id,),
    )
    messages = await repo._r.execute_fetchall(
        "SELECT chat_jid, id, is_read, deleted, content FROM messages WHERE session_id = ? ORDER BY chat_jid, id",
        (session_id,),
    )
    return chats, messages


@pytest.fixture
async def repo(tmp_path):
    r = await ChatStorageRepository.open(tmp_path / "watui.db")
    yield r
    await r.close()


async def test_new_chats_end_up_as_chats_the_store_knew(repo):
    messages, records = chunk(60)
    assert await repo.store_history("fresh", messages, records) == len(messages)
    # the same, but each chat's record arrived before (without messages): the chunk then
    # takes the store's path for known chats (upsert, touch, unread-count update)
    await repo.store_history("known", [], records)
    await repo.store_history("known", messages, records)
    assert await state(repo, "fresh") == await state(repo, "known")
    assert await repo.integrity_check() == []


async def test_a_long_chunk_in_pieces_stores_what_one_piece_stores(repo, monkeypatch):
    messages, records = chunk(80, seed=2)
    await repo.store_history("whole", messages, records, [(jid(1), "Ann")])
    monkeypatch.setattr(ChatStorageRepository, "HISTORY_PIECE", 7)
    monkeypatch.setattr(ChatStorageRepository, "_writers_waiting", lambda self: True)  # commit each piece
    await repo.store_history("pieces", messages, records, [(jid(1), "Ann")])
    assert await state(repo, "whole") == await state(repo, "pieces")
    with with_session_id("pieces"):
        assert await repo.get_contact_name(jid(1)) in ("Ann", "chat 1")


def test_pieces_keep_each_chat_whole():
    messages, records = chunk(40, seed=3)
    shuffled = random.Random(4).sample(messages, len(messages))  # a chat's messages need not be adjacent
    pieces = _history_pieces(shuffled, records, 10)
    assert len(pieces) > 3
    seen: set[str] = set()
    for piece_messages, piece_chats in pieces:
        jids = {m.chat_jid for m in piece_messages} | {c.jid for c in piece_chats}
        assert not jids & seen  # no chat in two pieces
        seen |= jids
        assert {c.jid for c in piece_chats} == {m.chat_jid for m in piece_messages}
    assert sorted(m.id for p in pieces for m in p[0]) == sorted(m.id for m in messages)
    assert _history_pieces(messages[:5], records[:1], 10) == [(messages[:5], records[:1])]
    assert _history_pieces([], [], 10) == []


async def test_a_waiting_write_gets_in_between_pieces(repo, monkeypatch):
    monkeypatch.setattr(ChatStorageRepository, "HISTORY_PIECE", 20)
    messages, records = chunk(40, seed=5)
    order: list[str] = []
    first_piece = asyncio.Event()
    real = repo._store_batch

    async def recording(conn, batch_messages, batch_chats, **kwargs):
        order.append(kwargs.get("only_sid") or "live")
        first_piece.set()
        return await real(conn, batch_messages, batch_chats, **kwargs)

    monkeypatch.setattr(repo, "_store_batch", recording)
    history = asyncio.create_task(repo.store_history("hist", messages, records))
    await first_piece.wait()  # the history holds the write lock now
    with with_session_id("live"):
        live = await repo.store_messages([Message(id="now", chat_jid=jid(999), sender=jid(999),
                                                  timestamp=T0, content="hello")])
    await history
    assert live == 1
    assert order[0] == "hist" and order[1] == "live" and set(order[2:]) == {"hist"}
    # alone, a long chunk is written piece by piece without letting go of the lock
    order.clear()
    await repo.store_history("alone", messages, records)
    assert order == ["alone"] * len(_history_pieces(messages, records, 20))
    assert await state(repo, "alone") == await state(repo, "hist")


async def test_rows_naming_another_session_stay_in_the_one_written_for(repo):
    rows = [Message(id="x", chat_jid=jid(1), sender=jid(1), timestamp=T0, content="hi", session_id="other"),
            Message(id="y", chat_jid=jid(1), sender=jid(1), timestamp=T0, content="hi", session_id="")]
    record = Chat(jid=jid(1), name="A", last_message_time=T0, session_id="other")
    assert await repo.store_history("mine", rows, [record], [(jid(1), "Ann")]) == 2
    assert set(await repo.row_counts()) == {"mine"}
    with pytest.raises(ValueError):
        await repo.store_history("../x", rows)
