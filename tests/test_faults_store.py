"""The store unwritable: a full disk, a read-only store, another process holding the lock past
the busy timeout. Each is a REAL SQLite condition on the real store (a page cap on the writer
connection, query_only on the writer, a second process in BEGIN EXCLUSIVE), with real sim
traffic: while it lasts the status says why, nothing is stored, nothing is dropped and the
network is not told the messages arrived; once it clears every message is stored exactly
once, in order, and later ones flow. Also: a send fails with one clear error (API, socket,
UI), stop() is bounded, the status panel and sidebar show it, and the engines' hold (sim,
process isolation, neonize's callback thread) holds.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable

import pytest
from neonize.aioze.client import NewAClient
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from tests.support import ALICE, HOME, device_store, until
from tests.test_neonize_mapping import message_ev
from tests.test_ui_app import ALICE_JID as DEMO_ALICE_JID
from tests.test_ui_app import ALICE_PHONE as DEMO_ALICE_PHONE
from tests.test_ui_app import DEFAULT_PHONE as DEMO_PHONE
from tests.test_ui_app import main_screen, region_text, running, runtime, screen_lines, sidebar  # noqa: F401
from watui.control.client import SocketClient
from watui.control.methods import ControlService
from watui.control.protocol import ControlError
from watui.control.server import ControlServer
from watui.domain import events as ev
from watui.domain.models import MessageFilter, MessageStatus
from watui.domain.status import ConnectionState
from watui.engine.isolation import ProcessClient
from watui.engine.neonize.client import NeonizeClient
from watui.engine.sim.testing import EventRecorder
from watui.sessions.notices import MessagesChanged
from watui.store import ChatStorageRepository
from watui.store.faults import StoreUnwritable, unwritable_reason
from watui.ui.widgets import Composer, VirtualChatList
from watui.ui.widgets.sidebar import STORE_MARK
from watui.ui.widgets.status_panel import StatusPanel

HOME_JID = f"{HOME}@s.whatsapp.net"
ALICE_JID = f"{ALICE}@s.whatsapp.net"
NO_PAGE_CAP = 1073741823  # SQLite's default max_page_count
WAIT = 30.0  # generous: the machine running the suite may be loaded; nothing is timed


# --- the three conditions, on the real store ---------------------------------------------------
async def on_writer(repo: ChatStorageRepository, sql: str) -> list:
    """A statement on the store's own writer connection, between its transactions."""
    async with repo._write_lock:
        return list(await repo._w.execute_fetchall(sql))


class DiskFull:
    """The database may not grow by one page: every message below is bigger than a page, so
    storing it needs new (overflow) pages and SQLite answers SQLITE_FULL."""

    reason = "database or disk is full"

    async def inject(self, repo: ChatStorageRepository) -> None:
        await repo.vacuum()  # no free pages left to reuse
        assert (await on_writer(repo, "PRAGMA freelist_count"))[0][0] == 0
        pages = (await on_writer(repo, "PRAGMA page_count"))[0][0]
        assert (await on_writer(repo, f"PRAGMA max_page_count={pages}"))[0][0] == pages

    async def clear(self, repo: ChatStorageRepository) -> None:
        await on_writer(repo, f"PRAGMA max_page_count={NO_PAGE_CAP}")


class ReadOnly:
    reason = "the store is read-only"

    async def inject(self, repo: ChatStorageRepository) -> None:
        await on_writer(repo, "PRAGMA query_only=ON")

    async def clear(self, repo: ChatStorageRepository) -> None:
        await on_writer(repo, "PRAGMA query_only=OFF")


LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
db.execute("ROLLBACK")
"""


class Locked:
    """Another process holds the write lock; the writer's busy timeout is shortened (a
    connection setting, as an impatient configuration would have it) so the test is quick."""

    reason = "locked by another process"

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None

    async def inject(self, repo: ChatStorageRepository) -> None:
        await on_writer(repo, "PRAGMA busy_timeout=100")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(repo.path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert await asyncio.wait_for(self.process.stdout.readline(), WAIT) == b"locked\n"

    async def clear(self, repo: ChatStorageRepository) -> None:
        assert self.process is not None
        self.process.stdin.close()
        assert await asyncio.wait_for(self.process.wait(), WAIT) == 0
        await on_writer(repo, "PRAGMA busy_timeout=10000")


FAULTS = [DiskFull, ReadOnly, Locked]


# --- helpers ---------------------------------------------------------------------------------
def big_text(i: int) -> str:
    """Bigger than a 4 KiB page (it needs overflow pages), and different each time."""
    return f"burst message {i}: " + " ".join(f"word{i}x{j}" for j in range(900))


async def paired_home(make_manager, network, tmp_path):
    """Session 'home' linked to HOME's phone (no history sync), connected, queue empty."""
    manager = make_manager()
    network.pre_pair("home", device_store(tmp_path, "home"), HOME, history=False)
    session = await manager.add_session("home", "Home")
    await until(manager, lambda: session.status.state is ConnectionState.CONNECTED)
    await manager.drain()
    return manager, session


async def stored_ids(repo: ChatStorageRepository, session_id: str, chat_jid: str) -> list[str]:
    rows = await repo.get_messages(MessageFilter(session_id=session_id, chat_jid=chat_jid, limit=1000))
    return [m.id for m in rows]


def delivered_to(network, phone: str) -> list[str]:
    """Ids of ``phone``'s messages the network has told it were DELIVERED."""
    return [
        message_id
        for env in network.account(phone).inbox
        if isinstance(env.event, ev.Receipt) and env.event.kind is ev.ReceiptKind.DELIVERED
        for message_id in env.event.message_ids
    ]


def in_inbox_of(network, phone: str, ids: list[str]) -> bool:
    """The network has put all of ``ids`` in ``phone``'s inbox (routing is done)."""
    arrived = {
        env.event.message.id for env in network.account(phone).inbox if isinstance(env.event, ev.MessageReceived)
    }
    return set(ids) <= arrived


async def eventually(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    """Re-check ``predicate`` (sync or async) until it holds; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


# --- the classification --------------------------------------------------------------------------
async def test_the_real_conditions_are_unwritable_and_bad_data_is_not(repo):
    for fault in (DiskFull(), ReadOnly(), Locked()):
        await fault.inject(repo)
        try:
            with pytest.raises(StoreUnwritable) as raised:  # a write through _write
                await repo.upsert_session_record("s", label="x" * 20_000)
            assert raised.value.reason == fault.reason
            assert str(raised.value) == f"cannot write the store {repo.path}: {fault.reason}"
            assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        finally:
            await fault.clear(repo)
    await repo.upsert_session_record("s", label="fine again")
    # the data's own fault is not the store's
    assert unwritable_reason(sqlite3.IntegrityError("UNIQUE constraint failed: t.x")) is None
    assert unwritable_reason(ValueError("bad event")) is None
    try:  # an error raised while handling an unwritable one (a failed ROLLBACK TO) is one too
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError:
            raise sqlite3.OperationalError("no such savepoint: store_batch")  # noqa: B904
    except sqlite3.OperationalError as chained:
        assert unwritable_reason(chained) == "database or disk is full"


async def test_a_batch_written_alone_fails_once_and_leaves_no_unretrieved_future(repo, caplog):
    fault = DiskFull()
    await fault.inject(repo)
    from tests.test_faults_session import incoming  # a real message event

    message = incoming(1, text=big_text(1)).message
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(StoreUnwritable, match="database or disk is full"):
            await repo.store_messages([message])
        # two at once: a group commit where both fail
        results = await asyncio.gather(
            repo.store_messages([incoming(2, text=big_text(2)).message]),
            repo.store_messages([incoming(3, text=big_text(3)).message]),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreUnwritable) for r in results), results
        del results
        gc.collect()
        await asyncio.sleep(0)
    assert "exception was never retrieved" not in caplog.text
    await fault.clear(repo)
    assert await repo.store_messages([message]) == 1


# --- incoming messages during the fault -------------------------------------------------------------
@pytest.mark.parametrize("fault_type", FAULTS, ids=lambda f: f.__name__)
async def test_incoming_messages_wait_for_an_unwritable_store(fault_type, make_manager, network, repo, tmp_path):
    manager, session = await paired_home(make_manager, network, tmp_path)
    order: list[str] = []
    manager.subscribe(
        lambda n: order.extend(n.message_ids) if isinstance(n, MessagesChanged) and n.chat_jid == ALICE_JID else None
    )
    fault = fault_type()
    await fault.inject(repo)
    try:
        # the first message meets the fault: the status says why, the engine holds the rest
        first = network.send_from(ALICE, HOME_JID, big_text(0))
        await until(manager, lambda: session.status.store_error, timeout=WAIT)
        assert session.status.store_error == f"{fault.reason}, retrying"
        assert session.status.state is ConnectionState.CONNECTED  # the connection is fine
        # a burst while it lasts: routed to HOME's account, but not handed to the session,
        # and Alice is not told it was delivered
        burst = [network.send_from(ALICE, HOME_JID, big_text(i)) for i in range(1, 31)]
        await eventually(lambda: in_inbox_of(network, HOME, burst))
        assert not set(burst) & set(delivered_to(network, ALICE))
        assert await stored_ids(repo, "home", ALICE_JID) == []
        assert session.handler_errors == 0
        with pytest.raises(StoreUnwritable, match=fault.reason):
            await session.drain()  # does not wait forever on a dead store
    finally:
        await fault.clear(repo)

    # cleared: everything is stored exactly once, in order, and the network hears of it
    everything = [first, *burst]
    await eventually(lambda: not session.status.store_error)
    await eventually(lambda: set(delivered_to(network, ALICE)) >= set(everything))
    await manager.drain()
    assert sorted(await stored_ids(repo, "home", ALICE_JID)) == sorted(everything)
    assert order == everything  # each announced once, in arrival order
    assert session.handler_errors == 0
    # later events flow as usual
    later = network.send_from(ALICE, HOME_JID, "and life goes on")
    await eventually(lambda: later in order)
    await manager.drain()
    assert later in await stored_ids(repo, "home", ALICE_JID)
    assert order.count(later) == 1 and session.status.store_error == ""
    assert await repo.integrity_check() == []


async def test_stop_on_a_dead_store_is_bounded_and_counts_what_it_could_not_store(
    make_manager, network, repo, tmp_path, caplog
):
    manager, session = await paired_home(make_manager, network, tmp_path)
    fault = DiskFull()
    await fault.inject(repo)
    secret = "the secret words of message one"
    network.send_from(ALICE, HOME_JID, secret + big_text(0))
    await until(manager, lambda: session.status.store_error, timeout=WAIT)
    with caplog.at_level(logging.INFO, logger="watui.sessions"):
        await asyncio.wait_for(session.stop(timeout=0.5), WAIT)
    assert "session home: stopped with 1 event(s) not stored: database or disk is full" in caplog.text
    assert secret not in caplog.text
    assert session.status.state is ConnectionState.STOPPED and session.status.store_error == ""
    await fault.clear(repo)
    assert await repo.integrity_check() == []


# --- sending while the store is unwritable ---------------------------------------------------------
async def test_a_send_while_the_store_is_unwritable_fails_with_one_clear_error(
    make_manager, network, repo, tmp_path
):
    manager, session = await paired_home(make_manager, network, tmp_path)
    service = ControlService(repo, manager=manager, network=network, mode="test")
    data_dir = tmp_path / "sock"
    data_dir.mkdir(mode=0o700)
    server = await ControlServer(service, data_dir).start()
    client = await SocketClient.connect(data_dir)
    fault = ReadOnly()
    await fault.inject(repo)
    try:
        expected = f"cannot write the store {repo.path}: the store is read-only"
        with pytest.raises(StoreUnwritable) as raised:
            await manager.send_text("home", ALICE, "not now")
        assert str(raised.value) == expected
        with pytest.raises(ControlError) as refused:
            await client.call("send.message", {"session": "home", "to": ALICE, "text": "not now"})
        assert (refused.value.status, refused.value.code, str(refused.value)) == (503, "STORE_UNWRITABLE", expected)
        # nothing queued, nothing sent
        assert await repo.outbox_pending("home", include_failed=True) == []
        assert not any(isinstance(env.event, ev.MessageReceived) for env in network.account(ALICE).inbox)
        # the socket's status shows the store too, once an incoming message met it
        network.send_from(ALICE, HOME_JID, "hello?")
        await until(manager, lambda: session.status.store_error, timeout=WAIT)
        status = await client.call("sessions.status", {"session": "home"})
        assert status.results["store_error"] == "the store is read-only, retrying"
    finally:
        await fault.clear(repo)
        await client.close()
        await server.stop()
    sent = await manager.send_text("home", ALICE, "now it works")
    assert sent.status is MessageStatus.PENDING


# --- the status panel and the sidebar (the real app, Pilot, sim backend) -------------------------------
async def test_the_app_shows_an_unwritable_store_and_keeps_an_unsent_text(runtime):  # noqa: F811
    fault = ReadOnly()
    async with running(runtime) as (app, pilot):
        panel = main_screen(app).query_one(StatusPanel)
        session = runtime.manager.get_session("default")
        await fault.inject(runtime.repo)
        try:
            runtime.network.send_from(DEMO_ALICE_PHONE, f"{DEMO_PHONE}@s.whatsapp.net", "while read-only")

            async def shown() -> bool:
                await pilot.pause(0.02)
                return dict(panel.fields()).get("Store") == "the store is read-only, retrying"

            await eventually(shown)
            screen_text = " ".join(region_text(app, panel.content_region).split())
            assert "Store: the store is read-only, retrying" in screen_text
            assert f"{STORE_MARK} ★" in sidebar(app).row_text(0)  # marked, before the default star
            assert STORE_MARK not in sidebar(app).row_text(1)  # work has written nothing meanwhile

            # a send now: one clear error, and the text stays in the composer
            chats = main_screen(app).query_one(VirtualChatList)
            assert chats.select_jid(DEMO_ALICE_JID)
            chats.focus()
            await pilot.press("enter")
            composer = main_screen(app).query_one(Composer)
            await eventually(lambda: app.focused is composer)
            await pilot.press(*"keep me", "enter")

            async def refused() -> bool:  # the toast, on screen
                await pilot.pause(0.02)
                return "cannot write the store" in " ".join(" ".join(screen_lines(app)).split())

            await eventually(refused)
            await eventually(lambda: composer.text == "keep me")
        finally:
            await fault.clear(runtime.repo)

        async def cleared() -> bool:
            await pilot.pause(0.02)
            return "Store" not in dict(panel.fields()) and session.status.store_error == ""

        await eventually(cleared)
        assert STORE_MARK not in sidebar(app).row_text(0)
        rows = await runtime.repo.get_messages(
            MessageFilter(session_id="default", chat_jid=DEMO_ALICE_JID, limit=1000)
        )
        assert sum(m.content == "while read-only" for m in rows) == 1


# --- the engines' hold ------------------------------------------------------------------------
async def test_a_held_process_engine_keeps_answering_pings_and_is_held_again_after_a_restart(tmp_path):
    client = ProcessClient(
        "s1", "watui.engine.isolation.testing:make_echo_client", log_path=tmp_path / "s1.log",
        heartbeat_interval=0.05, heartbeat_timeout=2.0, restart_backoff=(0.05, 0.1),
    )
    seen = EventRecorder()
    client.set_event_sink(seen)
    await client.connect()
    try:
        await seen.next(ev.Connected, timeout=WAIT)
        pid = client.pid
        client.hold_incoming(True)
        await client.send_text(ALICE_JID, "one", message_id="M1")  # commands are still served
        for _ in range(10):  # several heartbeats
            await client.ping()
        await asyncio.sleep(0.3)
        assert client.pid == pid and client.restarts == 0
        assert not seen.of(ev.MessageReceived) and not seen.of(ev.SendAcknowledged)
        client.hold_incoming(False)
        await seen.next(ev.MessageReceived, timeout=WAIT)
        assert [e.message_id for e in seen.of(ev.SendAcknowledged)] == ["M1"]

        # held, then the engine dies: the new one is told before it connects
        client.hold_incoming(True)
        await client.ping()  # the child has it
        os.kill(pid, signal.SIGKILL)
        await seen.next(ev.Disconnected, timeout=WAIT)  # the proxy's own report of the crash
        await eventually(lambda: client.pid not in (None, pid) and client.state().is_connected)
        seen.clear()
        await client.send_text(ALICE_JID, "two", message_id="M2")
        await client.ping()
        assert seen.events == []  # the new engine's Connected included: it was held from the start
        client.hold_incoming(False)
        received = await seen.next(ev.MessageReceived, timeout=WAIT)
        assert received.message.content == "two"
        assert [type(e) for e in seen.events] == [ev.Connected, ev.SendAcknowledged, ev.MessageReceived]
    finally:
        await client.disconnect()


async def test_a_held_neonize_client_blocks_the_go_callback_thread_not_the_loop(tmp_path, monkeypatch):
    """The real neonize dispatch (Event.execute, as Go calls it on its own thread): while
    held, that thread waits at the gate and nothing reaches the sink; the loop runs on."""
    import neonize.aioze.events as neonize_events

    monkeypatch.setattr(neonize_events, "event_global_loop", asyncio.get_running_loop())
    engine = NeonizeClient("s", str(tmp_path / "s.db"))
    seen: list[ev.Event] = []
    engine.set_event_sink(seen.append)
    engine.hold_incoming(True)  # before the Go client exists: it is built held
    go_client = NewAClient(str(tmp_path / "s.db"), uuid="s")
    finalizer = getattr(go_client, "_stop_finalizer", None)
    if finalizer is not None:
        finalizer.detach()  # would call Go Stop() at garbage collection
    engine._register(go_client)

    data = message_ev(WAMessage(conversation="held back"), id="3EB0HELD").SerializePartialToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    go_thread = threading.Thread(
        target=go_client.event.execute, args=(b"s", ctypes.addressof(buffer), len(data), 17), daemon=True
    )
    go_thread.start()
    go_thread.join(0.3)
    assert go_thread.is_alive()  # waiting at the gate
    for _ in range(5):
        await asyncio.sleep(0.01)  # the loop is free meanwhile
    assert seen == []
    engine.hold_incoming(False)
    await asyncio.to_thread(go_thread.join, WAIT)
    assert not go_thread.is_alive()
    await eventually(lambda: seen)
    (received,) = seen
    assert isinstance(received, ev.MessageReceived) and received.message.id == "3EB0HELD"
    assert not (tmp_path / "s.db").exists()  # no Go code ran


async def test_a_held_sim_client_gets_what_waited_in_order_with_receipts_only_then(network, tmp_path):
    network.pre_pair("home", device_store(tmp_path, "home"), HOME, history=False)
    client = network.client("home", device_store(tmp_path, "home"))
    seen = EventRecorder()
    client.set_event_sink(seen)
    await client.connect()
    await seen.next(ev.Connected)
    client.hold_incoming(True)
    ids = [network.send_from(ALICE, HOME_JID, f"m{i}") for i in range(5)]
    await eventually(lambda: in_inbox_of(network, HOME, ids))
    await seen.settle()
    assert not seen.of(ev.MessageReceived) and not set(ids) & set(delivered_to(network, ALICE))
    client.hold_incoming(False)
    await eventually(lambda: len(seen.of(ev.MessageReceived)) == 5)
    assert [e.message.id for e in seen.of(ev.MessageReceived)] == ids
    await eventually(lambda: set(delivered_to(network, ALICE)) >= set(ids))
