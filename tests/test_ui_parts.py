"""Sidebar, status panel, notifier, help screen and dialogs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from watui.config import NotificationsConfig
from watui.domain.status import ConnectionState, SessionStatus
from watui.ui.notify import Notifier, sanitize, tmux_wrap
from watui.ui.screens.dialogs import (
    AddSessionDialog,
    ConfirmRemoveDialog,
    NewChatDialog,
    PhoneNumberDialog,
)
from watui.ui.screens.help import HelpScreen
from watui.ui.widgets.sidebar import SessionSidebar, state_glyph
from watui.ui.widgets.status_panel import StatusPanel, connection_text

NOW = datetime(2025, 1, 2, 12, 0, 0, tzinfo=timezone.utc)


def statuses() -> list[SessionStatus]:
    return [
        SessionStatus("work", "Work", ConnectionState.CONNECTED, True, True, is_default=True),
        SessionStatus("home", "Home", ConnectionState.OFFLINE, last_error="network unreachable"),
        SessionStatus("new", "", ConnectionState.NEEDS_PAIRING),
        SessionStatus("old", "Old\x1b[2J phone", ConnectionState.LOGGED_OUT),
        SessionStatus("boot", "Boot", ConnectionState.CONNECTING),
        SessionStatus("off", "Off", ConnectionState.STOPPED),
    ]


# --- sidebar --------------------------------------------------------------------------------


class SidebarApp(App[None]):
    def __init__(self, width: int = 30) -> None:
        super().__init__()
        self.width = width
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        sidebar = SessionSidebar(id="sidebar")
        sidebar.styles.width = self.width
        yield sidebar

    def on_mount(self) -> None:
        sidebar = self.query_one(SessionSidebar)
        sidebar.set_sessions(statuses(), {"work": 3, "home": 120})
        sidebar.focus()

    def on_session_sidebar_selected(self, message: SessionSidebar.Selected) -> None:
        self.selected.append(message.session_id)


def screen_lines(app: App) -> list[str]:
    return [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]


def test_state_glyphs_are_distinct() -> None:
    glyphs = {state: state_glyph(state) for state in ConnectionState}
    assert glyphs[ConnectionState.CONNECTED] == "●"
    assert glyphs[ConnectionState.CONNECTING] == "◌"
    assert glyphs[ConnectionState.OFFLINE] == "⚠"
    assert glyphs[ConnectionState.STOPPED] == "○"
    assert glyphs[ConnectionState.NEEDS_PAIRING] == "▣"
    assert glyphs[ConnectionState.LOGGED_OUT] == "⊘"
    assert len(set(glyphs.values())) == len(glyphs)


async def test_sidebar_rows_glyphs_badges_default() -> None:
    app = SidebarApp(width=30)
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[0] == "1 ● Work                   ★ 3"
        assert lines[1] == "2 ⚠ Home                   99+"
        assert lines[2] == "3 ▣ new"
        assert lines[3] == "4 ⊘ Old\\x1b[2J phone"  # stranger text shown, never obeyed
        assert lines[4] == "5 ◌ Boot"
        assert lines[5] == "6 ○ Off"
        sidebar = app.query_one(SessionSidebar)
        long = SessionStatus("long", "漢字" * 20, ConnectionState.CONNECTED, is_default=True)
        sidebar.set_sessions([long], {"long": 7})
        await pilot.pause()
        row = screen_lines(app)[0]
        assert row.startswith("1 ● 漢字") and row.endswith("… ★ 7")
        assert sidebar.row_text(0) == row


async def test_sidebar_compact_when_narrow_or_asked() -> None:
    app = SidebarApp(width=8)
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        sidebar = app.query_one(SessionSidebar)
        assert sidebar.is_compact
        assert screen_lines(app)[:3] == ["1● 3", "2⚠ 99+", "3▣"]
    wide = SidebarApp(width=30)
    async with wide.run_test(size=(60, 10)) as pilot:
        sidebar = wide.query_one(SessionSidebar)
        sidebar.compact = True
        await pilot.pause()
        assert sidebar.row_text(0) == "1● 3"
        assert screen_lines(wide)[1] == "2⚠ 99+"


async def test_sidebar_keys_and_click_select() -> None:
    app = SidebarApp()
    async with app.run_test(size=(60, 10)) as pilot:
        await pilot.press("down", "down", "enter")
        assert app.selected == ["new"]
        await pilot.press("up", "enter")
        assert app.selected == ["new", "home"]
        await pilot.press("up", "up", "up", "enter")  # stops at the top
        assert app.selected[-1] == "work"
        await pilot.click(SessionSidebar, offset=(3, 4))
        assert app.selected[-1] == "boot"
        sidebar = app.query_one(SessionSidebar)
        # the parent marks the open session; the cursor follows it
        sidebar.selected = "off"
        assert sidebar.cursor_session == "off"
        # new data keeps the cursor on the same session
        sidebar.set_sessions(list(reversed(statuses())), {})
        assert sidebar.cursor_session == "off" and sidebar.cursor == 0


async def test_sidebar_remapped_keys() -> None:
    app = SidebarApp()
    async with app.run_test(size=(60, 10)) as pilot:
        app.set_keymap({"sidebar.down": "n", "sidebar.open": "o"})
        await pilot.press("n", "o")
        assert app.selected == ["home"]


# --- status panel ---------------------------------------------------------------------------


def test_offline_retry_countdown_with_injected_now() -> None:
    status = SessionStatus(
        "home",
        state=ConnectionState.OFFLINE,
        last_error="network unreachable",
        retry_at=NOW + timedelta(seconds=5),
    )
    assert connection_text(status, NOW) == "offline: network unreachable, retrying in 5s"
    assert connection_text(status, NOW + timedelta(seconds=1.5)) == (
        "offline: network unreachable, retrying in 4s"
    )
    assert connection_text(status, NOW + timedelta(seconds=9)) == (
        "offline: network unreachable, retrying now"
    )
    status.retry_at = None
    assert connection_text(status, NOW) == "offline: network unreachable"
    assert connection_text(SessionStatus("x", state=ConnectionState.CONNECTED, is_connected=True), NOW) == "yes"


class PanelApp(App[None]):
    def __init__(self, status: SessionStatus, clock: list[datetime], compact: bool = False) -> None:
        super().__init__()
        self.status = status
        self.clock = clock
        self.compact = compact

    def compose(self) -> ComposeResult:
        yield StatusPanel(self.status, now=lambda: self.clock[0], compact=self.compact)


async def test_status_panel_full_and_live() -> None:
    status = SessionStatus(
        "home",
        "Home",
        ConnectionState.OFFLINE,
        is_logged_in=True,
        device_id="15551234567:12@s.whatsapp.net",
        push_name="Ana",
        last_error="network unreachable",
        retry_at=NOW + timedelta(seconds=5),
    )
    clock = [NOW]
    app = PanelApp(status, clock)
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[:5] == [
            " Connected: offline: network unreachable, retrying in 5s",
            " Logged in: yes",
            " Device:    15551234567:12@s.whatsapp.net",
            " Push name: Ana",
            " Default:   no",
        ]
        panel = app.query_one(StatusPanel)
        clock[0] = NOW + timedelta(seconds=2)
        panel._tick()  # what the 1 s interval calls
        await pilot.pause()
        assert screen_lines(app)[0] == " Connected: offline: network unreachable, retrying in 3s"
        panel.set_status(SessionStatus("work", "Work", ConnectionState.CONNECTED, True, True, is_default=True))
        await pilot.pause()
        assert screen_lines(app)[0] == " Connected: yes"
        assert screen_lines(app)[4] == " Default:   yes"


async def test_status_panel_compact() -> None:
    status = SessionStatus(
        "home", "Home", ConnectionState.OFFLINE, last_error="network unreachable",
        retry_at=NOW + timedelta(seconds=5), is_default=True,
    )
    app = PanelApp(status, [NOW], compact=True)
    async with app.run_test(size=(80, 6)) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[0] == (
            " Home · offline: network unreachable, retrying in 5s · not logged in · default"
        )
        assert lines[1] == ""


# --- notifier -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(env: dict[str, str] | None = None, **config: object) -> tuple[Notifier, list[str], Clock]:
    out: list[str] = []
    clock = Clock()
    notifier = Notifier(NotificationsConfig(**config), out.append, env=env or {}, clock=clock)  # type: ignore[arg-type]
    return notifier, out, clock


def test_bell_only_by_default() -> None:
    notifier, out, _ = make()
    assert notifier.notify("Work", "Alice", "hi")
    assert out == ["\x07"]


def test_osc9_private_by_default() -> None:
    notifier, out, _ = make(bell=False, desktop="osc9")
    notifier.notify("Work", "Alice", "secret plans")
    assert out == ["\x1b]9;New message in Work\x07"]


def test_osc777_with_bell() -> None:
    notifier, out, _ = make(bell=True, desktop="osc777")
    notifier.notify("Work", "Alice", "secret plans")
    assert out == ["\x07\x1b]777;notify;watui;New message in Work\x07"]


def test_preview_shows_chat_and_text() -> None:
    notifier, out, clock = make(bell=False, desktop="osc777", show_preview=True)
    notifier.notify("Work", "Alice", "lunch at 1?")
    assert out == ["\x1b]777;notify;Alice (Work);lunch at 1?\x07"]
    notifier9, out9, _ = make(bell=False, desktop="osc9", show_preview=True)
    notifier9.notify("Work", "Alice", "lunch at 1?")
    assert out9 == ["\x1b]9;Alice (Work): lunch at 1?\x07"]


def test_tmux_passthrough() -> None:
    notifier, out, _ = make(env={"TMUX": "/tmp/tmux-0/default,1,0"}, bell=True, desktop="osc9")
    notifier.notify("Work", "Alice", "x")
    assert out == ["\x07\x1bPtmux;\x1b\x1b]9;New message in Work\x07\x1b\\"]
    assert tmux_wrap("\x1b]9;a\x07") == "\x1bPtmux;\x1b\x1b]9;a\x07\x1b\\"


def test_muted_and_on_screen_are_silent() -> None:
    notifier, out, _ = make(desktop="osc9")
    assert not notifier.notify("Work", "Group", "x", muted=True)
    assert not notifier.notify("Work", "Alice", "x", on_screen=True)
    assert out == []
    loud, out2, _ = make(desktop="off", notify_muted=True)
    assert loud.notify("Work", "Group", "x", muted=True)
    assert out2 == ["\x07"]


def test_nothing_enabled_writes_nothing() -> None:
    notifier, out, _ = make(bell=False, desktop="off")
    assert not notifier.notify("Work", "Alice", "x")
    assert out == []


def test_injection_attempts_are_sanitised() -> None:
    notifier, out, _ = make(bell=False, desktop="osc777", show_preview=True)
    evil_text = "hi\x07\x1b]52;c;ZXZpbA==\x07\x1b\\ there\x9c\x1b[2J;notify;x;y\nnext"
    evil_chat = "Mallory\x1b]0;pwned\x07;extra"
    notifier.notify("Work", evil_chat, evil_text)
    assert out == [
        "\x1b]777;notify;Mallory ]0,pwned ,extra (Work);"
        "hi ]52,c,ZXZpbA== \\ there [2J,notify,x,y next\x07"
    ]
    (data,) = out
    payload = data[len("\x1b]777;") : -1]
    assert "\x1b" not in payload and "\x07" not in payload and "\x9c" not in payload
    assert payload.count(";") == 2  # notify;title;body, nothing more


def test_length_is_capped() -> None:
    notifier, out, _ = make(bell=False, desktop="osc9", show_preview=True)
    notifier.notify("Work", "A" * 500, "b" * 5000)
    (data,) = out
    assert len(data) < 260
    assert sanitize("x" * 10, 5) == "xxxx…"
    assert sanitize("a\u202eb\u2066c\u2028d", 20) == "a b c d"


def test_rate_limit_coalesces() -> None:
    notifier, out, clock = make(bell=False, desktop="osc9")
    assert notifier.notify("Work", "A", "1")
    clock.now += 0.2
    assert not notifier.notify("Work", "B", "2")
    clock.now += 0.2
    assert not notifier.notify("Work", "C", "3")
    assert notifier.pending == 2
    assert notifier.due_in() == pytest.approx(0.6)
    assert not notifier.flush()  # too early
    clock.now += 0.6
    assert notifier.flush()
    assert out == ["\x1b]9;New message in Work\x07", "\x1b]9;2 new messages in Work\x07"]
    assert notifier.pending == 0 and notifier.due_in() is None
    # held messages from several sessions come out with the next one
    clock.now += 0.5
    notifier.notify("Home", "D", "4")
    clock.now += 1.0
    assert notifier.notify("Work", "E", "5")
    assert out[-1] == "\x1b]9;2 new messages\x07"
    # a single held message stays private even with previews on
    preview, out2, clock2 = make(bell=False, desktop="osc9", show_preview=True)
    preview.notify("Work", "A", "one")
    clock2.now += 0.1
    preview.notify("Work", "B", "two")
    clock2.now += 1
    preview.flush()
    assert out2 == ["\x1b]9;A (Work): one\x07", "\x1b]9;New message in Work\x07"]


# --- help screen ----------------------------------------------------------------------------


class HelpApp(App[None]):
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
    ]

    def compose(self) -> ComposeResult:
        yield SessionSidebar(statuses(), {})

    def on_mount(self) -> None:
        self.query_one(SessionSidebar).focus()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


async def test_help_lists_bindings_with_remapped_keys() -> None:
    app = HelpApp()
    async with app.run_test(size=(100, 40)) as pilot:
        app.set_keymap({"sidebar.open": "o", "app.help": "f2"})
        await pilot.press("f2")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        by_id = {entry.binding_id: entry for entry in help_screen.entries}
        assert by_id["sidebar.open"].keys == ("o",)
        assert by_id["sidebar.open"].description == "Open session"
        assert by_id["sidebar.up"].keys == ("↑", "k")
        assert by_id["app.help"].keys == ("f2",)
        assert by_id["app.quit"].keys == ("^q",)
        groups = [entry.group for entry in help_screen.entries]
        assert groups.index("Sessions") < groups.index("Everywhere")
        text = help_screen.text()
        assert "Sessions" in text and "Everywhere" in text
        assert "sidebar.open" in text and "Open session" in text
        assert "enter" not in by_id["sidebar.open"].keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("key", ["escape", "q", "question_mark", "f1"])
async def test_help_closes(key: str) -> None:
    app = HelpApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_help_scrolls_at_small_sizes() -> None:
    app = HelpApp()
    async with app.run_test(size=(80, 12)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroll.scroll_y > 0


# --- dialogs --------------------------------------------------------------------------------


class DialogApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[object] = []

    def open(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.push_screen(dialog, self.results.append)


def error_text(app: App, input_id: str) -> str:
    widget = app.screen.query_one(f"#{input_id}-error", Static)
    return widget.render().plain if widget.display else ""


async def test_add_session_dialog_validates_live() -> None:
    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(AddSessionDialog(existing=["work"]))
        await pilot.pause()
        await pilot.press(*"Bad")
        await pilot.pause()
        assert error_text(app, "session-id").startswith("invalid session id 'Bad'")
        await pilot.press("enter")  # refused while invalid
        assert app.results == [] and isinstance(app.screen, AddSessionDialog)
        app.screen.query_one("#session-id", Input).value = "work"
        await pilot.pause()
        assert error_text(app, "session-id") == "session already exists: work"
        app.screen.query_one("#session-id", Input).value = ""
        await pilot.press(*"home")
        await pilot.pause()
        assert error_text(app, "session-id") == ""
        await pilot.press("tab", *"Home phone", "enter")
        await pilot.pause()
        assert app.results == [("home", "Home phone")]
        app.open(AddSessionDialog())
        await pilot.pause()
        await pilot.press("escape")
        assert app.results[-1] is None


async def test_add_session_empty_id_is_refused() -> None:
    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(AddSessionDialog())
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []
        assert error_text(app, "session-id").startswith("invalid session id: empty")


async def test_confirm_remove_dialog() -> None:
    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(ConfirmRemoveDialog("work"))
        await pilot.pause()
        await pilot.press("enter")
        app.open(ConfirmRemoveDialog("work"))
        await pilot.pause()
        await pilot.press("tab", "enter")
        app.open(ConfirmRemoveDialog("work"))
        await pilot.pause()
        await pilot.press("right", "right", "enter")
        app.open(ConfirmRemoveDialog("work"))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == ["keep", "delete", None, None]


async def test_phone_number_dialog() -> None:
    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(PhoneNumberDialog())
        await pilot.pause()
        await pilot.press(*"0555")
        await pilot.pause()
        assert "start with the country code" in error_text(app, "phone")
        app.screen.query_one("#phone", Input).value = "+1 (555) 123-4567"
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ["15551234567"]


async def test_new_chat_dialog() -> None:
    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(NewChatDialog())
        await pilot.pause()
        await pilot.press(*"someone@nowhere")
        await pilot.pause()
        assert error_text(app, "recipient").startswith("invalid JID")
        app.screen.query_one("#recipient", Input).value = "+44 20 7946 0958"
        await pilot.press("enter")
        app.open(NewChatDialog())
        await pilot.pause()
        app.screen.query_one("#recipient", Input).value = "120363000000000000@g.us"
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ["442079460958@s.whatsapp.net", "120363000000000000@g.us"]


def test_help_puts_watui_keys_first_and_inherited_editing_keys_last():
    from watui.ui.screens.help import EDITING, HelpEntry, grouped

    entries = [
        HelpEntry("Composer", ("←",), "Cursor left", None, "cursor_left"),
        HelpEntry("Composer", ("⏎",), "Send", "composer.send", "submit"),
        HelpEntry("This screen", ("alt+n",), "Next unread", "chat.next_unread", "next_unread"),
        HelpEntry("Everywhere", ("^q",), "Quit", "app.quit", "quit"),
    ]
    titles = [title for title, _ in grouped(entries)]
    assert titles == ["Everywhere", "This screen", "Composer", EDITING]
    assert [e.description for e in dict(grouped(entries))[EDITING]] == ["Cursor left"]
