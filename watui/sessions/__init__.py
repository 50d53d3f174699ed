"""Run-time sessions: SessionManager, each Session's queue and consumer, the handlers."""

from watui.sessions.manager import SessionManager, SessionRegistry
from watui.sessions.notices import (
    ChatsChanged,
    LiveEvent,
    MessagesChanged,
    Notice,
    PairingUpdate,
    SessionsChanged,
    StatusChanged,
)
from watui.sessions.session import Session

__all__ = [
    "ChatsChanged",
    "LiveEvent",
    "MessagesChanged",
    "Notice",
    "PairingUpdate",
    "Session",
    "SessionManager",
    "SessionRegistry",
    "SessionsChanged",
    "StatusChanged",
]
