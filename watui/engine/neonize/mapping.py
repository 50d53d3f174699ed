"""neonize protobuf events -> watui domain events. Pure functions: no client, no network,
no store. The adapter calls :func:`map_event` for every event neonize hands it.

Units (neonize 0.5.2): MessageInfo.Timestamp is Unix MILLISECONDS; Receipt.Timestamp,
history timestamps and Presence.LastSeen are SECONDS; TemporaryBan.Expire is seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import typing

from google.protobuf.message import Message as ProtoMessage
from neonize.aioze.events import (
    ChatPresenceEv,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    PresenceEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import ConnectFailureReason
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ProtocolMessage

from watui.domain import events as ev
from watui.domain.models import MessageStatus
from watui.engine.neonize import quiet_neonize_logging
from watui.engine.neonize.convert import (
    LidResolver,
    ResolveLid,
    extract_content,
    from_ms,
    from_seconds,
    jid_to_str,
    resolve_source,
    to_message,
    unwrap_message,
)
from watui.engine.neonize.history import map_history_sync

quiet_neonize_logging()

log = logging.getLogger(__name__)

# --- messages ----------------------------------------------------------------------------


def map_message(message_ev: MessageEv, *, resolve_lid: ResolveLid | None = None) -> list[ev.Event]:
    """A live message: MessageReceived, Reaction, MessageRevoked or MessageEdited.
    Messages with neither text nor media (key distribution, unknown types ...) give []."""
    resolver = LidResolver(resolve_lid)
    info = message_ev.Info
    chat, sender = resolve_source(info.MessageSource, resolver)
    if not chat or not info.ID:
        return []
    is_from_me = info.MessageSource.IsFromMe
    timestamp = from_ms(info.Timestamp)
    raw = message_ev.Message if message_ev.HasField("Message") else message_ev.Raw
    message = unwrap_message(raw)  # whatsmeow already unwrapped Message; Raw is still wrapped

    if message.HasField("protocolMessage"):
        protocol = message.protocolMessage
        if not protocol.HasField("type") or not protocol.key.ID:
            return []
        if protocol.type == ProtocolMessage.REVOKE:
            return [ev.MessageRevoked(chat, protocol.key.ID, sender, timestamp)]
        if protocol.type == ProtocolMessage.MESSAGE_EDIT:
            edited_at = from_ms(protocol.timestampMS) if protocol.timestampMS else timestamp
            text = extract_content(protocol.editedMessage).text
            return [ev.MessageEdited(chat, protocol.key.ID, text, sender, edited_at)]
        return []

    if message.HasField("reactionMessage"):
        reaction = message.reactionMessage
        if not reaction.key.ID:
            return []
        when = from_ms(reaction.senderTimestampMS) if reaction.senderTimestampMS else timestamp
        return [ev.Reaction(chat, reaction.key.ID, sender, reaction.text, when, is_from_me)]

    content = extract_content(message)
    if content.empty:
        return []
    domain_message = to_message(
        content,
        message_id=info.ID,
        chat_jid=chat,
        sender=sender,
        timestamp=timestamp,
        resolver=resolver,
        is_from_me=is_from_me,
        push_name=info.Pushname,
        status=MessageStatus.SENT if is_from_me else MessageStatus.RECEIVED,
    )
    return [ev.MessageReceived(domain_message)]


# --- receipts ----------------------------------------------------------------------------

_RECEIPT_KIND = {
    ReceiptEv.DELIVERED: ev.ReceiptKind.DELIVERED,
    ReceiptEv.READ: ev.ReceiptKind.READ,
    ReceiptEv.READ_SELF: ev.ReceiptKind.READ_SELF,
    ReceiptEv.PLAYED: ev.ReceiptKind.PLAYED,
    ReceiptEv.PLAYED_SELF: ev.ReceiptKind.READ_SELF,  # played on another of our devices
}


def map_receipt(receipt: ReceiptEv, *, resolve_lid: ResolveLid | None = None) -> ev.Receipt | None:
    """Delivery/read/played receipts for one or more message ids. Receipts that are not a
    delivery state (sender, retry, server-error, inactive, peer, history-sync) give None.
    An absent Type counts as DELIVERED (proto2 default, as whatsmeow's empty type)."""
    kind = _RECEIPT_KIND.get(receipt.Type) if receipt.HasField("Type") else ev.ReceiptKind.DELIVERED
    if kind is None or not receipt.MessageIDs:
        return None
    chat, sender = resolve_source(receipt.MessageSource, LidResolver(resolve_lid))
    if not chat:
        return None
    return ev.Receipt(chat, tuple(receipt.MessageIDs), kind, sender, from_seconds(receipt.Timestamp))


# --- presence ----------------------------------------------------------------------------


def map_presence(presence: PresenceEv, *, resolve_lid: ResolveLid | None = None) -> ev.Presence | None:
    jid = LidResolver(resolve_lid)(jid_to_str(presence.From, non_ad=True))
    if not jid:
        return None
    last_seen = from_seconds(presence.LastSeen) if presence.LastSeen > 0 else None
    return ev.Presence(jid, available=not presence.Unavailable, last_seen=last_seen)


def map_chat_presence(
    presence: ChatPresenceEv, *, resolve_lid: ResolveLid | None = None
) -> ev.ChatPresence | None:
    chat, sender = resolve_source(presence.MessageSource, LidResolver(resolve_lid))
    if not chat:
        return None
    media = "audio" if presence.Media == ChatPresenceEv.AUDIO else "text"
    return ev.ChatPresence(chat, sender, composing=presence.State == ChatPresenceEv.COMPOSING, media=media)


# --- connection and pairing --------------------------------------------------------------

# whatsmeow's numeric codes behind neonize's renumbered enums (events.ConnectFailureReason,
# events.TempBanReason); neonize leaves the field unset for codes it does not know.
_CONNECT_FAILURE_CODE = {
    ConnectFailureReason.GENERIC: 400,
    ConnectFailureReason.LOGGED_OUT: 401,
    ConnectFailureReason.TEMP_BANNED: 402,
    ConnectFailureReason.MAIN_DEVICE_GONE: 403,
    ConnectFailureReason.CLIENT_OUTDATED: 405,
    ConnectFailureReason.UNKNOWN_LOGOUT: 406,
    ConnectFailureReason.BAD_USER_AGENT: 409,
    ConnectFailureReason.INTERNAL_SERVER_ERROR: 500,
    ConnectFailureReason.EXPERIMENTAL: 501,
    ConnectFailureReason.SERVICE_UNAVAILABLE: 503,
}
_TEMP_BAN_CODE = {
    TemporaryBanEv.SEND_TO_TOO_MANY_PEOPLE: 101,
    TemporaryBanEv.BLOCKED_BY_USERS: 102,
    TemporaryBanEv.CREATED_TOO_MANY_GROUPS: 103,
    TemporaryBanEv.SENT_TOO_MANY_SAME_MESSAGE: 104,
    TemporaryBanEv.BROADCAST_LIST: 106,
}


def _failure_reason(proto: LoggedOutEv | ConnectFailureEv) -> tuple[str, int]:
    """("main device gone", 403) from a Reason field; ("unknown", 0) when unset."""
    if not proto.HasField("Reason"):
        return "unknown", 0
    try:
        name = ConnectFailureReason.Name(proto.Reason)
    except ValueError:
        return f"reason {proto.Reason}", 0
    return name.lower().replace("_", " "), _CONNECT_FAILURE_CODE.get(proto.Reason, 0)


def map_connection(proto: ProtoMessage) -> ev.Event | None:
    """Connection and pairing events; None for anything else."""
    match proto:
        case ConnectedEv():
            return ev.Connected()
        case DisconnectedEv():
            return ev.Disconnected(reason="disconnected")
        case LoggedOutEv():
            reason, _ = _failure_reason(proto)
            return ev.LoggedOut(reason=reason, on_connect=proto.OnConnect)
        case StreamReplacedEv():
            return ev.StreamReplaced()
        case TemporaryBanEv():
            code = _TEMP_BAN_CODE.get(proto.Code, 0) if proto.HasField("Code") else 0
            return ev.TemporaryBan(code=code, expires_in=float(proto.Expire))
        case ClientOutdatedEv():
            return ev.ClientOutdated()
        case ConnectFailureEv():
            reason, code = _failure_reason(proto)
            if proto.Message:
                reason = f"{reason}: {proto.Message}"
            return ev.ConnectFailure(reason=reason, code=code)
        case PairStatusEv():
            if not proto.HasField("Status"):
                return None
            if proto.Status == PairStatusEv.SUCCESS:
                # PairStatus has no push name; BusinessName is set for business accounts only
                return ev.PairSuccess(
                    jid=jid_to_str(proto.ID), push_name=proto.BusinessName, platform=proto.Platform
                )
            return ev.PairFailure(reason=proto.Error or "pairing failed")
    return None


# --- dispatch ----------------------------------------------------------------------------


def map_event(
    proto: ProtoMessage, *, resolve_lid: ResolveLid | None = None, own_jid: str = ""
) -> list[ev.Event]:
    """Any neonize event -> the domain events it means (often one, possibly none).
    ``own_jid`` is our account JID, recorded as sender of our own history messages.

    Never raises: an event that cannot be mapped is logged (its type, never its contents)
    and gives []. Text protobuf could not decode (invalid UTF-8 arrives as bytes) is
    decoded with U+FFFD, so every event is of the types its dataclass declares."""
    try:
        found = _map_event(proto, resolve_lid=resolve_lid, own_jid=own_jid)
        return [_as_declared(event) for event in found]
    except Exception:  # one malformed event must not end the stream
        log.warning("could not map a %s event; skipped", type(proto).__name__, exc_info=True)
        return []


def _map_event(
    proto: ProtoMessage, *, resolve_lid: ResolveLid | None, own_jid: str
) -> list[ev.Event]:
    match proto:
        case MessageEv():
            return map_message(proto, resolve_lid=resolve_lid)
        case ReceiptEv():
            found: ev.Event | None = map_receipt(proto, resolve_lid=resolve_lid)
        case HistorySyncEv():
            found = map_history_sync(proto, resolve_lid=resolve_lid, own_jid=own_jid)
        case PresenceEv():
            found = map_presence(proto, resolve_lid=resolve_lid)
        case ChatPresenceEv():
            found = map_chat_presence(proto, resolve_lid=resolve_lid)
        case _:
            found = map_connection(proto)
    return [found] if found is not None else []


_STR_FIELDS: dict[type, tuple[str, ...]] = {}
_NESTED_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields_of(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fields declared str, fields that may hold dataclasses or tuples) of a dataclass."""
    if cls not in _STR_FIELDS:
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        _STR_FIELDS[cls] = tuple(n for n in names if hints[n] is str)
        _NESTED_FIELDS[cls] = tuple(
            n for n in names if hints[n] is not str and hints[n] not in (int, float, bool, bytes)
        )
    return _STR_FIELDS[cls], _NESTED_FIELDS[cls]


def _as_declared(value: object) -> object:
    """``value`` with bytes in its str fields decoded (recursively through messages, chats
    and tuples); the same object when nothing needed it."""
    if isinstance(value, tuple):
        items = tuple(_as_declared(item) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    text_fields, nested_fields = _fields_of(type(value))
    changes: dict[str, object] = {}
    for name in text_fields:
        text = getattr(value, name)
        if not isinstance(text, str):
            changes[name] = (
                bytes(text).decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
            )
    for name in nested_fields:
        inner = getattr(value, name)
        if isinstance(inner, tuple) or dataclasses.is_dataclass(inner):
            fixed = _as_declared(inner)
            if fixed is not inner:
                changes[name] = fixed
    return dataclasses.replace(value, **changes) if changes else value


EVENT_TYPES: tuple[type[ProtoMessage], ...] = (
    MessageEv,
    ReceiptEv,
    HistorySyncEv,
    PresenceEv,
    ChatPresenceEv,
    ConnectedEv,
    DisconnectedEv,
    LoggedOutEv,
    StreamReplacedEv,
    TemporaryBanEv,
    ClientOutdatedEv,
    ConnectFailureEv,
    PairStatusEv,
)
"""The neonize event types map_event understands: the ones the adapter should subscribe."""


__all__ = [
    "EVENT_TYPES",
    "map_chat_presence",
    "map_connection",
    "map_event",
    "map_history_sync",
    "map_message",
    "map_presence",
    "map_receipt",
]
