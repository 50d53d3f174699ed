"""The domain events every backend emits, whatever the engine underneath.

A backend knows nothing of the store or the UI: it turns protocol traffic into these and
hands them to its session's sink. The session's consumer task applies them in order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from watui.domain.models import Chat, Message


class ReceiptKind(enum.StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    READ_SELF = "read_self"  # read on another of our own devices
    PLAYED = "played"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all domain events."""


# --- pairing -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QRCode(Event):
    """A pairing QR payload (ref,noise-key,identity-key,adv-secret). ``index`` counts from 0
    of ``total`` codes in the window; ``expires_in`` is seconds until the next one."""

    code: str
    index: int = 0
    total: int = 6
    expires_in: float = 60.0


@dataclass(frozen=True, slots=True)
class PairingCode(Event):
    code: str  # "ABCD-EFGH"
    phone: str


@dataclass(frozen=True, slots=True)
class PairingWindowClosed(Event):
    """No more QR codes will come; pairing must be started again."""


@dataclass(frozen=True, slots=True)
class PairSuccess(Event):
    jid: str  # the companion device JID, user:device@s.whatsapp.net
    push_name: str = ""
    platform: str = ""


@dataclass(frozen=True, slots=True)
class PairFailure(Event):
    reason: str


# --- connection --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Connected(Event):
    jid: str = ""
    push_name: str = ""


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    reason: str = ""
    retry_in: float | None = None  # seconds until the next attempt, None when not retrying


@dataclass(frozen=True, slots=True)
class ConnectFailure(Event):
    reason: str
    code: int = 0
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class LoggedOut(Event):
    """The phone unlinked this device (or the server did): the device is gone, history stays."""

    reason: str = ""
    on_connect: bool = False


@dataclass(frozen=True, slots=True)
class StreamReplaced(Event):
    """Another client took over this device's stream."""


@dataclass(frozen=True, slots=True)
class TemporaryBan(Event):
    code: int = 0
    expires_in: float = 0.0


@dataclass(frozen=True, slots=True)
class ClientOutdated(Event):
    pass


# --- messages ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """A new message, incoming or sent from another of our devices (``message.is_from_me``)."""

    message: Message
    chat_name: str = ""  # group subject or contact name when the engine knows it


@dataclass(frozen=True, slots=True)
class MessageEdited(Event):
    chat_jid: str
    message_id: str
    content: str
    sender: str
    edited_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRevoked(Event):
    chat_jid: str
    message_id: str
    sender: str
    revoked_at: datetime


@dataclass(frozen=True, slots=True)
class Reaction(Event):
    chat_jid: str
    message_id: str
    sender: str
    emoji: str  # empty: the reaction was removed
    timestamp: datetime
    is_from_me: bool = False


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    chat_jid: str
    message_ids: tuple[str, ...]
    kind: ReceiptKind
    sender: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class DeleteForMe(Event):
    chat_jid: str
    message_id: str


@dataclass(frozen=True, slots=True)
class SendAcknowledged(Event):
    """The server took an outgoing message (the engine's answer to a send)."""

    chat_jid: str
    message_id: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class SendFailed(Event):
    chat_jid: str
    message_id: str
    reason: str


# --- history -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HistorySyncBatch(Event):
    """One chunk of a history sync. ``progress`` is 0..100 when the engine knows it."""

    chats: tuple[Chat, ...] = ()
    messages: tuple[Message, ...] = ()
    push_names: tuple[tuple[str, str], ...] = ()  # (jid, name)
    sync_type: str = "initial"
    chunk_order: int = 0
    progress: float | None = None
    done: bool = False


@dataclass(frozen=True, slots=True)
class PushName(Event):
    jid: str
    name: str


# --- presence ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Presence(Event):
    jid: str
    available: bool
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChatPresence(Event):
    chat_jid: str
    sender: str
    composing: bool
    media: str = "text"


__all__ = [
    name
    for name, value in dict(globals()).items()
    if isinstance(value, type) and issubclass(value, (Event, enum.Enum)) and value.__module__ == __name__
]
