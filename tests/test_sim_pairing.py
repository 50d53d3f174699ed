"""Sim network: QR codes, pairing by scan and by phone code, persistence, history sync."""

from __future__ import annotations

import base64
import re
import stat
from datetime import UTC, datetime

import pytest

from watui.domain.errors import EngineError, InvalidPhoneNumber
from watui.domain.events import (
    Connected,
    HistorySyncBatch,
    LoggedOut,
    PairingCode,
    PairingWindowClosed,
    PairSuccess,
    QRCode,
)
from watui.domain.models import MediaType
from watui.engine.protocol import WhatsAppClient
from watui.engine.sim import HistorySpec, SimError, generate_history, read_device, write_device
from watui.engine.sim.device_store import StoredDevice
from watui.engine.sim.testing import EventRecorder, fast_network

PHONE = "+1 555 0100"
DIGITS = "15550100"
FIXED_END = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def small_spec(**overrides: object) -> HistorySpec:
    options: dict[str, object] = {"chats": 12, "chunk_size": 5, "big_chats": 1, "big_chat_messages": 40, "end": FIXED_END}
    options.update(overrides)
    return HistorySpec(**options)  # type: ignore[arg-type]


def setup(tmp_path, **network_options):
    network = fast_network(**network_options)
    network.add_account(PHONE, "Dana", history=small_spec())
    client = network.client("s1", tmp_path / "devices" / "s1.db")
    recorder = EventRecorder()
    client.set_event_sink(recorder)
    return network, client, recorder


async def test_client_implements_protocol(tmp_path):
    _, client, _ = setup(tmp_path)
    assert isinstance(client, WhatsAppClient)
    assert not client.state().is_paired


async def test_qr_format(tmp_path):
    network, client, rec = setup(tmp_path)
    await client.connect()
    qr = await rec.next(QRCode)
    parts = qr.code.split(",")
    assert len(parts) == 4
    assert parts[0]
    for key in parts[1:]:
        assert len(base64.b64decode(key, validate=True)) == 32
    assert (qr.index, qr.total, qr.expires_in) == (0, 6, network.qr_first)
    state = client.state()
    assert state.is_connected and not state.is_logged_in
    await client.disconnect()


async def test_qr_rotation_timing_and_window_close(tmp_path):
    network, client, rec = setup(tmp_path)
    loop_time = __import__("asyncio").get_running_loop().time
    started = loop_time()
    await client.connect()
    stamps = []
    codes = []
    for index in range(6):
        qr = await rec.next(QRCode)
        stamps.append(loop_time() - started)
        codes.append(qr)
        assert qr.index == index
        assert qr.expires_in == (network.qr_first if index == 0 else network.qr_next)
    await rec.next(PairingWindowClosed)
    closed_at = loop_time() - started
    # the first code lasts qr_first, the others qr_next each
    assert stamps[1] >= network.qr_first * 0.9
    assert stamps == sorted(stamps)
    assert closed_at >= network.qr_first + 5 * network.qr_next * 0.9
    refs = {c.code.split(",")[0] for c in codes}
    keys = {tuple(c.code.split(",")[1:]) for c in codes}
    assert len(refs) == 6 and len(keys) == 1  # refs rotate, keys stay
    assert not client.state().is_connected
    assert [type(e).__name__ for e in await rec.settle(0.08)] == []  # the client stopped trying
    # connect() again opens a new window
    await client.connect()
    again = await rec.next(QRCode)
    assert again.index == 0 and again.code not in {c.code for c in codes}
    await client.disconnect()


async def test_scan_pairs_and_syncs_history(tmp_path):
    network, client, rec = setup(tmp_path)
    await client.connect()
    qr = await rec.next(QRCode)
    jid = network.scan(qr.code, PHONE)
    assert jid == f"{DIGITS}:1@s.whatsapp.net"
    success = await rec.next(PairSuccess)
    assert (success.jid, success.push_name) == (jid, "Dana")
    connected = await rec.next(Connected)
    assert connected.jid == jid
    batches = [await rec.next(HistorySyncBatch)]
    while not batches[-1].done:
        batches.append(await rec.next(HistorySyncBatch))
    kinds = [type(e) for e in rec.events if not isinstance(e, QRCode)]
    assert kinds[:2] == [PairSuccess, Connected] and set(kinds[2:]) == {HistorySyncBatch}
    assert [b.chunk_order for b in batches] == list(range(len(batches)))
    assert sum(len(b.chats) for b in batches) == 12
    state = client.state()
    assert state.is_logged_in and state.device_jid == jid and state.push_name == "Dana"
    # device store: 0600 file in a 0700 directory, holding the device
    store = tmp_path / "devices" / "s1.db"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert read_device(store) == StoredDevice(jid, DIGITS, "Dana")
    # no more QR codes once paired
    assert not any(isinstance(e, QRCode) for e in await rec.settle(0.08))
    await client.disconnect()


async def test_scan_errors(tmp_path):
    network, client, rec = setup(tmp_path)
    await client.connect()
    first = await rec.next(QRCode)
    with pytest.raises(SimError, match="no account"):
        network.scan(first.code, "+1 555 0999")
    with pytest.raises(SimError, match="unknown or expired"):
        network.scan("2@nope,a,b,c", PHONE)
    await rec.next(QRCode, index=1)
    with pytest.raises(SimError, match="unknown or expired"):
        network.scan(first.code, PHONE)  # rotated away
    network.scan_session("s1", PHONE)
    await rec.next(PairSuccess)
    with pytest.raises(SimError, match="not showing a QR code"):
        network.scan_session("s1", PHONE)
    await client.disconnect()


async def test_phone_code_pairing(tmp_path):
    network, client, rec = setup(tmp_path)
    await client.connect()
    await rec.next(QRCode)
    code = await client.pair_phone("+1 (555) 0100")
    assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}", code)
    event = await rec.next(PairingCode)
    assert (event.code, event.phone) == (code, DIGITS)
    with pytest.raises(SimError, match="wrong or expired"):
        network.enter_pairing_code(PHONE, "AAAA-AAAA" if code != "AAAA-AAAA" else "BBBB-BBBB")
    jid = network.enter_pairing_code(PHONE, code.lower().replace("-", ""))
    success = await rec.next(PairSuccess)
    assert success.jid == jid
    await rec.next(Connected)
    with pytest.raises(EngineError, match="pairing needs a connected client showing QR codes"):
        await client.pair_phone(PHONE)  # paired now
    await client.disconnect()


async def test_phone_code_errors(tmp_path):
    network, client, rec = setup(tmp_path)
    with pytest.raises(EngineError, match="pairing needs a connected client showing QR codes"):
        await client.pair_phone(PHONE)  # not connected
    await client.connect()
    await rec.next(QRCode)
    with pytest.raises(InvalidPhoneNumber):
        await client.pair_phone("0555 12")
    code = await client.pair_phone(PHONE)
    with pytest.raises(SimError, match="no account"):
        network.enter_pairing_code("+1 555 0999", code)  # not on the network
    await rec.next(PairingWindowClosed, timeout=3)
    with pytest.raises(SimError, match="wrong or expired"):
        network.enter_pairing_code(PHONE, code)  # the window closed
    with pytest.raises(EngineError, match="showing QR codes"):
        await client.pair_phone(PHONE)


async def test_pairing_persists_across_a_new_client(tmp_path):
    network, client, rec = setup(tmp_path)
    await client.connect()
    await rec.next(QRCode)
    jid = network.scan_session("s1", PHONE)
    await rec.next(Connected)
    await client.disconnect()

    again = network.client("s1", tmp_path / "devices" / "s1.db")
    assert again.state().device_jid == jid  # read from the store before connecting
    rec2 = EventRecorder()
    again.set_event_sink(rec2)
    await again.connect()
    connected = await rec2.next(Connected)
    assert (connected.jid, connected.push_name) == (jid, "Dana")
    assert again.state().is_logged_in
    arrived = await rec2.settle(0.05)
    assert not any(isinstance(e, (QRCode, HistorySyncBatch, PairSuccess)) for e in rec2.events + arrived)
    await again.disconnect()


async def test_stored_device_of_unknown_account_is_logged_out(tmp_path):
    network, client, rec = setup(tmp_path)
    store = tmp_path / "devices" / "s1.db"
    write_device(store, StoredDevice("15559999:1@s.whatsapp.net", "15559999", "Ghost"))
    await client.connect()
    out = await rec.next(LoggedOut)
    assert out.on_connect
    assert read_device(store) is None
    await client.connect()
    await rec.next(QRCode)
    await client.disconnect()


async def test_logout_unlinks(tmp_path):
    network, client, rec = setup(tmp_path)
    with pytest.raises(EngineError, match="not paired"):
        await client.logout()
    network.pre_pair("s1", tmp_path / "devices" / "s1.db", PHONE)
    await client.connect()
    await rec.next(Connected)
    await client.logout()
    out = await rec.next(LoggedOut)
    assert not out.on_connect
    assert read_device(tmp_path / "devices" / "s1.db") is None
    assert client.state() == type(client.state())()
    await client.connect()
    await rec.next(QRCode)
    await client.disconnect()


async def test_pre_pair_connects_straight_away_and_syncs_once(tmp_path):
    network, client, rec = setup(tmp_path)
    store = tmp_path / "devices" / "s1.db"
    jid = network.pre_pair("s1", store, PHONE)
    assert network.pre_pair("s1", store, PHONE) == jid  # idempotent
    assert client.state().device_jid == jid
    await client.connect()
    connected = await rec.next(Connected)
    assert connected.jid == jid
    assert (await rec.next(HistorySyncBatch)).chunk_order == 0  # first connect of a new device
    while not (await rec.next(HistorySyncBatch)).done:
        pass
    assert not rec.of(QRCode) and not rec.of(PairSuccess)
    await client.disconnect()
    await client.connect()
    await rec.next(Connected)
    assert not any(isinstance(e, HistorySyncBatch) for e in await rec.settle(0.03))  # no second sync
    # a new network (next app run) keeps the stored device and does not sync again
    other = fast_network()
    other.add_account(PHONE, "Dana", history=small_spec())
    assert other.pre_pair("s1", store, PHONE) == jid
    again = other.client("s1", store)
    rec2 = EventRecorder()
    again.set_event_sink(rec2)
    await again.connect()
    await rec2.next(Connected)
    assert not any(isinstance(e, HistorySyncBatch) for e in await rec2.settle(0.03))
    other.close()
    with pytest.raises(SimError, match="no account"):
        network.pre_pair("s2", tmp_path / "s2.db", "+44 20 7946 0000")
    await client.disconnect()


async def test_history_sync_is_deterministic(tmp_path):
    async def pair_once(seed: int, folder: str) -> list[HistorySyncBatch]:
        network = fast_network(seed)
        network.add_account(PHONE, "Dana", history=small_spec())
        network.add_account("+1 555 0111", "Alice")
        client = network.client("s1", tmp_path / folder / "s1.db")
        rec = EventRecorder()
        client.set_event_sink(rec)
        await client.connect()
        await rec.next(QRCode)
        network.scan_session("s1", PHONE)
        batches = [await rec.next(HistorySyncBatch)]
        while not batches[-1].done:
            batches.append(await rec.next(HistorySyncBatch))
        network.close()
        return batches

    first = await pair_once(3, "a")
    second = await pair_once(3, "b")
    other = await pair_once(4, "c")
    assert first == second
    assert first != other
    # the network contact is in the history, near the top
    assert "15550111@s.whatsapp.net" in {c.jid for c in first[0].chats}
    assert ("15550111@s.whatsapp.net", "Alice") in first[0].push_names


def test_history_chunks_and_shape():
    spec = HistorySpec(chats=120, chunk_size=25, big_chats=3, big_chat_messages=200, end=FIXED_END, media_ratio=0.1)
    batches = generate_history(spec, seed=1, owner_phone=DIGITS, end=FIXED_END)
    assert [b.chunk_order for b in batches] == [0, 1, 2, 3, 4]
    progress = [b.progress for b in batches]
    assert progress == sorted(progress) and progress[-1] == 100.0 and all(0 < p <= 100 for p in progress)
    assert [b.done for b in batches] == [False] * 4 + [True]
    assert all(len(b.chats) <= 25 for b in batches)
    chats = [c for b in batches for c in b.chats]
    messages = [m for b in batches for m in b.messages]
    assert len(chats) == 120 and len({c.jid for c in chats}) == 120
    assert len({m.id for m in messages}) == len(messages)
    times = [c.last_message_time for c in chats]
    assert times == sorted(times, reverse=True)  # most recent chats first
    sizes = sorted((sum(1 for m in messages if m.chat_jid == c.jid) for c in chats), reverse=True)
    assert sizes[0] >= 100 and sizes[len(sizes) // 2] <= 30  # a few big chats, many small
    groups = [c for c in chats if c.is_group]
    assert groups and all(c.jid.endswith("@g.us") for c in groups)
    senders = {m.sender for m in messages if m.chat_jid == groups[0].jid and not m.is_from_me}
    assert len(senders) >= 2
    media = [m for m in messages if m.media_type]
    assert {MediaType.IMAGE, MediaType.DOCUMENT, MediaType.VOICE} <= {m.media_type for m in media}
    assert all(m.filename and m.file_length > 0 and m.mimetype for m in media)
    unread = [c for c in chats if c.unread_count]
    assert unread
    for chat in unread:  # the unread tail is incoming
        tail = [m for m in messages if m.chat_jid == chat.jid][-chat.unread_count :]
        assert not any(m.is_from_me for m in tail)
    for chat in chats[:10]:
        last = [m for m in messages if m.chat_jid == chat.jid][-1]
        assert (chat.last_message_id, chat.last_message_time) == (last.id, last.timestamp)
    assert all(m.timestamp <= FIXED_END for m in messages)
