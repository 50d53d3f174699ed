"""From SessionManager notices (plain callbacks on the loop) to coalesced Textual messages.

Notices arrive as fast as the store commits; the UI wants at most one refresh per frame or
so. The bridge accumulates what changed and flushes it after a short delay, so a history
sync or a busy group never floods the message queue or freezes typing.
"""

from __future__ import annotations

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

FLUSH_DELAY = 0.05  # seconds: 20 refreshes a second at most during a flood


class NoticeBridge:
    def __init__(self, post: Callable[[Message], object], call_later: Callable[[float, Callable[[], None]], object]) -> None:
        self._post = post
        self._call_later = call_later
        self._dirty = Dirty()
        self._scheduled = False

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
            self._call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, Dirty()
        if dirty:
            self._post(SessionsRefresh(dirty))
