"""Shared pieces of the neonize -> domain mapping: JIDs, @lid resolution, timestamps, and
message content (unwrapping, text, media, quotes). Used by mapping.py and history.py.

Everything here is pure: no client, no network, no store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from neonize.proto.Neonize_pb2 import JID as JIDProto
from neonize.proto.Neonize_pb2 import MessageSource
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as E2EMessage

from watui.domain.errors import InvalidJID
from watui.domain.jid import JID, LID_SERVER, USER_SERVER, parse_jid
from watui.domain.models import EPOCH, MediaType, Message, from_millis
from watui.engine.neonize import quiet_neonize_logging

quiet_neonize_logging()

log = logging.getLogger(__name__)

ResolveLid = Callable[[str], "str | None"]
"""Given a non-AD ``…@lid`` JID string, the phone-number JID string, or None if unknown."""

# --- JIDs --------------------------------------------------------------------------------


def jid_to_str(jid: JIDProto, *, non_ad: bool = False) -> str:
    """The string form of a neonize JID proto (``user[.agent][:device]@server``).

    ``non_ad`` drops device and agent: the account JID a chat or sender is keyed by.
    An empty JID (whatsmeow's zero value) gives ``""``; a server-only JID gives the server.
    """
    if jid.IsEmpty or not jid.Server:
        return ""
    if not jid.User:
        return jid.Server
    if non_ad:
        return str(JID(jid.User, jid.Server))
    return str(JID(jid.User, jid.Server, device=jid.Device, agent=jid.RawAgent))


def non_ad(text: str) -> str:
    """A JID string without device/agent (``1555:3@s.whatsapp.net`` -> ``1555@s.whatsapp.net``).
    Strings that are not JIDs we know are returned unchanged."""
    if not text:
        return ""
    try:
        return str(parse_jid(text).to_non_ad())
    except InvalidJID:
        return text


def _is_lid(text: str) -> bool:
    return text.endswith("@" + LID_SERVER)


def _pn_or_empty(jid: JIDProto) -> str:
    """The non-AD phone-number JID string of an *Alt JID, or "" when it is not one."""
    return jid_to_str(jid, non_ad=True) if jid.Server == USER_SERVER and jid.User else ""


class LidResolver:
    """Turns ``@lid`` JID strings into phone-number JIDs where we know them.

    Known pairs (from SenderAlt/RecipientAlt, history mappings) win; then the optional
    ``resolve_lid`` callable; else the lid stays. Results are remembered for one mapping call.
    A failing ``resolve_lid`` is logged and treated as "unknown".
    """

    __slots__ = ("_known", "_resolve")

    def __init__(self, resolve_lid: ResolveLid | None = None) -> None:
        self._resolve = resolve_lid
        self._known: dict[str, str] = {}

    def learn(self, lid: str, pn: str) -> None:
        lid, pn = non_ad(lid), non_ad(pn)
        if _is_lid(lid) and pn and not _is_lid(pn):
            self._known.setdefault(lid, pn)

    def __call__(self, jid: str) -> str:
        """``jid`` as a non-AD JID string, resolved to the phone number if it is a lid."""
        jid = non_ad(jid)
        if not _is_lid(jid):
            return jid
        known = self._known.get(jid)
        if known is not None:
            return known
        if self._resolve is not None:
            try:
                pn = self._resolve(jid)
            except Exception:  # a lookup failure must not lose the message
                log.warning("resolve_lid failed for %s", jid, exc_info=True)
                pn = None
            if pn:
                self.learn(jid, pn)
                return self._known.get(jid, jid)
        return jid


def resolve_source(source: MessageSource, resolver: LidResolver) -> tuple[str, str]:
    """(chat, sender) of a MessageSource as non-AD JID strings, @lid replaced by the phone
    number when whatsmeow sent it along (SenderAlt for the sender, and for the chat in a
    1:1 chat with them; RecipientAlt for the other side of a chat we wrote in) or the
    resolver knows it."""
    chat = jid_to_str(source.Chat, non_ad=True)
    sender = jid_to_str(source.Sender, non_ad=True)
    sender_alt = _pn_or_empty(source.SenderAlt)
    recipient_alt = _pn_or_empty(source.RecipientAlt)
    if _is_lid(sender) and sender_alt:
        resolver.learn(sender, sender_alt)
    if _is_lid(chat):
        alt = sender_alt if chat == sender else recipient_alt
        if alt:
            resolver.learn(chat, alt)
    return resolver(chat), resolver(sender)


# --- time --------------------------------------------------------------------------------


def from_seconds(seconds: int) -> datetime:
    """Unix seconds (receipts, history, bans) -> aware UTC datetime; nonsense -> EPOCH."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return EPOCH


def from_ms(ms: int) -> datetime:
    """Unix milliseconds (MessageInfo.Timestamp, reaction/edit times) -> aware UTC datetime."""
    try:
        return from_millis(ms)
    except (OverflowError, OSError, ValueError):
        return EPOCH


# --- message content ---------------------------------------------------------------------

# Wrappers whatsmeow's UnwrapRaw removes for live messages (history messages keep them).
# All are FutureProofMessage{message} except deviceSentMessage{destinationJID, message}.
_WRAPPERS = (
    "deviceSentMessage",
    "botInvokeMessage",
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "lottieStickerMessage",
    "documentWithCaptionMessage",
    "editedMessage",
)
_MAX_WRAP_DEPTH = 8

_MEDIA_FIELDS: tuple[tuple[str, MediaType], ...] = (
    ("imageMessage", MediaType.IMAGE),
    ("videoMessage", MediaType.VIDEO),
    ("ptvMessage", MediaType.VIDEO),  # round video notes
    ("audioMessage", MediaType.AUDIO),  # VOICE when PTT is set
    ("documentMessage", MediaType.DOCUMENT),
    ("stickerMessage", MediaType.STICKER),
)


def unwrap_message(message: E2EMessage) -> E2EMessage:
    """The content message inside ephemeral / view-once / document-with-caption / edited /
    device-sent wrappers, however they are nested."""
    for _ in range(_MAX_WRAP_DEPTH):
        for field in _WRAPPERS:
            if message.HasField(field) and getattr(message, field).HasField("message"):
                message = getattr(message, field).message
                break
        else:
            return message
    return message


@dataclass(frozen=True, slots=True)
class Content:
    """What a message says: text (or caption), media metadata, and the message it quotes."""

    text: str = ""
    media_type: MediaType = MediaType.NONE
    mimetype: str = ""
    filename: str = ""
    file_length: int = 0
    url: str = ""
    media_key: bytes = b""
    file_sha256: bytes = b""
    file_enc_sha256: bytes = b""
    quoted_message_id: str = ""
    quoted_sender: str = ""  # as sent: a JID string, possibly with device or @lid
    quoted_preview: str = ""

    @property
    def empty(self) -> bool:
        return not self.text and self.media_type == MediaType.NONE

    @property
    def preview(self) -> str:
        return to_message(self, message_id="", chat_jid="", sender="", timestamp=EPOCH).preview


def _str_field(sub, name: str) -> str:
    return getattr(sub, name) if name in sub.DESCRIPTOR.fields_by_name else ""


def extract_content(message: E2EMessage) -> Content:
    """Text and media of a message (unwrapped first). Nothing recognisable -> empty Content."""
    message = unwrap_message(message)
    text = ""
    context = None
    if message.HasField("conversation"):
        text = message.conversation
    elif message.HasField("extendedTextMessage"):
        text = message.extendedTextMessage.text
        context = message.extendedTextMessage
    media: dict[str, object] = {}
    for field, kind in _MEDIA_FIELDS:
        if not message.HasField(field):
            continue
        sub = getattr(message, field)
        if field == "audioMessage" and sub.PTT:
            kind = MediaType.VOICE
        text = text or _str_field(sub, "caption")
        media = {
            "media_type": kind,
            "mimetype": sub.mimetype,
            "filename": _str_field(sub, "fileName"),
            "file_length": sub.fileLength,
            "url": sub.URL,
            "media_key": sub.mediaKey,
            "file_sha256": sub.fileSHA256,
            "file_enc_sha256": sub.fileEncSHA256,
        }
        context = context or sub
        break
    quoted: dict[str, str] = {}
    if context is not None and context.HasField("contextInfo"):
        info = context.contextInfo
        if info.stanzaID:
            quoted = {
                "quoted_message_id": info.stanzaID,
                "quoted_sender": info.participant,
                "quoted_preview": (
                    extract_content(info.quotedMessage).preview
                    if info.HasField("quotedMessage")
                    else ""
                ),
            }
    return Content(text=text, **media, **quoted)  # type: ignore[arg-type]


def to_message(
    content: Content,
    *,
    message_id: str,
    chat_jid: str,
    sender: str,
    timestamp: datetime,
    resolver: LidResolver | None = None,
    **fields: object,
) -> Message:
    """A domain Message from Content plus the envelope; the quoted sender is normalised
    (non-AD, @lid resolved) with ``resolver``."""
    quoted_sender = content.quoted_sender
    if quoted_sender:
        quoted_sender = resolver(quoted_sender) if resolver is not None else non_ad(quoted_sender)
    return Message(
        id=message_id,
        chat_jid=chat_jid,
        sender=sender,
        timestamp=timestamp,
        content=content.text,
        media_type=content.media_type,
        filename=content.filename,
        url=content.url,
        media_key=content.media_key,
        file_sha256=content.file_sha256,
        file_enc_sha256=content.file_enc_sha256,
        file_length=content.file_length,
        mimetype=content.mimetype,
        quoted_message_id=content.quoted_message_id,
        quoted_sender=quoted_sender,
        quoted_preview=content.quoted_preview,
        **fields,  # type: ignore[arg-type]
    )


__all__ = [
    "Content",
    "LidResolver",
    "ResolveLid",
    "extract_content",
    "from_ms",
    "from_seconds",
    "jid_to_str",
    "non_ad",
    "resolve_source",
    "to_message",
    "unwrap_message",
]
