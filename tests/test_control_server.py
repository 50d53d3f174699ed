"""The control socket in-process: a real Unix socket served on the test's loop, over the real
store, SessionManager and sim network. Malformed requests, privacy, streams, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from tests.support import ALICE, HOME, WORK, device_store, until
from watui.control import server as server_module
from watui.control.client import LocalClient, SocketClient
from watui.control.methods import ControlService
from watui.control.protocol import MAX_LINE, ControlError
from watui.control.server import ControlServer, ShortPath, peer_uid, socket_path
from watui.domain.status import ConnectionState

HOME_JID = f"{HOME}@s.whatsapp.net"
WORK_JID = f"{WORK}@s.whatsapp.net"


@pytest.fixture
async def served(make_manager, repo, network, tmp_path):
    """Sessions home and work paired and connected, "fresh" waiting for its QR to be scanned;
    a ControlServer on <tmp>/sock/watui.sock."""
    manager = make_manager()
    for sid, phone in (("home", HOME), ("work", WORK)):
        network.pre_pair(sid, device_store(tmp_path, sid), phone)
    service = ControlService(repo, manager=manager, network=network, mode="test")
    for sid in ("home", "work", "fresh"):
        await manager.add_session(sid, sid.title())
    await until(manager, lambda: all(
        manager.get_session(s).status.state is ConnectionState.CONNECTED for s in ("home", "work")
    ) and manager.get_session("fresh").status.state is ConnectionState.NEEDS_PAIRING)
    await until(manager, lambda: all(  # and their history is in
        manager.get_session(s).status.synced_messages and manager.get_session(s).status.sync_progress is None
        for s in ("home", "work")
    ))
    await manager.drain()
    data_dir = tmp_path / "sock"
    data_dir.mkdir(mode=0o700)
    server = await ControlServer(service, data_dir).start()
    yield server
    await server.stop()


class Raw:
    """A bare connection: bytes in, parsed JSON lines out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: ControlServer) -> Raw:
        with ShortPath(server.path) as address:
            reader, writer = await asyncio.open_unix_connection(address, limit=16 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes | dict) -> None:
        if isinstance(data, dict):
            data = json.dumps(data).encode() + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def line(self, timeout: float = 5.0) -> dict | None:
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        return json.loads(raw) if raw else None

    async def ask(self, data: bytes | dict) -> dict:
        await self.send(data)
        answer = await self.line()
        assert answer is not None
        return answer

    async def close(self) -> None:
        self.writer.close()


# --- the socket file ---------------------------------------------------------------------------
async def test_socket_is_private_and_removed_on_stop(served):
    path = served.path
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await served.stop()
    assert not path.exists()


async def test_a_stale_socket_is_replaced_and_a_live_one_refused(served, repo, make_manager, tmp_path):
    other = ControlServer(ControlService(repo, manager=make_manager()), served.path.parent)
    with pytest.raises(Exception, match="another watui answers on"):
        await other.start()
    assert served.path.exists()  # untouched
    await served.stop()
    # a crash leaves the file behind with nothing listening
    stale = socket.socket(socket.AF_UNIX)
    with ShortPath(served.path) as address:
        stale.bind(address)
    stale.close()
    assert served.path.exists()
    await other.start()
    try:
        client = await SocketClient.connect(served.path.parent)
        async with client:
            assert (await client.call("server.info")).results["protocol"] == 1
    finally:
        await other.stop()


async def test_peer_credentials_are_checked(served, monkeypatch):
    a, b = socket.socketpair(socket.AF_UNIX)
    try:
        assert peer_uid(a) == os.getuid()
    finally:
        a.close()
        b.close()
    monkeypatch.setattr(server_module.os, "getuid", lambda: 999_999)  # as if we were someone else
    raw = await Raw.open(served)
    answer = await raw.line()
    assert answer["status"] == 403 and answer["code"] == "FORBIDDEN"
    assert await raw.line() is None  # and the connection is closed


# --- malformed requests ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_line", "status", "code"),
    [
        (b"not json\n", 400, "INVALID_REQUEST"),
        (b"[1, 2]\n", 400, "INVALID_REQUEST"),
        (b'"sessions.list"\n', 400, "INVALID_REQUEST"),
        (b"\xff\xfe\n", 400, "INVALID_REQUEST"),
        (b'{"id": 1, "method": "sessions.list", "params": {"x": NaN}}\n', 400, "INVALID_REQUEST"),
        (b"[" * 100_000 + b"\n", 400, "INVALID_REQUEST"),
        (b'{"id": 1}\n', 400, "INVALID_REQUEST"),
        (b'{"id": 1, "method": 7}\n', 400, "INVALID_REQUEST"),
        (b'{"id": {"a": 1}, "method": "sessions.list"}\n', 400, "INVALID_REQUEST"),
        (b'{"id": 1, "method": "sessions.list", "extra": true}\n', 400, "INVALID_REQUEST"),
        (b'{"id": 1, "method": "sessions.drop_tables"}\n', 404, "UNKNOWN_METHOD"),
        (b'{"id": 1, "method": "chats.list", "params": [1]}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chats.list", "params": {"limit": "5"}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chats.list", "params": {"limit": true}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chats.list", "params": {"limit": 0}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chats.list", "params": {"sesion": "home"}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chats.list", "params": {"session": "nope"}}\n', 404, "SESSION_NOT_FOUND"),
        (b'{"id": 1, "method": "chats.list", "params": {"session": "../x"}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chat.messages", "params": {}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chat.messages", "params": {"chat": "not a jid@x"}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "chat.messages", "params": {"chat": "15550003333", "before": "nope"}}\n',
         404, "NOT_FOUND"),
        (b'{"id": 1, "method": "search", "params": {"query": ["x"]}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "events.subscribe", "params": {"events": ["bogus"]}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "pair.qr", "params": {"session": "home"}}\n', 409, "CONFLICT"),
        (b'{"id": 1, "method": "pair.phone", "params": {"session": "fresh", "phone": "12"}}\n',
         400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "sessions.add", "params": {"session": "Bad Id"}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "sessions.add", "params": {"session": "home"}}\n', 409, "SESSION_EXISTS"),
        (b'{"id": 1, "method": "send.message", "params": {"to": "123", "text": "x"}}\n', 400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "send.message", "params": {"to": "15550001111", "text": "  "}}\n',
         400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "send.message", "params": {"to": "15550001111", "text": "x", "wait": -1}}\n',
         400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "send.message", "params": {"to": "15550001111", "text": "x", "txt": "y"}}\n',
         400, "INVALID_PARAMS"),
        (b'{"id": 1, "method": "send.message", "params": {"to": "15550001111", "text": "x", "session": "fresh"}}\n',
         409, "NOT_PAIRED"),
        (b'{"id": 1, "method": "send.message", "params": {"to": "15550001111", "text": "x", "reply_to": "nope"}}\n',
         404, "NOT_FOUND"),
    ],
)
async def test_malformed_requests_get_structured_errors_and_change_nothing(served, repo, request_line, status, code):
    before = await repo.row_counts()
    raw = await Raw.open(served)
    try:
        answer = await raw.ask(request_line)
        assert (answer["status"], answer["code"]) == (status, code), answer
        assert answer["results"] is None and isinstance(answer["message"], str) and answer["message"]
        assert set(answer) == {"id", "status", "code", "message", "results"}
        # the connection is still good, and nothing was written
        again = await raw.ask({"id": "after", "method": "sessions.list"})
        assert again["id"] == "after" and again["status"] == 200
    finally:
        await raw.close()
    assert await repo.row_counts() == before
    assert served.service.manager.session_ids() == ["home", "work", "fresh"]


async def test_an_overlong_line_is_refused_and_the_server_carries_on(served):
    raw = await Raw.open(served)
    raw.writer.write(b'{"method": "search", "params": {"query": "' + b"a" * (MAX_LINE + 10) + b'"}}\n')
    with contextlib.suppress(ConnectionError):  # the server may close before it is all written
        await raw.writer.drain()
    answer = await raw.line()
    assert answer["status"] == 413 and answer["code"] == "REQUEST_TOO_LARGE"
    assert await raw.line() is None
    other = await Raw.open(served)
    assert (await other.ask({"method": "server.info"}))["status"] == 200
    await other.close()


# --- methods over the socket ----------------------------------------------------------------------
async def test_sessions_list_is_the_seed_shape_with_live_fields(served):
    async with await SocketClient.connect(served.path.parent) as client:
        reply = await client.call("sessions.list")
    sessions = reply.results["sessions"]
    assert reply.results["count"] == 3 and [s["session_id"] for s in sessions] == ["home", "work", "fresh"]
    for entry in sessions:
        assert {"session_id", "is_connected", "is_logged_in", "device_id", "is_default"} <= set(entry)
    assert [s["state"] for s in sessions] == ["connected", "connected", "needs_pairing"]
    assert [s["is_default"] for s in sessions] == [True, False, False]


async def test_send_waits_for_the_ack_and_subscribers_see_message_and_receipts(served, repo):
    async with await SocketClient.connect(served.path.parent) as client:
        events = await client.stream("events.subscribe", {"session": "work"})
        text = "plain \x1b[2J\u202e text"
        reply = await client.call("send.message", {"session": "work", "to": "+1 555 000 3333", "text": text, "wait": 5})
        result = reply.results
        assert result["acknowledged"] and result["status"] in ("sent", "delivered", "read")
        assert result["chat_jid"] == HOME_JID
        seen: list[tuple[str, dict]] = []
        async with asyncio.timeout(5):
            async for event, data in events:
                seen.append((event, data))
                if event == "receipt" and data["status"] == "delivered":
                    break
        kinds = [e for e, _ in seen]
        assert kinds[0] == "message" and seen[0][1]["content"] == text and seen[0][1]["id"] == result["message_id"]
        assert "receipt" in kinds
        page = await client.call("chat.messages", {"session": "home", "chat": WORK_JID, "limit": 5})
        assert page.results["messages"][0]["content"] == text
        assert page.results["messages"][0]["sender_name"] == "Work"
        assert (await client.call("message.read", {"session": "home", "chat": WORK_JID})).results["marked"] >= 1



async def test_search_is_newest_first_unless_asked_for_relevance(served, repo):
    from datetime import UTC, datetime

    from watui.domain.models import Message

    at = datetime(2025, 3, 1, tzinfo=UTC)
    await repo.store_messages([
        Message(id="strong", chat_jid=WORK_JID, sender=WORK_JID, timestamp=at,
                content="zanzibar zanzibar zanzibar", session_id="home"),
        Message(id="weak", chat_jid=WORK_JID, sender=WORK_JID, timestamp=at.replace(hour=1),
                content="a long message that says zanzibar once among many other words", session_id="home"),
    ])
    async with await SocketClient.connect(served.path.parent) as client:
        newest = (await client.call("search", {"query": "zanzibar"})).results
        ranked = (await client.call("search", {"query": "zanzibar", "order": "relevance"})).results
    assert newest["order"] == "newest" and [h["message_id"] for h in newest["hits"]] == ["weak", "strong"]
    assert ranked["order"] == "relevance" and [h["message_id"] for h in ranked["hits"]] == ["strong", "weak"]
    raw = await Raw.open(served)
    try:
        for order, message in (("oldest", "order: expected one of newest, relevance, got 'oldest'"),
                               (1, "order: expected a string, got a number")):
            answer = await raw.ask({"id": 1, "method": "search", "params": {"query": "zanzibar", "order": order}})
            assert (answer["status"], answer["code"], answer["message"]) == (400, "INVALID_PARAMS", message)
    finally:
        await raw.close()

async def test_wire_escapes_control_characters(served):
    raw = await Raw.open(served)
    try:
        await raw.send({"id": 1, "method": "send.message",
                        "params": {"session": "work", "to": HOME, "text": "a\x1bb\x07", "wait": 5}})
        line = await raw.reader.readline()
        assert line.isascii() and b"\x1b" not in line and b"\x07" not in line
        assert json.loads(line)["status"] == 200
    finally:
        await raw.close()


async def test_pair_by_qr_and_by_code_with_the_demo_phone(served, network):
    async with await SocketClient.connect(served.path.parent) as client:
        stream = await client.stream("pair.qr", {"session": "fresh"})
        iterator = aiter(stream)
        event, data = await anext(iterator)
        assert event == "qr" and data["code"].count(",") == 3 and data["total"] == 6
        await client.call("demo.scan", {"session": "fresh", "phone": ALICE})
        rest = [item async for item in iterator]
        assert rest[-1][0] == "paired" and rest[-1][1]["jid"].startswith(ALICE)
        assert stream.end_reason == "done"
        with pytest.raises(ControlError, match="already paired"):
            await client.stream("pair.qr", {"session": "fresh"})

        await client.call("sessions.add", {"session": "second", "label": "Second"})
        stream = await client.stream("pair.qr", {"session": "second"})
        reply = await client.call("pair.phone", {"session": "second", "phone": "+1 555 000 1111"})
        assert len(reply.results["code"]) == 9 and reply.results["phone"] == ALICE
        await client.call("demo.enter_code", {"session": "second"})
        events = [e async for e, _ in stream]
        assert events[-1] == "paired"
        status = (await client.call("sessions.status", {"session": "second"})).results
        assert status["device_id"].startswith(ALICE) and status["state"] == "connected"


async def test_demo_methods_exist_only_on_the_sim_backend(repo, make_manager, tmp_path):
    service = ControlService(repo, manager=make_manager(), network=None)
    with pytest.raises(ControlError, match="only available on the sim backend") as caught:
        await service.call("demo.scan", {"session": "x"})
    assert caught.value.code == "NOT_AVAILABLE"


async def test_stop_ends_every_stream_with_a_reason(served):
    client = await SocketClient.connect(served.path.parent)
    try:
        events = await client.stream("events.subscribe", {})
        await served.stop()
        items = [item async for item in events]
        assert items == [] and events.end_reason == "watui is shutting down"
    finally:
        await client.close()


# --- in-process, from the store -----------------------------------------------------------------
async def test_without_a_daemon_reads_come_from_the_store_and_writes_are_refused(served, repo):
    # after the test's sessions synced their history
    class Env:  # the slice of Environment the service reads
        class config:
            session_ids = ["home", "work"]
            default_session = "home"
            sessions = []

        class paths:
            data_dir = "/nowhere"

        backend = "sim"

    local = LocalClient(ControlService(repo, environment=Env, mode="store"))
    chats = (await local.call("chats.list", {"limit": 3})).results
    assert chats["session_id"] == "home" and chats["count"] == 3 and chats["next_before"]
    older = (await local.call("chats.list", {"limit": 3, "before": chats["next_before"]})).results
    assert not {c["jid"] for c in older["chats"]} & {c["jid"] for c in chats["chats"]}
    with pytest.raises(ControlError, match="needs a running watui: no watui is running on /nowhere"):
        await local.call("send.message", {"to": ALICE, "text": "x"})
    with pytest.raises(ControlError, match="session not found: fresh"):
        await local.call("chats.list", {"session": "fresh"})


# --- the bounded subscriber queue -----------------------------------------------------------------
async def test_a_slow_subscriber_loses_the_oldest_notices_and_is_told():
    from watui.control.methods import NoticeQueue
    from watui.sessions.notices import SessionsChanged

    listeners = []

    class Manager:
        def subscribe(self, listener):
            listeners.append(listener)
            return lambda: listeners.remove(listener)

    queue = NoticeQueue(Manager(), lambda n: True, maxsize=3)
    for i in range(5):
        listeners[0](SessionsChanged(f"s{i}"))
    dropped, first = await queue.get()
    assert dropped == 2 and first.session_id == "s2"
    assert (await queue.get()) == (0, SessionsChanged("s3"))
    queue.close()
    assert listeners == []


def test_the_control_layer_does_not_import_textual():
    code = ("import sys, watui.control.client, watui.control.daemon, watui.control.server, "
            "watui.cli.message_commands, watui.cli.pair_command; "
            "sys.exit(1 if any(m.split('.')[0] == 'textual' for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_socket_path_is_in_the_data_dir(tmp_path):
    assert socket_path(tmp_path) == tmp_path / "watui.sock"
