"""Clients of the control methods, for the CLI.

``SocketClient`` talks to the watui that owns the data dir (the daemon or the app) over
<data dir>/watui.sock. ``LocalClient`` answers the same calls in this process when nothing
owns the data dir: from the store alone (read-only, no lock), or by starting just the session
a command needs (``open_standalone``). Both give the same replies, so each CLI command is
written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watui.control import protocol as p
from watui.control.methods import ControlService, NoticeQueue, Stream
from watui.control.protocol import ControlError
from watui.control.server import ShortPath, socket_path
from watui.domain.errors import WatuiError
from watui.domain.status import ConnectionState
from watui.sessions.notices import StatusChanged

READ_LIMIT = 64 << 20  # a page of 1000 messages is well under this
SETTLE_TIMEOUT = 20.0  # seconds a standalone session may take to connect (or ask for pairing)


class NoDaemon(WatuiError):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(f"no watui is running on {data_dir}; start `watui daemon` (or the app) first")
        self.data_dir = data_dir


@dataclass
class Reply:
    message: str
    results: Any

    def envelope(self) -> dict[str, Any]:
        return {"status": 200, "code": "SUCCESS", "message": self.message, "results": self.results}


@dataclass
class Subscription:
    """A stream: the first reply, then (event, data) items until it ends."""

    reply: Reply
    _items: AsyncIterator[tuple[str, Any]]
    _close: Any = None
    end_reason: str = ""

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, Any]]:
        async for event, data in self._items:
            if event == "end":
                self.end_reason = data.get("reason", "") if isinstance(data, dict) else ""
                return
            yield event, data
        if not self.end_reason:
            self.end_reason = "done"

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()


class Client:
    """What the CLI uses: call a method, open a stream, close."""

    kind = "client"

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Reply:
        raise NotImplementedError

    async def stream(self, method: str, params: dict[str, Any] | None = None) -> Subscription:
        raise NotImplementedError

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- over the socket ---------------------------------------------------------------------------
class SocketClient(Client):
    kind = "socket"

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data_dir: Path) -> None:
        self._reader = reader
        self._writer = writer
        self.data_dir = data_dir
        self._ids = itertools.count(1)
        self._waiting: dict[object, asyncio.Future[dict]] = {}
        self._streams: dict[object, asyncio.Queue[tuple[str, Any]]] = {}
        self._lost: str = ""
        self._task = asyncio.create_task(self._read(), name="watui-control-client")

    @classmethod
    async def connect(cls, data_dir: Path) -> SocketClient:
        """Connect to the watui owning ``data_dir``; NoDaemon when nothing answers there."""
        path = socket_path(data_dir)
        if not path.exists():
            raise NoDaemon(data_dir)
        try:
            with ShortPath(path) as address:
                reader, writer = await asyncio.open_unix_connection(address, limit=READ_LIMIT)
        except (ConnectionRefusedError, FileNotFoundError):
            raise NoDaemon(data_dir) from None
        except PermissionError:
            raise WatuiError(f"{path}: permission denied (the socket belongs to another user)") from None
        return cls(reader, writer, data_dir)

    async def _read(self) -> None:
        reason = "the watui daemon closed the connection"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    reason = "the control socket sent something that is not JSON"
                    break
                if not isinstance(message, dict):
                    continue
                request_id = message.get("id")
                if "event" in message:
                    queue = self._streams.get(request_id)
                    if queue is not None:
                        queue.put_nowait((str(message["event"]), message.get("data")))
                    elif request_id is None and message.get("event") == "end":
                        data = message.get("data") or {}
                        reason = data.get("reason", reason) if isinstance(data, dict) else reason
                    continue
                future = self._waiting.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
                elif request_id is None and message.get("status") != 200:
                    reason = str(message.get("message") or reason)  # refused the connection
                    break
        except (ConnectionError, ValueError, asyncio.LimitOverrunError) as error:
            reason = f"the control connection failed: {error}"
        finally:
            self._lost = reason
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(WatuiError(reason))
            self._waiting.clear()
            for queue in self._streams.values():
                queue.put_nowait(("end", {"reason": reason, "lost": True}))

    async def _request(self, method: str, params: dict[str, Any] | None) -> tuple[object, dict]:
        if self._lost:
            raise WatuiError(self._lost)
        request_id = next(self._ids)
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._streams[request_id] = queue  # before sending: items may follow the reply at once
        try:
            self._writer.write(p.encode({"id": request_id, "method": method, "params": params or {}}))
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as error:
            self._waiting.pop(request_id, None)
            raise WatuiError(f"the control connection failed: {error}") from None
        try:
            response = await future
        except BaseException:
            self._streams.pop(request_id, None)
            raise
        if response.get("status") != 200:
            self._streams.pop(request_id, None)
            raise ControlError.from_response(response)
        if not response.get("stream"):
            self._streams.pop(request_id, None)
        return request_id, response

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Reply:
        _, response = await self._request(method, params)
        return Reply(str(response.get("message", "")), response.get("results"))

    async def stream(self, method: str, params: dict[str, Any] | None = None) -> Subscription:
        request_id, response = await self._request(method, params)
        queue = self._streams[request_id]

        async def items() -> AsyncIterator[tuple[str, Any]]:
            while True:
                event, data = await queue.get()
                yield event, data
                if event == "end":
                    self._streams.pop(request_id, None)
                    return

        async def close() -> None:
            self._streams.pop(request_id, None)

        return Subscription(Reply(str(response.get("message", "")), response.get("results")), items(), close)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        with contextlib.suppress(Exception):
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)


# --- in this process ---------------------------------------------------------------------------
@dataclass
class LocalClient(Client):
    service: ControlService
    resources: list[Any] = field(default_factory=list)  # closed in reverse order
    kind: str = "local"

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Reply:
        try:
            message, results = await self.service.call(method, dict(params or {}))
        except (WatuiError, ValueError, TimeoutError) as error:  # as the socket would answer
            raise p.error_for(error) from None
        # the same JSON the socket would have sent: no object leaks past this point
        return Reply(message, json.loads(json.dumps(results, default=str)))

    async def stream(self, method: str, params: dict[str, Any] | None = None) -> Subscription:
        try:
            stream: Stream = await self.service.open_stream(method, dict(params or {}))
        except (WatuiError, ValueError, TimeoutError) as error:
            raise p.error_for(error) from None

        async def items() -> AsyncIterator[tuple[str, Any]]:
            async for event, data in stream.items:
                yield event, json.loads(json.dumps(data, default=str))

        return Subscription(Reply(stream.message, stream.results), items(), stream.aclose)

    async def close(self) -> None:
        self.service.close()
        for resource in reversed(self.resources):
            with contextlib.suppress(Exception):
                await resource()


async def connect(data_dir: Path) -> SocketClient | None:
    """The running watui's client, or None when none owns ``data_dir``."""
    try:
        return await SocketClient.connect(data_dir)
    except NoDaemon:
        return None


async def require_daemon(environment: Any) -> SocketClient:
    return await SocketClient.connect(environment.paths.data_dir)


async def open_reader(environment: Any) -> Client:
    """The running watui, else the store read directly (no lock, no migration: a store an
    older watui wrote is reported, never changed)."""
    client = await connect(environment.paths.data_dir)
    if client is not None:
        return client
    from watui.runtime import open_store

    repo = await open_store(environment, migrate=False)
    return LocalClient(ControlService(repo, environment=environment, mode="store"), [repo.close])


async def open_standalone(environment: Any, session: str | None) -> Client:
    """The running watui, else a runtime of our own (holding the data dir's lock) with only
    ``session`` started (the default one when None), settled: connected, or waiting to be
    paired, or offline and retrying."""
    client = await connect(environment.paths.data_dir)
    if client is not None:
        return client
    from watui.runtime import build_runtime

    runtime = await build_runtime(environment, start=False)
    local = LocalClient(
        ControlService(runtime.repo, manager=runtime.manager, environment=environment,
                       network=runtime.network, mode="standalone"),
        [runtime.close],
    )
    if runtime.network is not None:
        local.resources.insert(0, _closer(runtime.network))
    try:
        sid = local.service._session(session)
        await settle(runtime.manager, sid)
    except BaseException:
        await local.close()
        raise
    return local


def _closer(network: Any):
    async def close() -> None:
        network.close()

    return close


async def settle(manager: Any, session_id: str, timeout: float = SETTLE_TIMEOUT) -> ConnectionState:
    """Start one session and wait until it is connected, asks to be paired, is logged out or
    goes offline (then it retries by itself)."""
    settled = (ConnectionState.CONNECTED, ConnectionState.NEEDS_PAIRING, ConnectionState.LOGGED_OUT,
               ConnectionState.OFFLINE)
    session = manager.get_session(session_id)
    queue = NoticeQueue(manager, lambda n: isinstance(n, StatusChanged) and n.session_id == session_id)
    try:
        await session.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while session.status.state not in settled:
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.get(), left)
    finally:
        queue.close()
    return session.status.state
