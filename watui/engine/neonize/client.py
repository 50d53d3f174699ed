"""The real engine: one WhatsApp account on neonize 0.5.2, behind watui's client protocol.

It runs on whatever loop it is created on: a session's child process (the default) or the
app's loop (``isolation = "inline"``). The guards come from measured behaviour
(neonize-notes): every call passes the Go gate; handlers are registered before connect and
never raise; a connect task is never cancelled (that froze the loop for 58 s), the client is
stopped instead; the pairing window is timed here because neonize never reports its end;
one device store per session, so neonize's "first device" can only be this session's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from neonize.aioze import events as neonize_events
from neonize.aioze.client import ClientFactory, NewAClient
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, ExtendedTextMessage, Message
from neonize.utils.enum import ClientName, ReceiptType
from neonize.utils.jid import build_jid

from watui.domain import events as ev
from watui.domain.errors import EngineError
from watui.domain.jid import parse_jid
from watui.domain.models import QuotedMessage, utc_now
from watui.engine.neonize.convert import from_seconds, jid_to_str, non_ad
from watui.engine.neonize.gate import GoGate
from watui.engine.neonize.mapping import EVENT_TYPES, map_event
from watui.engine.protocol import ClientState, EventSink, SendResult
from watui.paths import ensure_private_file

log = logging.getLogger("watui.engine.neonize")

QR_FIRST = 60.0  # whatsmeow: the first code lasts 60 s, the next five 20 s each
QR_NEXT = 20.0
QR_COUNT = 6
PAIRING_WINDOW = 170.0  # ~160 s of codes and a margin; neonize never says the window closed
CONNECT_HOLD = 2.0  # how long connect keeps the gate when nothing shows the socket is up
STOP_TIMEOUT = 10.0


def device_dsn(db_uri: str) -> str:
    """The ``name`` neonize's Go side opens. It appends ``?_foreign_keys=on`` itself; our
    options come first and the trailing ``_x=`` swallows its suffix (neonize-notes §1)."""
    if db_uri.startswith(("postgres://", "postgresql://")):
        return db_uri
    return f"{db_uri}?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_x="


class NeonizeClient:
    def __init__(
        self,
        session_id: str,
        db_uri: str,
        *,
        gate: GoGate | None = None,
        backoff: tuple[float, float] = (2.0, 60.0),
    ) -> None:
        self.session_id = session_id
        self.db_uri = db_uri
        self._gate = gate or GoGate()
        self._backoff_base, self._backoff_max = backoff
        self._sink: EventSink | None = None
        self._buffer: list[ev.Event] = []
        self._client: NewAClient | None = None
        self._task: asyncio.Task | None = None
        self._wanted = False  # connect() called and not disconnect()
        self._failures = 0
        self._retry: asyncio.TimerHandle | None = None
        self._window: asyncio.TimerHandle | None = None
        self._qr_count = 0
        self._socket_up = asyncio.Event()
        self._state = ClientState()
        self._device_jid = ""
        self._forgetting: asyncio.Future | None = None  # clean-up after a phone-side logout
        self._held = False  # hold_incoming, kept across reconnects
        self._intake: threading.Event | None = None  # the current Go client's gate (set = open)

    # --- protocol: events and state ----------------------------------------------------
    def set_event_sink(self, sink: EventSink) -> None:
        self._sink = sink
        buffered, self._buffer = self._buffer, []
        for event in buffered:
            sink(event)

    def _emit(self, event: ev.Event) -> None:
        if self._sink is None:
            self._buffer.append(event)
        else:
            self._sink(event)

    def state(self) -> ClientState:
        return self._state

    def hold_incoming(self, held: bool) -> None:
        """Close (or open) the gate in front of neonize's event callback; see _gate_intake
        for what that holds back and what it cannot."""
        self._held = held
        intake = self._intake
        if intake is not None:
            if held:
                intake.clear()
            else:
                intake.set()

    def _set_state(self, **changes: object) -> None:
        values = {
            "is_connected": self._state.is_connected,
            "is_logged_in": self._state.is_logged_in,
            "device_jid": self._state.device_jid,
            "push_name": self._state.push_name,
            **changes,
        }
        self._state = ClientState(**values)

    # --- protocol: lifecycle -----------------------------------------------------------
    async def connect(self) -> None:
        self._wanted = True
        self._failures = 0
        await self._start()

    async def _start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        _bind_neonize_to_this_loop()
        dsn = device_dsn(self.db_uri)
        if not dsn.startswith("postgres"):
            private_device_store(Path(self.db_uri))
        async with self._gate.exclusive():
            devices = await asyncio.to_thread(_devices, dsn)  # also creates the schema first
            if devices:
                self._device_jid = stored_device_jid(devices[0])
                self._set_state(device_jid=self._device_jid, push_name=devices[0].PushName)
            # No jid= ever: resuming a device that is not in the store panics in Go. With one
            # store per session, neonize's first device is this session's, or a new one.
            client = NewAClient(dsn, uuid=self.session_id)
            self._register(client)
            self._client = client
            self._qr_count = 0
            self._socket_up.clear()
            self._task = await client.connect()
            self._task.add_done_callback(self._connect_ended)
            # Hold the gate until the socket is up (a QR or Connected arrived), the dial
            # ended, or a short while passed: Go's maps are written during this time.
            try:
                await asyncio.wait_for(self._socket_up.wait(), CONNECT_HOLD)
            except TimeoutError:
                pass

    def _register(self, client: NewAClient) -> None:
        for event_type in EVENT_TYPES:
            client.event(event_type)(self._on_event)
        client.event.qr(self._on_qr)
        self._intake = _gate_intake(client, held=self._held)

    async def disconnect(self) -> None:
        self._wanted = False
        self._cancel_timers()
        await self._stop_client()
        self._set_state(is_connected=False, is_logged_in=False)

    async def _stop_client(self) -> None:
        client, task = self._client, self._task
        self._client = None
        intake, self._intake = self._intake, None
        if client is None:
            return
        async with self._gate.exclusive():
            try:
                await asyncio.wait_for(client.stop(), STOP_TIMEOUT)
            except Exception as error:  # stop may wait on a dial; the child is killed if so
                log.warning("session %s: stop did not finish: %s", self.session_id, error)
            finally:
                if intake is not None:
                    # after stop: a callback thread waiting at the gate must end with its
                    # client (what it carries was acknowledged already; it goes to the sink)
                    intake.set()
        if task is not None and not task.done():
            try:  # never cancel it (neonize-notes §1): wait a little for it to end
                await asyncio.wait_for(asyncio.shield(task), 2.0)
            except Exception:
                pass

    async def logout(self) -> None:
        client = self._require_client()
        async with self._gate.shared():
            try:
                await client.logout()
            except Exception as error:
                raise EngineError(f"logout failed: {error}") from None
        await self._forget_device("logged out from watui")

    async def _forget_device(self, reason: str, *, announce: bool = True) -> None:
        """The device is gone (unlinked here or on the phone): clear its store so the next
        pairing starts fresh. Chat history lives in watui's own store and stays."""
        self._wanted = False
        self._cancel_timers()
        await self._stop_client()
        if not self.db_uri.startswith("postgres"):
            for suffix in ("", "-wal", "-shm"):
                Path(self.db_uri + suffix).unlink(missing_ok=True)
        self._device_jid = ""
        self._state = ClientState()
        if announce:
            self._emit(ev.LoggedOut(reason=reason))

    def _connect_ended(self, task: asyncio.Task) -> None:
        """The Go call returned: after stop() (fine), or a failed dial (retry, backing off)."""
        self._socket_up.set()
        error = None if task.cancelled() else task.exception()
        if not self._wanted or self._client is None:
            return
        reason = short_reason(error) if error else "connection ended"
        delay = min(self._backoff_max, self._backoff_base * 2**self._failures)
        self._failures += 1
        self._set_state(is_connected=False)
        log.info("session %s: %s (%s); retrying in %.0f s", self.session_id, reason, error, delay)
        self._emit(ev.Disconnected(reason=reason, retry_in=delay))
        self._retry = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(self._reconnect())
        )

    async def _reconnect(self) -> None:
        if not self._wanted:
            return
        await self._stop_client()
        await self._start()

    def _cancel_timers(self) -> None:
        for handle in (self._retry, self._window):
            if handle is not None:
                handle.cancel()
        self._retry = self._window = None

    # --- events from Go ----------------------------------------------------------------
    async def _on_event(self, _client: NewAClient, proto: object) -> None:
        # neonize drops handler exceptions silently; one bad event must not end the stream
        try:
            for event in map_event(proto, own_jid=self._device_jid):
                self._track(event)
                self._emit(event)
        except Exception:
            log.exception("session %s: could not map %s", self.session_id, type(proto).__name__)

    async def _on_qr(self, _client: NewAClient, data: bytes) -> None:
        try:
            self._socket_up.set()
            index = self._qr_count
            self._qr_count += 1
            if index == 0:
                self._window = asyncio.get_running_loop().call_later(
                    PAIRING_WINDOW, lambda: asyncio.ensure_future(self._window_closed())
                )
            self._set_state(is_connected=True, is_logged_in=False)
            self._emit(
                ev.QRCode(
                    code=data.decode(),
                    index=index,
                    total=QR_COUNT,
                    expires_in=QR_FIRST if index == 0 else QR_NEXT,
                )
            )
        except Exception:
            log.exception("session %s: bad QR callback", self.session_id)

    async def _window_closed(self) -> None:
        """No more codes: stop the client (Go would otherwise wait forever in FetchMe)."""
        if self._state.is_logged_in:
            return
        self._wanted = False
        await self._stop_client()
        self._set_state(is_connected=False)
        self._emit(ev.PairingWindowClosed())

    def _track(self, event: ev.Event) -> None:
        match event:
            case ev.PairSuccess(jid=jid, push_name=push_name):
                self._device_jid = jid
                if self._window is not None:
                    self._window.cancel()
                self._set_state(device_jid=jid, push_name=push_name or self._state.push_name)
            case ev.Connected():
                self._socket_up.set()
                self._failures = 0
                me = getattr(self._client, "me", None)
                jid = self._device_jid or (jid_to_str(me.JID) if me is not None and me.JID.User else "")
                push = (me.PushName if me is not None else "") or self._state.push_name
                self._device_jid = jid
                self._set_state(is_connected=True, is_logged_in=True, device_jid=jid, push_name=push)
            case ev.Disconnected() | ev.StreamReplaced() | ev.TemporaryBan() | ev.ClientOutdated():
                self._set_state(is_connected=False)
                if isinstance(event, ev.StreamReplaced):
                    self._wanted = False  # another client owns the account now; don't fight it
            case ev.LoggedOut():
                # whatsmeow already deleted the device row; never resume it
                # (the LoggedOut event itself is on its way to the session already)
                self._forgetting = asyncio.ensure_future(
                    self._forget_device(event.reason or "unlinked from the phone", announce=False)
                )

    # --- protocol: actions -------------------------------------------------------------
    def _require_client(self) -> NewAClient:
        if self._client is None or self._task is None or self._task.done():
            raise EngineError("not connected")
        return self._client

    def _require_online(self) -> NewAClient:
        client = self._require_client()
        if not self._state.is_logged_in:
            raise EngineError("not connected")
        return client

    async def pair_phone(self, phone: str) -> str:
        client = self._require_client()
        if not self._qr_count:  # PairPhone needs the socket up: the first QR proves it
            raise EngineError("pairing needs a connected client showing QR codes")
        async with self._gate.shared():
            try:
                code = await client.PairPhone(phone, True, ClientName.LINUX)
            except Exception as error:
                raise EngineError(f"pairing by phone failed: {error}") from None
        self._emit(ev.PairingCode(code=code, phone=phone))
        return code

    async def send_text(
        self, chat_jid: str, text: str, *, message_id: str, quoted: QuotedMessage | None = None
    ) -> SendResult:
        client = self._require_online()
        message = _text_message(text, quoted)
        async with self._gate.shared():
            try:
                response = await client.send_message(_jid(chat_jid), message)
            except Exception as error:
                raise EngineError(f"send failed: {error}") from None
        # neonize 0.5.2 cannot send with our id: the server's id is the message's id now
        sent_at = from_seconds(response.Timestamp) if response.Timestamp else utc_now()
        return SendResult(message_id=response.ID or message_id, timestamp=sent_at)

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str], sender: str) -> None:
        client = self._require_online()
        async with self._gate.shared():
            try:
                await client.mark_read(
                    *message_ids, chat=_jid(chat_jid), sender=_jid(sender), receipt=ReceiptType.READ
                )
            except Exception as error:
                raise EngineError(f"read receipt failed: {error}") from None

    async def revoke(self, chat_jid: str, message_id: str) -> None:
        client = self._require_online()
        async with self._gate.shared():
            try:
                await client.revoke_message(_jid(chat_jid), _jid(self._own_jid()), message_id)
            except Exception as error:
                raise EngineError(f"delete failed: {error}") from None

    async def edit(self, chat_jid: str, message_id: str, text: str) -> None:
        client = self._require_online()
        async with self._gate.shared():
            try:
                await client.edit_message(_jid(chat_jid), message_id, Message(conversation=text))
            except Exception as error:
                raise EngineError(f"edit failed: {error}") from None

    async def react(self, chat_jid: str, message_id: str, sender: str, emoji: str) -> None:
        client = self._require_online()
        async with self._gate.shared():
            try:
                reaction = await client.build_reaction(_jid(chat_jid), _jid(sender), message_id, emoji)
                await client.send_message(_jid(chat_jid), reaction)
            except Exception as error:
                raise EngineError(f"reaction failed: {error}") from None

    def _own_jid(self) -> str:
        if not self._device_jid:
            raise EngineError("not paired")
        return non_ad(self._device_jid)


def _text_message(text: str, quoted: QuotedMessage | None) -> Message:
    if quoted is None:
        return Message(conversation=text)
    return Message(
        extendedTextMessage=ExtendedTextMessage(
            text=text,
            contextInfo=ContextInfo(
                stanzaID=quoted.message_id,
                participant=quoted.sender,
                quotedMessage=Message(conversation=quoted.content),
            ),
        )
    )


def _gate_intake(client: NewAClient, *, held: bool) -> threading.Event:
    """A gate in front of ``client.event.execute``, the ctypes callback neonize's Go side
    calls for every event, one at a time, on its event-loop thread (CallbackFunction in
    goneonize/main.go); returns it open unless ``held``. Must run before connect(), which
    builds the callback from ``event.execute``.

    While the gate is closed that thread waits (the app's loop does not: execute only
    schedules the handler with run_coroutine_threadsafe). What that holds back, from the
    sources: whatsmeow sends a message's delivery receipt only after its event handlers
    return (message.go, decryptMessages), but neonize's handler just puts the event into a
    Go channel of 100 and returns. So up to ~100 events (plus the one at the gate) are
    still acknowledged and wait in this process's memory; only once that channel is full
    does whatsmeow's handler block, and what comes after it gets no receipt."""
    gate = threading.Event()
    if not held:
        gate.set()
    execute = client.event.execute

    def gated_execute(uuid: int, binary: int, size: int, code: int) -> None:
        gate.wait()
        execute(uuid, binary, size, code)

    client.event.execute = gated_execute
    return gate


def _jid(text: str):
    parsed = parse_jid(text)
    return build_jid(parsed.user, parsed.server)


def private_device_store(path: Path) -> None:
    """The device store holds the account's keys. Go's SQLite creates it with the umask's
    mode (0644), so it is created here first, 0600 (SQLite gives its -wal and -shm the
    main file's mode), and an existing looser one is tightened."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        ensure_private_file(candidate)


def _devices(dsn: str) -> list:
    return ClientFactory.get_all_devices_from_db(dsn)


def stored_device_jid(device) -> str:
    """neonize splits the stored JID on '@' only, so User carries the ':device' part."""
    return f"{device.JID.User}@{device.JID.Server}"


def _bind_neonize_to_this_loop() -> None:
    """neonize keeps the loop its callbacks go to in a module global set once per process;
    a second loop (an app restart, a test) would get nothing (neonize issue #169)."""
    loop = asyncio.get_running_loop()
    neonize_events.event_global_loop = loop
    from neonize.aioze import client as neonize_client

    if hasattr(neonize_client, "event_global_loop"):
        neonize_client.event_global_loop = loop


_KNOWN_FAILURES = (
    ("no such host", "WhatsApp unreachable: DNS lookup failed"),
    ("network is unreachable", "network unreachable"),
    ("connection refused", "connection refused"),
    ("i/o timeout", "connection timed out"),
    ("deadline exceeded", "connection timed out"),
    ("tls:", "TLS handshake failed"),
)


def short_reason(error: BaseException) -> str:
    """A status-line reason for a failed dial; Go's errors nest five causes deep."""
    text = " ".join(str(error).split())
    lowered = text.lower()
    for needle, reason in _KNOWN_FAILURES:
        if needle in lowered:
            return reason
    return text.rsplit(": ", 1)[-1][:120] or "connection failed"


def make_client(
    session_id: str, db_uri: str, backoff_base: str = "2", backoff_max: str = "60"
) -> NeonizeClient:
    """Factory for the isolation child: ``watui.engine.neonize.client:make_client`` (its
    arguments arrive as strings from the child's command line)."""
    return NeonizeClient(session_id, db_uri, backoff=(float(backoff_base), float(backoff_max)))
