"""Sim network fault injection: each fault emits what the real engine would."""

from __future__ import annotations

import asyncio

import pytest

from watui.domain.errors import EngineError
from watui.domain.events import (
    Connected,
    Disconnected,
    LoggedOut,
    MessageReceived,
    QRCode,
    SendAcknowledged,
    StreamReplaced,
)
from watui.engine.sim import SimError, read_device
from watui.engine.sim.testing import EventRecorder, fast_network

ANN, BEN = "15550001", "15550002"
BEN_JID = f"{BEN}@s.whatsapp.net"


def world(**options):
    network = fast_network(**options)
    network.add_account(ANN, "Ann")
    network.add_account(BEN, "Ben")
    return network


async def online(network, tmp_path, session_id, phone):
    network.pre_pair(session_id, tmp_path / f"{session_id}.db", phone, history=False)
    client = network.client(session_id, tmp_path / f"{session_id}.db")
    rec = EventRecorder()
    client.set_event_sink(rec)
    await client.connect()
    await rec.next(Connected)
    return client, rec


async def test_drop_connection_reconnects_by_itself(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    network.drop_connection("b", reconnect_after=0.03)
    dropped = await ben_rec.next(Disconnected)
    assert (dropped.reason, dropped.retry_in) == ("connection reset", 0.03)
    assert not ben.state().is_connected and ben.state().is_paired
    await ann.send_text(BEN_JID, "while you were away", message_id="A1")
    connected = await ben_rec.next(Connected)
    assert connected.jid == ben.state().device_jid
    assert (await ben_rec.next(MessageReceived)).message.id == "A1"
    assert ben.state().is_logged_in
    network.close()


async def test_drop_connection_without_reconnect(tmp_path):
    network = world()
    ann, rec = await online(network, tmp_path, "a", ANN)
    network.drop_connection("a", reason="keepalive timeout", reconnect_after=None)
    dropped = await rec.next(Disconnected)
    assert (dropped.reason, dropped.retry_in) == ("keepalive timeout", None)
    assert not any(isinstance(e, Connected) for e in await rec.settle(0.05))
    with pytest.raises(EngineError, match="not connected"):
        await ann.send_text(BEN_JID, "x", message_id="X")
    with pytest.raises(SimError, match="not connected"):
        network.drop_connection("a")
    await ann.connect()
    await rec.next(Connected)
    network.close()


async def test_logout_from_phone_while_connected(tmp_path):
    network = world()
    ann, rec = await online(network, tmp_path, "a", ANN)
    network.logout_from_phone("a")
    out = await rec.next(LoggedOut)
    assert not out.on_connect
    assert read_device(tmp_path / "a.db") is None
    state = ann.state()
    assert not state.is_connected and not state.is_paired
    with pytest.raises(EngineError, match="not connected"):
        await ann.send_text(BEN_JID, "x", message_id="X")
    await ann.connect()
    await rec.next(QRCode)  # pairing needed again
    await ann.disconnect()
    with pytest.raises(SimError, match="not paired"):
        network.logout_from_phone("a")
    network.close()


async def test_logout_from_phone_while_offline_is_seen_on_connect(tmp_path):
    network = world()
    ann, rec = await online(network, tmp_path, "a", ANN)
    await ann.disconnect()
    network.logout_from_phone("a")
    await ann.connect()
    out = await rec.next(LoggedOut)
    assert out.on_connect
    assert read_device(tmp_path / "a.db") is None
    assert not ann.state().is_connected
    await ann.connect()
    await rec.next(QRCode)
    await ann.disconnect()
    network.close()


async def test_replace_stream(tmp_path):
    network = world()
    ann, rec = await online(network, tmp_path, "a", ANN)
    network.replace_stream("a")
    await rec.next(StreamReplaced)
    assert not ann.state().is_connected and ann.state().is_paired
    assert not any(isinstance(e, Connected) for e in await rec.settle(0.05))  # no retry
    network.close()


async def test_second_client_on_the_same_device_replaces_the_first(tmp_path):
    network = world()
    first, first_rec = await online(network, tmp_path, "a", ANN)
    second = network.client("a", tmp_path / "a.db")
    second_rec = EventRecorder()
    second.set_event_sink(second_rec)
    await second.connect()
    await second_rec.next(Connected)
    await first_rec.next(StreamReplaced)
    assert not first.state().is_connected and second.state().is_logged_in
    network.close()


async def test_slow_and_failing_sends(tmp_path):
    network = world()
    ann, ann_rec = await online(network, tmp_path, "a", ANN)
    ben, ben_rec = await online(network, tmp_path, "b", BEN)
    loop = asyncio.get_running_loop()

    network.set_send_behaviour("a", delay=0.05)
    start = loop.time()
    await ann.send_text(BEN_JID, "slow", message_id="S1")
    assert loop.time() - start >= 0.045

    network.set_send_behaviour("a", fail="server said no")
    with pytest.raises(EngineError, match="server said no"):
        await ann.send_text(BEN_JID, "refused", message_id="S2")
    await ben_rec.next(MessageReceived, timeout=1)  # S1 only
    assert [e.message.id for e in ben_rec.of(MessageReceived)] == ["S1"]

    network.set_send_behaviour("a")
    await ann.send_text(BEN_JID, "refused", message_id="S2")  # the retry goes through, once
    assert (await ben_rec.next(MessageReceived)).message.id == "S2"
    await ben_rec.settle(0.02)
    assert [e.message.id for e in ben_rec.of(MessageReceived)] == ["S1", "S2"]
    assert [a.message_id for a in ann_rec.of(SendAcknowledged)] == ["S1", "S2"]
    network.close()


async def test_connection_lost_during_a_slow_send(tmp_path):
    network = world()
    ann, _ = await online(network, tmp_path, "a", ANN)
    network.set_send_behaviour("a", delay=0.05)
    send = asyncio.ensure_future(ann.send_text(BEN_JID, "x", message_id="Z1"))
    await asyncio.sleep(0.01)
    network.drop_connection("a", reconnect_after=None)
    with pytest.raises(EngineError, match="not connected"):
        await send
    network.close()


async def test_network_unreachable_backoff_and_recovery(tmp_path):
    network = world()  # backoff 0.01 doubling, capped at 0.04
    ann, rec = await online(network, tmp_path, "a", ANN)
    network.set_offline("a", True)
    delays = []
    for _ in range(4):
        event = await rec.next(Disconnected)
        assert event.reason == "network unreachable"
        delays.append(event.retry_in)
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert not ann.state().is_connected
    network.set_offline("a", False)
    await rec.next(Connected)
    assert ann.state().is_logged_in
    # the backoff starts over after a success
    network.set_offline("a", True)
    assert (await rec.next(Disconnected)).retry_in == 0.01
    await ann.disconnect()  # stops the retries
    network.set_offline("a", False)
    assert not any(isinstance(e, Connected) for e in await rec.settle(0.06))
    network.close()


async def test_connect_while_unreachable(tmp_path):
    network = world()
    network.set_offline("u", True)
    client = network.client("u", tmp_path / "u.db")
    rec = EventRecorder()
    client.set_event_sink(rec)
    await client.connect()
    first = await rec.next(Disconnected)
    assert (first.reason, first.retry_in) == ("network unreachable", 0.01)
    assert not rec.of(QRCode)
    network.set_offline("u", False)
    qr = await rec.next(QRCode)  # unpaired: the QR window opens once it gets through
    assert qr.index == 0
    network.set_offline("u", True)  # losing the network ends the window
    await rec.next(Disconnected)
    assert client.current_qr is None
    network.set_offline("u", False)
    assert (await rec.next(QRCode)).index == 0
    await client.disconnect()
    network.close()


async def test_disconnect_stops_qr_timers(tmp_path):
    network = world()
    client = network.client("u", tmp_path / "u.db")
    rec = EventRecorder()
    client.set_event_sink(rec)
    await client.connect()
    await rec.next(QRCode)
    await client.disconnect()
    assert not client.state().is_connected
    assert await rec.settle(0.1) == []
    network.close()


async def test_faults_on_unknown_sessions(tmp_path):
    network = world()
    for fault in (
        lambda: network.drop_connection("nope"),
        lambda: network.logout_from_phone("nope"),
        lambda: network.replace_stream("nope"),
    ):
        with pytest.raises(SimError, match="no sim client for session nope"):
            fault()
    network.close()
