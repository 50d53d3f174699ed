"""PairingView: the QR on screen must decode (dark on light, whatever the theme), the countdown,
the too-small message, the phone-code and sync states, and the messages its keys post."""

from __future__ import annotations

import base64
import random

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from watui.domain.events import PairingCode, QRCode
from watui.qr import qr_text_size
from watui.ui.themes import load_themes
from watui.ui.widgets.pairing import PairingView, countdown_caption, spaced_code, sync_caption

import zxingcpp  # noqa: E402  (a test dependency: a missing install must fail, not skip)


def whatsmeow_payload(seed: int = 7) -> str:
    """The shape whatsmeow puts in a pairing QR: ref,noise-pub,identity-pub,adv-secret."""
    rng = random.Random(seed)
    ref = "2@" + base64.b64encode(rng.randbytes(60)).decode()[:78]
    keys = [base64.b64encode(rng.randbytes(32)).decode() for _ in range(3)]
    return ",".join([ref, *keys])


PAYLOAD = whatsmeow_payload()


class PairingApp(App[None]):
    def __init__(self, theme: str = "watui-dark", sidebar: int = 0) -> None:
        super().__init__()
        self._theme_name = theme
        self._sidebar = sidebar
        self.seen: list[object] = []

    def compose(self) -> ComposeResult:
        with Horizontal():
            if self._sidebar:
                side = Static("sessions")
                side.styles.width = self._sidebar
                yield side
            yield PairingView("work", tick_interval=None)

    def on_mount(self) -> None:
        themes, warnings = load_themes(None)
        assert not warnings
        for theme in themes:
            self.register_theme(theme)
        self.theme = self._theme_name
        self.query_one(PairingView).focus()

    def on_pairing_view_restart_requested(self, message: PairingView.RestartRequested) -> None:
        self.seen.append(message)

    def on_pairing_view_phone_pairing_requested(self, message: PairingView.PhonePairingRequested) -> None:
        self.seen.append(message)


# --- rasterising the screen -----------------------------------------------------------------
# Each terminal cell becomes SCALE x (2*SCALE) grey pixels: the top half takes the colour of the
# upper module, the bottom half the lower one. Other characters count as their background.

SCALE = 4


def _luma(rgb: tuple[int, int, int]) -> int:
    r, g, b = rgb
    return int(0.299 * r + 0.587 * g + 0.114 * b)


def screen_pixels(app: App) -> tuple[memoryview, int, int]:
    strips = app.screen._compositor.render_strips()  # what the terminal would show
    rows: list[list[int]] = []
    for strip in strips:
        top: list[int] = []
        bottom: list[int] = []
        for segment in strip:
            style = segment.style
            fg = style.color.get_truecolor() if style and style.color else (255, 255, 255)
            bg = style.bgcolor.get_truecolor() if style and style.bgcolor else (0, 0, 0)
            if style and style.reverse:
                fg, bg = bg, fg
            fg_l, bg_l = _luma(fg), _luma(bg)
            for char in segment.text:
                upper, lower = {"█": (fg_l, fg_l), "▀": (fg_l, bg_l), "▄": (bg_l, fg_l)}.get(
                    char, (bg_l, bg_l)
                )
                top.append(upper)
                bottom.append(lower)
        rows += [top, bottom]
    width = len(rows[0]) * SCALE
    data = bytearray()
    for row in rows:
        line = bytes(value for value in row for _ in range(SCALE))
        data += line * SCALE
    height = len(rows) * SCALE
    return memoryview(bytes(data)).cast("B", (height, width)), width, height


def decode_screen(app: App) -> list[str]:
    image, _, _ = screen_pixels(app)
    # no inversion: a light-on-dark code must NOT count as readable
    results = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormat.QRCode, try_invert=False
    )
    return [result.text for result in results]


# --- tests ----------------------------------------------------------------------------------


def test_payload_is_whatsmeow_shaped() -> None:
    assert 200 <= len(PAYLOAD) <= 230
    ref, *keys = PAYLOAD.split(",")
    assert ref.startswith("2@") and len(keys) == 3
    assert all(len(base64.b64decode(key)) == 32 for key in keys)


@pytest.mark.parametrize("theme", ["watui-dark", "watui-light", "high-contrast", "textual-light"])
async def test_qr_on_screen_decodes_in_every_theme(theme: str) -> None:
    app = PairingApp(theme)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD, index=1, total=6, expires_in=43))
        await pilot.pause()
        assert app.theme == theme
        assert decode_screen(app) == [PAYLOAD]
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert caption == (
            "Scan with WhatsApp → Linked devices → Link a device · code 2 of 6 · 43 s"
        )


async def test_qr_is_dark_on_light_explicitly() -> None:
    app = PairingApp("watui-dark")
    async with app.run_test(size=(100, 40)) as pilot:
        app.query_one(PairingView).show_qr(QRCode(PAYLOAD))
        await pilot.pause()
        qr = app.query_one("#pairing-qr", Static)
        strips = qr.render_lines(qr.region.reset_offset)
        colours = {
            (seg.style.color.get_truecolor(), seg.style.bgcolor.get_truecolor())
            for strip in strips
            for seg in strip
        }
        assert colours == {((0, 0, 0), (255, 255, 255))}
        # the quiet zone (first line) is light: spaces on white
        assert strips[0].text.strip() == ""


async def test_new_code_replaces_the_old_one() -> None:
    app = PairingApp()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD, index=0, expires_in=60))
        await pilot.pause()
        second = whatsmeow_payload(seed=8)
        view.show_qr(QRCode(second, index=1, expires_in=20))
        await pilot.pause()
        assert decode_screen(app) == [second]
        assert view.remaining == 20


async def test_too_small_terminal_says_what_it_needs() -> None:
    columns, lines = qr_text_size(PAYLOAD)
    app = PairingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD, index=0, expires_in=60))
        await pilot.pause()
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert caption == (
            f"This terminal is too small for the QR code: it needs {columns}x{lines + 2}; "
            "yours is 80x24. Press c to pair with a phone number instead"
        )
        assert (columns, lines + 2) == (57, 31)
        assert not app.query_one("#pairing-qr-row").display
        assert decode_screen(app) == []
        # growing the terminal brings the code back
        await pilot.resize_terminal(100, 40)
        await pilot.pause()
        assert decode_screen(app) == [PAYLOAD]


async def test_too_small_counts_the_chrome_around_the_view() -> None:
    columns, lines = qr_text_size(PAYLOAD)
    app = PairingApp(sidebar=30)
    async with app.run_test(size=(80, 40)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD))
        await pilot.pause()
        assert view.size.width == 50
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert f"it needs {columns + 30}x{lines + 2}; yours is 80x40" in caption


async def test_countdown_ticks_without_the_clock() -> None:
    app = PairingApp()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD, index=4, total=6, expires_in=2.2))
        assert view.remaining == 3  # rounded up
        view.tick()
        view.tick()
        await pilot.pause()
        assert view.remaining == 1
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert caption.endswith("code 5 of 6 · 1 s")
        view.tick()
        view.tick()
        assert view.remaining == 0  # never negative


def test_caption_helpers() -> None:
    assert countdown_caption(1, 6, 43) == (
        "Scan with WhatsApp → Linked devices → Link a device · code 2 of 6 · 43 s"
    )
    assert sync_caption(1234, 45.2) == "History sync: 1,234 messages · 45%"
    assert sync_caption(7, None) == "History sync: 7 messages"
    assert spaced_code("ABCD-EFGH") == "A B C D - E F G H"
    assert spaced_code("AB\x1b[2JCD") == "A B \\ x 1 b [ 2 J C D"


async def test_window_closed_and_restart_key() -> None:
    app = PairingApp()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD))
        view.window_closed()
        await pilot.pause()
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert caption == "Pairing window closed — press p to show a new code"
        assert decode_screen(app) == []
        await pilot.press("p")
        await pilot.press("c")
        assert app.seen == [
            PairingView.RestartRequested("work"),
            PairingView.PhonePairingRequested("work"),
        ]


async def test_closed_text_follows_the_keymap() -> None:
    app = PairingApp()
    async with app.run_test(size=(100, 40)) as pilot:
        app.set_keymap({"pairing.restart": "r"})
        view = app.query_one(PairingView)
        view.window_closed()
        await pilot.pause()
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert caption == "Pairing window closed — press r to show a new code"
        await pilot.press("r")
        assert app.seen == [PairingView.RestartRequested("work")]


async def test_phone_code_display() -> None:
    app = PairingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(PairingView)
        view.show_code(PairingCode("ABCD-EFGH", phone="15551234567"))
        await pilot.pause()
        assert app.query_one("#pairing-code", Static).render().plain == "A B C D - E F G H"
        caption = app.query_one("#pairing-caption", Static).render().plain
        assert caption == (
            "On your phone: WhatsApp → Linked devices → Link a device → "
            "Link with phone number instead, then type this code"
        )
        screen_text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "A B C D - E F G H" in screen_text


async def test_paired_then_history_sync_progress() -> None:
    app = PairingApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(PairingView)
        view.show_qr(QRCode(PAYLOAD))
        view.paired()
        view.sync_progress(1234, 45.0)
        await pilot.pause()
        assert app.query_one("#pairing-hint", Static).render().plain == (
            "History sync: 1,234 messages · 45%"
        )
        bar = app.query_one(ProgressBar)
        assert bar.percentage == pytest.approx(0.45)
        assert app.query_one("#pairing-sync-row").display
        # keys for pairing are off once paired
        await pilot.press("p", "c")
        assert app.seen == []
        view.sync_progress(2000, None)
        await pilot.pause()
        assert app.query_one("#pairing-hint", Static).render().plain == "History sync: 2,000 messages"
        assert bar.total is None
