"""ProcessClient: the WhatsAppClient protocol on the app's loop, served by a child process.

The child (:mod:`watui.engine.isolation.child`) hosts the real client. This side spawns it,
talks to it over two pipes (commands one way; answers, events and state the other), and
supervises it: when the child dies (a Go fatal error, SIGKILL, OOM), stops answering pings,
or sends a malformed frame, the proxy emits ``Disconnected(reason, retry_in)``, restarts it
with capped exponential backoff and, if the session was connected, connects again. Calls
made while the child is down raise ``EngineError`` at once, so the session's outbox keeps
its messages pending and sends them after the next ``Connected``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import watui
from watui.domain.errors import EngineError
from watui.domain.events import Disconnected, Event
from watui.domain.models import QuotedMessage
from watui.engine.isolation.codec import (
    MAX_FRAME,
    ChildFrame,
    FrameError,
    command_frame,
    decode_body,
    decode_result,
    parse_child_frame,
)
from watui.engine.isolation.pipes import FrameReader, FrameWriter
from watui.engine.protocol import ClientState, EventSink, SendResult
from watui.logs import rotate_log

log = logging.getLogger(__name__)

CHILD_MODULE = "watui.engine.isolation.child"


OFF_LOOP_FRAME = 512 * 1024
"""Frames at least this big (history sync batches) are decoded in a worker thread, so the
app's loop keeps running meanwhile; frames are still handled strictly in order."""


def _parse(body: bytes) -> ChildFrame:
    return parse_child_frame(decode_body(body))


class _NoAnswer(EngineError):
    """The child did not answer a command in time."""


def exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "engine closed its pipe"
    if returncode == 0:
        return "engine exited unexpectedly (exit code 0)"
    return f"engine crashed: exit code {returncode}"


class _Child:
    """One spawned child process and its pipes."""

    def __init__(self, process: asyncio.subprocess.Process, reader: FrameReader, writer: FrameWriter) -> None:
        loop = asyncio.get_running_loop()
        self.process = process
        self.pid = process.pid
        self.reader = reader
        self.writer = writer
        self.started_at = loop.time()
        self.ready = asyncio.Event()
        self.broken: asyncio.Future[str] = loop.create_future()
        self.pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.reader_task: asyncio.Task[None] | None = None
        self.watch_task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def fail(self, reason: str) -> None:
        """Mark the child broken (first reason wins) and fail every call waiting on it."""
        if not self.broken.done():
            self.broken.set_result(reason)
        for _name, future in list(self.pending.values()):
            if not future.done():
                future.set_exception(EngineError(reason))


class ProcessClient:
    """A WhatsAppClient whose engine runs in a supervised child process.

    ``factory`` is ``"module:function"``; the child calls ``function(session_id, **args)``
    to build the real client. ``args`` values are strings (command-line ``--arg k=v``).
    ``log_path`` receives everything the child writes to fd 1 and 2 plus its log records.
    """

    def __init__(
        self,
        session_id: str,
        factory: str,
        *,
        log_path: str | os.PathLike[str] | None,
        args: Mapping[str, str] | None = None,
        python: str = sys.executable,
        restart_backoff: tuple[float, float] = (1.0, 60.0),
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 15.0,
        call_timeout: float = 60.0,
        start_timeout: float = 30.0,
        shutdown_timeout: float = 3.0,
        stable_after: float = 60.0,
        max_frame: int = MAX_FRAME,
    ) -> None:
        module, sep, function = factory.partition(":")
        if not (module and sep and function):
            raise ValueError(f"factory must be 'module:function', got {factory!r}")
        self.args = {str(k): str(v) for k, v in (args or {}).items()}
        for key in self.args:
            if not key.isidentifier():
                raise ValueError(f"engine argument names must be identifiers, got {key!r}")
        self.session_id = session_id
        self.factory = factory
        self.log_path = Path(log_path) if log_path is not None else None
        self.python = python
        self.restart_backoff = (float(restart_backoff[0]), float(restart_backoff[1]))
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.call_timeout = call_timeout
        self.start_timeout = start_timeout
        self.shutdown_timeout = shutdown_timeout
        self.stable_after = stable_after
        self.max_frame = max_frame
        self.restarts = 0
        """How many times the child died and was (or is being) restarted."""
        self.last_exit_code: int | None = None
        self._sink: EventSink | None = None
        self._backlog: deque[Event] = deque()
        self._state = ClientState()
        self._want_connected = False
        self._held = False  # hold_incoming: every child, a restarted one too, is told
        self._ids = itertools.count(1)
        self._lifecycle = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None
        self._started: asyncio.Future[str | None] | None = None
        self._spawned: _Child | None = None  # the current process, ready or not
        self._child: _Child | None = None  # the current process once it serves calls

    def __repr__(self) -> str:
        return f"ProcessClient({self.session_id!r}, {self.factory!r}, pid={self.pid})"

    # --- introspection ----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The current child's process id while it runs."""
        child = self._spawned
        return child.pid if child is not None and child.alive else None

    @property
    def running(self) -> bool:
        """Supervision is on: a child runs or is being (re)started."""
        return self._supervisor is not None and not self._supervisor.done()

    # --- the protocol ---------------------------------------------------------------------
    def set_event_sink(self, sink: EventSink) -> None:
        self._sink = sink
        while self._backlog:
            self._deliver(self._backlog.popleft())

    def state(self) -> ClientState:
        child = self._child
        # broken is set before the calls waiting on the child fail, so a caller that sees
        # the failure also sees the session as not connected (the outbox keeps the message)
        if child is None or child.broken.done():
            return dataclasses.replace(self._state, is_connected=False, is_logged_in=False)
        return self._state

    async def connect(self) -> None:
        async with self._lifecycle:  # not across the awaits below: disconnect never waits on them
            self._want_connected = True
            if not self.running:
                self._start_supervisor()
            started = self._started
            assert started is not None
            child = self._child
        if not started.done():
            error = await asyncio.shield(started)  # the first child connects itself
            if error:
                raise EngineError(error)
            return
        if child is None:
            return  # restarting: the new child connects once it is up
        await self._call_on(child, "connect", {}, self.call_timeout)

    async def disconnect(self) -> None:
        async with self._lifecycle:
            self._want_connected = False
            await self._stop()

    async def logout(self) -> None:
        async with self._lifecycle:
            transient = not self.running
            if transient:  # logging out a stopped session: a child just for this
                self._start_supervisor()
            started = self._started
            assert started is not None
        try:
            if transient:
                error = await asyncio.shield(started)
                if error:
                    raise EngineError(error)
            await self._call("logout", {})
        finally:
            if transient:
                async with self._lifecycle:
                    if not self._want_connected:
                        await self._stop()

    async def pair_phone(self, phone: str) -> str:
        return await self._call("pair_phone", {"phone": phone})

    async def send_text(
        self,
        chat_jid: str,
        text: str,
        *,
        message_id: str,
        quoted: QuotedMessage | None = None,
    ) -> SendResult:
        return await self._call(
            "send_text", {"chat_jid": chat_jid, "text": text, "message_id": message_id, "quoted": quoted}
        )

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str], sender: str) -> None:
        await self._call("mark_read", {"chat_jid": chat_jid, "message_ids": tuple(message_ids), "sender": sender})

    async def revoke(self, chat_jid: str, message_id: str) -> None:
        await self._call("revoke", {"chat_jid": chat_jid, "message_id": message_id})

    async def edit(self, chat_jid: str, message_id: str, text: str) -> None:
        await self._call("edit", {"chat_jid": chat_jid, "message_id": message_id, "text": text})

    async def react(self, chat_jid: str, message_id: str, sender: str, emoji: str) -> None:
        await self._call("react", {"chat_jid": chat_jid, "message_id": message_id, "sender": sender, "emoji": emoji})

    def hold_incoming(self, held: bool) -> None:
        """Tell the child to hold back (or release) new events. Only its event intake
        stops: it keeps answering commands and pings, so a held child is not taken for a
        hung one. A child started later (a restart) is told before it connects."""
        if held == self._held:
            return
        self._held = held
        child = self._child
        if child is not None and not child.broken.done():
            self._send_hold(child)

    def _send_hold(self, child: _Child) -> None:
        # the frame is written now, before any command the caller sends next; only the
        # answer is awaited in a task (hold_incoming returns at once)
        try:
            ident, future = self._send_command(child, "hold_incoming", {"held": self._held})
        except EngineError as error:  # the pipe is gone: the next child is told instead
            log.warning("session %s: cannot tell the engine to hold: %s", self.session_id, error)
            return
        task = asyncio.ensure_future(self._answer(child, ident, "hold_incoming", future, self.call_timeout))
        task.add_done_callback(self._hold_sent)
        child.tasks.append(task)

    def _hold_sent(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("session %s: the engine did not take hold_incoming: %s", self.session_id, task.exception())

    async def ping(self, timeout: float | None = None) -> None:
        """One round trip to the child (what the heartbeat does)."""
        await self._call("ping", {}, timeout or self.heartbeat_timeout)

    # --- events -----------------------------------------------------------------------------
    def _deliver(self, event: Event) -> None:
        if self._sink is None:
            self._backlog.append(event)
            return
        try:
            self._sink(event)
        except Exception:
            log.exception("session %s: event sink failed on %s", self.session_id, type(event).__name__)

    # --- calls ------------------------------------------------------------------------------
    async def _call(self, name: str, args: dict[str, Any], timeout: float | None = None) -> Any:
        child = self._child
        if child is None or child.broken.done():
            if self.running and self._stop_event is not None and not self._stop_event.is_set():
                raise EngineError("engine restarting" if self.restarts else "engine starting")
            raise EngineError("not connected")
        return await self._call_on(child, name, args, timeout or self.call_timeout)

    async def _call_on(self, child: _Child, name: str, args: dict[str, Any], timeout: float) -> Any:
        if child.broken.done():
            raise EngineError(child.broken.result())
        ident, future = self._send_command(child, name, args)
        return await self._answer(child, ident, name, future, timeout)

    def _send_command(self, child: _Child, name: str, args: dict[str, Any]) -> tuple[int, asyncio.Future[Any]]:
        """Write one command frame now; its answer will resolve the returned future."""
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        child.pending[ident] = (name, future)
        try:
            child.writer.send(command_frame(ident, name, args))
        except BaseException:
            child.pending.pop(ident, None)
            raise
        return ident, future

    async def _answer(
        self, child: _Child, ident: int, name: str, future: asyncio.Future[Any], timeout: float
    ) -> Any:
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise _NoAnswer(f"engine did not answer {name} within {timeout:g} s") from None
        finally:
            child.pending.pop(ident, None)

    # --- supervision ------------------------------------------------------------------------
    def _start_supervisor(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._started = loop.create_future()
        self._supervisor = loop.create_task(self._supervise(), name=f"watui-engine-{self.session_id}")

    def _resolve_started(self, error: str | None) -> None:
        if self._started is not None and not self._started.done():
            self._started.set_result(error)

    async def _stop(self) -> None:
        supervisor = self._supervisor
        if supervisor is None:
            return
        assert self._stop_event is not None
        self._stop_event.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(supervisor)  # it shuts the child down; even if we are cancelled
        if self._supervisor is supervisor:
            self._supervisor = None

    def _backoff(self, failures: int) -> float:
        base, cap = self.restart_backoff
        return min(cap, base * 2 ** min(failures, 40))

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        stop = self._stop_event
        assert stop is not None
        failures = 0
        try:
            while not stop.is_set():
                reason: str | None
                child: _Child | None = None
                try:
                    child = await self._spawn()
                except Exception as error:
                    log.exception("session %s: cannot start the engine", self.session_id)
                    reason = f"engine failed to start: {error}"
                if child is not None:
                    self._spawned = child
                    try:
                        reason = await self._serve(child)
                        if reason is None:  # stop requested
                            await self._shutdown(child)
                            return
                    except Exception as error:  # a bug here must not end supervision
                        log.exception("session %s: engine supervision failed", self.session_id)
                        reason = f"engine supervision failed: {error}"
                    await self._kill(child, graceful=False)
                    if loop.time() - child.started_at >= self.stable_after:
                        failures = 0
                assert reason is not None
                self._resolve_started(reason)
                self._state = dataclasses.replace(self._state, is_connected=False, is_logged_in=False)
                if stop.is_set():
                    return
                delay = self._backoff(failures)
                failures += 1
                self.restarts += 1
                log.warning(
                    "session %s: %s; restarting the engine in %.2f s", self.session_id, reason, delay
                )
                self._deliver(Disconnected(reason=reason, retry_in=delay))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            self._child = None
            child = self._spawned
            self._spawned = None
            if child is not None and child.alive:  # cancelled mid-way: leave no process behind
                child.process.kill()
            self._state = dataclasses.replace(self._state, is_connected=False, is_logged_in=False)
            self._resolve_started("engine stopped")

    async def _serve(self, child: _Child) -> str | None:
        """Until the child breaks (returns the reason) or a stop is asked for (None)."""
        stop = self._stop_event
        assert stop is not None
        stop_wait = asyncio.ensure_future(stop.wait())
        ready_wait = asyncio.ensure_future(child.ready.wait())
        try:
            await asyncio.wait(
                {stop_wait, ready_wait, child.broken}, timeout=self.start_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if stop.is_set():
                return None
            if child.broken.done():
                return child.broken.result()
            if not child.ready.is_set():
                child.fail(f"engine did not start within {self.start_timeout:g} s")
                return child.broken.result()
            self._child = child
            if self._held:  # before connect: the new engine must not hand over what we cannot store
                self._send_hold(child)
            child.tasks.append(asyncio.create_task(self._heartbeat(child)))
            if self._want_connected:
                child.tasks.append(asyncio.create_task(self._connect_new(child)))
            else:
                self._resolve_started(None)
            await asyncio.wait({stop_wait, child.broken}, return_when=asyncio.FIRST_COMPLETED)
            return None if stop.is_set() else child.broken.result()
        finally:
            self._child = None
            stop_wait.cancel()
            ready_wait.cancel()

    async def _connect_new(self, child: _Child) -> None:
        try:
            await self._call_on(child, "connect", {}, self.call_timeout)
        except EngineError as error:
            log.warning("session %s: connect in the new engine failed: %s", self.session_id, error)
            self._resolve_started(str(error) or "connect failed")
        else:
            self._resolve_started(None)

    async def _heartbeat(self, child: _Child) -> None:
        while not child.broken.done():
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._call_on(child, "ping", {}, self.heartbeat_timeout)
            except _NoAnswer:
                log.error("session %s: engine pid %d stopped answering", self.session_id, child.pid)
                child.fail("engine not responding")
                return
            except EngineError:
                return

    async def _spawn(self) -> _Child:
        cmd_read, cmd_write = os.pipe()  # parent -> child
        evt_read, evt_write = os.pipe()  # child -> parent
        child_ends = (cmd_read, evt_write)
        parent_ends = [cmd_write, evt_read]
        command = [
            self.python, "-m", CHILD_MODULE,
            "--session", self.session_id,
            "--factory", self.factory,
            "--fd-in", str(cmd_read),
            "--fd-out", str(evt_write),
        ]  # fmt: skip
        if self.log_path is not None:
            command += ["--log", str(self.log_path)]
        for key, value in self.args.items():
            command += ["--arg", f"{key}={value}"]
        process: asyncio.subprocess.Process | None = None
        try:
            if self.log_path is not None:
                self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                rotate_log(self.log_path)
            log_fd = os.open(
                self.log_path if self.log_path is not None else os.devnull,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                0o600,
            )
            if self.log_path is not None:
                os.fchmod(log_fd, 0o600)  # an existing looser log is tightened too
            try:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_fd,
                    stderr=log_fd,
                    pass_fds=child_ends,
                    start_new_session=True,  # terminal signals go to the app, not the engines
                    env=self._child_env(),
                )
            finally:
                os.close(log_fd)
            for fd in child_ends:
                os.close(fd)
            child_ends = ()
            writer = await FrameWriter.open(parent_ends.pop(0), self.max_frame)
            try:
                reader = await FrameReader.open(parent_ends.pop(0), self.max_frame)
            except BaseException:
                writer.abort()
                raise
        except BaseException:
            for fd in (*child_ends, *parent_ends):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if process is not None and process.returncode is None:
                process.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(process.wait(), 5.0)
            raise
        child = _Child(process, reader, writer)
        log.info("session %s: engine started, pid %d", self.session_id, child.pid)
        child.reader_task = asyncio.create_task(self._read(child), name=f"watui-engine-read-{child.pid}")
        child.watch_task = asyncio.create_task(self._watch(child), name=f"watui-engine-watch-{child.pid}")
        return child

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        root = str(Path(watui.__file__).resolve().parent.parent)  # the same watui as ours
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        env["PYTHONSAFEPATH"] = "1"  # not the working directory first on sys.path
        return env

    async def _read(self, child: _Child) -> None:
        while True:
            try:
                body = await child.reader.read_body()
                if body is None:
                    return
                if len(body) >= OFF_LOOP_FRAME:  # a history batch: decode it off the loop
                    frame = await asyncio.to_thread(_parse, body)
                else:
                    frame = _parse(body)
                self._on_frame(child, frame)
            except FrameError as error:
                log.error("session %s: malformed frame from engine pid %d: %s", self.session_id, child.pid, error)
                child.fail("engine sent a malformed frame")
                return

    def _on_frame(self, child: _Child, frame: ChildFrame) -> None:
        child.ready.set()
        if frame.state is not None:
            self._state = frame.state
        if frame.is_response:
            assert frame.id is not None
            entry = child.pending.get(frame.id)
            if entry is None:
                return  # the caller gave up on it
            name, future = entry
            if frame.ok:
                result = decode_result(name, frame.result)  # FrameError: the child is broken
                if not future.done():
                    future.set_result(result)
            elif not future.done():
                future.set_exception(EngineError(frame.error))
        elif frame.event is not None:
            self._deliver(frame.event)

    async def _watch(self, child: _Child) -> None:
        """The child's end: once it exits or closes its pipe, wait (briefly) for the other,
        so that every event it wrote is delivered before the crash is reported."""
        exited = asyncio.ensure_future(child.process.wait())
        reader = child.reader_task
        assert reader is not None
        try:
            await asyncio.wait({exited, reader}, return_when=asyncio.FIRST_COMPLETED)
            if child.broken.done():
                return
            if not exited.done():
                await asyncio.wait({exited}, timeout=2.0)
            elif not reader.done():
                await asyncio.wait({reader}, timeout=1.0)
            child.fail(exit_reason(child.process.returncode))
        finally:
            exited.cancel()

    async def _shutdown(self, child: _Child) -> None:
        """Ask the child to stop, then make sure it is gone."""
        if not child.broken.done() and child.alive:
            try:
                await self._call_on(child, "shutdown", {}, self.shutdown_timeout)
            except EngineError as error:
                log.warning("session %s: engine shutdown: %s", self.session_id, error)
            else:
                if child.watch_task is not None:  # exited and every frame read
                    await asyncio.wait({child.watch_task}, timeout=self.shutdown_timeout)
        await self._kill(child, graceful=True)

    async def _kill(self, child: _Child, *, graceful: bool) -> None:
        if child.alive:
            if graceful:
                self._signal(child, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(child.process.wait()), 0.5)
            if child.alive:
                self._signal(child, signal.SIGKILL)
        try:
            await asyncio.wait_for(child.process.wait(), 10.0)
        except TimeoutError:
            log.error("session %s: engine pid %d did not die", self.session_id, child.pid)
        child.fail("engine stopped")
        for task in (*child.tasks, child.reader_task, child.watch_task):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(
            *(t for t in (*child.tasks, child.reader_task, child.watch_task) if t is not None),
            return_exceptions=True,
        )
        child.reader.close()
        child.writer.abort()
        self.last_exit_code = child.process.returncode
        if self._spawned is child:
            self._spawned = None
        log.info("session %s: engine pid %d ended with %s", self.session_id, child.pid, child.process.returncode)

    def _signal(self, child: _Child, signum: int) -> None:
        """Signal the child's process group (its own session): helpers it started go too.
        Only while it is not reaped, so the group id cannot have been reused."""
        if child.process.returncode is not None:
            return
        try:
            os.killpg(child.pid, signum)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signum)


__all__ = ["ProcessClient", "exit_reason"]
