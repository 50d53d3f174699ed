"""SessionManager and Session on the real store and the sim network."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from dataclasses import dataclass

import pytest

from tests.support import ALICE, HOME, WORK, device_store, until
from watui import config as cfg
from watui.domain import (
    ChatFilter,
    ConnectionState,
    InvalidSessionId,
    MessageFilter,
    MessageStatus,
    NoSessionsAvailable,
    SessionExists,
    SessionNotFound,
)
from watui.domain.events import Event
from watui.domain.models import from_millis, to_millis
from watui.runtime import ConfigRegistry
from watui.sessions import handlers
from watui.store import with_session_id

HOME_JID = f"{HOME}@s.whatsapp.net"
WORK_JID = f"{WORK}@s.whatsapp.net"
ALICE_JID = f"{ALICE}@s.whatsapp.net"


async def paired(manager, network, tmp_path, *pairs):
    """Add sessions already linked to their phones and wait until each is connected."""
    for session_id, phone in pairs:
        network.pre_pair(session_id, device_store(tmp_path, session_id), phone)
        await manager.add_session(session_id, session_id.title())
    await until(
        manager,
        lambda: all(manager.get_session(s).status.state is ConnectionState.CONNECTED for s, _ in pairs),
    )


async def arrived(repo, session_id: str, read, timeout: float = 5.0):
    """What ``read()`` finds in ``session_id`` once it finds something: a message sent over the
    sim network reaches the other session's queue some loop turns later, so an empty queue
    right after sending proves nothing."""
    async with asyncio.timeout(timeout):
        while True:
            with with_session_id(session_id):
                found = await read()
            if found:
                return found
            await asyncio.sleep(0.01)


# --- the seed's SessionManager tests -----------------------------------------------------
async def test_add_and_get_session(make_manager):
    manager = make_manager()
    session = await manager.add_session("work", "Work", start=False)
    assert manager.get_session("work") is session
    assert manager.get_client("work") is session.client
    assert manager.get_client_or_default(None) is session.client
    assert manager.get_default_session() == "work"
    with pytest.raises(SessionExists, match="session already exists: work"):
        await manager.add_session("work", start=False)
    with pytest.raises(InvalidSessionId):
        await manager.add_session("../x", start=False)


async def test_unknown_session_and_no_sessions_errors(make_manager):
    manager = make_manager()
    with pytest.raises(NoSessionsAvailable, match="no sessions available: please initialize"):
        manager.get_client_or_default(None)
    with pytest.raises(SessionNotFound, match="^session not found: nope$"):
        manager.get_client("nope")
    with pytest.raises(SessionNotFound, match="session not found: nope"):
        await manager.remove_session("nope")
    with pytest.raises(SessionNotFound, match="session not found: nope"):
        manager.set_default_session("nope")


async def test_remove_session_moves_the_default(make_manager):
    manager = make_manager()
    for sid in ("a", "b", "c"):
        await manager.add_session(sid, start=False)
    manager.set_default_session("b")
    await manager.remove_session("b")
    assert manager.get_default_session() == "a"
    await manager.remove_session("a")
    await manager.remove_session("c")
    assert manager.get_default_session() == ""
    assert manager.get_all_sessions_with_status() == []


async def test_status_list_has_seed_fields_and_one_default(make_manager):
    manager = make_manager()
    await manager.add_session("default", start=False)
    await manager.add_session("work", start=False)
    statuses = manager.get_all_sessions_with_status()
    assert [s.session_id for s in statuses] == ["default", "work"]
    assert [s.is_default for s in statuses] == [True, False]
    assert set(statuses[0].seed_dict()) == {"session_id", "is_connected", "is_logged_in", "device_id", "is_default"}
    assert manager.get_connection_status("work") == (False, False, "")


async def test_concurrent_access_never_corrupts_the_manager(make_manager):
    manager = make_manager()
    rng = random.Random(5)
    ids = [f"s{i}" for i in range(12)]

    async def worker(n: int) -> None:
        for _ in range(40):
            sid = rng.choice(ids)
            action = rng.choice(["add", "remove", "default", "read"])
            try:
                if action == "add":
                    await manager.add_session(sid, start=False)
                elif action == "remove":
                    await manager.remove_session(sid, delete_data=rng.random() < 0.3)
                elif action == "default":
                    manager.set_default_session(sid)
                else:
                    manager.get_all_sessions_with_status()
                    manager.get_client_or_default(None)
            except (SessionExists, SessionNotFound, NoSessionsAvailable):
                pass
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(n) for n in range(8)))
    present = manager.session_ids()
    assert len(present) == len(set(present))
    default = manager.get_default_session()
    assert (default in present) if present else default == ""
    assert sum(s.is_default for s in manager.get_all_sessions_with_status()) == (1 if present else 0)


async def test_run_time_changes_are_written_to_the_config(make_manager, tmp_path):
    path = tmp_path / "config.toml"
    assert cfg.load_config(path, env={}).created  # the first-start config: one session, default
    manager = make_manager(ConfigRegistry(path))
    await manager.add_session("default", start=False, persist=False)
    await manager.add_session("work", "Work phone", start=False)
    manager.set_default_session("work")
    loaded = cfg.load_config(path, env={})
    assert loaded.config.session_ids == ["default", "work"]
    assert loaded.config.default_session == "work"
    assert loaded.config.session("work").label == "Work phone"
    await manager.remove_session("work")
    assert cfg.load_config(path, env={}).config.session_ids == ["default"]


# --- the seed's integration tests, on the sim network -------------------------------------
async def test_two_sessions_exchange_messages_stored_under_their_own_session(
    make_manager, network, repo, tmp_path
):
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME), ("work", WORK))
    sent = await manager.send_text("work", HOME, "hello from work")
    assert sent.status is MessageStatus.PENDING and sent.session_id == "work"

    async def stored(session_id, chat_jid, message_id):
        with with_session_id(session_id):
            return await repo.get_message(chat_jid, message_id)

    received = await arrived(repo, "home", lambda: repo.get_message(WORK_JID, sent.id))
    assert received.content == "hello from work"
    assert received.session_id == "home" and not received.is_from_me and received.sender == WORK_JID

    # the sender's copy moves to delivered (home is online) and stays under 'work'
    async def outgoing_status():
        message = await stored("work", HOME_JID, sent.id)
        return message.status if message else None

    for _ in range(50):
        if await outgoing_status() is MessageStatus.DELIVERED:
            break
        await manager.drain()
        await asyncio.sleep(0)
    assert await outgoing_status() is MessageStatus.DELIVERED
    # home reads it: work sees READ
    assert await manager.mark_read("home", WORK_JID) == 1
    for _ in range(50):
        await manager.drain()
        if await outgoing_status() is MessageStatus.READ:
            break
        await asyncio.sleep(0)
    assert await outgoing_status() is MessageStatus.READ
    # isolation: each side's copy lives only in its own session
    assert await stored("home", HOME_JID, sent.id) is None
    assert await stored("work", WORK_JID, sent.id) is None


async def test_history_sync_fills_the_session_in_batches(make_manager, network, repo, tmp_path):
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME))
    session = manager.get_session("home")
    await until(manager, lambda: session.status.synced_messages > 0 and session.status.sync_progress is None)
    await manager.drain()
    chats = await repo.get_chats(ChatFilter(session_id="home", limit=1000))
    assert len(chats) >= 10
    counts = await repo.row_counts()
    assert counts["home"][1] == session.status.synced_messages
    assert "work" not in counts or counts["work"] == (0, 0)


async def test_pairing_by_qr_scan_and_by_code(make_manager, network, tmp_path):
    manager = make_manager()
    await manager.add_session("home")
    await manager.add_session("work")
    await until(manager, lambda: all(manager.get_session(s).status.state is ConnectionState.NEEDS_PAIRING for s in ("home", "work")))
    network.scan_session("home", HOME)
    code = await manager.pair_phone("work", "+" + WORK)
    assert len(code) == 9 and code[4] == "-"
    network.enter_pairing_code(WORK, code)
    await until(manager, lambda: all(manager.get_session(s).status.state is ConnectionState.CONNECTED for s in ("home", "work")))
    home = manager.get_session("home").status
    assert home.device_id.startswith(HOME + ":") and home.is_logged_in
    record = await manager.repo.get_session_record("home")
    assert record["device_jid"] == home.device_id


async def test_offline_send_waits_in_the_outbox_and_goes_out_once(make_manager, network, repo, tmp_path):
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME), ("work", WORK))
    network.drop_connection("work", "network down", reconnect_after=None)
    await until(manager, lambda: manager.get_session("work").status.state is ConnectionState.OFFLINE)
    assert manager.get_session("work").status.last_error == "network down"
    message = await manager.send_text("work", HOME, "queued while offline")
    with with_session_id("work"):
        assert [m.id for m in await repo.outbox_pending()] == [message.id]
    await manager.get_session("work").client.connect()
    await until(manager, lambda: manager.get_session("work").status.state is ConnectionState.CONNECTED)
    for _ in range(100):
        await manager.drain()
        with with_session_id("work"):
            if not await repo.outbox_pending():
                break
        await asyncio.sleep(0)
    with with_session_id("home"):
        got = await repo.get_messages(MessageFilter(chat_jid=WORK_JID, limit=100))
    assert [m.content for m in got].count("queued while offline") == 1


async def test_a_burst_of_sends_keeps_its_order_when_the_server_times_tie(make_manager, network, repo, tmp_path):
    # WhatsApp acknowledges with whole seconds, so a burst sent within one second comes back
    # with one timestamp; the sim's clock, frozen, does the same. Ids are random: a tie
    # sorted by id would shuffle the lines.
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME), ("work", WORK))
    frozen = network.clock()
    network.clock = lambda: frozen
    lines = [f"line {n}" for n in range(12)]
    for line in lines:
        await manager.send_text("work", HOME, line)
    for _ in range(200):
        await manager.drain()
        with with_session_id("work"):
            if not await repo.outbox_pending():
                break
        await asyncio.sleep(0.01)
    with with_session_id("work"):
        got = await repo.get_messages(MessageFilter(chat_jid=HOME_JID, limit=100))
    mine = [m for m in reversed(got) if m.content in lines]  # newest first -> oldest first
    assert [m.content for m in mine] == lines
    assert all(m.status >= MessageStatus.SENT for m in mine)
    # each send is stored with a later time than the one before it, the server's when later
    assert [m.timestamp for m in mine] == sorted({m.timestamp for m in mine})
    with with_session_id("work"):
        later = from_millis(to_millis(frozen + timedelta(minutes=5)))
        assert await repo.mark_sent(HOME_JID, mine[0].id, later)
        again = await repo.get_message(HOME_JID, mine[0].id)
    assert again.timestamp == later


async def test_a_failing_send_is_marked_and_can_be_retried(make_manager, network, repo, tmp_path):
    manager = make_manager()
    await paired(manager, network, tmp_path, ("work", WORK))
    network.set_send_behaviour("work", fail="recipient not on WhatsApp")
    message = await manager.send_text("work", ALICE, "hi")

    async def current():
        with with_session_id("work"):
            return await repo.get_message(ALICE_JID, message.id)

    for _ in range(100):
        if (await current()).status is MessageStatus.FAILED:
            break
        await asyncio.sleep(0)
    failed = await current()
    assert failed.status is MessageStatus.FAILED and failed.error == "recipient not on WhatsApp"
    network.set_send_behaviour("work")
    await manager.retry_message("work", ALICE_JID, message.id)
    for _ in range(100):
        if (await current()).status >= MessageStatus.SENT:
            break
        await asyncio.sleep(0)
    assert (await current()).status >= MessageStatus.SENT


@dataclass(frozen=True, slots=True)
class _Poison(Event):
    pass


@dataclass(frozen=True, slots=True)
class _Stall(Event):
    pass


async def test_a_handler_error_is_logged_and_the_session_goes_on(make_manager, network, repo, tmp_path, monkeypatch, caplog):
    async def explode(repo, session_id, event):
        raise RuntimeError("boom")

    monkeypatch.setitem(handlers.STORE_HANDLERS, _Poison, explode)
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME), ("work", WORK))
    manager.get_session("home").queue.put_nowait(_Poison())
    sent = await manager.send_text("work", HOME, "after the poison")
    await until(manager, lambda: manager.get_session("home").handler_errors == 1)
    received = await arrived(repo, "home", lambda: repo.get_message(WORK_JID, sent.id))
    assert received.content == "after the poison"
    assert "handler failed for _Poison" in caplog.text


async def test_a_stuck_session_never_blocks_another(make_manager, network, repo, tmp_path, monkeypatch):
    gate = asyncio.Event()

    async def stall(repo, session_id, event):
        await gate.wait()
        return []

    monkeypatch.setitem(handlers.STORE_HANDLERS, _Stall, stall)
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME), ("work", WORK))
    manager.get_session("work").queue.put_nowait(_Stall())
    network.send_from(ALICE, HOME_JID, "to home while work is stuck")
    got = await arrived(repo, "home", lambda: repo.get_messages(
        MessageFilter(chat_jid=ALICE_JID, search="stuck")))
    assert got[0].content == "to home while work is stuck"
    gate.set()


async def test_connection_faults_show_in_the_status(make_manager, network, tmp_path):
    manager = make_manager()
    await paired(manager, network, tmp_path, ("home", HOME))
    status = lambda: manager.get_session("home").status  # noqa: E731
    network.drop_connection("home", "connection reset", reconnect_after=0.01)
    await until(manager, lambda: status().state is ConnectionState.OFFLINE)
    assert status().retry_at is not None and status().last_error == "connection reset"
    await until(manager, lambda: status().state is ConnectionState.CONNECTED)
    network.replace_stream("home")
    await until(manager, lambda: status().state is ConnectionState.OFFLINE)
    assert status().last_error.startswith("stream replaced")
    await manager.get_session("home").client.connect()
    await until(manager, lambda: status().state is ConnectionState.CONNECTED)
    network.logout_from_phone("home")
    await until(manager, lambda: status().state is ConnectionState.LOGGED_OUT)
    assert status().device_id == "" and not status().is_logged_in
