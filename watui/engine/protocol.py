"""The one client protocol every WhatsApp backend implements (sim, neonize, and the
process-isolation proxy). SessionManager and the UI only ever see this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from watui.domain.events import Event
from watui.domain.models import QuotedMessage

EventSink = Callable[[Event], None]
"""Called on the app's loop for every domain event, in order. Must not block."""


@dataclass(frozen=True, slots=True)
class ClientState:
    is_connected: bool = False
    is_logged_in: bool = False
    device_jid: str = ""  # the companion JID once paired, e.g. 15551234567:3@s.whatsapp.net
    push_name: str = ""

    @property
    def is_paired(self) -> bool:
        return bool(self.device_jid)


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: str
    timestamp: datetime


@runtime_checkable
class WhatsAppClient(Protocol):
    """One WhatsApp account's connection. All methods run on the app's loop.

    ``connect`` starts the client and returns once it is under way (not once logged in);
    progress arrives as events: QRCode for an unpaired device, Connected, Disconnected ...
    The backend retries a lost connection itself and says so with ``retry_in``.
    Methods that need a live connection raise EngineError when there is none.
    """

    session_id: str

    def set_event_sink(self, sink: EventSink) -> None: ...

    def state(self) -> ClientState: ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None:
        """Stop the connection and every retry; ``connect`` may be called again later."""

    async def logout(self) -> None:
        """Unlink this device from the account and forget it; history in the store stays."""

    async def pair_phone(self, phone: str) -> str:
        """Ask for an 8-character pairing code (ABCD-EFGH) for ``phone`` (digits with
        country code). Only valid while the client is showing QR codes."""

    async def send_text(
        self,
        chat_jid: str,
        text: str,
        *,
        message_id: str,
        quoted: QuotedMessage | None = None,
    ) -> SendResult: ...

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str], sender: str) -> None: ...

    async def revoke(self, chat_jid: str, message_id: str) -> None: ...

    async def edit(self, chat_jid: str, message_id: str, text: str) -> None: ...

    async def react(self, chat_jid: str, message_id: str, sender: str, emoji: str) -> None: ...

    def hold_incoming(self, held: bool) -> None:
        """While ``held``, hand over no new events: the store cannot take them, so they must
        not be acknowledged to the server as received. Events already handed over stay
        handed over. Released, the backend delivers what it held back, in order. Returns at
        once; the connection (and the engine's heartbeat) carries on meanwhile."""
