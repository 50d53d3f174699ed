"""WhatsApp JIDs and phone numbers.

A JID is ``user[.agent][:device]@server``. neonize has no public parser, and ours must also
read the device form (``15551234567:12@s.whatsapp.net``) that whatsmeow stores for companions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from watui.domain.errors import InvalidJID, InvalidPhoneNumber

USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"
BROADCAST_SERVER = "broadcast"
NEWSLETTER_SERVER = "newsletter"
KNOWN_SERVERS = frozenset(
    {USER_SERVER, GROUP_SERVER, LID_SERVER, BROADCAST_SERVER, NEWSLETTER_SERVER, "c.us", "hosted", "hosted.lid"}
)

_JID_RE = re.compile(
    r"^(?P<user>[0-9A-Za-z_\-]+)(?:\.(?P<agent>\d+))?(?::(?P<device>\d+))?@(?P<server>[a-z.]+)$"
)
_PHONE_ALLOWED = re.compile(r"^\+?[0-9 ()\-]+$")


@dataclass(frozen=True, slots=True)
class JID:
    user: str
    server: str = USER_SERVER
    device: int = 0
    agent: int = 0

    def __str__(self) -> str:
        agent = f".{self.agent}" if self.agent else ""
        device = f":{self.device}" if self.device else ""
        return f"{self.user}{agent}{device}@{self.server}"

    @property
    def is_group(self) -> bool:
        return self.server == GROUP_SERVER

    @property
    def is_lid(self) -> bool:
        return self.server == LID_SERVER

    def to_non_ad(self) -> JID:
        """The account JID without device or agent: the chat a message from this device belongs to."""
        return JID(self.user, self.server)


def parse_jid(text: str) -> JID:
    """Parse ``user@server`` or ``user[.agent]:device@server``; refuse anything else clearly."""
    if not isinstance(text, str) or not text:
        raise InvalidJID("invalid JID: empty")
    match = _JID_RE.match(text.strip())
    if match is None:
        raise InvalidJID(f"invalid JID {text!r}: expected user@server, e.g. 15551234567@s.whatsapp.net")
    server = match["server"]
    if server not in KNOWN_SERVERS:
        raise InvalidJID(f"invalid JID {text!r}: unknown server {server!r}")
    return JID(
        user=match["user"],
        server=server,
        device=int(match["device"] or 0),
        agent=int(match["agent"] or 0),
    )


def normalize_phone(text: str) -> str:
    """Digits with country code. Accepts a leading '+', spaces, dashes and parentheses."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidPhoneNumber("invalid phone number: empty")
    raw = text.strip()
    if not _PHONE_ALLOWED.match(raw) or "+" in raw[1:]:
        raise InvalidPhoneNumber(
            f"invalid phone number {text!r}: use digits with country code, e.g. +1 555 123 4567"
        )
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("0"):
        raise InvalidPhoneNumber(
            f"invalid phone number {text!r}: start with the country code, not 0"
        )
    if not 7 <= len(digits) <= 15:
        raise InvalidPhoneNumber(
            f"invalid phone number {text!r}: {len(digits)} digits, expected 7 to 15 with country code"
        )
    return digits


def phone_to_jid(text: str) -> JID:
    return JID(normalize_phone(text), USER_SERVER)


def to_chat_jid(text: str) -> JID:
    """What a user typed as a recipient: a JID, or a phone number."""
    return parse_jid(text) if "@" in text else phone_to_jid(text)


def format_phone(digits: str) -> str:
    """'+15551234567' style display for a bare user part; group ids and LIDs are left alone."""
    return f"+{digits}" if digits.isdigit() else digits


def display_for_jid(jid: str) -> str:
    """A readable fallback name for a chat or sender that has no name yet."""
    try:
        parsed = parse_jid(jid)
    except InvalidJID:
        return jid
    if parsed.server in (USER_SERVER, "c.us"):
        return format_phone(parsed.user)
    return str(parsed.to_non_ad())
