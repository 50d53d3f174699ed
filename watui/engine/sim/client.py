"""SimClient: watui's WhatsAppClient protocol over the sim network.

It behaves like the neonize backend as far as the app can tell: ``connect`` only starts
things; progress arrives as events (QR codes that rotate and then stop, PairSuccess,
Connected, history sync, Disconnected with ``retry_in`` while it retries by itself ...).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from watui.domain.errors import EngineError
from watui.domain.events import (
    Connected,
    Disconnected,
    Event,
    HistorySyncBatch,
    LoggedOut,
    PairingCode,
    PairingWindowClosed,
    PairSuccess,
    QRCode,
    SendAcknowledged,
    StreamReplaced,
)
from watui.domain.jid import normalize_phone
from watui.domain.models import QuotedMessage
from watui.engine.protocol import ClientState, EventSink, SendResult
from watui.engine.sim.device_store import StoredDevice, clear_device, read_device, write_device
from watui.engine.sim.errors import SimError

if TYPE_CHECKING:
    from watui.engine.sim.network import SimAccount, SimNetwork, _Device

log = logging.getLogger(__name__)


class SimClient:
    """One session's connection to a SimNetwork (made by ``SimNetwork.client``)."""

    def __init__(self, network: SimNetwork, session_id: str, device_store: Path) -> None:
        self.session_id = session_id
        self.device_store = device_store
        self._network = network
        self._sink: EventSink | None = None
        self._out: deque[Event] = deque()
        self._drain_handle: asyncio.Handle | None = None
        self._device: StoredDevice | None = read_device(device_store)
        self._online = False  # the socket is up: showing QR codes or logged in
        self._attached: _Device | None = None
        self._failures = 0
        self._retry_timer: asyncio.TimerHandle | None = None
        self._qr_timer: asyncio.TimerHandle | None = None
        self._qr_code: str | None = None
        self._qr_index = 0
        self._qr_keys = ("", "", "")
        self._pair_code: tuple[str, str] | None = None  # (phone, code)
        self._held = False  # hold_incoming: the network keeps what is addressed to us

    def __repr__(self) -> str:
        return f"SimClient({self.session_id!r}, online={self._online}, device={self.device_jid!r})"

    @property
    def device_jid(self) -> str:
        return self._device.jid if self._device else ""

    @property
    def current_qr(self) -> str | None:
        """The QR payload shown right now, if any."""
        return self._qr_code

    @property
    def _logged_in(self) -> bool:
        return self._online and self._device is not None and self._qr_code is None

    # --- events ----------------------------------------------------------------------------
    def set_event_sink(self, sink: EventSink) -> None:
        self._sink = sink
        self._schedule_drain()

    def _emit(self, event: Event) -> None:
        self._out.append(event)
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if self._sink is None or self._drain_handle is not None or not self._out:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # set before the loop runs: the first emit on the loop drains
            return
        self._drain_handle = loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Hand buffered events to the sink in order; one history batch per loop turn."""
        self._drain_handle = None
        while self._out and self._sink is not None:
            event = self._out.popleft()
            try:
                self._sink(event)
            except Exception:
                log.exception("event sink of session %s failed on %r", self.session_id, type(event).__name__)
            if isinstance(event, HistorySyncBatch):
                break
        self._schedule_drain()

    # --- the protocol --------------------------------------------------------------------------
    def state(self) -> ClientState:
        device = self._device
        return ClientState(
            is_connected=self._online,
            is_logged_in=self._logged_in,
            device_jid=device.jid if device else "",
            push_name=device.push_name if device else "",
        )

    async def connect(self) -> None:
        if self._online or self._retry_timer is not None:
            return  # already connected, pairing, or retrying
        self._failures = 0
        self._attempt()

    async def disconnect(self) -> None:
        self._go_offline()

    async def logout(self) -> None:
        device = self._device or read_device(self.device_store)
        if device is None:
            raise EngineError("not paired: there is no device to log out")
        self._go_offline()
        self._network._unlink(device.jid)
        clear_device(self.device_store)
        self._device = None
        self._emit(LoggedOut(reason="logged out"))

    async def pair_phone(self, phone: str) -> str:
        if self._qr_code is None:
            raise EngineError("pairing needs a connected client showing QR codes")
        digits = normalize_phone(phone)
        code = self._network._new_pairing_code(self.session_id)
        self._pair_code = (digits, code)
        self._emit(PairingCode(code, digits))
        return code

    async def send_text(
        self,
        chat_jid: str,
        text: str,
        *,
        message_id: str,
        quoted: QuotedMessage | None = None,
    ) -> SendResult:
        device = self._require()
        delay, fail = self._network._behaviour(self.session_id)
        if delay > 0:
            await asyncio.sleep(delay)
            device = self._require()
        if fail:
            raise EngineError(fail)
        timestamp, _new = self._network._send(device.phone, device.jid, chat_jid, text, message_id, quoted)
        self._emit(SendAcknowledged(chat_jid, message_id, timestamp))
        return SendResult(message_id, timestamp)

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str], sender: str) -> None:
        device = self._require()
        self._network._mark_read(device.phone, device.jid, chat_jid, list(message_ids), sender)

    async def revoke(self, chat_jid: str, message_id: str) -> None:
        device = self._require()
        self._network._revoke(device.phone, device.jid, chat_jid, message_id)

    async def edit(self, chat_jid: str, message_id: str, text: str) -> None:
        device = self._require()
        self._network._edit(device.phone, device.jid, chat_jid, message_id, text)

    async def react(self, chat_jid: str, message_id: str, sender: str, emoji: str) -> None:
        device = self._require()
        self._network._react(device.phone, device.jid, chat_jid, message_id, emoji)

    def hold_incoming(self, held: bool) -> None:
        """Held, the network delivers nothing to this device (no DELIVERED receipt goes back
        either), as it does for an offline one; released, it hands over what waited, in order."""
        if held == self._held:
            return
        self._held = held
        if not held:
            self._network._flush_client(self)

    # --- connection machinery -------------------------------------------------------------------
    def _require(self) -> StoredDevice:
        if not self._logged_in or self._device is None:
            raise EngineError("not connected")
        return self._device

    def _attempt(self) -> None:
        self._retry_timer = None
        network = self._network
        if network._is_offline(self.session_id):
            self._fail("network unreachable")
            return
        stored = read_device(self.device_store)
        if stored is None:
            self._device = None
            self._online = True
            self._failures = 0
            self._start_qr()
            return
        problem = network._check_device(stored)
        if problem:  # whatsmeow: LoggedOut on connect, the device is gone, no retry
            clear_device(self.device_store)
            network._revoked.discard(stored.jid)
            self._device = None
            self._emit(LoggedOut(reason=problem, on_connect=True))
            return
        self._device = stored
        self._online = True
        self._failures = 0
        network._attach(self, stored)
        self._emit(Connected(stored.jid, stored.push_name))
        network._flush_client(self)

    def _fail(self, reason: str) -> None:
        self._online = False
        delay = self._network._backoff(self._failures)
        self._failures += 1
        self._emit(Disconnected(reason, retry_in=delay))
        self._retry_timer = self._network._loop().call_later(delay, self._attempt)

    def _go_offline(self) -> None:
        """Stop every timer and the connection, without events."""
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None
        self._stop_qr()
        self._network._detach(self)
        self._online = False

    def _shutdown(self) -> None:
        self._go_offline()
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None

    # --- QR window ---------------------------------------------------------------------------
    def _start_qr(self) -> None:
        self._qr_keys = self._network._qr_keys(self.session_id)
        self._qr_index = 0
        if self not in self._network._showing_qr:
            self._network._showing_qr.append(self)
        self._show_qr()

    def _show_qr(self) -> None:
        network = self._network
        ref = network._qr_ref(self.session_id)
        self._qr_code = ",".join((ref, *self._qr_keys))
        expires = network.qr_first if self._qr_index == 0 else network.qr_next
        self._emit(QRCode(self._qr_code, self._qr_index, network.qr_count, expires))
        self._qr_timer = network._loop().call_later(expires, self._rotate_qr)

    def _rotate_qr(self) -> None:
        self._qr_timer = None
        self._qr_index += 1
        if self._qr_index < self._network.qr_count:
            self._show_qr()
            return
        self._stop_qr()  # whatsmeow closes the socket when the QR channel times out
        self._online = False
        self._emit(PairingWindowClosed())

    def _stop_qr(self) -> None:
        if self._qr_timer is not None:
            self._qr_timer.cancel()
            self._qr_timer = None
        self._qr_code = None
        self._pair_code = None
        if self in self._network._showing_qr:
            self._network._showing_qr.remove(self)

    def _complete_pairing(self, account: SimAccount) -> str:
        network = self._network
        self._stop_qr()
        device = network._register_device(account, self.session_id)
        stored = StoredDevice(device.jid, account.phone, account.push_name)
        write_device(self.device_store, stored)
        self._device = stored
        self._online = True
        self._emit(PairSuccess(device.jid, account.push_name, platform="sim"))
        device.history_pending = True
        network._attach(self, stored)
        self._emit(Connected(device.jid, account.push_name))
        network._flush_client(self)  # the history sync, then messages waiting for the account
        return device.jid

    # --- faults (called by the network) ------------------------------------------------------------
    def _require_online(self, what: str) -> None:
        if not self._online:
            raise SimError(f"cannot {what}: session {self.session_id} is not connected")

    def _drop(self, reason: str, reconnect_after: float | None) -> None:
        self._require_online("drop the connection")
        self._go_offline()
        self._emit(Disconnected(reason, retry_in=reconnect_after))
        if reconnect_after is not None:
            self._retry_timer = self._network._loop().call_later(reconnect_after, self._attempt)

    def _logged_out_from_phone(self) -> None:
        self._go_offline()
        clear_device(self.device_store)
        self._device = None
        self._emit(LoggedOut(reason="unlinked from the phone"))

    def _stream_replaced(self) -> None:
        self._require_online("replace the stream")
        self._go_offline()
        self._emit(StreamReplaced())

    def _network_down(self) -> None:
        if self._online:
            self._go_offline()
            self._fail("network unreachable")
