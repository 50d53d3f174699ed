"""Helpers for tests that run on the sim network (no wall-clock sleeps worth the name)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from watui.domain.events import Event
from watui.engine.protocol import ClientState
from watui.engine.sim.network import SimNetwork

E = TypeVar("E", bound=Event)


def fast_network(seed: int = 0, **options: Any) -> SimNetwork:
    """A SimNetwork with every timer tiny (QR 50 ms/20 ms, replies 20 ms, backoff 10 ms)."""
    defaults: dict[str, Any] = {
        "qr_first": 0.05,
        "qr_next": 0.02,
        "qr_count": 6,
        "reply_delay": 0.02,
        "backoff_base": 0.01,
        "backoff_max": 0.04,
    }
    defaults.update(options)
    return SimNetwork(seed, **defaults)


class EventRecorder:
    """An event sink that keeps every event and lets a test await the next of a kind."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._queue.put_nowait(event)

    async def next(self, event_type: type[E], /, timeout: float = 2.0, **fields: Any) -> E:
        """The next event of ``event_type`` (with these field values), skipping others."""

        async def find() -> E:
            while True:
                event = await self._queue.get()
                if isinstance(event, event_type) and all(getattr(event, k) == v for k, v in fields.items()):
                    return event

        return await asyncio.wait_for(find(), timeout)

    async def settle(self, duration: float = 0.02) -> list[Event]:
        """Wait ``duration`` s and return (and consume) what arrived meanwhile."""
        await asyncio.sleep(duration)
        arrived: list[Event] = []
        while not self._queue.empty():
            arrived.append(self._queue.get_nowait())
        return arrived

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    def clear(self) -> None:
        self.events.clear()
        while not self._queue.empty():
            self._queue.get_nowait()


class QuietClient:
    """A connected engine that says nothing: the test or benchmark hands events to ``sink``
    itself. It keeps what the session asked of its intake in ``holds`` and otherwise ignores
    it: everything is handed over up front, as a fast engine would."""

    def __init__(self) -> None:
        self.sink: Callable[[object], None] | None = None
        self.holds: list[bool] = []

    def set_event_sink(self, sink: Callable[[object], None]) -> None:
        self.sink = sink

    def state(self) -> ClientState:
        return ClientState(is_connected=True, is_logged_in=True)

    def hold_incoming(self, held: bool) -> None:
        self.holds.append(held)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None
