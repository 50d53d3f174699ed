"""What the control socket can be asked: one method per function, each with its typed
parameters (watui.control.protocol). The same ControlService answers over the socket (the
daemon, the TUI) and in-process (a one-shot CLI command with no daemon running, which either
reads the store or starts the one session it needs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from watui import __version__
from watui import config as cfg
from watui.control import protocol as p
from watui.control.protocol import ControlError
from watui.domain import events as ev
from watui.domain.errors import NoSessionsAvailable, SessionNotFound
from watui.domain.jid import display_for_jid, normalize_phone, to_chat_jid
from watui.domain.models import (
    Chat,
    ChatFilter,
    Message,
    MessageFilter,
    MessageStatus,
    PageCursor,
    utc_now,
)
from watui.domain.session_id import validate_session_id
from watui.domain.status import ConnectionState
from watui.paths import is_postgres_url
from watui.sessions.notices import MessagesChanged, Notice, PairingUpdate, SessionsChanged, StatusChanged
from watui.store import ChatStorageRepository
from watui.store.fts import ORDERS as SEARCH_ORDERS

log = logging.getLogger("watui.control")

MAX_LIMIT = 1000
MAX_WAIT = 600.0  # seconds a send may wait for its ack
QUEUE_SIZE = 1000  # notices buffered per stream before the oldest are dropped
WINDOW_WAIT = 30.0  # seconds pair.phone waits for a pairing window to open
SEEN_MAX = 10_000  # messages a subscription remembers, to tell receipts from new messages
# a message first seen by a subscription counts as new when it is no older than this before
# the subscription began (clocks differ; an offline device catches up late)
_SLACK = timedelta(seconds=120)


# --- serialising -----------------------------------------------------------------------------
def _iso(when: Any) -> str | None:
    return when.isoformat() if when is not None else None


def message_dict(message: Message, sender_name: str = "") -> dict[str, Any]:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "chat_jid": message.chat_jid,
        "sender": message.sender,
        "sender_name": sender_name,
        "timestamp": _iso(message.timestamp),
        "content": message.content,
        "is_from_me": message.is_from_me,
        "status": message.status.name.lower(),
        "media_type": str(message.media_type),
        "filename": message.filename,
        "quoted_message_id": message.quoted_message_id,
        "quoted_preview": message.quoted_preview,
        "edited": message.edited,
        "deleted": message.deleted,
        "error": message.error,
    }


def chat_dict(chat: Chat) -> dict[str, Any]:
    return {
        "jid": chat.jid,
        "session_id": chat.session_id,
        "name": chat.name,
        "is_group": chat.is_group,
        "unread_count": chat.unread_count,
        "last_message_time": _iso(chat.last_message_time),
        "last_message_id": chat.last_message_id,
        "last_message_preview": chat.last_message_preview,
        "archived": chat.archived,
        "pinned": chat.pinned,
        "muted": chat.muted,
    }


def pairing_item(event: ev.Event) -> tuple[str, dict[str, Any]] | None:
    match event:
        case ev.QRCode(code=code, index=index, total=total, expires_in=expires_in):
            return "qr", {"code": code, "index": index, "total": total, "expires_in": expires_in}
        case ev.PairingCode(code=code, phone=phone):
            return "code", {"code": code, "phone": phone}
        case ev.PairSuccess(jid=jid, push_name=push_name):
            return "paired", {"jid": jid, "push_name": push_name}
        case ev.PairingWindowClosed():
            return "closed", {"reason": "the pairing window closed"}
    return None


# --- notices into streams --------------------------------------------------------------------
class NoticeQueue:
    """A manager subscription into a bounded buffer. The listener never blocks (it runs inside
    the session's publish); when a reader falls behind, the oldest notices are dropped and the
    reader is told how many."""

    def __init__(self, manager: Any, accept: Callable[[Notice], bool], maxsize: int = QUEUE_SIZE) -> None:
        self._accept = accept
        self._items: deque[Notice] = deque()
        self._maxsize = maxsize
        self._dropped = 0
        self._ready = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = manager.subscribe(self._on_notice)

    def _on_notice(self, notice: Notice) -> None:
        if not self._accept(notice):
            return
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self._dropped += 1
        self._items.append(notice)
        self._ready.set()

    async def get(self) -> tuple[int, Notice]:
        """(notices dropped just before this one, the notice)."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        dropped, self._dropped = self._dropped, 0
        return dropped, self._items.popleft()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class PairingTracker:
    """The pairing window each session has open now (its latest QR code and pairing code), so
    a client that asks for pairing mid-window gets the current code at once."""

    def __init__(self, manager: Any) -> None:
        self.qr: dict[str, tuple[ev.QRCode, float]] = {}
        self.code: dict[str, ev.PairingCode] = {}
        self._unsubscribe = manager.subscribe(self._on_notice)

    def _on_notice(self, notice: Notice) -> None:
        sid = notice.session_id
        if isinstance(notice, PairingUpdate):
            match notice.event:
                case ev.QRCode() as qr:
                    self.qr[sid] = (qr, time.monotonic())
                case ev.PairingCode() as code:
                    self.code[sid] = code
                case _:
                    self.forget(sid)
        elif isinstance(notice, StatusChanged) and notice.status.state is not ConnectionState.NEEDS_PAIRING:
            self.forget(sid)

    def forget(self, session_id: str) -> None:
        self.qr.pop(session_id, None)
        self.code.pop(session_id, None)

    def window_open(self, session_id: str) -> bool:
        return session_id in self.qr

    def replay(self, session_id: str) -> list[tuple[str, dict[str, Any]]]:
        items: list[tuple[str, dict[str, Any]]] = []
        if session_id in self.qr:
            qr, at = self.qr[session_id]
            left = max(0.0, qr.expires_in - (time.monotonic() - at))
            items.append(("qr", {"code": qr.code, "index": qr.index, "total": qr.total, "expires_in": round(left, 1)}))
        if session_id in self.code:
            code = self.code[session_id]
            items.append(("code", {"code": code.code, "phone": code.phone}))
        return items

    def close(self) -> None:
        self._unsubscribe()


@dataclass
class Stream:
    """A streaming method's answer: the first response, then ``items`` until they end."""

    message: str
    results: Any
    items: AsyncIterator[tuple[str, Any]]
    on_close: Callable[[], None]

    async def aclose(self) -> None:
        self.on_close()
        aclose = getattr(self.items, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: type
    handler: str  # ControlService attribute
    stream: bool = False
    live: bool = True  # needs running sessions (a daemon or the app); False: the store will do
    demo: bool = False  # only on the sim backend


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("server.info", p.NoParams, "server_info", live=False),
        MethodSpec("sessions.list", p.NoParams, "sessions_list", live=False),
        MethodSpec("sessions.status", p.SessionParams, "sessions_status", live=False),
        MethodSpec("sessions.set_default", p.SessionParams, "sessions_set_default"),
        MethodSpec("sessions.add", p.AddSessionParams, "sessions_add"),
        MethodSpec("sessions.remove", p.RemoveSessionParams, "sessions_remove"),
        MethodSpec("sessions.logout", p.SessionParams, "sessions_logout"),
        MethodSpec("pair.qr", p.PairQRParams, "pair_qr", stream=True),
        MethodSpec("pair.phone", p.PairPhoneParams, "pair_phone"),
        MethodSpec("send.message", p.SendParams, "send_message"),
        MethodSpec("chats.list", p.ChatsParams, "chats_list", live=False),
        MethodSpec("chat.messages", p.MessagesParams, "chat_messages", live=False),
        MethodSpec("message.read", p.ReadParams, "message_read"),
        MethodSpec("search", p.SearchParams, "search", live=False),
        MethodSpec("events.subscribe", p.SubscribeParams, "events_subscribe", stream=True),
        MethodSpec("demo.scan", p.DemoScanParams, "demo_scan", demo=True),
        MethodSpec("demo.enter_code", p.DemoCodeParams, "demo_enter_code", demo=True),
    )
}


class ControlService:
    """The methods, over a store and (when sessions run here) a SessionManager.

    ``manager`` None: only the read methods answer, from the store (a CLI command with no
    daemon running); the others say that a running watui is needed.
    """

    def __init__(
        self,
        repo: ChatStorageRepository,
        *,
        manager: Any = None,
        environment: Any = None,
        network: Any = None,
        mode: str = "daemon",
    ) -> None:
        self.repo = repo
        self.manager = manager
        self.environment = environment
        self.network = network
        self.mode = mode
        self.pairing = PairingTracker(manager) if manager is not None else None

    def close(self) -> None:
        if self.pairing is not None:
            self.pairing.close()

    # --- dispatch ------------------------------------------------------------------------
    def bind(self, method: str, params: dict[str, Any]) -> tuple[MethodSpec, Any]:
        """Check everything about a request before anything runs."""
        spec = METHODS.get(method)
        if spec is None:
            raise ControlError(p.UNKNOWN_METHOD, f"unknown method: {method} (known: {', '.join(METHODS)})")
        return spec, p.bind_params(spec.params, params)

    async def call(self, method: str, params: dict[str, Any]) -> tuple[str, Any]:
        spec, bound = self.bind(method, params)
        if spec.stream:
            raise ControlError(p.INVALID_REQUEST, f"{method} is a stream: open it with stream()")
        self._check_available(spec)
        handler: Callable[[Any], Awaitable[tuple[str, Any]]] = getattr(self, spec.handler)
        return await handler(bound)

    async def open_stream(self, method: str, params: dict[str, Any]) -> Stream:
        spec, bound = self.bind(method, params)
        if not spec.stream:
            raise ControlError(p.INVALID_REQUEST, f"{method} is not a stream")
        self._check_available(spec)
        return await getattr(self, spec.handler)(bound)

    def _check_available(self, spec: MethodSpec) -> None:
        if spec.live and self.manager is None:
            raise ControlError(p.NOT_AVAILABLE, f"{spec.name} needs a running watui: {self._no_daemon()}")
        if spec.demo and self.network is None:
            raise ControlError(p.NOT_AVAILABLE, f"{spec.name} is only available on the sim backend (--demo)")

    def _no_daemon(self) -> str:
        where = f" on {self.environment.paths.data_dir}" if self.environment is not None else ""
        return f"no watui is running{where}; start `watui daemon` (or the app) first"

    # --- sessions helpers ----------------------------------------------------------------
    def session_ids(self) -> list[str]:
        if self.manager is not None:
            return self.manager.session_ids()
        return list(self.environment.config.session_ids) if self.environment is not None else []

    def default_session(self) -> str:
        if self.manager is not None:
            return self.manager.get_default_session()
        return self.environment.config.default_session if self.environment is not None else ""

    def _session(self, session_id: str | None) -> str:
        """A known session id; None: the default session (the seed's missing ?session=)."""
        if session_id is None:
            default = self.default_session()
            if not default:
                raise NoSessionsAvailable()
            return default
        validate_session_id(session_id)
        if session_id not in self.session_ids():
            raise SessionNotFound(session_id)
        return session_id

    def _live_session(self, session_id: str | None) -> Any:
        return self.manager.get_session(self._session(session_id))

    @staticmethod
    def _limit(limit: int) -> int:
        if not 1 <= limit <= MAX_LIMIT:
            raise ControlError(p.INVALID_PARAMS, f"limit: expected 1 to {MAX_LIMIT}, got {limit}")
        return limit

    @staticmethod
    def _chat(chat: str) -> str:
        if not chat.strip():
            raise ControlError(p.INVALID_PARAMS, "chat: expected a JID or a phone number")
        return str(to_chat_jid(chat.strip()).to_non_ad())

    async def _namer(self) -> Callable[[Message], Awaitable[str]]:
        cache: dict[tuple[str, str], str] = {}

        async def name(message: Message) -> str:
            if message.is_from_me:
                return "me"
            key = (message.session_id, message.sender)
            if key not in cache:
                found = await self.repo.get_contact_name(message.sender, message.session_id) if message.sender else None
                cache[key] = found or message.push_name or display_for_jid(message.sender)
            return cache[key]

        return name

    def _statuses(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.manager.get_all_sessions_with_status()]

    async def _offline_statuses(self) -> list[dict[str, Any]]:
        from watui.domain.status import SessionStatus

        config = self.environment.config
        statuses = []
        for session in config.sessions:
            record = await self.repo.get_session_record(session.id) or {}
            statuses.append(SessionStatus(
                session_id=session.id,
                label=session.name,
                device_id=record.get("device_jid") or "",
                push_name=record.get("push_name") or "",
                is_default=session.id == config.default_session,
            ).as_dict())
        return statuses

    # --- methods -------------------------------------------------------------------------
    async def server_info(self, _: p.NoParams) -> tuple[str, Any]:
        return "watui is running", {
            "version": __version__,
            "protocol": p.PROTOCOL_VERSION,
            "pid": os.getpid(),
            "mode": self.mode,
            "backend": self.environment.backend if self.environment is not None else "",
            "sessions": self.session_ids(),
            "default_session": self.default_session(),
        }

    async def sessions_list(self, _: p.NoParams) -> tuple[str, Any]:
        sessions = self._statuses() if self.manager is not None else await self._offline_statuses()
        return "Sessions retrieved successfully", {"sessions": sessions, "count": len(sessions)}

    async def sessions_status(self, params: p.SessionParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        if self.manager is not None:
            status = next(s for s in self.manager.get_all_sessions_with_status() if s.session_id == sid)
            details = {**status.as_dict(), "synced_messages": status.synced_messages}
        else:
            details = next(s for s in await self._offline_statuses() if s["session_id"] == sid)
        chats, messages = (await self.repo.row_counts()).get(sid, (0, 0))
        details.update(chats=chats, messages=messages, unread=await self.repo.unread_count(sid))
        return "Session status retrieved successfully", details

    async def sessions_set_default(self, params: p.SessionParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        self.manager.set_default_session(sid)
        return f"default session is now {sid}", {"session_id": sid}

    async def sessions_add(self, params: p.AddSessionParams) -> tuple[str, Any]:
        sid = validate_session_id(params.session)
        await self.manager.add_session(sid, params.label)
        return f"session {sid} added; pair it with `watui pair {sid}`", {"session_id": sid}

    async def sessions_remove(self, params: p.RemoveSessionParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        await self.manager.remove_session(sid, delete_data=params.delete_data)
        if params.delete_data and self.environment is not None:
            self._delete_device_store(sid)
        kept = "its chats were deleted" if params.delete_data else "its chats are kept in the store"
        return f"session {sid} removed; {kept}", {"session_id": sid}

    def _delete_device_store(self, sid: str) -> None:
        config = self.environment.config
        session = next((s for s in config.sessions if s.id == sid), cfg.SessionConfig(id=sid))
        device_store = self.environment.paths.session_db_uri(session)
        if not is_postgres_url(device_store):
            for suffix in ("", "-wal", "-shm"):
                Path(device_store + suffix).unlink(missing_ok=True)

    async def sessions_logout(self, params: p.SessionParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        await self.manager.logout(sid)
        return f"session {sid} logged out; its chats are kept", {"session_id": sid}

    # --- pairing -------------------------------------------------------------------------
    def _check_unpaired(self, sid: str) -> Any:
        session = self.manager.get_session(sid)
        status = session.status
        if status.device_id and status.state is not ConnectionState.LOGGED_OUT:
            raise ControlError(
                p.CONFLICT,
                f"session {sid} is already paired ({status.device_id}); "
                f"log it out first (`watui sessions logout {sid}`)",
            )
        return session

    async def _open_window(self, session: Any, *, restart: bool) -> bool:
        """Make sure a pairing window is open or opening; True when its codes are known now."""
        sid = session.session_id
        if not restart and self.pairing.window_open(sid):
            return True
        state = session.status.state
        if state is ConnectionState.STOPPED:
            await session.start()
        elif restart or state is not ConnectionState.CONNECTING:
            self.pairing.forget(sid)
            await self.manager.restart_pairing(sid)
        return False

    async def pair_qr(self, params: p.PairQRParams) -> Stream:
        sid = self._session(params.session)
        session = self._check_unpaired(sid)
        queue = NoticeQueue(
            self.manager,
            lambda n: n.session_id == sid and isinstance(n, (PairingUpdate, SessionsChanged)),
        )
        try:
            replay = self.pairing.replay(sid) if await self._open_window(session, restart=params.restart) else []
        except BaseException:
            queue.close()
            raise

        async def items() -> AsyncIterator[tuple[str, Any]]:
            try:
                for item in replay:
                    yield item
                while True:
                    _dropped, notice = await queue.get()
                    if isinstance(notice, SessionsChanged):
                        if sid not in self.manager.session_ids():
                            yield "closed", {"reason": f"session {sid} was removed"}
                            return
                        continue
                    item = pairing_item(notice.event)
                    if item is None:
                        continue
                    yield item
                    if item[0] in ("paired", "closed"):
                        return
            finally:
                queue.close()

        return Stream(f"pairing session {sid}", {"session_id": sid}, items(), queue.close)

    async def pair_phone(self, params: p.PairPhoneParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        phone = normalize_phone(params.phone)
        session = self._check_unpaired(sid)
        if not self.pairing.window_open(sid):
            queue = NoticeQueue(
                self.manager,
                lambda n: n.session_id == sid and isinstance(n, PairingUpdate) and isinstance(n.event, ev.QRCode),
            )
            try:
                if not await self._open_window(session, restart=False):
                    try:
                        await asyncio.wait_for(queue.get(), WINDOW_WAIT)
                    except TimeoutError:
                        raise ControlError(
                            p.TIMEOUT,
                            f"session {sid}: no pairing window opened within {WINDOW_WAIT:.0f} s "
                            f"({session.status.last_error or session.status.state.value})",
                        ) from None
            finally:
                queue.close()
        code = await self.manager.pair_phone(sid, phone)
        return "Pairing code issued", {"session_id": sid, "code": code, "phone": phone}

    # --- messages ------------------------------------------------------------------------
    async def send_message(self, params: p.SendParams) -> tuple[str, Any]:
        session = self._live_session(params.session)
        sid = session.session_id
        chat = self._chat(params.to)
        if not params.text.strip():
            raise ControlError(p.INVALID_PARAMS, "text: nothing to send, the message is empty")
        if not 0 <= params.wait <= MAX_WAIT:
            raise ControlError(p.INVALID_PARAMS, f"wait: expected 0 to {MAX_WAIT:.0f} seconds")
        if session.status.state in (ConnectionState.NEEDS_PAIRING, ConnectionState.LOGGED_OUT):
            raise ControlError(p.NOT_PAIRED, f"session {sid} is not paired; pair it first with `watui pair {sid}`")
        if params.reply_to and await self.repo.get_message(chat, params.reply_to, sid) is None:
            raise ControlError(p.NOT_FOUND, f"cannot reply: no message {params.reply_to} in {chat}")
        queue = NoticeQueue(
            self.manager,
            lambda n: isinstance(n, MessagesChanged) and n.session_id == sid and n.chat_jid == chat,
        )
        try:
            message = await self.manager.send_text(sid, chat, params.text, reply_to=params.reply_to)
            if params.wait > 0:
                message = await self._wait_for_ack(queue, message, params.wait)
        finally:
            queue.close()
        if message.status is MessageStatus.FAILED:
            raise ControlError(p.ENGINE_ERROR, f"message {message.id} was not sent: {message.error or 'send failed'}")
        acked = message.status >= MessageStatus.SENT
        results = {
            "message_id": message.id,
            "session_id": sid,
            "chat_jid": chat,
            "status": message.status.name.lower(),
            "timestamp": _iso(message.timestamp),
            "acknowledged": acked,
        }
        if acked:
            text = "Message sent"
        elif params.wait > 0:
            text = (f"message {message.id} is queued but the server did not acknowledge it within "
                    f"{params.wait:g} s; it goes out when session {sid} is connected")
        else:
            text = "Message queued"
        return text, results

    async def _wait_for_ack(self, queue: NoticeQueue, message: Message, wait: float) -> Message:
        ids = {message.id}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        latest = message
        while True:
            for mid in list(ids):
                found = await self.repo.get_message(message.chat_jid, mid, message.session_id)
                if found is not None:
                    latest = found
                    if found.status >= MessageStatus.SENT or found.status is MessageStatus.FAILED:
                        return found
            left = deadline - loop.time()
            if left <= 0:
                return latest
            try:
                _dropped, notice = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                continue
            if isinstance(notice, MessagesChanged) and ids & set(notice.message_ids):
                ids |= set(notice.message_ids)  # a re-key to the server's id names both

    async def chats_list(self, params: p.ChatsParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        limit = self._limit(params.limit)
        before = None
        if params.before is not None:
            anchor = await self.repo.get_chat(self._chat(params.before), sid)
            if anchor is None:
                raise ControlError(p.NOT_FOUND, f"no chat {params.before} in session {sid}")
            before = PageCursor(anchor.last_message_time, anchor.jid)
        chats = await self.repo.get_chats(ChatFilter(
            session_id=sid, limit=limit, before=before, search=params.query, unread_only=params.unread_only,
        ))
        return "Chats retrieved successfully", {
            "session_id": sid,
            "chats": [chat_dict(c) for c in chats],
            "count": len(chats),
            "next_before": chats[-1].jid if len(chats) == limit else None,
        }

    async def chat_messages(self, params: p.MessagesParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        chat_jid = self._chat(params.chat)
        limit = self._limit(params.limit)
        before = None
        if params.before is not None:
            anchor = await self.repo.get_message(chat_jid, params.before, sid)
            if anchor is None:
                raise ControlError(p.NOT_FOUND, f"no message {params.before} in {chat_jid} (session {sid})")
            before = PageCursor(anchor.timestamp, anchor.id)
        chat = await self.repo.get_chat(chat_jid, sid)
        messages = await self.repo.get_messages(
            MessageFilter(session_id=sid, chat_jid=chat_jid, limit=limit, before=before)
        )
        name = await self._namer()
        return "Messages retrieved successfully", {
            "session_id": sid,
            "chat_jid": chat_jid,
            "chat_name": chat.name if chat is not None else "",
            "messages": [message_dict(m, await name(m)) for m in messages],  # newest first
            "count": len(messages),
            "next_before": messages[-1].id if len(messages) == limit else None,
        }

    async def message_read(self, params: p.ReadParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        chat_jid = self._chat(params.chat)
        if await self.repo.get_chat(chat_jid, sid) is None:
            raise ControlError(p.NOT_FOUND, f"no chat {chat_jid} in session {sid}")
        marked = await self.manager.mark_read(sid, chat_jid)
        return "Chat marked as read", {"session_id": sid, "chat_jid": chat_jid, "marked": marked}

    async def search(self, params: p.SearchParams) -> tuple[str, Any]:
        sids = [self._session(params.session)] if params.session is not None else self.session_ids()
        limit = self._limit(params.limit)
        if not params.query.strip():
            raise ControlError(p.INVALID_PARAMS, "query: expected some text to search for")
        if params.order not in SEARCH_ORDERS:
            raise ControlError(p.INVALID_PARAMS, f"order: expected one of {', '.join(SEARCH_ORDERS)}, "
                                                 f"got {params.order!r}")
        hits = await self.repo.search(params.query, session_ids=sids, limit=limit, order=params.order)
        name = await self._namer()
        results = [
            {
                "session_id": hit.message.session_id,
                "chat_jid": hit.message.chat_jid,
                "chat_name": hit.chat_name,
                "message_id": hit.message.id,
                "sender": hit.message.sender,
                "sender_name": await name(hit.message),
                "is_from_me": hit.message.is_from_me,
                "timestamp": _iso(hit.message.timestamp),
                "snippet": hit.snippet,
                "rank": hit.rank,
            }
            for hit in hits
        ]
        return "Search completed successfully", {"query": params.query, "sessions": sids, "order": params.order,
                                                 "hits": results, "count": len(results)}

    # --- events --------------------------------------------------------------------------
    async def events_subscribe(self, params: p.SubscribeParams) -> Stream:
        sid = self._session(params.session) if params.session is not None else None
        wanted = set(params.events if params.events is not None else p.EVENT_TYPES)
        unknown = sorted(wanted - set(p.EVENT_TYPES))
        if unknown:
            raise ControlError(p.INVALID_PARAMS, f"events: unknown type(s) {', '.join(unknown)} "
                                                 f"(known: {', '.join(p.EVENT_TYPES)})")
        kinds: tuple[type, ...] = ()
        if wanted & {"message", "receipt", "update"}:
            kinds += (MessagesChanged,)
        if "status" in wanted:
            kinds += (StatusChanged,)
        if "sessions" in wanted:
            kinds += (SessionsChanged,)
        if "pairing" in wanted:
            kinds += (PairingUpdate,)
        queue = NoticeQueue(
            self.manager, lambda n: isinstance(n, kinds) and (sid is None or n.session_id == sid)
        )
        since = utc_now()
        seen: OrderedDict[tuple[str, str, str], tuple[MessageStatus, tuple]] = OrderedDict()

        async def items() -> AsyncIterator[tuple[str, Any]]:
            name = await self._namer()
            try:
                while True:
                    dropped, notice = await queue.get()
                    if dropped:
                        yield "dropped", {"count": dropped, "reason": "the client read too slowly"}
                    async for event, data in self._notice_items(notice, since, seen, name):
                        if event in wanted:
                            yield event, data
            finally:
                queue.close()

        return Stream("Subscribed to events", {"session": sid, "events": sorted(wanted)}, items(), queue.close)

    async def _notice_items(self, notice: Notice, since: Any, seen: OrderedDict, name: Any) -> AsyncIterator[tuple[str, Any]]:
        match notice:
            case StatusChanged(status=status):
                yield "status", status.as_dict()
            case SessionsChanged(session_id=sid):
                yield "sessions", {"session_id": sid, "sessions": self.session_ids(),
                                   "default_session": self.default_session()}
            case PairingUpdate(session_id=sid, event=event):
                item = pairing_item(event)
                if item is not None:
                    yield "pairing", {"session_id": sid, "type": item[0], **item[1]}
            case MessagesChanged(session_id=sid, chat_jid=chat_jid, message_ids=ids, incoming=incoming):
                for mid in ids:
                    message = await self.repo.get_message(chat_jid, mid, sid)
                    if message is None:
                        continue
                    key = (sid, chat_jid, mid)
                    shown = (message.content, message.edited, message.deleted)
                    before = seen.pop(key, None)
                    seen[key] = (message.status, shown)
                    if len(seen) > SEEN_MAX:
                        seen.popitem(last=False)
                    if before is None:
                        new = message.timestamp >= since - _SLACK or (incoming and not message.is_from_me)
                        if new:
                            yield "message", message_dict(message, await name(message))
                        elif message.is_from_me and message.status >= MessageStatus.DELIVERED:
                            yield "receipt", _receipt(message)
                        else:
                            yield "update", message_dict(message, await name(message))
                        continue
                    if before[0] != message.status:
                        yield "receipt", _receipt(message)
                    if before[1] != shown:  # edited or deleted; a changed ack time is not news
                        yield "update", message_dict(message, await name(message))

    # --- the demo's simulated phone --------------------------------------------------------
    async def demo_scan(self, params: p.DemoScanParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        phone = self._demo_phone(sid, params.phone)
        jid = self.network.scan_session(sid, phone)
        return f"session {sid} scanned by +{phone}", {"session_id": sid, "device_jid": jid}

    async def demo_enter_code(self, params: p.DemoCodeParams) -> tuple[str, Any]:
        sid = self._session(params.session)
        code = self.pairing.code.get(sid)
        if code is None:
            raise ControlError(p.CONFLICT, f"session {sid} shows no pairing code; `watui pair {sid} --phone NUMBER` first")
        jid = self.network.enter_pairing_code(code.phone, code.code)
        return f"code {code.code} entered on +{code.phone}", {"session_id": sid, "device_jid": jid}

    def _demo_phone(self, sid: str, phone: str | None) -> str:
        if phone is not None:
            return normalize_phone(phone)
        from watui.engine.sim.demo import DEMO_PHONES

        if sid not in DEMO_PHONES:
            raise ControlError(p.INVALID_PARAMS, f"phone: session {sid} has no demo phone; name one")
        return DEMO_PHONES[sid]


def _receipt(message: Message) -> dict[str, Any]:
    return {
        "session_id": message.session_id,
        "chat_jid": message.chat_jid,
        "message_id": message.id,
        "status": message.status.name.lower(),
    }
