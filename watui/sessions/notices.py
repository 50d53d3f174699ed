"""What the sessions layer tells its listeners (the UI, the control socket) after the store
has been written. Listeners re-read what they show; notices carry ids, not rows."""

from __future__ import annotations

from dataclasses import dataclass

from watui.domain.events import Event
from watui.domain.status import SessionStatus


@dataclass(frozen=True, slots=True)
class Notice:
    session_id: str


@dataclass(frozen=True, slots=True)
class StatusChanged(Notice):
    status: SessionStatus


@dataclass(frozen=True, slots=True)
class ChatsChanged(Notice):
    """Chat rows changed (order, previews, unread counts, names)."""

    chat_jids: frozenset[str]


@dataclass(frozen=True, slots=True)
class MessagesChanged(Notice):
    """Messages were added or changed in one chat. ``incoming`` counts new messages from
    others, which is what notifications and 'N new' markers care about."""

    chat_jid: str
    message_ids: tuple[str, ...]
    incoming: int = 0


@dataclass(frozen=True, slots=True)
class PairingUpdate(Notice):
    """A QR code, a pairing code, the window closing, or success."""

    event: Event


@dataclass(frozen=True, slots=True)
class SessionsChanged(Notice):
    """A session was added or removed, or the default changed. session_id is the one touched."""


@dataclass(frozen=True, slots=True)
class LiveEvent(Notice):
    """Engine events that are shown but not stored (presence, typing)."""

    event: Event
