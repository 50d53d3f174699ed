"""HistorySyncEv (whatsmeow's history blob, ``WAWebProtobufsHistorySync.HistorySync``) ->
one HistorySyncBatch.

Unlike live messages, history messages are WebMessageInfo as WhatsApp stores them: still
wrapped (ephemeral, view-once, document-with-caption, edited ...), timestamps in SECONDS.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from neonize.aioze.events import HistorySyncEv
from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import Conversation, HistorySync
from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ProtocolMessage

from watui.domain.events import HistorySyncBatch
from watui.domain.jid import GROUP_SERVER, LID_SERVER, USER_SERVER
from watui.domain.models import EPOCH, Chat, Message, MessageStatus
from watui.engine.neonize.convert import (
    LidResolver,
    ResolveLid,
    extract_content,
    from_ms,
    from_seconds,
    non_ad,
    to_message,
    unwrap_message,
)

MUTED_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
_MS_THRESHOLD = 100_000_000_000  # below: seconds (up to year 5138); above: milliseconds
_MS_LIMIT = 10**15  # beyond any real millisecond time: "forever" (e.g. -1 sent as uint64)

_STATUS = {
    WebMessageInfo.ERROR: MessageStatus.FAILED,
    WebMessageInfo.PENDING: MessageStatus.PENDING,
    WebMessageInfo.SERVER_ACK: MessageStatus.SENT,
    WebMessageInfo.DELIVERY_ACK: MessageStatus.DELIVERED,
    WebMessageInfo.READ: MessageStatus.READ,
    WebMessageInfo.PLAYED: MessageStatus.PLAYED,
}


def map_history_sync(
    ev: HistorySyncEv,
    *,
    resolve_lid: ResolveLid | None = None,
    chunk_order: int | None = None,
    own_jid: str = "",
) -> HistorySyncBatch:
    """One history chunk as a batch of chats, messages and push names.

    ``chunk_order`` defaults to the blob's own ``chunkOrder``. ``own_jid`` is the sender
    recorded for our own messages (the history blob does not say who "me" is).
    """
    data = ev.Data
    resolver = LidResolver(resolve_lid)
    _learn_mappings(data, resolver)
    own = non_ad(own_jid)

    chats: list[Chat] = []
    messages: list[Message] = []
    names: dict[str, str] = {}
    for pushname in data.pushnames:
        if pushname.ID and pushname.pushname:
            names[resolver(pushname.ID)] = pushname.pushname
    for conversation in data.conversations:
        chat_jid = resolver(conversation.ID)
        if not chat_jid:
            continue
        chat_messages = _conversation_messages(conversation, chat_jid, resolver, own)
        for message in chat_messages:
            if message.push_name and not message.is_from_me and message.sender:
                names.setdefault(message.sender, message.push_name)
        chats.append(_chat(conversation, chat_jid, chat_messages))
        messages.extend(chat_messages)

    progress = float(data.progress) if data.HasField("progress") else None
    return HistorySyncBatch(
        chats=tuple(chats),
        messages=tuple(messages),
        push_names=tuple(names.items()),
        sync_type=_sync_type_name(data.syncType),
        chunk_order=data.chunkOrder if chunk_order is None else chunk_order,
        progress=progress,
        done=progress is None or progress >= 100,
    )


def _sync_type_name(value: int) -> str:
    try:
        return HistorySync.HistorySyncType.Name(value).lower()
    except ValueError:
        return str(value)


def _learn_mappings(data: HistorySync, resolver: LidResolver) -> None:
    for mapping in data.phoneNumberToLidMappings:
        resolver.learn(mapping.lidJID, mapping.pnJID)
    for conversation in data.conversations:
        cid = conversation.ID
        lid = cid if cid.endswith("@" + LID_SERVER) else conversation.lidJID
        pn = conversation.pnJID or (cid if cid.endswith("@" + USER_SERVER) else "")
        if lid and pn:
            resolver.learn(lid, pn)


def _conversation_messages(
    conversation: Conversation, chat_jid: str, resolver: LidResolver, own: str
) -> list[Message]:
    by_id: dict[str, Message] = {}
    edits: list[tuple[datetime, str, str]] = []  # (edited_at, message id, new text)
    revoked: set[str] = set()
    for item in conversation.messages:
        info = item.message
        key = info.key
        if not key.ID:
            continue
        timestamp = from_seconds(info.messageTimestamp)
        if key.fromMe:
            sender = own or resolver(key.participant or info.participant)
        else:
            sender = resolver(key.participant or info.participant or key.remoteJID or chat_jid)
        inner = unwrap_message(info.message)
        if inner.HasField("protocolMessage"):
            protocol = inner.protocolMessage
            if protocol.HasField("type") and protocol.key.ID:
                if protocol.type == ProtocolMessage.MESSAGE_EDIT:
                    edited_at = from_ms(protocol.timestampMS) if protocol.timestampMS else timestamp
                    text = extract_content(protocol.editedMessage).text
                    edits.append((edited_at, protocol.key.ID, text))
                elif protocol.type == ProtocolMessage.REVOKE:
                    revoked.add(protocol.key.ID)
            continue
        content = extract_content(inner)
        is_revoke_stub = info.HasField("messageStubType") and info.messageStubType in (
            WebMessageInfo.REVOKE,
            WebMessageInfo.ADMIN_REVOKE,
        )
        if content.empty and not is_revoke_stub:
            continue  # stubs (group changes, ciphertext ...), reactions, unknown types
        if key.fromMe:
            status = _STATUS.get(info.status, MessageStatus.SENT) if info.HasField("status") else (
                MessageStatus.SENT
            )
        else:
            status = MessageStatus.RECEIVED
        by_id[key.ID] = to_message(
            content,
            message_id=key.ID,
            chat_jid=chat_jid,
            sender=sender,
            timestamp=timestamp,
            resolver=resolver,
            is_from_me=key.fromMe,
            push_name=info.pushName,
            status=status,
            deleted=is_revoke_stub,
        )
    for edited_at, message_id, text in sorted(edits):
        target = by_id.get(message_id)
        if target is not None and not target.deleted:
            by_id[message_id] = replace(target, content=text, edited=True, edited_at=edited_at)
    for message_id in revoked:
        target = by_id.get(message_id)
        if target is not None:
            by_id[message_id] = replace(target, content="", deleted=True)
    return list(by_id.values())


def _chat(conversation: Conversation, chat_jid: str, messages: list[Message]) -> Chat:
    newest = max(messages, key=lambda m: m.timestamp, default=None)
    times = [
        from_seconds(value)
        for value in (conversation.conversationTimestamp, conversation.lastMsgTimestamp)
        if value > 0
    ]
    if newest is not None:
        times.append(newest.timestamp)
    unread = conversation.unreadCount or (1 if conversation.markedAsUnread else 0)
    return Chat(
        jid=chat_jid,
        name=conversation.name or conversation.displayName,
        last_message_time=max(times, default=EPOCH),
        is_group=chat_jid.endswith("@" + GROUP_SERVER),
        unread_count=unread,
        archived=conversation.archived,
        pinned=conversation.pinned > 0,  # a pin timestamp, 0 when not pinned
        muted_until=muted_until(conversation.muteEndTime),
        ephemeral_expiration=conversation.ephemeralExpiration,
        created_at=from_seconds(conversation.createdAt) if conversation.createdAt > 0 else None,
        last_message_id=newest.id if newest else "",
        last_message_preview=newest.preview if newest else "",
        last_message_sender=newest.sender if newest else "",
        last_message_is_from_me=newest.is_from_me if newest else False,
    )


def muted_until(value: int) -> datetime | None:
    """Conversation.muteEndTime -> when the mute ends. 0: not muted; negative (or -1 sent as
    an unsigned number): muted forever. Seconds or milliseconds, told apart by size."""
    if value == 0:
        return None
    if value < 0 or value >= _MS_LIMIT:
        return MUTED_FOREVER
    return from_ms(value) if value >= _MS_THRESHOLD else from_seconds(value)


__all__ = ["MUTED_FOREVER", "map_history_sync", "muted_until"]
