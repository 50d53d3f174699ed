"""Frames over OS pipes on an asyncio loop (both ends: the child host and the proxy)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from watui.domain.errors import EngineError
from watui.engine.isolation.codec import MAX_FRAME, decode_body, encode_frame, read_body

log = logging.getLogger(__name__)


class _WriteProtocol(asyncio.BaseProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class FrameWriter:
    """Writes frames to a pipe without ever blocking the loop (the transport buffers)."""

    def __init__(self, transport: asyncio.WriteTransport, protocol: _WriteProtocol, max_size: int) -> None:
        self._transport = transport
        self._protocol = protocol
        self.max_size = max_size

    @classmethod
    async def open(cls, fd: int, max_size: int = MAX_FRAME) -> FrameWriter:
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(fd, "wb", buffering=0)
        try:
            transport, protocol = await loop.connect_write_pipe(lambda: _WriteProtocol(loop), pipe)
        except BaseException:
            pipe.close()
            raise
        return cls(transport, protocol, max_size)  # type: ignore[arg-type]

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    @property
    def buffered(self) -> int:
        return self._transport.get_write_buffer_size()

    def send(self, frame: dict[str, Any]) -> None:
        """Queue one frame. FrameError when it cannot be encoded or is oversize,
        EngineError when the pipe is closed."""
        data = encode_frame(frame, max_size=self.max_size)
        if self._transport.is_closing():
            raise EngineError("the pipe is closed")
        self._transport.write(data)

    async def close(self, timeout: float = 2.0) -> None:
        """Flush what is buffered (up to ``timeout`` s), then close the pipe."""
        if not self._transport.is_closing():
            self._transport.close()  # flushes the buffer first, then closes
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), timeout)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if not self._transport.is_closing():
            self._transport.abort()


class FrameReader:
    """Reads frames from a pipe."""

    def __init__(self, reader: asyncio.StreamReader, transport: asyncio.ReadTransport, max_size: int) -> None:
        self._reader = reader
        self._transport = transport
        self.max_size = max_size

    @classmethod
    async def open(cls, fd: int, max_size: int = MAX_FRAME) -> FrameReader:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        pipe = os.fdopen(fd, "rb", buffering=0)
        try:
            transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        except BaseException:
            pipe.close()
            raise
        return cls(reader, transport, max_size)  # type: ignore[arg-type]

    async def read(self) -> dict[str, Any] | None:
        """The next frame as a JSON object, None at end of stream; FrameError if malformed."""
        body = await self.read_body()
        return None if body is None else decode_body(body)

    async def read_body(self) -> bytes | None:
        """The next frame's JSON bytes, None at end of stream; FrameError if oversize."""
        return await read_body(self._reader, self.max_size)

    def close(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()


__all__ = ["FrameReader", "FrameWriter"]
