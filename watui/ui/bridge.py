"""From SessionManager notices (plain callbacks on the loop) to coalesced Textual messages.

Notices arrive as fast as the store commits; the UI wants at most one refresh per frame or
so. The bridge accumulates what changed and flushes it: at once when nothing was flushed
for an interval (a lone message reaches its badge without waiting), else an interval later
(a history sync or a busy group never floods the message queue or freezes typing: at most
20 refreshes a second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.message import Message

from watui.sessions import (
    ChatsChanged,
    MessagesChanged,
    Notice,
    PairingUpdate,
    SessionsChanged,
    StatusChanged,
)
from watui.ui.messages import Dirty, PairingEvent, SessionsRefresh

FLUSH_INTERVAL = 0.05  # seconds between two refreshes at least: 20 a second during a flood


class NoticeBridge:
    """``call_later(delay, fn)`` runs ``fn`` after ``delay`` seconds on the loop;
    ``call_soon(fn)`` as soon as the loop is free (the running loop's by default: notices
    published together, as one commit publishes them, still make one refresh); ``clock`` is
    a monotonic clock in seconds. All three are injectable for tests."""

    def __init__(
        self,
        post: Callable[[Message], object],
        call_later: Callable[[float, Callable[[], None]], object],
        *,
        call_soon: Callable[[Callable[[], None]], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        self._post = post
        self._call_later = call_later
        # not call_later(0, ...): a Textual timer of 0 s divides by its interval
        self._call_soon = call_soon or (lambda fn: asyncio.get_running_loop().call_soon(fn))
        self._clock = clock
        self._interval = interval
        self._dirty = Dirty()
        self._scheduled = False
        self._last_flush: float | None = None  # when the last refresh was posted

    def __call__(self, notice: Notice) -> None:
        dirty = self._dirty
        match notice:
            case PairingUpdate(session_id=session_id, event=event):
                self._post(PairingEvent(session_id, event))  # rare, and the countdown wants it now
                return
            case StatusChanged(session_id=session_id):
                dirty.statuses.add(session_id)
            case ChatsChanged(session_id=session_id, chat_jids=jids):
                dirty.chats.setdefault(session_id, set()).update(jids)
            case MessagesChanged(session_id=session_id, chat_jid=chat, message_ids=ids, incoming=incoming):
                dirty.messages.setdefault((session_id, chat), set()).update(ids)
                if incoming:
                    key = (session_id, chat)
                    dirty.incoming[key] = dirty.incoming.get(key, 0) + incoming
            case SessionsChanged():
                dirty.sessions_changed = True
            case _:
                return
        if not self._scheduled:
            self._scheduled = True
            delay = self._delay()
            if delay > 0:
                self._call_later(delay, self.flush)
            else:
                self._call_soon(self.flush)

    def _delay(self) -> float:
        """0 when idle (nothing flushed for an interval); else a whole interval from now.
        Not just the rest of the interval since the last flush: on a loaded machine the
        refreshes then came back to back (17-19/s instead of 13/s in bench/ui.py's flood,
        10-20% more CPU, slower keys); waiting from now keeps the old pace in a flood."""
        if self._last_flush is None or self._clock() - self._last_flush >= self._interval:
            return 0.0
        return self._interval

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, Dirty()
        if dirty:
            self._last_flush = self._clock()
            self._post(SessionsRefresh(dirty))
