"""Faults through the Session consumer (the path every engine's events take to the store):
poisoned events are logged and skipped without taking their neighbours or the session with
them; duplicated and out-of-order events (a receipt before its message, an edit before the
original, a revoke of an unknown message, the same message twice, clock jumps) converge to
the state the same events give in order."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from watui.domain import events as ev
from watui.domain.models import MessageFilter
from watui.domain.models import Message, MessageStatus
from watui.engine.protocol import ClientState
from watui.sessions.session import Session
from watui.store import with_session_id

CHAT = "15550001111@s.whatsapp.net"
GROUP = "120363000000000042@g.us"
ME = "15550009999@s.whatsapp.net"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class StubClient:
    """Just enough engine for a Session: the test feeds its queue directly."""

    def set_event_sink(self, sink) -> None:
        self.sink = sink

    def state(self) -> ClientState:
        return ClientState()

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass


@pytest.fixture
async def make_session(repo):
    sessions: list[Session] = []

    async def make(session_id: str = "s1") -> Session:
        session = Session(session_id, StubClient(), repo, lambda notice: None)
        await session.start()
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        await session.stop(timeout=2.0)


def incoming(i: int, *, chat: str = CHAT, text: str | None = None, when: datetime | None = None, **fields) -> ev.MessageReceived:
    return ev.MessageReceived(
        Message(id=f"M{i:04d}", chat_jid=chat, sender=CHAT, timestamp=when or T0 + timedelta(seconds=i),
                content=f"message {i}" if text is None else text, push_name="Alice", **fields),
        chat_name="Alice",
    )


async def stored(repo, session_id: str, chat: str = CHAT) -> dict[str, Message]:
    with with_session_id(session_id):
        rows = await repo.get_messages(MessageFilter(session_id=session_id, chat_jid=chat, limit=1000))
    return {m.id: m for m in rows}


# --- poisoned events ------------------------------------------------------------------------------
async def test_a_lone_surrogate_costs_nothing_of_its_burst(make_session, repo):
    session = await make_session()
    burst = [incoming(i) for i in range(50)]
    burst[20] = incoming(20, text="half a pair \ud83d here")
    burst[30] = replace(burst[30], chat_name="bad \udcff name")
    for event in burst:
        session.queue.put_nowait(event)
    await session.drain()
    rows = await stored(repo, "s1")
    assert len(rows) == 50 and session.handler_errors == 0
    assert rows["M0020"].content == "half a pair \ufffd here"


async def test_a_malformed_message_is_skipped_alone_and_later_events_apply(make_session, repo, caplog):
    session = await make_session()
    burst = [incoming(i) for i in range(40)]
    naive = replace(burst[10].message, timestamp=datetime(2025, 1, 1))  # no timezone: refused
    burst[10] = ev.MessageReceived(naive)
    burst[25] = ev.MessageReceived(replace(burst[25].message, id=""))  # no id: refused
    with caplog.at_level(logging.ERROR, logger="watui.sessions"):
        for event in burst:
            session.queue.put_nowait(event)
        session.queue.put_nowait(ev.Receipt(CHAT, ("M0001",), "bogus-kind", CHAT, T0))  # type: ignore[arg-type]
        session.queue.put_nowait("not an event at all")
        session.queue.put_nowait(ev.Receipt(CHAT, ("M0002",), ev.ReceiptKind.READ, CHAT, T0))
        session.queue.put_nowait(incoming(99))
        await session.drain()
    rows = await stored(repo, "s1")
    assert set(rows) == {f"M{i:04d}" for i in (*range(40), 99)} - {"M0010", "M0025"}
    assert session.handler_errors == 3  # the two messages and the receipt; the str is ignored
    assert rows["M0002"].status == MessageStatus.READ  # the receipt after the poison applied
    assert caplog.text.count("handler failed") == 3
    assert "message 10" not in caplog.text  # the log names the event type, not its text


async def test_the_consumer_survives_every_kind_of_garbage(make_session, repo):
    session = await make_session()
    garbage = [
        None, 42, object(), b"\x00\xff", ev.Event(),
        ev.MessageReceived(None),  # type: ignore[arg-type]
        ev.HistorySyncBatch(chats=(None,), messages=("x",)),  # type: ignore[arg-type]
        ev.HistorySyncBatch(messages=None),  # type: ignore[arg-type]
        ev.HistorySyncBatch(),
        ev.MessageEdited(CHAT, "M0001", None, CHAT, None),  # type: ignore[arg-type]
        ev.MessageRevoked(None, None, None, None),  # type: ignore[arg-type]
        ev.Reaction(CHAT, "M0001", CHAT, "👍", "yesterday"),  # type: ignore[arg-type]
        ev.PushName(None, None),  # type: ignore[arg-type]
    ]
    for item in garbage:
        session.queue.put_nowait(item)
        session.queue.put_nowait(incoming(len(garbage)))
    session.queue.put_nowait(incoming(1))
    await session.drain()
    assert session._consumer is not None and not session._consumer.done()
    assert set(await stored(repo, "s1")) == {"M0001", f"M{len(garbage):04d}"}


# --- order and duplicates -------------------------------------------------------------------------
def scenario() -> list[ev.Event]:
    """Messages in a 1:1 chat and a group with every later event that refers to them, in
    the order they happened. Timestamps jump around (clock skew, a phone set to 1970 or 2100)."""
    jumps = [T0, T0 - timedelta(days=400), T0 + timedelta(days=3650), datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
             T0 + timedelta(seconds=1), T0 + timedelta(seconds=1)]
    events: list[ev.Event] = []
    for i, when in enumerate(jumps):
        events.append(incoming(i, when=when))
        events.append(incoming(100 + i, chat=GROUP, when=when))
    mine = ev.MessageReceived(Message(id="OWN1", chat_jid=CHAT, sender=ME, timestamp=T0, content="mine",
                                      is_from_me=True, status=MessageStatus.SENT))
    events.append(mine)
    events += [
        ev.Receipt(CHAT, ("OWN1",), ev.ReceiptKind.DELIVERED, CHAT, T0 + timedelta(seconds=5)),
        ev.Receipt(CHAT, ("OWN1",), ev.ReceiptKind.READ, CHAT, T0 + timedelta(seconds=9)),
        ev.MessageEdited(CHAT, "M0000", "edited once", CHAT, T0 + timedelta(minutes=1)),
        ev.MessageEdited(CHAT, "M0000", "edited twice", CHAT, T0 + timedelta(minutes=2)),
        ev.MessageRevoked(CHAT, "M0001", CHAT, T0 + timedelta(minutes=3)),
        ev.MessageEdited(CHAT, "M0001", "edit of a revoked one", CHAT, T0 + timedelta(minutes=4)),
        ev.Reaction(CHAT, "M0002", ME, "👍", T0 + timedelta(minutes=1), is_from_me=True),
        ev.Reaction(CHAT, "M0002", ME, "❤", T0 + timedelta(minutes=2), is_from_me=True),
        ev.MessageEdited(GROUP, "M0103", "group edit", CHAT, T0 + timedelta(minutes=1)),
        ev.MessageRevoked(GROUP, "M0104", CHAT, T0 + timedelta(minutes=1)),
    ]
    return events


def shuffled_with_duplicates(events: list[ev.Event], seed: int) -> list[ev.Event]:
    rng = random.Random(seed)
    out = list(events)
    out += [rng.choice(events) for _ in range(len(events) // 2)]  # delivered twice
    rng.shuffle(out)
    return out


def _state(rows: dict[str, Message], *, strict_tombstones: bool = False) -> dict[str, tuple]:
    # a tombstone's "edited" flag is not shown anywhere (the pane says "deleted"); whether it
    # converges too is the strict xfail test below
    return {
        mid: (m.content, int(m.status), m.edited and (strict_tombstones or not m.deleted), m.deleted,
              m.timestamp, m.is_from_me)
        for mid, m in rows.items()
    }


async def test_shuffled_and_duplicated_events_converge_to_the_in_order_state(make_session, repo):
    events = scenario()
    reference = await make_session("inorder")
    for event in events:
        reference.queue.put_nowait(event)
    await reference.drain()
    expected = {chat: _state(await stored(repo, "inorder", chat)) for chat in (CHAT, GROUP)}
    # the in-order state is the right one
    chat = expected[CHAT]
    assert chat["M0000"][0] == "edited twice" and chat["M0000"][2]
    assert chat["M0001"][3] and chat["M0001"][0] == ""  # revoked, and the later edit did not revive it
    assert chat["OWN1"][1] == MessageStatus.READ
    assert expected[GROUP]["M0103"][0] == "group edit" and expected[GROUP]["M0104"][3]
    assert len(chat) == 7 and len(expected[GROUP]) == 6

    for seed in range(4):
        session = await make_session(f"shuffled{seed}")
        for event in shuffled_with_duplicates(events, seed):
            session.queue.put_nowait(event)
        await session.drain()
        assert session.handler_errors == 0
        for chat_jid in (CHAT, GROUP):
            got = _state(await stored(repo, session.session_id, chat_jid))
            assert got == expected[chat_jid], f"seed {seed}, {chat_jid}"
    assert await repo.integrity_check() == []


async def test_a_revoke_or_receipt_for_a_message_that_never_comes_is_harmless(make_session, repo):
    session = await make_session()
    session.queue.put_nowait(ev.MessageRevoked(CHAT, "NEVER1", CHAT, T0))
    session.queue.put_nowait(ev.Receipt(CHAT, ("NEVER2", "NEVER3"), ev.ReceiptKind.READ, CHAT, T0))
    session.queue.put_nowait(ev.MessageEdited(CHAT, "NEVER4", "ghost", CHAT, T0))
    session.queue.put_nowait(incoming(1))
    await session.drain()
    assert set(await stored(repo, "s1")) == {"M0001"} and session.handler_errors == 0
    assert await repo.integrity_check() == []


async def test_a_tombstone_is_the_same_whether_the_edit_came_before_or_after(make_session, repo):
    revoke = ev.MessageRevoked(CHAT, "M0001", CHAT, T0 + timedelta(minutes=3))
    edit = ev.MessageEdited(CHAT, "M0001", "edit", CHAT, T0 + timedelta(minutes=4))
    states = []
    for name, order in (("a", [revoke, edit]), ("b", [edit, revoke])):
        session = await make_session(name)
        for event in (incoming(1), *order):
            session.queue.put_nowait(event)
        await session.drain()
        states.append(_state(await stored(repo, name), strict_tombstones=True))
    assert states[0] == states[1]

