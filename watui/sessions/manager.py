"""SessionManager: the seed's API in snake_case, on one asyncio loop.

It owns the running sessions, in config order, and which one is the default. Listeners
(the UI, the control socket) subscribe to notices. Changes made at run time are handed to a
``registry`` (the config file, in the app) so they outlive the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from watui.domain.errors import NoSessionsAvailable, SessionExists, SessionNotFound, WatuiError
from watui.domain.jid import normalize_phone, parse_jid, to_chat_jid
from watui.domain.models import Message, MessageStatus, from_millis, new_message_id, to_millis, utc_now
from watui.domain.session_id import validate_session_id
from watui.domain.status import SessionStatus
from watui.engine.protocol import WhatsAppClient
from watui.sessions.notices import ChatsChanged, MessagesChanged, Notice, SessionsChanged, StatusChanged
from watui.sessions.session import Session
from watui.store import ChatStorageRepository, with_session_id

log = logging.getLogger("watui.sessions")

ClientFactory = Callable[[str], WhatsAppClient]
Listener = Callable[[Notice], None]


class SessionRegistry(Protocol):
    """Where run-time changes to the set of sessions are kept (the config file)."""

    def add_session(self, session_id: str, label: str) -> None: ...
    def remove_session(self, session_id: str) -> None: ...
    def set_default_session(self, session_id: str) -> None: ...


class SessionManager:
    def __init__(
        self,
        repo: ChatStorageRepository,
        client_factory: ClientFactory,
        *,
        registry: SessionRegistry | None = None,
    ) -> None:
        self.repo = repo
        self._client_factory = client_factory
        self._registry = registry
        self._sessions: dict[str, Session] = {}
        self._default = ""
        self._listeners: list[Listener] = []
        # add/remove await engine calls; without the lock two tasks could both pass the
        # "exists?" check and then both register the same id.
        self._lock = asyncio.Lock()
        self._last_send = from_millis(0)

    # --- listeners ---------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _publish(self, notice: Notice) -> None:
        if isinstance(notice, StatusChanged):
            notice = StatusChanged(notice.session_id, self._with_default(notice.status))
        for listener in list(self._listeners):
            try:
                listener(notice)
            except Exception:  # one broken listener must not starve the others
                log.exception("notice listener failed")

    # --- the seed's API ----------------------------------------------------------------
    async def add_session(
        self, session_id: str, label: str = "", *, start: bool = True, persist: bool = True
    ) -> Session:
        validate_session_id(session_id)
        async with self._lock:
            if session_id in self._sessions:
                raise SessionExists(session_id)
            if persist and self._registry is not None:
                self._registry.add_session(session_id, label)
            client = self._client_factory(session_id)
            session = Session(session_id, client, self.repo, self._publish, label=label)
            self._sessions[session_id] = session
            if not self._default:
                self._default = session_id
            with with_session_id(session_id):
                await self.repo.upsert_session_record(session_id, label=label or session_id)
        self._publish(SessionsChanged(session_id))
        if start:
            await session.start()
        return session

    async def remove_session(
        self, session_id: str, *, delete_data: bool = False, persist: bool = True
    ) -> None:
        async with self._lock:
            session = self.get_session(session_id)
            if persist and self._registry is not None:
                self._registry.remove_session(session_id)
            del self._sessions[session_id]
            if self._default == session_id:
                self._default = next(iter(self._sessions), "")
        await session.stop()
        if delete_data:
            await self.repo.delete_session_data(session_id)
        self._publish(SessionsChanged(session_id))

    def get_session(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionNotFound(session_id) from None

    def get_client(self, session_id: str) -> WhatsAppClient:
        return self.get_session(session_id).client

    def get_client_or_default(self, session_id: str | None = None) -> WhatsAppClient:
        return self.get_session_or_default(session_id).client

    def get_session_or_default(self, session_id: str | None = None) -> Session:
        if session_id:
            return self.get_session(session_id)
        if not self._sessions:
            raise NoSessionsAvailable()
        return self._sessions[self._default]

    def get_all_sessions_with_status(self) -> list[SessionStatus]:
        return [self._with_default(s.status) for s in self._sessions.values()]

    def get_connection_status(self, session_id: str) -> tuple[bool, bool, str]:
        """(is_connected, is_logged_in, device_id), as the seed's GetConnectionStatus."""
        status = self.get_session(session_id).status
        return status.is_connected, status.is_logged_in, status.device_id

    def get_default_session(self) -> str:
        return self._default

    def set_default_session(self, session_id: str, *, persist: bool = True) -> None:
        self.get_session(session_id)
        if persist and self._registry is not None:
            self._registry.set_default_session(session_id)
        self._default = session_id
        self._publish(SessionsChanged(session_id))

    def session_ids(self) -> list[str]:
        return list(self._sessions)

    def _with_default(self, status: SessionStatus) -> SessionStatus:
        return replace(status, is_default=status.session_id == self._default)

    # --- running -----------------------------------------------------------------------
    async def start_all(self) -> None:
        """Start every session at once: one slow dial must not hold up the others."""
        results = await asyncio.gather(
            *(s.start() for s in self._sessions.values()), return_exceptions=True
        )
        for session, result in zip(self._sessions.values(), results, strict=True):
            if isinstance(result, BaseException):
                log.error("session %s failed to start: %s", session.session_id, result)

    async def shutdown(self, timeout: float = 5.0) -> None:
        await asyncio.gather(
            *(s.stop(timeout) for s in self._sessions.values()), return_exceptions=True
        )

    async def drain(self) -> None:
        await asyncio.gather(*(s.drain() for s in self._sessions.values()))

    # --- actions -----------------------------------------------------------------------
    async def send_text(
        self,
        session_id: str | None,
        to: str,
        text: str,
        *,
        reply_to: str | None = None,
        consumes_draft: bool = False,
    ) -> Message:
        """Store the message as pending (the outbox) before the engine sees it, then send.
        Offline it waits in the outbox and goes out on the next connect. ``consumes_draft``:
        the chat's stored draft is removed in the same transaction (the composer's send)."""
        if not text.strip():
            raise WatuiError("nothing to send: the message is empty")
        session = self.get_session_or_default(session_id)
        chat_jid = str(to_chat_jid(to).to_non_ad())
        sender = str(parse_jid(session.status.device_id).to_non_ad()) if session.status.device_id else ""
        message = Message(
            id=new_message_id(),
            chat_jid=chat_jid,
            sender=sender,
            timestamp=self._send_time(),
            content=text,
            session_id=session.session_id,
            is_from_me=True,
            status=MessageStatus.PENDING,
        )
        with with_session_id(session.session_id):
            if reply_to:
                quoted = await self.repo.get_message(chat_jid, reply_to)
                if quoted is None:
                    raise WatuiError(f"cannot reply: no message {reply_to} in {chat_jid}")
                message.quoted_message_id = quoted.id
                message.quoted_sender = quoted.sender
                message.quoted_preview = quoted.preview[:200]
            await self.repo.store_sent_message_with_context(message, consumes_draft=consumes_draft)
        self._publish(MessagesChanged(session.session_id, chat_jid, (message.id,)))
        self._publish(ChatsChanged(session.session_id, frozenset({chat_jid})))
        session.kick_outbox()
        return message

    def _send_time(self) -> datetime:
        """Now, but always after the previous send: messages sent in one burst (several
        lines pasted, a script) keep their order in the chat instead of tying on the same
        millisecond and sorting by their random ids."""
        now = max(utc_now(), self._last_send + timedelta(milliseconds=1))
        self._last_send = now = from_millis(to_millis(now))
        return now

    async def retry_message(self, session_id: str, chat_jid: str, message_id: str) -> None:
        session = self.get_session(session_id)
        with with_session_id(session_id):
            await self.repo.requeue(chat_jid, message_id)
        self._publish(MessagesChanged(session_id, chat_jid, (message_id,)))
        session.kick_outbox()

    async def mark_read(self, session_id: str, chat_jid: str) -> int:
        """Clear the chat's unread count and tell the senders, when connected."""
        session = self.get_session(session_id)
        with with_session_id(session_id):
            unread = await self.repo.mark_read(chat_jid)
        if unread and session.client.state().is_connected:
            by_sender: dict[str, list[str]] = {}
            for message in unread:
                by_sender.setdefault(message.sender, []).append(message.id)
            for sender, ids in by_sender.items():
                try:
                    await session.client.mark_read(chat_jid, ids, sender)
                except WatuiError as error:
                    log.warning("session %s: read receipt not sent: %s", session_id, error)
        self._publish(ChatsChanged(session_id, frozenset({chat_jid})))
        return len(unread)

    async def pair_phone(self, session_id: str, phone: str) -> str:
        return await self.get_client(session_id).pair_phone(normalize_phone(phone))

    async def logout(self, session_id: str) -> None:
        await self.get_client(session_id).logout()

    async def restart_pairing(self, session_id: str) -> None:
        """A fresh pairing window: the old one may have closed, and codes only come while
        the client is connecting unpaired."""
        client = self.get_client(session_id)
        await client.disconnect()
        await client.connect()
