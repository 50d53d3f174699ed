"""The control socket: a Unix socket in the data dir, mode 0600, JSON lines.

Only the user who owns the process is served: each connection's peer credentials
(SO_PEERCRED) are checked before anything is read. Each connection is one task; its requests
are answered in order, and each stream it opens runs as a task of its own writing to the same
connection. A reader that falls behind a stream loses the oldest items (and is told); a
request line over 1 MiB closes the connection with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import struct
from pathlib import Path
from typing import Any

from watui.control import protocol as p
from watui.control.methods import ControlService, Stream
from watui.control.protocol import ControlError
from watui.domain.errors import WatuiError

log = logging.getLogger("watui.control")

MAX_CONNECTIONS = 64
MAX_STREAMS = 16  # per connection
_PATH_MAX = 100  # sun_path is 108 bytes on Linux; longer paths go through /proc/self/fd


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / p.SOCKET_NAME


class ShortPath:
    """An address for ``path`` that fits sun_path: the path itself, or /proc/self/fd/N/name
    through an open descriptor of its directory (Linux)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> str:
        text = str(self.path)
        if len(os.fsencode(text)) <= _PATH_MAX or not Path("/proc/self/fd").is_dir():
            return text
        self._fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._fd}/{self.path.name}"

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end, or None when the platform cannot say."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def answers(path: Path, timeout: float = 1.0) -> bool:
    """Whether something accepts connections on the socket at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        with ShortPath(path) as address:
            probe.connect(address)
    except OSError:
        return False
    finally:
        probe.close()
    return True


class ControlServer:
    """``in_app_context``: connections wait until ``run_handlers_in`` gives them the context
    to run in (the TUI's: a notice a request publishes may reach the app, and Textual needs
    its context there). Otherwise they run at once, in the server's own context."""

    def __init__(self, service: ControlService, data_dir: Path, *, in_app_context: bool = False) -> None:
        self.service = service
        self.path = socket_path(data_dir)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._inode: int | None = None
        self._closing = False
        self._context: contextvars.Context | None = None
        self._context_ready = asyncio.Event()
        if not in_app_context:
            self._context_ready.set()

    def run_handlers_in(self, context: contextvars.Context) -> None:
        """Handle every connection in ``context`` (each in a copy of it) from now on."""
        self._context = context
        self._context_ready.set()

    async def start(self) -> ControlServer:
        """Bind the socket (replacing a stale one that nothing answers on) and serve."""
        if self.path.exists() or self.path.is_symlink():
            if await asyncio.to_thread(answers, self.path):
                raise WatuiError(f"another watui answers on {self.path}; quit it first")
            self.path.unlink(missing_ok=True)  # left by a crash: nothing listens on it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)  # created 0600: no window where others could connect
            try:
                with ShortPath(self.path) as address:
                    sock.bind(address)
            finally:
                os.umask(old_umask)
            os.chmod(self.path, 0o600)
            self._inode = self.path.stat().st_ino
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=p.MAX_LINE)
        except BaseException:
            sock.close()
            raise
        log.info("control socket listening on %s", self.path)
        return self

    async def stop(self) -> None:
        """Stop accepting, end every stream and connection, remove the socket file."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        with contextlib.suppress(OSError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self.service.close()

    # --- one connection --------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._context_ready.wait()
            if self._context is None:
                await self._handle(reader, writer)
            else:  # cancelling this task cancels the handler it waits for
                await self._context.run(asyncio.create_task, self._handle(reader, writer))
        except asyncio.CancelledError:
            writer.close()
        finally:
            self._connections.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        try:
            uid = peer_uid(writer.get_extra_info("socket"))
            if uid is not None and uid != os.getuid():
                log.warning("control socket: refused a connection from uid %s", uid)
                await connection.send(p.failure(None, ControlError(p.FORBIDDEN, "not your watui")))
                return
            if len(self._connections) > MAX_CONNECTIONS or self._closing:
                await connection.send(p.failure(None, ControlError(p.BUSY, "too many connections; try again")))
                return
            await self._read_requests(reader, connection)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            await connection.close(shutdown=self._closing)

    async def _read_requests(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        while not connection.closed:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                await connection.send(p.failure(None, ControlError(
                    p.TOO_LARGE, f"request line longer than {p.MAX_LINE} bytes; closing the connection"
                )))
                return
            except ConnectionError:
                return
            if not line:
                await connection.wait_streams()
                return
            if not line.strip():
                continue
            await self._answer(line, connection)

    async def _answer(self, line: bytes, connection: _Connection) -> None:
        request_id: object = None
        try:
            request = p.parse_request(line)
            request_id = request.id
            spec, _ = self.service.bind(request.method, request.params)
            if spec.stream:
                if len(connection.streams) >= MAX_STREAMS:
                    raise ControlError(p.CONFLICT, f"at most {MAX_STREAMS} streams per connection")
                stream = await self.service.open_stream(request.method, request.params)
                await connection.start_stream(request_id, stream)
                return
            message, results = await self.service.call(request.method, request.params)
        except ControlError as error:
            await connection.send(p.failure(getattr(error, "request_id", request_id), error))
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never a crash: the client gets a structured error
            if not isinstance(error, (WatuiError, ValueError, TimeoutError)):
                log.exception("control method failed: %r", line[:200])
            await connection.send(p.failure(request_id, p.error_for(error)))
            return
        await connection.send(p.success(request_id, message, results))


class _Connection:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.streams: set[asyncio.Task[None]] = set()
        self.closed = False
        self.shutting_down = False
        self._lock = asyncio.Lock()

    async def send(self, obj: Any) -> bool:
        if self.closed:
            return False
        data = p.encode(obj)
        try:
            async with self._lock:
                self.writer.write(data)
                await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.closed = True
            return False
        return True

    async def start_stream(self, request_id: object, stream: Stream) -> None:
        if not await self.send(p.success(request_id, stream.message, stream.results, stream=True)):
            await stream.aclose()
            return
        task = asyncio.create_task(self._pump(request_id, stream), name="watui-control-stream")
        self.streams.add(task)
        task.add_done_callback(self.streams.discard)

    async def _pump(self, request_id: object, stream: Stream) -> None:
        reason = "done"
        try:
            async for event, data in stream.items:
                if not await self.send(p.stream_item(request_id, event, data)):
                    return
        except asyncio.CancelledError:
            reason = "watui is shutting down" if self.shutting_down else "closed"
            raise
        except Exception as error:
            log.exception("control stream failed")
            reason = str(p.error_for(error))
        finally:
            await stream.aclose()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send(p.stream_item(request_id, "end", {"reason": reason})), 1.0)

    async def wait_streams(self) -> None:
        """After the client stopped writing: its streams go on until they end or it goes."""
        if self.streams:
            await asyncio.gather(*self.streams, return_exceptions=True)

    async def close(self, *, shutdown: bool) -> None:
        self.shutting_down = shutdown
        for task in list(self.streams):
            task.cancel()
        if self.streams:
            await asyncio.gather(*self.streams, return_exceptions=True)
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
