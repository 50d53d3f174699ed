"""The neonize adapter's own logic, driven through the callbacks neonize calls (the QR
callback, the event handler with real protobuf events) and, offline, the real Go client."""

from __future__ import annotations

import asyncio

import pytest
from neonize.aioze.events import LoggedOutEv

from watui.domain import events as ev
from watui.domain.errors import EngineError
from watui.engine.neonize import client as neonize_client
from watui.engine.neonize.client import NeonizeClient, device_dsn, short_reason


def recording(client: NeonizeClient) -> list[ev.Event]:
    seen: list[ev.Event] = []
    client.set_event_sink(seen.append)
    return seen


async def test_qr_codes_are_numbered_timed_and_the_window_closes(tmp_path, monkeypatch):
    monkeypatch.setattr(neonize_client, "PAIRING_WINDOW", 0.05)
    client = NeonizeClient("s", str(tmp_path / "s.db"))
    seen = recording(client)
    await client._on_qr(None, b"2@ref,noise,identity,adv")
    await client._on_qr(None, b"2@ref2,noise,identity,adv")
    assert [(e.index, e.expires_in, e.code) for e in seen] == [
        (0, 60.0, "2@ref,noise,identity,adv"), (1, 20.0, "2@ref2,noise,identity,adv")
    ]
    assert client.state().is_connected and not client.state().is_logged_in
    async with asyncio.timeout(2):
        while not any(isinstance(e, ev.PairingWindowClosed) for e in seen):
            await asyncio.sleep(0.01)
    assert not client.state().is_connected


async def test_logged_out_from_the_phone_clears_the_device_store(tmp_path):
    store = tmp_path / "s.db"
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"s.db{suffix}").write_bytes(b"device keys")
    client = NeonizeClient("s", str(store))
    client._device_jid = "15550001:3@s.whatsapp.net"
    seen = recording(client)
    await client._on_event(None, LoggedOutEv(OnConnect=False))
    await client._forgetting
    assert [type(e) for e in seen] == [ev.LoggedOut]  # said once, not again by the clean-up
    assert not any(p.name.startswith("s.db") for p in tmp_path.iterdir())
    assert client.state().device_jid == "" and not client.state().is_logged_in


async def test_offline_calls_are_refused_with_a_clear_error(tmp_path):
    client = NeonizeClient("s", str(tmp_path / "s.db"))
    with pytest.raises(EngineError, match="not connected"):
        await client.send_text("15550001@s.whatsapp.net", "hi", message_id="3EB0X")
    with pytest.raises(EngineError, match="not connected"):
        await client.pair_phone("15550001")
    with pytest.raises(EngineError, match="not connected"):
        await client.mark_read("15550001@s.whatsapp.net", ["X"], "15550001@s.whatsapp.net")


def test_device_dsn_turns_on_wal_and_keeps_postgres_urls():
    assert device_dsn("/d/s.db") == "/d/s.db?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_x="
    assert device_dsn("postgres://u@h/db") == "postgres://u@h/db"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ('failed to dial: Get "https://web.whatsapp.com/ws/chat": dial tcp: lookup web.whatsapp.com: no such host',
         "WhatsApp unreachable: DNS lookup failed"),
        ("dial tcp 1.2.3.4:443: connect: connection refused", "connection refused"),
        ("context deadline exceeded", "connection timed out"),
        ("websocket: close 1006 (abnormal closure): unexpected EOF", "unexpected EOF"),
    ],
)
def test_short_reasons_for_the_status_line(error, reason):
    assert short_reason(RuntimeError(error)) == reason
