"""ProcessClient over the scripted EchoClient in real child processes: the protocol works
through the pipes, and the supervisor survives crashes, hangs and garbage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from watui.domain import events as ev
from watui.domain.errors import EngineError
from watui.domain.models import MessageStatus, QuotedMessage
from watui.domain.status import ConnectionState
from watui.engine.isolation import ProcessClient
from watui.engine.isolation.codec import FrameDecoder, command_frame, encode_frame, parse_child_frame
from watui.engine.isolation.testing import NOISE
from watui.engine.protocol import SendResult, WhatsAppClient
from watui.engine.sim.testing import EventRecorder
from watui.sessions import SessionManager
from watui.store import with_session_id

ECHO = "watui.engine.isolation.testing:make_echo_client"
CHAT = "15550001111@s.whatsapp.net"
START = 10.0  # generous: a child is a fresh interpreter, CI machines can be slow


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
async def make_client(tmp_path):
    clients: list[ProcessClient] = []

    def make(session_id: str = "s1", **args: str) -> tuple[ProcessClient, EventRecorder]:
        options = {
            "restart_backoff": (0.05, 0.3),
            "heartbeat_interval": 0.1,
            "heartbeat_timeout": 0.6,
            "start_timeout": START,
            "call_timeout": START,
            "shutdown_timeout": 2.0,
        }
        client = ProcessClient(
            session_id, ECHO, log_path=tmp_path / f"engine-{session_id}.log", args=args, **options
        )
        recorder = EventRecorder()
        client.set_event_sink(recorder)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        await client.disconnect()
        assert client.pid is None


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


# --- the protocol through the pipes ---------------------------------------------------------------
async def test_protocol_round_trip(make_client, tmp_path):
    deliveries = tmp_path / "sent.txt"
    client, events = make_client(deliveries=str(deliveries))
    assert isinstance(client, WhatsAppClient)
    assert not client.state().is_connected
    await client.connect()
    connected = await events.next(ev.Connected, timeout=START)
    assert connected.jid == "15550009999:7@s.whatsapp.net"
    state = client.state()  # answered locally from the pushed state, no round trip
    assert state.is_connected and state.is_logged_in and state.push_name == "Echo" and state.is_paired
    await client.ping()

    quoted = QuotedMessage("M0", CHAT, "earlier")
    result = await client.send_text(CHAT, "hello ✓", message_id="3EB0AAA", quoted=quoted)
    assert isinstance(result, SendResult) and result.message_id == "3EB0AAA"
    assert result.timestamp.tzinfo is not None
    ack = await events.next(ev.SendAcknowledged)
    assert ack.message_id == "3EB0AAA" and ack.timestamp == result.timestamp
    echo = await events.next(ev.MessageReceived)
    assert echo.message.content == "hello ✓" and echo.message.quoted_message_id == "M0"
    assert echo.message.status is MessageStatus.RECEIVED and echo.chat_name == "Echo chat"
    assert _lines(deliveries) == ["3EB0AAA"]

    with pytest.raises(EngineError, match="send refused by the echo engine"):
        await client.send_text(CHAT, "!fail", message_id="3EB0BBB")
    assert await client.pair_phone("15550001111") == "ECHO-CODE"
    await client.mark_read(CHAT, ["A", "B"], CHAT)
    receipt = await events.next(ev.Receipt)
    assert receipt.message_ids == ("A", "B") and receipt.kind is ev.ReceiptKind.READ_SELF
    await client.edit(CHAT, "A", "edited")
    assert (await events.next(ev.MessageEdited)).content == "edited"
    await client.revoke(CHAT, "A")
    await events.next(ev.MessageRevoked)
    await client.react(CHAT, "A", CHAT, "👍")
    assert (await events.next(ev.Reaction)).emoji == "👍"
    await client.logout()
    await events.next(ev.LoggedOut)
    assert not client.state().is_paired and not client.state().is_connected
    assert client.restarts == 0


async def test_events_arrive_in_order_with_a_large_history(make_client):
    client, events = make_client(history="10000")  # a frame of about 7 MB
    # Encoding 7 MB on a loaded machine can outlast the fixture's tight 0.6 s heartbeat; a
    # restart here would be a false "hung" verdict, not what this test is about.
    client.heartbeat_timeout = START
    await client.connect()
    ids = [f"3EB0{i:04d}" for i in range(20)]
    for message_id in ids:
        await client.send_text(CHAT, message_id, message_id=message_id)
    await events.next(ev.HistorySyncBatch, timeout=START)
    await asyncio.sleep(0.05)
    kinds = [type(e).__name__ for e in events.events]
    assert kinds[:2] == ["Connected", "HistorySyncBatch"]
    batch = events.events[1]
    assert len(batch.messages) == 10000 and len(batch.messages[0].media_key) == 32
    assert [m.id for m in batch.messages] == [f"HIST{i:06d}" for i in range(10000)]
    acks = [e.message_id for e in events.events if isinstance(e, ev.SendAcknowledged)]
    echoes = [e.message.id for e in events.events if isinstance(e, ev.MessageReceived)]
    assert acks == ids and echoes == ["ECHO" + i for i in ids]


async def test_engine_output_goes_to_the_log_not_the_terminal(make_client, tmp_path, capfd):
    client, events = make_client(noise="1")
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    await client.send_text(CHAT, "x", message_id="3EB0CCC")
    await client.disconnect()
    out, err = capfd.readouterr()
    assert NOISE not in out and NOISE not in err
    log = (tmp_path / "engine-s1.log").read_text()
    for line in ("raw fd1 built", "raw fd2 built", "print connect", "sys.stderr connect", "logging connect"):
        assert f"{NOISE} {line}" in log
    assert "engine host for session s1 starting" in log


# --- supervision ---------------------------------------------------------------------------------------
async def test_sigkill_restarts_and_reconnects_while_the_loop_keeps_ticking(make_client, tmp_path):
    deliveries = tmp_path / "sent.txt"
    client, events = make_client(deliveries=str(deliveries))
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    await client.send_text(CHAT, "before", message_id="3EB0001")
    gaps: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(gaps, stop))

    first = client.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    down = await events.next(ev.Disconnected, timeout=5.0)
    assert down.reason == "engine crashed: exit code -9" and down.retry_in == pytest.approx(0.05)
    assert not client.state().is_connected

    ticks_before_restart = len(gaps)
    with pytest.raises(EngineError, match="restarting"):  # at once, not after the restart
        await client.send_text(CHAT, "while down", message_id="3EB0002")
    assert not any(isinstance(e, ev.Connected) for e in events.events[events.events.index(down):])

    await events.next(ev.Connected, timeout=START)
    assert client.pid not in (None, first) and _gone(first)
    assert client.restarts == 1 and client.last_exit_code == -9
    assert client.state().is_connected
    # what the outbox does after Connected: send again with the same id
    await client.send_text(CHAT, "while down", message_id="3EB0002")
    stop.set()
    await ticker
    # the loop kept running while a fresh interpreter started (progress, not a stopwatch)
    assert len(gaps) - ticks_before_restart >= 3
    assert _lines(deliveries) == ["3EB0001", "3EB0002"]


async def test_go_fatal_exit_during_a_send(make_client, tmp_path):
    client, events = make_client(
        deliveries=str(tmp_path / "sent.txt"), exit_on="send_text", once=str(tmp_path / "once")
    )
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    with pytest.raises(EngineError, match="exit code 2"):
        await client.send_text(CHAT, "boom", message_id="3EB0003")
    assert not client.state().is_connected  # so the outbox keeps the message pending
    down = await events.next(ev.Disconnected, timeout=5.0)
    assert down.reason == "engine crashed: exit code 2"
    await events.next(ev.Connected, timeout=START)
    await client.send_text(CHAT, "boom", message_id="3EB0003")
    assert _lines(tmp_path / "sent.txt") == ["3EB0003"]


async def test_hung_engine_is_detected_by_the_heartbeat(make_client, tmp_path):
    client, events = make_client(hang_on="send_text", once=str(tmp_path / "once"))
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    hung = client.pid
    started = time.monotonic()
    with pytest.raises(EngineError, match="engine not responding"):
        await client.send_text(CHAT, "hang", message_id="3EB0004")
    assert time.monotonic() - started < 3.0
    down = await events.next(ev.Disconnected, timeout=5.0)
    assert down.reason == "engine not responding"
    await events.next(ev.Connected, timeout=START)
    assert hung is not None and _gone(hung)
    await client.send_text(CHAT, "fine now", message_id="3EB0004")


async def test_malformed_frame_from_the_engine_restarts_it(make_client, tmp_path):
    client, events = make_client(garbage_on="send_text", once=str(tmp_path / "once"))
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    with pytest.raises(EngineError, match="malformed"):
        await client.send_text(CHAT, "junk", message_id="3EB0005")
    down = await events.next(ev.Disconnected, timeout=5.0)
    assert down.reason == "engine sent a malformed frame"
    await events.next(ev.Connected, timeout=START)
    await client.send_text(CHAT, "fine now", message_id="3EB0005")


async def test_backoff_grows_and_is_capped(make_client):
    client, events = make_client(exit_on="connect")  # every child dies on connect
    with pytest.raises(EngineError, match="exit code 2"):
        await client.connect()
    delays = [(await events.next(ev.Disconnected, timeout=START)).retry_in for _ in range(4)]
    assert delays == [0.05, 0.1, 0.2, 0.3]
    await client.disconnect()
    assert client.pid is None and not client.running


# --- stopping -----------------------------------------------------------------------------------------------
async def test_disconnect_leaves_no_process_and_connect_works_again(make_client):
    client, events = make_client()
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    first = client.pid
    assert first is not None
    await client.disconnect()
    assert client.pid is None and _gone(first) and client.last_exit_code == 0
    assert not client.state().is_connected
    assert any(isinstance(e, ev.Disconnected) and e.reason == "disconnected" for e in events.events)
    with pytest.raises(EngineError, match="not connected"):
        await client.send_text(CHAT, "x", message_id="3EB0006")
    await client.connect()
    await events.next(ev.Connected, timeout=START)
    second = client.pid
    assert second not in (None, first)
    await client.disconnect()
    await client.disconnect()  # idempotent
    assert _gone(second)


async def test_disconnect_during_backoff_and_of_a_hung_engine(make_client, tmp_path):
    client, _ = make_client(hang_on="connect")
    client.heartbeat_timeout = 30.0  # the hang stays undetected: disconnect must still end it
    client.restart_backoff = (30.0, 30.0)
    task = asyncio.create_task(client.connect())
    await asyncio.sleep(0.05)
    while client.pid is None:
        await asyncio.sleep(0.02)
    hung = client.pid
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await client.disconnect()
    assert time.monotonic() - started < 6.0
    assert client.pid is None and _gone(hung)
    with pytest.raises(EngineError):
        await task

    other, other_events = make_client("s2")
    await other.connect()
    victim = other.pid
    other.restart_backoff = (30.0, 30.0)
    os.kill(victim, signal.SIGKILL)
    down = await other_events.next(ev.Disconnected, timeout=5.0)
    assert down.retry_in == 30.0
    started = time.monotonic()
    await other.disconnect()  # no waiting out the backoff, no restart afterwards
    assert time.monotonic() - started < 1.0 and other.pid is None and not other.running


async def test_calls_on_a_stopped_client_and_logout_without_a_session(make_client):
    client, events = make_client()
    with pytest.raises(EngineError, match="not connected"):
        await client.send_text(CHAT, "x", message_id="3EB0007")
    await client.logout()  # a child just for this
    await events.next(ev.LoggedOut, timeout=START)
    assert client.pid is None and not client.running


async def test_a_factory_that_fails_is_reported_and_retried(tmp_path):
    client = ProcessClient(
        "bad", "watui.no_such_module:make", log_path=tmp_path / "bad.log", restart_backoff=(0.05, 0.1), start_timeout=START
    )
    events = EventRecorder()
    client.set_event_sink(events)
    with pytest.raises(EngineError, match="exit code 1"):
        await client.connect()
    assert (await events.next(ev.Disconnected, timeout=START)).reason == "engine crashed: exit code 1"
    await client.disconnect()
    assert client.pid is None
    assert "No module named 'watui.no_such_module'" in (tmp_path / "bad.log").read_text()
    with pytest.raises(ValueError):
        ProcessClient("x", "no-colon", log_path=None)


# --- with the real session machinery ---------------------------------------------------------------------
async def _until(predicate: Callable[[], bool], timeout: float = START) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.02)


async def test_outbox_message_survives_an_engine_crash(repo, tmp_path):
    deliveries = tmp_path / "sent.txt"
    clients: list[ProcessClient] = []

    def factory(session_id: str) -> ProcessClient:
        client = ProcessClient(
            session_id,
            ECHO,
            log_path=tmp_path / f"{session_id}.log",
            args={"deliveries": str(deliveries), "exit_on": "send_text", "once": str(tmp_path / "once")},
            restart_backoff=(0.05, 0.3),
            heartbeat_interval=0.1,
            heartbeat_timeout=0.6,
            start_timeout=START,
        )
        clients.append(client)
        return client

    manager = SessionManager(repo, factory)
    try:
        session = await manager.add_session("work")
        await _until(lambda: session.status.state is ConnectionState.CONNECTED)
        message = await manager.send_text("work", "15550001111", "survive the crash")
        # the engine dies on this send, restarts, reconnects; the outbox sends it again
        await _until(lambda: clients[0].restarts == 1 and session.status.state is ConnectionState.CONNECTED)

        async def sent() -> bool:
            with with_session_id("work"):
                stored = await repo.get_message(message.chat_jid, message.id)
            return stored is not None and stored.status >= MessageStatus.SENT

        deadline = time.monotonic() + START
        while not await sent():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert _lines(deliveries) == [message.id]  # delivered once, with the id it was stored with
        with with_session_id("work"):
            assert await repo.outbox_pending() == []
    finally:
        await manager.shutdown(timeout=5.0)
    assert all(c.pid is None for c in clients)


# --- the child on its own -------------------------------------------------------------------------------------
class _RawChild:
    """The child process driven by hand through its pipes, its stdout captured."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.cmd_read, self.cmd_write = os.pipe()
        self.evt_read, self.evt_write = os.pipe()
        self.log = tmp_path / "raw.log"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "watui.engine.isolation.child",
                "--session", "raw", "--factory", ECHO,
                "--fd-in", str(self.cmd_read), "--fd-out", str(self.evt_write),
                "--log", str(self.log), *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(self.cmd_read, self.evt_write),
        )  # fmt: skip
        os.close(self.cmd_read)
        os.close(self.evt_write)
        self.decoder = FrameDecoder()
        self.frames: list[dict[str, object]] = []

    def send(self, data: bytes) -> None:
        os.write(self.cmd_write, data)

    def next_frame(self, timeout: float = START) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while not self.frames:
            ready, _, _ = select.select([self.evt_read], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "no frame from the child"
            chunk = os.read(self.evt_read, 1 << 16)
            assert chunk, "the child closed its pipe"
            self.frames += self.decoder.feed(chunk)
        return self.frames.pop(0)

    def finish(self) -> tuple[int, bytes, bytes]:
        with contextlib.suppress(OSError):
            os.close(self.cmd_write)
        out, err = self.process.communicate(timeout=START)
        while chunk := os.read(self.evt_read, 1 << 16):  # what it wrote on the way out
            self.frames += self.decoder.feed(chunk)
        os.close(self.evt_read)
        return self.process.returncode, out, err


def test_child_serves_commands_and_exits_on_eof(tmp_path):
    child = _RawChild(tmp_path, "--arg", "noise=1")
    try:
        hello = parse_child_frame(child.next_frame())
        assert hello.state is not None and not hello.state.is_connected
        child.send(encode_frame(command_frame(1, "connect")))
        frames = [parse_child_frame(child.next_frame()) for _ in range(2)]
        assert isinstance(frames[0].event, ev.Connected) and frames[0].state.is_connected
        assert frames[1].id == 1 and frames[1].ok
        child.send(encode_frame({"id": 2, "cmd": "rm -rf", "args": {}}))
        bad = parse_child_frame(child.next_frame())
        assert bad.id == 2 and not bad.ok and "unknown command" in bad.error
        child.send(encode_frame(command_frame(3, "pair_phone", {"phone": "1555"})))
        frames = [parse_child_frame(child.next_frame()) for _ in range(2)]
        assert frames[1].id == 3 and frames[1].result == "ECHO-CODE"
    finally:
        code, out, err = child.finish()  # EOF: disconnects the client and exits
    assert code == 0 and out == b"" and err == b""
    log = child.log.read_text()
    assert f"{NOISE} raw fd1 built" in log and "the parent closed the command pipe" in log
    frames = [parse_child_frame(f) for f in child.frames]
    assert any(isinstance(f.event, ev.Disconnected) for f in frames)  # the client was disconnected


def test_child_exits_on_a_malformed_frame_from_the_parent(tmp_path):
    child = _RawChild(tmp_path)
    try:
        child.next_frame()
        child.send(b"\x00\x00\x00\x05hello")
    finally:
        code, _, _ = child.finish()
    assert code == 3
    assert "malformed frame from the parent" in child.log.read_text()


def test_the_parent_side_never_imports_neonize_or_textual():
    code = (
        "import sys, watui.engine.isolation.proxy, watui.engine.isolation.testing; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'neonize', 'textual'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_large_engine_log_is_rotated_before_the_next_child(tmp_path):
    from watui.logs import rotate_log

    log = tmp_path / "work.log"
    log.write_bytes(b"x" * 100)
    rotate_log(log, max_bytes=1000)
    assert log.exists() and not (tmp_path / "work.log.1").exists()  # small: left alone
    for generation in range(4):
        log.write_bytes(bytes([65 + generation]) * 2000)
        rotate_log(log, max_bytes=1000, keep=3)
    assert not log.exists()
    assert (tmp_path / "work.log.1").read_bytes()[:1] == b"D"
    assert (tmp_path / "work.log.2").read_bytes()[:1] == b"C"
    assert (tmp_path / "work.log.3").read_bytes()[:1] == b"B"
    assert not (tmp_path / "work.log.4").exists()
