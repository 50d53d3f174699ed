"""Pairing an unlinked session: the QR code, the phone-number code, and the history sync after.

The parent feeds it (attributes down): ``show_qr``, ``show_code``, ``window_closed``,
``paired`` and ``sync_progress``. The user's choices go up as messages:
``PairingView.RestartRequested`` (key p, binding id ``pairing.restart``) and
``PairingView.PhonePairingRequested`` (key c, binding id ``pairing.phone``).

The QR is always dark modules on a light background, quiet zone included, whatever the
theme: phone scanners do not read inverted codes reliably.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from watui.domain.events import PairingCode, QRCode
from watui.domain.text import printable
from watui.qr import render_qr

Mode = Literal["waiting", "qr", "code", "closed", "paired"]

QR_STYLE = "#000000 on #ffffff"  # dark modules on light, never themed
QR_TEXT_LINES = 2  # the caption and the key hint under the code
SCAN_STEPS = "Scan with WhatsApp → Linked devices → Link a device"
PHONE_STEPS = (
    "On your phone: WhatsApp → Linked devices → Link a device → "
    "Link with phone number instead, then type this code"
)


def countdown_caption(index: int, total: int, remaining: int) -> str:
    """'Scan with … · code 2 of 6 · 43 s' for the 0-based ``index``."""
    return f"{SCAN_STEPS} · code {index + 1} of {total} · {remaining} s"


def sync_caption(done: int, progress: float | None) -> str:
    text = f"History sync: {done:,} messages"
    if progress is not None:
        text += f" · {max(0.0, min(100.0, progress)):.0f}%"
    return text


def spaced_code(code: str) -> str:
    """'ABCD-EFGH' as 'A B C D - E F G H': easier to read off and type."""
    return " ".join(printable(code, single_line=True).strip())


class PairingView(Widget, can_focus=True):
    """Shown in place of the chats while a session has no linked device."""

    DEFAULT_CSS = """
    PairingView {
        width: 1fr;
        height: 1fr;
        align: center middle;
        layout: vertical;
        overflow: hidden hidden;
    }
    PairingView Center { height: auto; }
    PairingView #pairing-qr {
        width: auto;
        height: auto;
        color: #000000;
        background: #ffffff;
        text-style: none;
    }
    PairingView .pairing-text {
        width: 1fr;
        height: auto;
        text-align: center;
    }
    PairingView #pairing-code {
        width: auto;
        height: auto;
        padding: 1 4;
        border: heavy $primary;
        text-style: bold;
        color: $text;
    }
    PairingView #pairing-sync-bar { width: auto; height: 1; }
    PairingView .-hidden { display: none; }
    """

    BINDING_GROUP_TITLE = "Pairing"
    BINDINGS = [
        Binding("p", "restart", "New QR code", id="pairing.restart"),
        Binding("c", "phone", "Pair by phone number", id="pairing.phone"),
        Binding("s", "simulate_scan", "Simulate scan", id="pairing.simulate_scan"),
    ]

    @dataclass
    class RestartRequested(Message):
        """The user asked for a new pairing window (new QR codes)."""

        session_id: str

    @dataclass
    class SimulateScanRequested(Message):
        """Demo only: pair as if the phone had scanned the code on screen."""

        session_id: str

    @dataclass
    class PhonePairingRequested(Message):
        """The user wants to pair by phone number instead of scanning."""

        session_id: str

    def __init__(
        self,
        session_id: str,
        *,
        tick_interval: float | None = 1.0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.session_id = session_id
        #: The session runs on the simulated network: offer the demo's simulated scan.
        self.simulated = False
        self.mode: Mode = "waiting"
        self.qr: QRCode | None = None
        self.qr_lines: list[str] = []
        self.pairing_code: PairingCode | None = None
        self.remaining = 0  # seconds until the current QR code expires
        self.synced_messages = 0
        self.sync_percent: float | None = None
        self._tick_interval = tick_interval
        self._timer: Timer | None = None

    # --- composition --------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Center(id="pairing-qr-row"):
            yield Static(id="pairing-qr", markup=False)
        yield Static(id="pairing-caption", classes="pairing-text", markup=False)
        with Center(id="pairing-code-row"):
            yield Static(id="pairing-code", markup=False)
        with Center(id="pairing-sync-row"):
            yield ProgressBar(
                total=100, show_eta=False, show_percentage=False, id="pairing-sync-bar"
            )
        yield Static(id="pairing-hint", classes="pairing-text", markup=False)

    def on_mount(self) -> None:
        if self._tick_interval is not None:
            self._timer = self.set_interval(self._tick_interval, self.tick)
        self._update_view()

    def on_resize(self) -> None:
        self._update_view()

    # --- attributes down ----------------------------------------------------------------
    def show_qr(self, event: QRCode) -> None:
        self.mode = "qr"
        self.qr = event
        self.qr_lines = render_qr(event.code)
        self.remaining = max(0, math.ceil(event.expires_in))
        self._update_view()

    def show_code(self, event: PairingCode) -> None:
        self.mode = "code"
        self.pairing_code = event
        self._update_view()

    def window_closed(self) -> None:
        self.mode = "closed"
        self.qr = None
        self.qr_lines = []
        self.remaining = 0
        self._update_view()

    def paired(self) -> None:
        self.mode = "paired"
        self.qr = None
        self.qr_lines = []
        self.remaining = 0
        self._update_view()
        self.refresh_bindings()

    def sync_progress(self, done: int, progress: float | None) -> None:
        if self.mode != "paired":
            self.paired()
        self.synced_messages = done
        self.sync_percent = progress
        self._update_view()

    # --- countdown ----------------------------------------------------------------------
    def tick(self) -> None:
        """One second passed (the interval timer calls this; tests may call it directly)."""
        if self.mode == "qr" and self.remaining > 0:
            self.remaining -= 1
            self._update_view()

    # --- sizes --------------------------------------------------------------------------
    def needed_size(self) -> tuple[int, int]:
        """(columns, lines) this widget needs to show the current QR with its text."""
        if not self.qr_lines:
            return 0, 0
        return len(self.qr_lines[0]), len(self.qr_lines) + QR_TEXT_LINES

    def too_small(self) -> bool:
        columns, lines = self.needed_size()
        size = self.size
        return self.mode == "qr" and (size.width < columns or size.height < lines)

    def too_small_message(self) -> str:
        """Named in terminal cells: what the terminal needs, with the app's chrome around this
        widget counted, and what it has."""
        columns, lines = self.needed_size()
        terminal = self.app.size
        need_w = columns + max(0, terminal.width - self.size.width)
        need_h = lines + max(0, terminal.height - self.size.height)
        return (
            f"This terminal is too small for the QR code: it needs {need_w}x{need_h}; "
            f"yours is {terminal.width}x{terminal.height}. "
            f"Press {self._key_for('pairing.phone', 'c')} to pair with a phone number instead"
        )

    # --- rendering ----------------------------------------------------------------------
    def _key_for(self, binding_id: str, default: str) -> str:
        """The key currently bound to ``binding_id`` (after keymap changes), for the texts."""
        if not self.is_attached:
            return default
        try:
            for key, active in self.screen.active_bindings.items():
                if active.binding.id == binding_id:
                    return self.app.get_key_display(active.binding.with_key(key))
        except Exception:  # no screen yet while mounting
            pass
        return default

    def caption_text(self) -> str:
        """The line under (or instead of) the QR code, for the current state."""
        if self.mode == "waiting":
            return "Waiting for a pairing code…"
        if self.mode == "qr" and self.qr is not None:
            if self.too_small():
                return self.too_small_message()
            return countdown_caption(self.qr.index, self.qr.total, self.remaining)
        if self.mode == "code":
            return PHONE_STEPS
        if self.mode == "closed":
            key = self._key_for("pairing.restart", "p")
            return f"Pairing window closed — press {key} to show a new code"
        return "Linked. Fetching your chats…"

    def hint_text(self) -> str:
        if self.mode == "qr" and not self.too_small():
            key = self._key_for("pairing.phone", "c")
            return f"Press {key} to pair with a phone number instead"
        if self.mode == "code" and self.pairing_code is not None and self.pairing_code.phone:
            phone = printable(self.pairing_code.phone, single_line=True)
            return f"Code for +{phone.lstrip('+')}"
        if self.mode == "paired":
            return sync_caption(self.synced_messages, self.sync_percent)
        return ""

    def _update_view(self) -> None:
        if not self.is_mounted:
            return
        show_qr = self.mode == "qr" and bool(self.qr_lines) and not self.too_small()
        qr = self.query_one("#pairing-qr", Static)
        if show_qr:
            qr.update(Content.styled("\n".join(self.qr_lines), QR_STYLE))
        self.query_one("#pairing-qr-row").set_class(not show_qr, "-hidden")

        self.query_one("#pairing-caption", Static).update(Content(self.caption_text()))

        code_row = self.query_one("#pairing-code-row")
        code_row.set_class(self.mode != "code", "-hidden")
        if self.mode == "code" and self.pairing_code is not None:
            self.query_one("#pairing-code", Static).update(
                Content(spaced_code(self.pairing_code.code))
            )

        sync_row = self.query_one("#pairing-sync-row")
        sync_row.set_class(self.mode != "paired", "-hidden")
        if self.mode == "paired":
            bar = self.query_one("#pairing-sync-bar", ProgressBar)
            if self.sync_percent is None:
                bar.update(total=None)
            else:
                bar.update(total=100, progress=max(0.0, min(100.0, self.sync_percent)))

        hint = self.hint_text()
        hint_widget = self.query_one("#pairing-hint", Static)
        hint_widget.update(Content(hint))
        hint_widget.set_class(not hint, "-hidden")

    # --- actions ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("restart", "phone", "simulate_scan") and self.mode == "paired":
            return False
        if action == "simulate_scan":
            return self.simulated and self.mode in ("qr", "code")
        return True

    def action_restart(self) -> None:
        self.post_message(self.RestartRequested(self.session_id))

    def action_phone(self) -> None:
        self.post_message(self.PhonePairingRequested(self.session_id))

    def action_simulate_scan(self) -> None:
        self.post_message(self.SimulateScanRequested(self.session_id))


__all__ = ["PairingView", "countdown_caption", "spaced_code", "sync_caption"]
