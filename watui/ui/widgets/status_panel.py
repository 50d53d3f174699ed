"""A live view of one session's status: connection (with the retry countdown when offline),
login, device JID, push name and whether it is the default -- and, while the store cannot
be written, why (a "Store" line: incoming messages wait until it clears).

The parent sets ``status`` (``set_status``); the panel redraws itself every second while a
retry countdown is showing. ``compact`` gives the one-line form (wrapping to two on narrow panels).
The clock is injectable (``now``) so the countdown is testable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from watui.domain.status import ConnectionState, SessionStatus
from watui.domain.text import printable

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def seconds_until(when: datetime, now: datetime) -> int:
    """Whole seconds (rounded up, never negative) from ``now`` to ``when``; a naive and an
    aware datetime are compared as local time."""
    if when.tzinfo is None and now.tzinfo is not None:
        now = now.astimezone().replace(tzinfo=None)
    elif when.tzinfo is not None and now.tzinfo is None:
        now = now.astimezone()
    return max(0, math.ceil((when - now).total_seconds()))


def connection_text(status: SessionStatus, now: datetime) -> str:
    """'yes', or 'offline: <reason>, retrying in 5s', or what the session is doing."""
    reason = printable(status.last_error, single_line=True).strip()
    if status.state is ConnectionState.NEEDS_PAIRING:
        # the socket is up (is_connected) to fetch QR codes, but no account is linked yet
        return "no: not paired yet"
    if status.is_connected or status.state is ConnectionState.CONNECTED:
        return "yes"
    if status.state is ConnectionState.OFFLINE:
        text = f"offline: {reason}" if reason else "offline"
        if status.retry_at is not None:
            seconds = seconds_until(status.retry_at, now)
            text += f", retrying in {seconds}s" if seconds else ", retrying now"
        return text
    return {
        ConnectionState.CONNECTING: "connecting…",
        ConnectionState.NEEDS_PAIRING: "no: not paired yet",
        ConnectionState.LOGGED_OUT: "no: logged out" + (f" ({reason})" if reason else ""),
        ConnectionState.STOPPED: "no: stopped",
    }.get(status.state, "no")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


class StatusPanel(Widget):
    """One SessionStatus, live."""

    DEFAULT_CSS = """
    StatusPanel {
        width: 1fr;
        height: auto;
        padding: 0 1;
    }
    """

    compact: reactive[bool] = reactive(False, layout=True)

    def __init__(
        self,
        status: SessionStatus | None = None,
        *,
        now: Clock | None = None,
        compact: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.status = status
        self.now: Clock = now or _utc_now
        self.set_reactive(StatusPanel.compact, compact)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def set_status(self, status: SessionStatus | None) -> None:
        self.status = status
        self.refresh(layout=True)

    def _tick(self) -> None:
        if self.status is not None and self.status.retry_at is not None:
            self.refresh()

    # --- text ---------------------------------------------------------------------------
    def fields(self) -> list[tuple[str, str]]:
        """(label, value) pairs of the full form."""
        status = self.status
        if status is None:
            return []
        pairs = [
            ("Connected", connection_text(status, self.now())),
            ("Logged in", _yes_no(status.is_logged_in)),
            ("Device", printable(status.device_id, single_line=True) or "none"),
            ("Push name", printable(status.push_name, single_line=True) or "—"),
            ("Default", _yes_no(status.is_default)),
        ]
        if status.store_error:
            pairs.append(("Store", printable(status.store_error, single_line=True)))
        return pairs

    def compact_text(self) -> str:
        """The one-line form: '<label> · <connection> · logged in · default'."""
        status = self.status
        if status is None:
            return "no session"
        label = printable(status.label or status.session_id, single_line=True)
        connection = connection_text(status, self.now())
        parts = [label, "connected" if connection == "yes" else connection]
        parts.append("logged in" if status.is_logged_in else "not logged in")
        if status.is_default:
            parts.append("default")
        if status.store_error:
            parts.append("store: " + printable(status.store_error, single_line=True))
        return " · ".join(parts)

    def text(self) -> str:
        if self.compact or self.status is None:
            return self.compact_text()
        pairs = self.fields()
        width = max(len(label) for label, _ in pairs) + 1
        return "\n".join(f"{label + ':':<{width}} {value}" for label, value in pairs)

    def render(self) -> Content:
        if self.compact or self.status is None:
            return Content(self.compact_text())
        pairs = self.fields()
        width = max(len(label) for label, _ in pairs) + 1
        lines = []
        for label, value in pairs:
            style = ""
            if label == "Connected":
                style = "$success" if value == "yes" else "$warning"
            elif label == "Store":
                style = "$error"
            lines.append(Content.assemble((f"{label + ':':<{width}} ", "$text-muted"), (value, style)))
        return Content("\n").join(lines)


__all__ = ["StatusPanel", "connection_text", "seconds_until"]
