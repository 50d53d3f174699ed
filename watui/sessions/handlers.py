"""Session-aware handlers: each applies one kind of domain event to the store.

They run inside ``with_session_id(session)`` on the session's consumer task, so the
repository scopes every write to that session without being told. Each returns the notices
its write produced; the consumer publishes them once the write has committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from watui.domain import events as ev
from watui.domain.models import Chat, Message, MessageStatus
from watui.sessions.notices import ChatsChanged, MessagesChanged, Notice
from watui.store import ChatStorageRepository

RECEIPT_STATUS = {
    ev.ReceiptKind.DELIVERED: MessageStatus.DELIVERED,
    ev.ReceiptKind.READ: MessageStatus.READ,
    ev.ReceiptKind.READ_SELF: MessageStatus.READ,
    ev.ReceiptKind.PLAYED: MessageStatus.PLAYED,
}

Handler = Callable[[ChatStorageRepository, str, ev.Event], Awaitable[list[Notice]]]


async def store_incoming(
    repo: ChatStorageRepository, session_id: str, received: Sequence[ev.MessageReceived]
) -> list[Notice]:
    """A run of new messages in one transaction: a burst costs one commit, not one each."""
    messages = [item.message for item in received]
    names = [(item.message.chat_jid, item.chat_name) for item in received if item.chat_name]
    push_names = [
        (item.message.sender, item.message.push_name)
        for item in received
        if item.message.push_name and not item.message.is_from_me
    ]
    await repo.store_messages(messages, chats=_chats_named(session_id, names, messages))
    if push_names:
        await repo.store_push_names(push_names)
    return _message_notices(session_id, messages)


def _chats_named(
    session_id: str, names: list[tuple[str, str]], messages: list[Message]
) -> list[Chat]:
    """Chat rows for the names the engine told us, so a new group shows its subject."""
    newest: dict[str, datetime] = {}
    for message in messages:
        if message.chat_jid not in newest or message.timestamp > newest[message.chat_jid]:
            newest[message.chat_jid] = message.timestamp
    return [
        Chat(jid=jid, name=name, last_message_time=newest[jid], session_id=session_id)
        for jid, name in dict(names).items()
    ]


def _message_notices(session_id: str, messages: Sequence[Message]) -> list[Notice]:
    by_chat: dict[str, list[Message]] = {}
    for message in messages:
        by_chat.setdefault(message.chat_jid, []).append(message)
    notices: list[Notice] = [
        MessagesChanged(
            session_id,
            chat_jid,
            tuple(m.id for m in chat_messages),
            incoming=sum(1 for m in chat_messages if not m.is_from_me),
        )
        for chat_jid, chat_messages in by_chat.items()
    ]
    notices.append(ChatsChanged(session_id, frozenset(by_chat)))
    return notices


async def on_history_sync(repo, session_id: str, event: ev.HistorySyncBatch) -> list[Notice]:
    # The chunk's conversation records (whole records: pinned, archived, unread as the phone
    # has them, not just names), messages and push names, written together (store_history).
    # Every row goes into this session whatever session it names, so nothing is copied to
    # re-tag it (copying every message cost a quarter of the ingest time; bench/ingest.py).
    await repo.store_history(session_id, event.messages, event.chats, event.push_names)
    jids = {c.jid for c in event.chats}
    jids.update(m.chat_jid for m in event.messages)
    return [ChatsChanged(session_id, frozenset(jids))] if jids else []


async def on_receipt(repo, session_id: str, event: ev.Receipt) -> list[Notice]:
    await repo.apply_receipt(event.chat_jid, list(event.message_ids), RECEIPT_STATUS[event.kind])
    return [MessagesChanged(session_id, event.chat_jid, tuple(event.message_ids))]


async def on_edit(repo, session_id: str, event: ev.MessageEdited) -> list[Notice]:
    await repo.apply_edit(event.chat_jid, event.message_id, event.content, event.edited_at)
    return [
        MessagesChanged(session_id, event.chat_jid, (event.message_id,)),
        ChatsChanged(session_id, frozenset({event.chat_jid})),
    ]


async def on_revoke(repo, session_id: str, event: ev.MessageRevoked) -> list[Notice]:
    await repo.apply_revoke(event.chat_jid, event.message_id)
    return [
        MessagesChanged(session_id, event.chat_jid, (event.message_id,)),
        ChatsChanged(session_id, frozenset({event.chat_jid})),
    ]


async def on_reaction(repo, session_id: str, event: ev.Reaction) -> list[Notice]:
    await repo.apply_reaction(
        event.chat_jid, event.message_id, event.sender, event.emoji, event.timestamp
    )
    return [MessagesChanged(session_id, event.chat_jid, (event.message_id,))]


async def on_delete_for_me(repo, session_id: str, event: ev.DeleteForMe) -> list[Notice]:
    await repo.delete_message(event.chat_jid, event.message_id)
    return [
        MessagesChanged(session_id, event.chat_jid, (event.message_id,)),
        ChatsChanged(session_id, frozenset({event.chat_jid})),
    ]


async def on_send_ack(repo, session_id: str, event: ev.SendAcknowledged) -> list[Notice]:
    await repo.mark_sent(event.chat_jid, event.message_id, event.timestamp)
    return [MessagesChanged(session_id, event.chat_jid, (event.message_id,))]


async def on_send_failed(repo, session_id: str, event: ev.SendFailed) -> list[Notice]:
    await repo.mark_send_failed(event.chat_jid, event.message_id, event.reason)
    return [MessagesChanged(session_id, event.chat_jid, (event.message_id,))]


async def on_push_name(repo, session_id: str, event: ev.PushName) -> list[Notice]:
    await repo.store_push_names([(event.jid, event.name)])
    return [ChatsChanged(session_id, frozenset({event.jid}))]


STORE_HANDLERS: dict[type[ev.Event], Handler] = {
    ev.HistorySyncBatch: on_history_sync,
    ev.Receipt: on_receipt,
    ev.MessageEdited: on_edit,
    ev.MessageRevoked: on_revoke,
    ev.Reaction: on_reaction,
    ev.DeleteForMe: on_delete_for_me,
    ev.SendAcknowledged: on_send_ack,
    ev.SendFailed: on_send_failed,
    ev.PushName: on_push_name,
}
