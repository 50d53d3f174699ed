"""App-wide Textual messages. The bridge turns session notices into these, coalesced, so a
burst of a thousand stored messages costs the UI one refresh, not a thousand."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from watui.domain.events import Event


@dataclass
class Dirty:
    """Everything that changed since the last refresh, by session."""

    statuses: set[str] = field(default_factory=set)
    chats: dict[str, set[str]] = field(default_factory=dict)  # session -> chat jids
    messages: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (session, chat) -> ids
    incoming: dict[tuple[str, str], int] = field(default_factory=dict)  # (session, chat) -> new
    sessions_changed: bool = False

    def __bool__(self) -> bool:
        return bool(self.statuses or self.chats or self.messages or self.incoming or self.sessions_changed)


class SessionsRefresh(Message):
    def __init__(self, dirty: Dirty) -> None:
        super().__init__()
        self.dirty = dirty


class PairingEvent(Message):
    """A QR code, pairing code, window closing or success for one session."""

    def __init__(self, session_id: str, event: Event) -> None:
        super().__init__()
        self.session_id = session_id
        self.event = event


class OpenChat(Message):
    """Open this chat, switching session if needed (next unread, the palette)."""

    def __init__(self, session_id: str, chat_jid: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.chat_jid = chat_jid
