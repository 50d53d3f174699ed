"""Chats, messages and the filters that page through them: plain dataclasses, the seed's names.

Times are timezone-aware datetimes in UTC everywhere in the domain; the store keeps integer
milliseconds. An empty ``session_id`` means "the session of the current context", which the
store resolves (see watui.store.context), never "all sessions".
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_millis(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: domain times must be timezone-aware")
    return round(when.timestamp() * 1000)


def new_message_id() -> str:
    """A whatsmeow-style message id (3EB0 + 18 hex digits), chosen before sending so that a
    resend after a crash or reconnect carries the same id and cannot duplicate."""
    return "3EB0" + secrets.token_hex(9).upper()


class MessageStatus(enum.IntEnum):
    """Delivery state. Outgoing states only move forward (a late 'delivered' receipt never
    undoes 'read'), which is why they are ordered numbers; FAILED sits below them so that a
    retry or a late ack can still lift it."""

    FAILED = -1
    RECEIVED = 0
    PENDING = 1
    SENT = 2
    DELIVERED = 3
    READ = 4
    PLAYED = 5


class MediaType(enum.StrEnum):
    NONE = ""
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"
    DOCUMENT = "document"
    STICKER = "sticker"
    OTHER = "other"


@dataclass(slots=True)
class Chat:
    jid: str
    name: str
    last_message_time: datetime
    session_id: str = ""
    ephemeral_expiration: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    is_group: bool = False
    unread_count: int = 0
    archived: bool = False
    pinned: bool = False
    muted_until: datetime | None = None
    last_message_id: str = ""
    last_message_preview: str = ""
    last_message_sender: str = ""
    last_message_is_from_me: bool = False

    @property
    def muted(self) -> bool:
        return self.muted_until is not None and self.muted_until > utc_now()


@dataclass(slots=True)
class Message:
    id: str
    chat_jid: str
    sender: str
    timestamp: datetime
    content: str = ""
    session_id: str = ""
    is_from_me: bool = False
    media_type: str = MediaType.NONE
    filename: str = ""
    url: str = ""
    media_key: bytes = b""
    file_sha256: bytes = b""
    file_enc_sha256: bytes = b""
    file_length: int = 0
    mimetype: str = ""
    push_name: str = ""
    status: MessageStatus = MessageStatus.RECEIVED
    quoted_message_id: str = ""
    quoted_sender: str = ""
    quoted_preview: str = ""
    edited: bool = False
    edited_at: datetime | None = None
    deleted: bool = False
    error: str = ""

    @property
    def preview(self) -> str:
        """One line for chat lists and quotes."""
        if self.deleted:
            return "This message was deleted"
        text = " ".join(self.content.split())
        if self.media_type:
            label = f"[{self.media_type}]"
            return f"{label} {text}" if text else label
        return text


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the previous page ended: rows strictly older than (timestamp, key) come next.
    ``key`` breaks ties between equal timestamps (chat jid or message id)."""

    timestamp: datetime
    key: str


@dataclass(slots=True)
class ChatFilter:
    session_id: str = ""
    limit: int = 50
    before: PageCursor | None = None
    search: str = ""
    include_archived: bool = True
    unread_only: bool = False


@dataclass(slots=True)
class MessageFilter:
    session_id: str = ""
    chat_jid: str = ""
    limit: int = 50
    before: PageCursor | None = None
    search: str = ""
    is_from_me: bool | None = None
    media_only: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One full-text match: the message and a snippet with the match marked by the store."""

    message: Message
    snippet: str
    rank: float = 0.0
    chat_name: str = ""


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    """What a reply needs to quote a stored message."""

    message_id: str
    sender: str
    content: str = ""


__all__ = [
    "EPOCH",
    "Chat",
    "ChatFilter",
    "MediaType",
    "Message",
    "MessageFilter",
    "MessageStatus",
    "PageCursor",
    "QuotedMessage",
    "SearchHit",
    "from_millis",
    "new_message_id",
    "to_millis",
    "utc_now",
]

