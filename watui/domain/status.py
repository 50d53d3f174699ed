"""What a session is doing, as the status panel, `watui sessions` and the socket report it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ConnectionState(enum.StrEnum):
    STOPPED = "stopped"  # not started, or shut down
    CONNECTING = "connecting"
    NEEDS_PAIRING = "needs_pairing"  # connected to the server, no device: showing QR codes
    CONNECTED = "connected"
    OFFLINE = "offline"  # could not connect or lost the connection; retrying
    LOGGED_OUT = "logged_out"  # the device was unlinked; pairing needed again


@dataclass(slots=True)
class SessionStatus:
    session_id: str
    label: str = ""
    state: ConnectionState = ConnectionState.STOPPED
    is_connected: bool = False
    is_logged_in: bool = False
    device_id: str = ""  # the companion JID, user:device@s.whatsapp.net
    push_name: str = ""
    is_default: bool = False
    last_error: str = ""
    retry_at: datetime | None = None
    sync_progress: float | None = None  # 0..100 during a history sync, else None
    synced_messages: int = 0
    # while the store cannot be written: why, e.g. "database or disk is full, retrying";
    # incoming events wait (unacknowledged) until it clears
    store_error: str = ""

    def seed_dict(self) -> dict[str, object]:
        """The seed's GET /sessions entry, field for field."""
        return {
            "session_id": self.session_id,
            "is_connected": self.is_connected,
            "is_logged_in": self.is_logged_in,
            "device_id": self.device_id,
            "is_default": self.is_default,
        }

    def as_dict(self) -> dict[str, object]:
        """The seed's fields plus watui's own, for --json output and the control socket."""
        return {
            **self.seed_dict(),
            "label": self.label,
            "state": self.state.value,
            "push_name": self.push_name,
            "last_error": self.last_error,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "sync_progress": self.sync_progress,
            "store_error": self.store_error,
        }
