"""An in-process simulated WhatsApp network on the app's asyncio loop.

Accounts live on the network; sessions talk to it through SimClient (watui's client
protocol). Everything addressed to an account (messages, receipts, reactions, edits,
revokes, copies of its own messages sent from another device) goes into the account's
inbox; each linked device reads the inbox from its own cursor while its client is
connected, so an offline device gets what it missed when it next connects, in order.
Demo contacts (``auto_reply=True``) stand for a phone that is always online: they
acknowledge at once, read, type and answer after ``reply_delay``.

No threads: every delay is a loop timer, and every cross-account hop is posted through one
FIFO (``latency`` seconds late), so each client sees its events in order.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from watui.domain.errors import EngineError
from watui.domain.events import (
    ChatPresence,
    Event,
    HistorySyncBatch,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    Reaction,
    Receipt,
    ReceiptKind,
)
from watui.domain.jid import GROUP_SERVER, USER_SERVER, normalize_phone, parse_jid
from watui.domain.models import Message, MessageStatus, QuotedMessage, from_millis, to_millis, utc_now
from watui.engine.sim.client import SimClient
from watui.engine.sim.errors import SimError
from watui.engine.sim.device_store import StoredDevice, read_device, write_device
from watui.engine.sim.history import HistorySpec, Peer, PeerGroup, iter_history

log = logging.getLogger(__name__)

PAIRING_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # whatsmeow's (no 0, I, O, U)
LEDGER_WINDOW = 10_000  # with forget_delivered: a resend within this many sends is still recognised
FORGET_EVERY = 64  # with forget_delivered: trim an inbox once it holds this many more entries

AUTO_REPLIES = (
    "Got it, thanks!",
    "Haha, nice 😄",
    "Sounds good to me 👍",
    "Let me check and get back to you.",
    "On it!",
    "Sure, what time?",
    "Can't talk now, call you later.",
    "Perfect, see you then!",
    "Oh really? Tell me more.",
    "👍",
    "Thanks for letting me know.",
    "I'll be there in 10.",
)


@dataclass(eq=False, slots=True)
class _Envelope:
    event: Event
    exclude: str = ""  # the device that caused it (it must not get its own echo)
    message_from: str = ""  # a message's sender phone: a DELIVERED receipt is owed
    message_id: str = ""
    chat_for_sender: str = ""  # the chat as the sender sees it, for that receipt
    delivered: bool = False


@dataclass(eq=False, slots=True)
class _Device:
    jid: str
    phone: str
    session_id: str
    cursor: int
    backlog: list[_Envelope] = field(default_factory=list)
    client: SimClient | None = None
    history_pending: bool = False  # pre-paired: the history sync comes on first connect
    history: Iterator[HistorySyncBatch] | None = None  # the chunks of a paced sync not sent yet
    history_timer: asyncio.TimerHandle | None = None

    @property
    def online(self) -> bool:
        return self.client is not None and self.client._logged_in


@dataclass(eq=False)
class SimAccount:
    """A WhatsApp account (a phone) on the sim network."""

    phone: str
    push_name: str
    history: HistorySpec = field(default_factory=HistorySpec)
    auto_reply: bool = False
    reply_delay: float | None = None  # None: the network's
    inbox: list[_Envelope] = field(default_factory=list, repr=False)
    devices: list[str] = field(default_factory=list, repr=False)
    next_device: int = field(default=1, repr=False)
    forget_at: int = field(default=0, repr=False)  # inbox size that triggers the next trim

    @property
    def jid(self) -> str:
        return f"{self.phone}@{USER_SERVER}"


@dataclass(eq=False)
class SimGroup:
    jid: str
    subject: str
    members: tuple[str, ...]  # phones


def _store_path(device_store: str | Path) -> Path:
    """A device DB location as a path (a ``file:`` URI prefix and its query are dropped)."""
    text = str(device_store)
    if "://" in text:
        raise SimError(f"the sim backend keeps its device store in a file, not at {text}")
    if text.startswith("file:"):
        text = text[len("file:") :].split("?", 1)[0]
    return Path(text)


def _copy(event: Event) -> Event:
    """Messages are mutable dataclasses: every device gets its own."""
    if isinstance(event, MessageReceived):
        return replace(event, message=replace(event.message))
    return event


class SimNetwork:
    def __init__(
        self,
        seed: int = 0,
        *,
        qr_first: float = 60.0,
        qr_next: float = 20.0,
        qr_count: int = 6,
        latency: float = 0.0,
        reply_delay: float = 1.5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
        history_rate: float = 0.0,
        forget_delivered: bool = False,
    ) -> None:
        """``history_rate``: a history sync arrives at this many messages/s per device, a
        chunk at a time (0: every chunk at once). ``forget_delivered`` (long load runs): an
        account keeps only what a device of it has not had yet -- an account without a
        linked device stands for a phone that took everything -- and a sender's id ledger
        remembers the last LEDGER_WINDOW sends, so the network's memory stays bounded."""
        if qr_count < 1:
            raise ValueError("qr_count must be at least 1")
        self.seed = seed
        self.qr_first = qr_first
        self.qr_next = qr_next
        self.qr_count = qr_count
        self.latency = latency
        self.reply_delay = reply_delay
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.clock = clock
        self.history_rate = history_rate
        self.forget_delivered = forget_delivered
        self.accounts: dict[str, SimAccount] = {}
        self.groups: dict[str, SimGroup] = {}
        self._clients: dict[str, SimClient] = {}
        self._showing_qr: list[SimClient] = []
        self._all_clients: list[SimClient] = []
        self._devices: dict[str, _Device] = {}
        self._revoked: set[str] = set()
        self._offline: set[str] = set()
        self._send_behaviour: dict[str, tuple[float, str | None]] = {}
        self._ledger: dict[tuple[str, str], datetime] = {}
        self._rngs: dict[str, random.Random] = {}
        self._pending: deque[tuple[float, Callable[[], None]]] = deque()
        self._pump_handle: asyncio.Handle | None = None
        self._timers: set[asyncio.TimerHandle] = set()

    # --- building the world ----------------------------------------------------------------
    def add_account(
        self,
        phone: str,
        push_name: str,
        *,
        history: HistorySpec | None = None,
        auto_reply: bool = False,
        reply_delay: float | None = None,
    ) -> SimAccount:
        digits = normalize_phone(phone)
        if digits in self.accounts:
            raise SimError(f"account +{digits} already exists on the sim network")
        account = SimAccount(digits, push_name, history or HistorySpec(), auto_reply, reply_delay)
        self.accounts[digits] = account
        return account

    def account(self, phone: str) -> SimAccount:
        digits = normalize_phone(phone)
        try:
            return self.accounts[digits]
        except KeyError:
            raise SimError(f"no account +{digits} on the sim network") from None

    def add_group(self, subject: str, member_phones: Iterable[str]) -> str:
        members = tuple(dict.fromkeys(self.account(phone).phone for phone in member_phones))
        if not members:
            raise SimError(f"group {subject!r} needs at least one member")
        rng = self._rng("groups")
        while True:
            jid = f"120363{rng.randrange(10**11, 10**12)}@{GROUP_SERVER}"
            if jid not in self.groups:
                break
        self.groups[jid] = SimGroup(jid, subject, members)
        return jid

    def client(self, session_id: str, device_store: str | Path) -> SimClient:
        """A client for ``session_id`` whose device DB stand-in lives at ``device_store``.
        A new client for the same session replaces the old one as the target of faults."""
        client = SimClient(self, session_id, _store_path(device_store))
        self._clients[session_id] = client
        self._all_clients.append(client)
        return client

    def pre_pair(self, session_id: str, device_store: str | Path, phone: str, *, history: bool = True) -> str:
        """Link a device of ``phone`` for ``session_id`` without a scan (demo set-up): the
        session connects straight away. A new device gets the account's history sync right
        after its first Connected (unless ``history=False``); a device already stored for
        that phone is kept as it is (no second sync), so this is safe on every app start."""
        account = self.account(phone)
        path = _store_path(device_store)
        stored = read_device(path)
        if stored is not None and stored.phone == account.phone and stored.jid not in self._revoked:
            device = self._devices.get(stored.jid) or self._register_device(account, session_id, stored.jid)
        else:
            device = self._register_device(account, session_id)
            device.history_pending = history
        write_device(path, StoredDevice(device.jid, account.phone, account.push_name))
        client = self._clients.get(session_id)
        if client is not None and client.device_store == path:
            client._device = read_device(path)
        return device.jid

    def close(self) -> None:
        """Cancel every timer of the network and its clients (no events)."""
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        self._pending.clear()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for client in self._all_clients:
            client._shutdown()

    # --- pairing -----------------------------------------------------------------------------
    def scan(self, qr_code: str, phone: str) -> str:
        """The account ``phone`` scans ``qr_code``; returns the new device JID."""
        account = self.account(phone)
        client = next((c for c in self._showing_qr if c._qr_code == qr_code), None)
        if client is None:
            raise SimError("QR code is unknown or expired: scan the code the session shows now")
        return client._complete_pairing(account)

    def scan_session(self, session_id: str, phone: str) -> str:
        client = self._client_for(session_id)
        if client._qr_code is None:
            raise SimError(f"session {session_id} is not showing a QR code")
        return self.scan(client._qr_code, phone)

    def enter_pairing_code(self, phone: str, code: str) -> str:
        """The user of ``phone`` types ``code`` (Linked devices -> Link with phone number)."""
        account = self.account(phone)
        wanted = code.strip().upper().replace("-", "")
        for client in self._showing_qr:
            pending = client._pair_code
            if pending and pending[0] == account.phone and pending[1].replace("-", "") == wanted:
                return client._complete_pairing(account)
        raise SimError(f"pairing code {code!r} is wrong or expired for +{account.phone}")

    # --- traffic from phones (tests, demo) -----------------------------------------------------
    def send_from(
        self,
        phone: str,
        chat_jid: str,
        text: str,
        *,
        message_id: str | None = None,
        quoted: QuotedMessage | None = None,
    ) -> str:
        """A text typed on ``phone`` itself (its linked devices get an is_from_me copy)."""
        account = self.account(phone)
        if message_id is None:
            message_id = self._message_id(self._rng(f"ids:{account.phone}"))
        self._send(account.phone, "", chat_jid, text, message_id, quoted)
        return message_id

    # --- fault injection ---------------------------------------------------------------------
    def drop_connection(
        self, session_id: str, reason: str = "connection reset", reconnect_after: float | None = 1.0
    ) -> None:
        self._client_for(session_id)._drop(reason, reconnect_after)

    def logout_from_phone(self, session_id: str) -> None:
        """The phone unlinks the session's device. A connected client gets LoggedOut now
        and its store is cleared; an offline one gets LoggedOut(on_connect=True) on connect."""
        client = self._client_for(session_id)
        stored = client._device or read_device(client.device_store)
        if stored is None:
            raise SimError(f"session {session_id} is not paired")
        self._unlink(stored.jid)
        if client._logged_in:
            client._logged_out_from_phone()
        else:
            self._revoked.add(stored.jid)

    def replace_stream(self, session_id: str) -> None:
        self._client_for(session_id)._stream_replaced()

    def set_send_behaviour(self, session_id: str, delay: float = 0.0, fail: str | None = None) -> None:
        """Sends from this session take ``delay`` s; with ``fail`` they raise EngineError(fail)."""
        self._send_behaviour[session_id] = (delay, fail)

    def set_offline(self, session_id: str, offline: bool) -> None:
        """Network unreachable for this session: it drops, and retries with capped
        exponential backoff until ``set_offline(session_id, False)``."""
        if offline:
            self._offline.add(session_id)
            client = self._clients.get(session_id)
            if client is not None:
                client._network_down()
        else:
            self._offline.discard(session_id)

    # --- internals: helpers ------------------------------------------------------------------
    def _client_for(self, session_id: str) -> SimClient:
        try:
            return self._clients[session_id]
        except KeyError:
            raise SimError(f"no sim client for session {session_id}") from None

    def _rng(self, name: str) -> random.Random:
        rng = self._rngs.get(name)
        if rng is None:
            rng = self._rngs[name] = random.Random(f"watui-sim:{self.seed}:{name}")
        return rng

    @staticmethod
    def _message_id(rng: random.Random) -> str:
        return "3EB0" + f"{rng.getrandbits(72):018X}"

    def _now(self) -> datetime:
        return from_millis(to_millis(self.clock()))  # whole milliseconds, like the store

    def _backoff(self, failures: int) -> float:
        return min(self.backoff_max, self.backoff_base * (2 ** min(failures, 30)))

    def _is_offline(self, session_id: str) -> bool:
        return session_id in self._offline

    def _behaviour(self, session_id: str) -> tuple[float, str | None]:
        return self._send_behaviour.get(session_id, (0.0, None))

    def _loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            raise SimError("the sim network runs on an asyncio loop: use it from a coroutine") from None

    def _post(self, action: Callable[[], None]) -> None:
        """Run ``action`` ``latency`` s from now, after everything posted before it."""
        loop = self._loop()
        self._pending.append((loop.time() + self.latency, action))
        if self._pump_handle is None:
            self._schedule_pump(loop)

    def _schedule_pump(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._pending[0][0]
        if due <= loop.time():
            self._pump_handle = loop.call_soon(self._pump)
        else:
            self._pump_handle = loop.call_at(due, self._pump)

    def _pump(self) -> None:
        self._pump_handle = None
        loop = self._loop()
        now = loop.time() + 1e-3
        while self._pending and self._pending[0][0] <= now:
            _, action = self._pending.popleft()
            try:
                action()
            except Exception:  # a bug in the sim must not stall the network
                log.exception("sim network action failed")
        if self._pending:
            self._schedule_pump(loop)

    def _call_later(self, delay: float, action: Callable[[], None]) -> None:
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            action()

        handle = self._loop().call_later(delay, run)
        self._timers.add(handle)

    def _new_pairing_code(self, session_id: str) -> str:
        rng = self._rng(f"paircode:{session_id}")
        chars = "".join(rng.choice(PAIRING_CODE_ALPHABET) for _ in range(8))
        return f"{chars[:4]}-{chars[4:]}"

    def _qr_keys(self, session_id: str) -> tuple[str, str, str]:
        rng = self._rng(f"qr:{session_id}")
        return tuple(base64.b64encode(rng.randbytes(32)).decode() for _ in range(3))  # type: ignore[return-value]

    def _qr_ref(self, session_id: str) -> str:
        rng = self._rng(f"qr:{session_id}")
        return "2@" + base64.b64encode(rng.randbytes(60)).decode()

    # --- internals: devices --------------------------------------------------------------------
    def _register_device(self, account: SimAccount, session_id: str, jid: str = "") -> _Device:
        if jid:
            number = parse_jid(jid).device
            account.next_device = max(account.next_device, number + 1)
        else:
            jid = f"{account.phone}:{account.next_device}@{USER_SERVER}"
            account.next_device += 1
        # messages nobody has received yet (the account had no device online) reach the new one
        backlog = [env for env in account.inbox if env.message_from and not env.delivered]
        device = _Device(jid, account.phone, session_id, cursor=len(account.inbox), backlog=backlog)
        self._devices[jid] = device
        account.devices.append(jid)
        self._revoked.discard(jid)
        return device

    def _check_device(self, stored: StoredDevice) -> str:
        """Why a stored device cannot log in, or "" when it can."""
        if stored.jid in self._revoked:
            return "the device was unlinked from the phone"
        if stored.phone not in self.accounts:
            return f"the account +{stored.phone} is not on this network"
        return ""

    def _attach(self, client: SimClient, stored: StoredDevice) -> None:
        device = self._devices.get(stored.jid)
        if device is None:  # a device stored by an earlier run of the app
            device = self._register_device(self.accounts[stored.phone], client.session_id, stored.jid)
        previous = device.client
        device.session_id = client.session_id
        device.client = client
        client._attached = device
        if previous is not None and previous is not client and previous._online:
            previous._stream_replaced()

    def _detach(self, client: SimClient) -> None:
        device = client._attached
        client._attached = None
        if device is not None and device.client is client:
            device.client = None

    def _unlink(self, jid: str) -> None:
        device = self._devices.pop(jid, None)
        if device is not None:
            account = self.accounts.get(device.phone)
            if account is not None and jid in account.devices:
                account.devices.remove(jid)

    def _flush_client(self, client: SimClient) -> None:
        """After Connected: a pending history sync, then what the device missed."""
        device = client._attached
        if device is None:
            return
        if device.history_pending:
            device.history_pending = False
            device.history = self._history_for(self.accounts[device.phone])
        if device.history is not None:
            self._send_history(client, device)
        self._flush(device)

    def _send_history(self, client: SimClient, device: _Device) -> None:
        """The device's history sync: every chunk now, or one chunk and the next after
        ``history_rate`` has paid for it. An offline device keeps the rest for its next
        connect."""
        if device.history_timer is not None:
            device.history_timer.cancel()
            self._timers.discard(device.history_timer)
            device.history_timer = None
        if device.history is None or device.client is not client or not client._logged_in or client._held:
            return
        for batch in device.history:
            client._emit(batch)
            # One chunk per loop turn at least: the session sees it (and may hold the
            # intake, the store being behind) before the next one is sent.
            delay = max(len(batch.messages), 1) / self.history_rate if self.history_rate > 0 else 0.0
            device.history_timer = self._loop().call_later(delay, self._send_history, client, device)
            self._timers.add(device.history_timer)
            return
        device.history = None

    def _flush(self, device: _Device) -> None:
        """Hand a connected device everything it has not had yet, in order."""
        client = device.client
        account = self.accounts.get(device.phone)
        if client is None or account is None or not client._logged_in or client._held:
            return  # held: the store cannot take more, so nothing is delivered (or receipted)
        pending = device.backlog + account.inbox[device.cursor :]
        device.backlog = []
        device.cursor = len(account.inbox)
        receipts: dict[tuple[str, str], list[str]] = {}
        for env in pending:
            if env.exclude == device.jid:
                continue
            client._emit(_copy(env.event))
            if env.message_from and not env.delivered:
                env.delivered = True
                receipts.setdefault((env.message_from, env.chat_for_sender), []).append(env.message_id)
        for (sender, chat), ids in receipts.items():
            self._receipt(sender, chat, ids, ReceiptKind.DELIVERED, account.phone)

    def _history_for(self, account: SimAccount) -> Iterator[HistorySyncBatch]:
        peers = tuple(Peer(a.jid, a.push_name) for a in self.accounts.values() if a is not account)
        groups = tuple(
            PeerGroup(
                g.jid,
                g.subject,
                tuple(Peer(self.accounts[p].jid, self.accounts[p].push_name) for p in g.members if p != account.phone),
            )
            for g in self.groups.values()
            if account.phone in g.members
        )
        end = self._now().replace(microsecond=0)
        return iter_history(
            account.history, seed=self.seed, owner_phone=account.phone, end=end, peers=peers, groups=groups
        )

    # --- internals: routing --------------------------------------------------------------------
    def _targets(self, from_phone: str, chat_jid: str) -> tuple[str, list[str], SimGroup | None]:
        """(chat as the sender addresses it, recipient phones, group) for a send to chat_jid."""
        parsed = parse_jid(chat_jid).to_non_ad()
        chat = str(parsed)
        if parsed.is_group:
            group = self.groups.get(chat)
            if group is None:
                raise EngineError(f"unknown group {chat}")
            if from_phone not in group.members:
                raise EngineError(f"not a member of the group {group.subject!r}")
            return chat, [p for p in group.members if p != from_phone], group
        if parsed.server != USER_SERVER:
            raise EngineError(f"the sim network cannot deliver to {chat_jid}")
        return chat, ([parsed.user] if parsed.user != from_phone else []), None

    def _fanout(
        self,
        from_phone: str,
        device_jid: str,
        chat_jid: str,
        make: Callable[[str, bool], Event],
        *,
        message_id: str = "",
        owes_receipt: bool = False,
    ) -> None:
        """Send ``make(chat as the receiver sees it, is_from_me)`` to every recipient and to
        the sender's other devices."""
        chat, recipients, group = self._targets(from_phone, chat_jid)
        sender_jid = f"{from_phone}@{USER_SERVER}"
        deliveries: list[tuple[str, _Envelope]] = []
        for phone in recipients:
            event = make(chat if group else sender_jid, False)
            deliveries.append(
                (
                    phone,
                    _Envelope(
                        event,
                        message_from=from_phone if owes_receipt else "",
                        message_id=message_id,
                        chat_for_sender=chat,
                    ),
                )
            )
        deliveries.append((from_phone, _Envelope(make(chat, True), exclude=device_jid)))
        self._post(lambda: [self._deliver(phone, env) for phone, env in deliveries])

    def _deliver(self, phone: str, env: _Envelope) -> None:
        account = self.accounts.get(phone)
        if account is None:  # not on WhatsApp: nobody gets it
            return
        account.inbox.append(env)
        if account.auto_reply and env.message_from and env.message_from != phone:
            self._phone_receives(account, env)
        for jid in list(account.devices):
            device = self._devices.get(jid)
            if device is not None and device.online:
                self._flush(device)
        if self.forget_delivered and len(account.inbox) >= account.forget_at:
            self._forget_delivered(account)

    def _forget_delivered(self, account: SimAccount) -> None:
        """Drop the inbox entries every linked device of the account has had (all of them
        when none is linked: the phone has them)."""
        devices = [self._devices[jid] for jid in account.devices if jid in self._devices]
        upto = min((device.cursor for device in devices), default=len(account.inbox))
        del account.inbox[:upto]
        for device in devices:
            device.cursor -= upto
        account.forget_at = len(account.inbox) + FORGET_EVERY

    def _deliver_live(self, phone: str, event: Event) -> None:
        """Presence-like events: only devices online right now get them."""
        account = self.accounts.get(phone)
        if account is None:
            return
        for jid in account.devices:
            device = self._devices.get(jid)
            if device is not None and device.online and device.client is not None:
                device.client._emit(event)

    def _receipt(self, to_phone: str, chat: str, ids: Sequence[str], kind: ReceiptKind, by_phone: str, exclude: str = "") -> None:
        """A receipt from ``by_phone`` about ``to_phone``'s messages in ``chat`` (as the
        receiver of the receipt addresses that chat)."""
        event = Receipt(chat, tuple(ids), kind, f"{by_phone}@{USER_SERVER}", self._now())
        self._post(lambda: self._deliver(to_phone, _Envelope(event, exclude=exclude)))

    def _phone_receives(self, account: SimAccount, env: _Envelope) -> None:
        """An always-online demo contact's phone: delivered now; read, typing, answer later."""
        env.delivered = True
        sender = env.message_from
        self._receipt(sender, env.chat_for_sender, [env.message_id], ReceiptKind.DELIVERED, account.phone)
        event = env.event
        if not isinstance(event, MessageReceived) or not event.message.content:
            return
        sender_account = self.accounts.get(sender)
        if parse_jid(env.chat_for_sender).is_group or sender_account is None or sender_account.auto_reply:
            return  # answer only 1:1 texts from people, so two bots never chat forever
        delay = self.reply_delay if account.reply_delay is None else account.reply_delay
        rng = self._rng(f"reply:{account.phone}")
        text = rng.choice(AUTO_REPLIES)
        reply_id = self._message_id(rng)
        message_id = env.message_id

        def read() -> None:  # half-way: read it and start typing ...
            self._receipt(sender, env.chat_for_sender, [message_id], ReceiptKind.READ, account.phone)
            self._post(lambda: self._deliver_live(sender, ChatPresence(account.jid, account.jid, True)))
            self._call_later(delay / 2, answer)

        def answer() -> None:  # ... then answer
            self._post(lambda: self._deliver_live(sender, ChatPresence(account.jid, account.jid, False)))
            self._send(account.phone, "", sender_account.jid, text, reply_id, None)

        self._call_later(delay / 2, read)

    # --- internals: what clients ask for ----------------------------------------------------------
    def _send(
        self,
        from_phone: str,
        device_jid: str,
        chat_jid: str,
        text: str,
        message_id: str,
        quoted: QuotedMessage | None,
    ) -> tuple[datetime, bool]:
        """Send a text; returns (server timestamp, whether it is new). A message id the
        sender already used is only acknowledged again, never delivered twice."""
        key = (from_phone, message_id)
        if key in self._ledger:
            return self._ledger[key], False
        chat, recipients, group = self._targets(from_phone, chat_jid)
        timestamp = self._now()
        self._ledger[key] = timestamp
        if self.forget_delivered and len(self._ledger) > LEDGER_WINDOW:
            del self._ledger[next(iter(self._ledger))]  # the oldest send
        account = self.accounts[from_phone]
        peer = self.accounts.get(recipients[0]) if recipients and group is None else None

        def make(seen_chat: str, from_me: bool) -> Event:
            message = Message(
                id=message_id,
                chat_jid=seen_chat,
                sender=account.jid,
                timestamp=timestamp,
                content=text,
                is_from_me=from_me,
                push_name=account.push_name,
                status=MessageStatus.SENT if from_me else MessageStatus.RECEIVED,
            )
            if quoted is not None:
                message.quoted_message_id = quoted.message_id
                message.quoted_sender = quoted.sender
                message.quoted_preview = quoted.content
            if group is not None:
                name = group.subject
            elif from_me:
                name = peer.push_name if peer is not None else ""
            else:
                name = account.push_name
            return MessageReceived(message, chat_name=name)

        self._fanout(from_phone, device_jid, chat, make, message_id=message_id, owes_receipt=True)
        return timestamp, True

    def _mark_read(self, from_phone: str, device_jid: str, chat_jid: str, ids: Sequence[str], sender: str) -> None:
        parsed = parse_jid(chat_jid).to_non_ad()
        chat = str(parsed)
        author = parse_jid(sender).user if sender else parsed.user
        me = f"{from_phone}@{USER_SERVER}"
        if not ids:
            return
        if author != from_phone:
            self._receipt(author, chat if parsed.is_group else me, ids, ReceiptKind.READ, from_phone)
        event = Receipt(chat, tuple(ids), ReceiptKind.READ_SELF, me, self._now())
        self._post(lambda: self._deliver(from_phone, _Envelope(event, exclude=device_jid)))

    def _react(self, from_phone: str, device_jid: str, chat_jid: str, message_id: str, emoji: str) -> None:
        when = self._now()
        me = f"{from_phone}@{USER_SERVER}"
        self._fanout(
            from_phone, device_jid, chat_jid,
            lambda chat, from_me: Reaction(chat, message_id, me, emoji, when, is_from_me=from_me),
        )

    def _edit(self, from_phone: str, device_jid: str, chat_jid: str, message_id: str, text: str) -> None:
        when = self._now()
        me = f"{from_phone}@{USER_SERVER}"
        self._fanout(
            from_phone, device_jid, chat_jid,
            lambda chat, _from_me: MessageEdited(chat, message_id, text, me, when),
        )

    def _revoke(self, from_phone: str, device_jid: str, chat_jid: str, message_id: str) -> None:
        when = self._now()
        me = f"{from_phone}@{USER_SERVER}"
        self._fanout(
            from_phone, device_jid, chat_jid,
            lambda chat, _from_me: MessageRevoked(chat, message_id, me, when),
        )


__all__ = ["AUTO_REPLIES", "SimAccount", "SimError", "SimGroup", "SimNetwork"]
