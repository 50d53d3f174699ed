"""The engine as the product runs it: each session's engine in its own child process.

- a child killed mid-session restarts while the other sessions keep exchanging messages,
  and the message sent while it was down goes out exactly once;
- the real neonize engine, offline (WhatsApp is unreachable here), fails its dial cleanly
  and backs off while the app's loop keeps ticking, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from watui.domain import ConnectionState, MessageStatus
from watui.domain.events import Disconnected
from watui.engine.isolation.proxy import ProcessClient
from watui.runtime import NEONIZE_FACTORY
from watui.sessions import SessionManager
from watui.store import with_session_id

from tests.support import HOME, WORK, device_store, until

ECHO_FACTORY = "watui.engine.isolation.testing:make_echo_client"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_killed_engine_restarts_and_its_outbox_goes_out_exactly_once(repo, network, tmp_path):
    deliveries = tmp_path / "delivered.txt"
    echo = ProcessClient(
        "echo", ECHO_FACTORY, log_path=tmp_path / "echo.log", args={"deliveries": str(deliveries)},
        restart_backoff=(0.1, 0.5), heartbeat_interval=0.2, heartbeat_timeout=2.0,
    )

    def factory(session_id: str):
        return echo if session_id == "echo" else network.client(session_id, device_store(tmp_path, session_id))

    manager = SessionManager(repo, factory)
    try:
        for session_id, phone in (("home", HOME), ("work", WORK)):
            network.pre_pair(session_id, device_store(tmp_path, session_id), phone)
            await manager.add_session(session_id)
        await manager.add_session("echo")
        connected = lambda *ids: all(  # noqa: E731
            manager.get_session(s).status.state is ConnectionState.CONNECTED for s in ids
        )
        await until(manager, lambda: connected("home", "work", "echo"), timeout=20)

        first_pid = echo.pid
        os.kill(first_pid, signal.SIGKILL)
        await until(manager, lambda: manager.get_session("echo").status.state is ConnectionState.OFFLINE)
        assert "engine crashed" in manager.get_session("echo").status.last_error

        # while the echo engine is down: it queues a message, the others keep talking
        queued = await manager.send_text("echo", "+15550001111", "sent while the engine was down")
        sent = await manager.send_text("work", HOME, "work to home during the crash")

        await until(manager, lambda: connected("echo") and echo.pid not in (None, first_pid), timeout=20)
        for _ in range(200):
            await manager.drain()
            with with_session_id("echo"):
                stored = await repo.get_message("15550001111@s.whatsapp.net", queued.id)
            if stored.status >= MessageStatus.SENT:
                break
            await asyncio.sleep(0.01)
        assert stored.status >= MessageStatus.SENT
        assert deliveries.read_text().split().count(queued.id) == 1
        with with_session_id("home"):
            got = await repo.get_message(f"{WORK}@s.whatsapp.net", sent.id)
        assert got is not None and got.content == "work to home during the crash"
        assert not process_alive(first_pid)
    finally:
        await manager.shutdown()
    assert echo.pid is None


async def test_real_neonize_offline_fails_cleanly_backs_off_and_the_loop_keeps_ticking(tmp_path):
    client = ProcessClient(
        "offline", NEONIZE_FACTORY, log_path=tmp_path / "offline.log",
        args={"db_uri": str(tmp_path / "sessions" / "offline.db"), "backoff_base": "0.2", "backoff_max": "0.8"},
    )
    events: list[Disconnected] = []
    arrived = asyncio.Event()

    def sink(event):
        if isinstance(event, Disconnected):
            events.append(event)
            arrived.set()

    client.set_event_sink(sink)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    ticking = asyncio.create_task(ticker())
    try:
        await client.connect()
        async with asyncio.timeout(30):
            while len(events) < 3:
                arrived.clear()
                await arrived.wait()
        pid = client.pid
        await client.disconnect()
    finally:
        ticking.cancel()
    assert events[0].reason == "WhatsApp unreachable: DNS lookup failed"
    retries = [e.retry_in for e in events[:3]]
    assert retries == sorted(retries) and retries[0] < retries[-1] <= 0.8
    # the loop kept running while the child dialed and backed off (>= 0.6 s of retries at a
    # 0.05 s tick): progress, not a stopwatch, so a slow machine cannot fail it
    assert len(ticks) >= 5, f"the loop ticked only {len(ticks)} times during three dials"
    assert client.pid is None and not process_alive(pid)
    # Go's own words went to the session's log, not anywhere else
    assert "no such host" in (tmp_path / "offline.log").read_text()
