"""Load, small: several sessions each receiving a history sync while live traffic flows, through
the real SessionManager/Session path into a real store; every message id the sim network
handed over must be stored exactly once. The full-size run (10 x 100,000 with the UI on top)
is bench/load.py; no timing is asserted here.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from bench.dataset import owner_phone, session_ids
from bench.load import LoadConfig, Recorder, build_network, check_store, live_traffic
from watui.engine.sim.history import HistorySpec, iter_history
from watui.engine.sim.network import FORGET_EVERY, SimNetwork
from watui.engine.sim.testing import QuietClient
from watui.sessions import SessionManager
from watui.store import ChatStorageRepository

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.02)


async def test_history_syncs_under_live_traffic_store_every_id_exactly_once(tmp_path):
    conf = LoadConfig(sessions=3, history=3_000, history_rate=6_000, chunk_messages=400, history_chats=60,
                      live_rate=40, reply_delay=0.2, seed=3)
    ids = session_ids(conf.sessions)
    network, groups = build_network(conf)
    repo = await ChatStorageRepository.open(tmp_path / "watui.db")
    recorder = Recorder(tmp_path)
    manager = SessionManager(repo, lambda sid: network.client(sid, tmp_path / "devices" / f"{sid}.db"))
    for sid in ids:
        network.pre_pair(sid, tmp_path / "devices" / f"{sid}.db", owner_phone(sid))
        session = await manager.add_session(sid, start=False, persist=False)
        session.client.set_event_sink(recorder.wrap(sid, session.deliver))
    manager.subscribe(recorder.on_notice)
    stop = asyncio.Event()
    traffic = asyncio.create_task(live_traffic(network, conf, groups, stop))
    try:
        await manager.start_all()
        # one session loses its connection in the middle of its sync: the rest must come
        # after the reconnect, nothing twice
        await _until(lambda: recorder.chunks[ids[1]] >= 2, 10)
        network.drop_connection(ids[1], reconnect_after=0.1)
        await _until(lambda: len(recorder.stored_at) == len(ids), 15)
        await asyncio.sleep(0.5)  # live traffic after the syncs, too
        stop.set()
        sent = await traffic
        await asyncio.sleep(conf.reply_delay + 0.1)  # the answers to the last texts
        await manager.drain()
    finally:
        stop.set()
        await traffic
        await manager.shutdown(timeout=2.0)
        await repo.close()
        network.close()
        recorder.close()

    counts, problems = await check_store(tmp_path / "watui.db", ids, recorder)
    assert problems == []
    assert sent > 0 and sum(recorder.live.values()) >= sent
    for sid in ids:
        count = counts[sid]
        assert recorder.history[sid] == conf.history, sid
        assert (count.missing, count.extra, count.duplicate_keys, count.duplicate_content) == (0, 0, 0, 0), (sid, count)
        assert count.stored == count.delivered > conf.history


def test_history_of_a_given_size_in_bounded_chunks():
    spec = HistorySpec(chats=80, messages_per_chat=20, big_chats=2, big_chat_messages=900, messages=5_000,
                       chunk_size=25, chunk_messages=600, end=END)
    batches = list(iter_history(spec, seed=5, owner_phone="15550009999", end=END))
    messages = [m for b in batches for m in b.messages]
    assert len(messages) == 5_000 and len({(m.chat_jid, m.id) for m in messages}) == 5_000
    assert all(len(b.messages) <= 600 and len(b.chats) <= 25 for b in batches)
    assert [b.chunk_order for b in batches] == list(range(len(batches)))
    assert [b.done for b in batches] == [False] * (len(batches) - 1) + [True]
    # a chat bigger than a chunk comes in parts, newest first, each with the chat's record
    records: dict[str, list] = {}
    for b in batches:
        for chat in b.chats:
            records.setdefault(chat.jid, []).append(chat)
    split = [jid for jid, chats in records.items() if len(chats) > 1]
    assert split and all(len({c.last_message_id for c in records[jid]}) == 1 for jid in split)
    for jid in split:
        parts = [[m.timestamp for m in b.messages if m.chat_jid == jid] for b in batches]
        parts = [p for p in parts if p]
        assert all(earlier[0] > later[-1] for earlier, later in zip(parts, parts[1:]))
        newest = max(m for p in parts for m in p)
        assert records[jid][0].last_message_time == newest
    # deterministic, and made lazily (the first chunk without the rest)
    again = next(iter_history(spec, seed=5, owner_phone="15550009999", end=END))
    assert again == batches[0]


def test_history_size_below_the_chat_count_is_refused():
    spec = HistorySpec(chats=50, messages=10, end=END)
    with pytest.raises(ValueError, match="messages=10 is below the number of chats"):
        next(iter_history(spec, seed=1, owner_phone="15550009999", end=END))


async def test_forget_delivered_keeps_the_network_bounded(tmp_path):
    network = SimNetwork(seed=2, reply_delay=0.01, forget_delivered=True)
    network.add_account("15550000001", "Me", history=HistorySpec(chats=0, include_network=False))
    network.add_account("15550000002", "Friend", history=HistorySpec(chats=0, include_network=False))
    network.pre_pair("me", tmp_path / "me.db", "15550000001", history=False)
    got: list[str] = []
    client = network.client("me", tmp_path / "me.db")
    client.set_event_sink(lambda event: got.append(getattr(getattr(event, "message", None), "id", "")))
    await client.connect()
    sent = [network.send_from("15550000002", "15550000001@s.whatsapp.net", f"hi {n}") for n in range(3 * FORGET_EVERY)]
    await asyncio.sleep(0.05)
    assert [mid for mid in got if mid] == sent  # every one handed over, in order
    assert all(len(a.inbox) < 2 * FORGET_EVERY for a in network.accounts.values())
    network.close()


async def test_a_sync_faster_than_the_store_holds_the_engine_until_the_backlog_shrinks(tmp_path, monkeypatch):
    from watui.sessions import session as session_module
    from watui.sessions.session import Session

    monkeypatch.setattr(session_module, "BACKLOG_HOLD", 300)
    monkeypatch.setattr(session_module, "BACKLOG_RELEASE", 100)
    repo = await ChatStorageRepository.open(tmp_path / "watui.db")
    client = QuietClient()
    session = Session("s1", client, repo, lambda notice: None)
    spec = HistorySpec(chats=20, messages=1_000, chunk_messages=100, include_network=False, end=END)
    chunks = list(iter_history(spec, seed=1, owner_phone="15550009999", end=END))
    assert len(chunks) >= 10 and all(len(c.messages) <= 100 for c in chunks)
    try:
        for chunk in chunks[:2]:
            client.sink(chunk)
        assert client.holds == []  # at most 200 waiting: under the mark
        for chunk in chunks[2:]:
            client.sink(chunk)
        assert client.holds == [True]  # over it: held once, however much more arrives
        await session.start()  # the consumer writes the backlog down ...
        await session.drain()
        assert client.holds == [True, False]  # ... and the intake opens again
        # a store fault that starts and ends inside the backlog hold does not release it
        session._set_hold("backlog", True)
        session._set_hold("store", True)
        session._set_hold("store", False)
        assert client.holds == [True, False, True]
        assert (await repo.row_counts())["s1"][1] == 1_000  # every message of the sync
    finally:
        await session.stop()
        await repo.close()


async def test_a_held_sim_stops_a_sync_mid_way_and_sends_the_rest_when_released(tmp_path, monkeypatch):
    from watui.sessions import session as session_module

    monkeypatch.setattr(session_module, "BACKLOG_HOLD", 500)
    monkeypatch.setattr(session_module, "BACKLOG_RELEASE", 200)
    network = SimNetwork(seed=4, reply_delay=0.0)  # history_rate 0: every chunk at once
    history = HistorySpec(chats=30, messages=3_000, chunk_messages=100, include_network=False, end=END)
    network.add_account("15550000001", "Me", history=history)
    repo = await ChatStorageRepository.open(tmp_path / "watui.db")
    manager = SessionManager(repo, lambda sid: network.client(sid, tmp_path / f"{sid}.db"))
    network.pre_pair("me", tmp_path / "me.db", "15550000001")
    session = await manager.add_session("me", start=False, persist=False)
    holds: list[bool] = []
    hold = session.client.hold_incoming
    session.client.hold_incoming = lambda held: (holds.append(held), hold(held))[1]
    waiting: list[int] = []
    session.client.set_event_sink(lambda event: (session.deliver(event), waiting.append(session._backlog)))
    try:
        await manager.start_all()
        await _until(lambda: holds[-2:] == [True, False] and not session.client._held, 10)
        await _until(lambda: session.queue.empty() and session._backlog == 0, 10)
        await manager.drain()
        assert (await repo.row_counts())["me"][1] == 3_000  # every message, once
        assert session._backlog == 0 and holds.count(True) >= 1
        assert max(waiting) <= 500 + 100  # the mark, plus the one chunk that went over it
    finally:
        await manager.shutdown(timeout=2.0)
        await repo.close()
        network.close()
