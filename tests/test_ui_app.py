"""The real WatuiApp, driven by Pilot, on the sim backend: session switching, the status
panel, the chat list against the store, sending with live ticks, background unread badges,
pairing by QR and by phone code, session add/remove/default and theme from the palette and
dialogs, the help screen with a remapped key, the 80x24 layout, next-unread, filtering and a
clean quit.

Nothing here sleeps on the wall clock: every wait is a bounded loop of ``pilot.pause()``
(``wait_for``) checking a condition.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.geometry import Region
from textual.widgets import ContentSwitcher, Footer, Input, Static

import watui.engine.sim.demo as demo
from watui import config as cfg
from watui.domain import ChatFilter, ConnectionState
from watui.domain.models import MessageStatus
from watui.runtime import Options, Runtime, build_runtime, load_environment
from watui.ui.app import WatuiApp
from watui.ui.format import status_glyph
from watui.ui.screens.dialogs import AddSessionDialog, ConfirmRemoveDialog, PhoneNumberDialog
from watui.ui.screens.help import HelpScreen
from watui.ui.screens.main import MainScreen
from watui.ui.widgets import Composer, MessagePane, VirtualChatList
from watui.ui.widgets.pairing import PairingView, spaced_code
from watui.ui.widgets.sidebar import SessionSidebar
from watui.ui.widgets.status_panel import StatusPanel

from tests.test_ui_pairing import decode_screen

# A small world: seed 1 gives both paired accounts some unread chats; contacts answer fast.
NETWORK = {"seed": 1, "history_chats": 30, "reply_delay": 0.05}
_build_demo_network = demo.build_demo_network

DEFAULT_PHONE = demo.DEMO_PHONES["default"]
WORK_JID = f"{demo.DEMO_PHONES['work']}@s.whatsapp.net"
ALICE_PHONE, ALICE_NAME = demo.DEMO_CONTACTS[0]
ALICE_JID = f"{''.join(ch for ch in ALICE_PHONE if ch.isdigit())}@s.whatsapp.net"
WIDE = (120, 40)


# --- fixtures and helpers --------------------------------------------------------------------
@pytest.fixture
async def runtime(tmp_path, monkeypatch) -> AsyncIterator[Runtime]:
    monkeypatch.setenv("WATUI_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("WATUI_DATA_DIR", str(tmp_path / "data"))
    for name in list(os.environ):
        if name == "SESSIONS" or name.endswith(("DB_URI", "DB_KEYS_URI")):
            monkeypatch.delenv(name)
    monkeypatch.setattr(demo, "build_demo_network", functools.partial(_build_demo_network, **NETWORK))
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    env = load_environment(Options(demo=True, data_dir=str(tmp_path / "data")))
    runtime = await build_runtime(env, start=False)
    try:
        yield runtime
    finally:
        await runtime.close()
        runtime.network.close()
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


async def wait_for(pilot, predicate: Callable[[], object], tries: int = 200) -> None:
    """Pause the app until ``predicate()`` (sync or async) is true; fail after ``tries``."""
    for _ in range(tries):
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await pilot.pause()
    raise AssertionError(f"condition never held: {getattr(predicate, '__name__', predicate)}")


def main_screen(app: WatuiApp) -> MainScreen:
    return app._main()


def chat_list(app: WatuiApp) -> VirtualChatList:
    return main_screen(app).query_one(VirtualChatList)


def sidebar(app: WatuiApp) -> SessionSidebar:
    return main_screen(app).query_one(SessionSidebar)


def state(runtime: Runtime, session_id: str) -> ConnectionState:
    return runtime.manager.get_session(session_id).status.state


async def store_chats(runtime: Runtime, session_id: str, **filters):
    return await runtime.repo.get_chats(ChatFilter(session_id=session_id, limit=1000, **filters))


def list_shows(app: WatuiApp, runtime: Runtime, session_id: str):
    """A predicate: the screen is on ``session_id`` and its chat list is the store's."""

    async def check() -> bool:
        if main_screen(app).session_id != session_id:
            return False
        chats = await store_chats(runtime, session_id)
        return [c.jid for c in chat_list(app).chats] == [c.jid for c in expected_order(chats)]

    check.__name__ = f"chat list shows {session_id}"
    return check


def expected_order(chats):
    """The store's order (latest activity first) with pinned chats on top."""
    return sorted(chats, key=lambda c: not c.pinned)  # stable: keeps the store's order


def screen_lines(app: WatuiApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def flat(text: str) -> str:
    """Screen text with wrapping and padding folded to single spaces."""
    return " ".join(text.split())


def region_text(app: WatuiApp, region: Region) -> str:
    lines = screen_lines(app)[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


async def settled(pilot, app: WatuiApp, runtime: Runtime) -> None:
    """Both paired sessions connected with their history stored and shown, badges loaded."""

    async def ready() -> bool:
        manager = runtime.manager
        if (state(runtime, "default"), state(runtime, "work"), state(runtime, "personal")) != (
            ConnectionState.CONNECTED,
            ConnectionState.CONNECTED,
            ConnectionState.NEEDS_PAIRING,
        ):
            return False
        if not (await store_chats(runtime, "default") and await store_chats(runtime, "work")):
            return False
        totals = await runtime.repo.unread_totals(manager.session_ids())
        if sidebar(app).unread != totals:
            return False
        return await list_shows(app, runtime, main_screen(app).session_id or "default")()

    await wait_for(pilot, ready, tries=300)


@asynccontextmanager
async def running(runtime: Runtime, size: tuple[int, int] = WIDE):
    app = WatuiApp(runtime)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settled(pilot, app, runtime)
        yield app, pilot


async def run_palette(pilot, app: WatuiApp, title: str) -> None:
    """ctrl+p, type ``title``, check it is the highlighted hit, run it."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*title)
    commands = app.screen.query_one(CommandList)

    def highlighted() -> bool:
        if commands.highlighted is None or not commands.option_count:
            return False
        prompt = commands.get_option_at_index(commands.highlighted).prompt
        return title in getattr(prompt, "plain", str(prompt))

    await wait_for(pilot, highlighted)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


# --- 1. switching sessions -------------------------------------------------------------------
async def test_switch_sessions_with_every_key(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        screen = main_screen(app)
        assert screen.session_id == "default"  # the configured default opens first

        async def on(session_id: str) -> None:
            await wait_for(pilot, list_shows(app, runtime, session_id))
            assert sidebar(app).selected == session_id
            assert main_screen(app).query_one(StatusPanel).status.session_id == session_id
            pairing = session_id == "personal"
            assert screen.query_one(ContentSwitcher).current == ("pairing" if pairing else "conversation")

        for key, session_id in [("alt+2", "work"), ("alt+3", "personal"), ("alt+1", "default")]:
            await pilot.press(key)
            await on(session_id)
        assert chat_list(app).chats and not await store_chats(runtime, "personal")

        # alt+down / alt+up cycle, wrapping at both ends
        for key, session_id in [
            ("alt+down", "work"),
            ("alt+down", "personal"),
            ("alt+down", "default"),
            ("alt+up", "personal"),
            ("alt+up", "work"),
        ]:
            await pilot.press(key)
            await on(session_id)

        # the sidebar: cursor down then enter
        sidebar(app).focus()
        await pilot.press("down", "enter")  # work -> personal
        await on("personal")
        sidebar(app).focus()
        await pilot.press("up", "up", "enter")
        await on("default")

        # a mouse click on a row (the rows start at the top of the sidebar)
        assert await pilot.click(SessionSidebar, offset=(3, 1))
        await on("work")
        assert await pilot.click(SessionSidebar, offset=(3, 0))
        await on("default")


# --- 2. status panel ---------------------------------------------------------------------------
async def test_status_panel_connected_and_offline(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        panel = main_screen(app).query_one(StatusPanel)
        assert dict(panel.fields()) == {
            "Connected": "yes",
            "Logged in": "yes",
            "Device": f"{DEFAULT_PHONE}:1@s.whatsapp.net",
            "Push name": "Dana",
            "Default": "yes",
        }
        shown = flat(region_text(app, panel.content_region))
        for label, value in panel.fields():  # every field is on screen, none cut off
            assert f"{label}: {value}" in shown

        await pilot.press("alt+2")
        await wait_for(pilot, lambda: panel.status.session_id == "work")
        assert dict(panel.fields())["Default"] == "no"
        assert dict(panel.fields())["Push name"] == "Dana (work)"

        # an unpaired session: its socket is up for the QR codes, but it is not connected
        await pilot.press("alt+3")
        await wait_for(pilot, lambda: panel.status.session_id == "personal")
        assert dict(panel.fields()) == {
            "Connected": "no: not paired yet",
            "Logged in": "no",
            "Device": "none",
            "Push name": "—",
            "Default": "no",
        }
        await pilot.press("alt+2")
        await wait_for(pilot, lambda: panel.status.session_id == "work")

        runtime.network.drop_connection("work", reason="connection reset", reconnect_after=None)
        await wait_for(pilot, lambda: dict(panel.fields())["Connected"] == "offline: connection reset")
        assert state(runtime, "work") is ConnectionState.OFFLINE
        shown = flat(region_text(app, panel.content_region))
        for label, value in panel.fields():
            assert f"{label}: {value}" in shown
        assert sidebar(app).row_text(1).startswith("2 ⚠ Work phone")  # the sidebar follows


# --- 3. chat order and unread counts -----------------------------------------------------------
async def test_chat_order_and_unread_counts_match_the_store(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        for key, session_id in [("alt+1", "default"), ("alt+2", "work")]:
            await pilot.press(key)
            await wait_for(pilot, list_shows(app, runtime, session_id))
            stored = expected_order(await store_chats(runtime, session_id))
            shown = chat_list(app).visible_chats
            assert [c.jid for c in shown] == [c.jid for c in stored]
            assert [c.unread_count for c in shown] == [c.unread_count for c in stored]
            unread = [c for c in stored if c.unread_count]
            assert unread, "the seed gives every paired session unread chats"
            # what is drawn: the row's name line and its unread badge
            widget = chat_list(app)
            rows = min(len(shown), widget.scrollable_content_region.height // 2)
            for row in range(rows):
                chat = shown[row]
                name_line = widget.render_line(2 * row).text
                preview_line = widget.render_line(2 * row + 1).text
                assert (chat.name or "")[:8] in name_line
                if chat.unread_count:
                    assert preview_line.rstrip().endswith(f" {chat.unread_count}")
            # the sidebar badge is the session's total
            total = sum(c.unread_count for c in await store_chats(runtime, session_id, include_archived=True))
            index = runtime.manager.session_ids().index(session_id)
            assert sidebar(app).row_text(index).endswith(str(total))


# --- 4. open a chat and send ---------------------------------------------------------------------
async def test_open_chat_and_send_shows_pending_then_read(runtime: Runtime, monkeypatch) -> None:
    client = runtime.manager.get_client("default")
    gate = asyncio.Event()
    real_send = client.send_text

    async def gated_send(*args, **kwargs):
        await gate.wait()  # the engine holds the send until the test saw the pending row
        return await real_send(*args, **kwargs)

    monkeypatch.setattr(client, "send_text", gated_send)
    async with running(runtime) as (app, pilot):
        chats = chat_list(app)
        assert chats.select_jid(ALICE_JID)
        chats.focus()
        await pilot.press("enter")
        screen = main_screen(app)
        assert screen.chat_jid == ALICE_JID
        await wait_for(pilot, lambda: app.focused is screen.query_one(Composer))
        await wait_for(pilot, lambda: str(screen.query_one("#chat-title", Static).render()).startswith(ALICE_NAME))
        pane = screen.query_one(MessagePane)
        await wait_for(pilot, lambda: pane.messages)
        before = {m.id for m in pane.messages}

        await pilot.press(*"hello there", "enter")

        def mine():
            return next((m for m in pane.messages if m.id not in before and m.is_from_me), None)

        def drawn(message_id: str) -> str:
            return pane.message_lines(message_id)[-1].text.rstrip()

        await wait_for(pilot, mine)
        sent = mine()
        assert sent.content == "hello there"
        assert sent.status == MessageStatus.PENDING
        assert drawn(sent.id).endswith("hello there " + status_glyph(MessageStatus.PENDING))
        assert screen.query_one(Composer).text == ""

        gate.set()
        seen = [sent.status]

        def read() -> bool:
            current = pane.message_by_id(sent.id).status
            if current != seen[-1]:
                seen.append(current)
            return current == MessageStatus.READ

        await wait_for(pilot, read, tries=300)
        order = [MessageStatus.PENDING, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ]
        assert seen == sorted(seen, key=order.index)  # never backwards
        assert drawn(sent.id).endswith(status_glyph(MessageStatus.READ))
        stored = await runtime.repo.get_message(ALICE_JID, sent.id, session_id="default")
        assert stored.status == MessageStatus.READ

        # Alice answers; the chat is open, so it shows up and stays read
        await wait_for(pilot, lambda: any(not m.is_from_me and m.id not in before for m in pane.messages), tries=300)

        async def chat_read() -> bool:
            chat = await runtime.repo.get_chat_by_session(ALICE_JID, "default")
            return chat.unread_count == 0 and not chat.last_message_is_from_me

        await wait_for(pilot, chat_read)


def record_frames(app: WatuiApp, what: Callable[[], object]) -> list:
    """``what()`` at every frame the app paints from now on."""
    frames: list = []
    original = app._display

    def display(screen, renderable) -> None:
        original(screen, renderable)
        if renderable is not None and not app._batch_count:
            frames.append(what())

    app._display = display
    return frames


async def test_an_opened_chat_comes_in_one_frame_with_the_focus_change(runtime: Runtime, monkeypatch) -> None:
    """Enter on a chat whose page was not read ahead: the focus moves to the composer and the
    page is read; no frame is painted in between (the messages came a frame late)."""
    import watui.ui.screens.main as main_module

    monkeypatch.setattr(main_module, "PREFETCH_DELAY", 30.0)  # nothing read ahead
    monkeypatch.setattr(main_module, "OPEN_PAINT_HOLD", 30.0)  # however slow the store is here
    async with running(runtime) as (app, pilot):
        screen = main_screen(app)
        pane = screen.query_one(MessagePane)
        chats = chat_list(app)
        assert chats.select_jid(ALICE_JID)
        chats.focus()
        await pilot.pause()
        frames = record_frames(app, lambda: (screen.chat_jid, isinstance(app.focused, Composer),
                                             [m.chat_jid for m in pane.messages[-1:]]))
        await pilot.press("enter")  # (Pilot paints before the key too: those frames are skipped)
        await wait_for(pilot, lambda: [frame for frame in frames if frame[0] == ALICE_JID])
        opened = [frame[1:] for frame in frames if frame[0] == ALICE_JID]
        assert opened[0] == (True, [ALICE_JID])


async def test_a_slow_page_does_not_hold_the_screen_longer_than_the_limit(runtime: Runtime, monkeypatch) -> None:
    import watui.ui.screens.main as main_module

    monkeypatch.setattr(main_module, "PREFETCH_DELAY", 30.0)
    gate = asyncio.Event()
    real_get_messages = runtime.repo.get_messages

    async def slow_get_messages(*args, **kwargs):
        await gate.wait()  # the store answers only when the test says so
        return await real_get_messages(*args, **kwargs)

    async with running(runtime) as (app, pilot):
        screen = main_screen(app)
        pane = screen.query_one(MessagePane)
        chats = chat_list(app)
        assert chats.select_jid(ALICE_JID)
        chats.focus()
        await pilot.pause()
        monkeypatch.setattr(runtime.repo, "get_messages", slow_get_messages)
        frames = record_frames(app, lambda: (screen.chat_jid, isinstance(app.focused, Composer), len(pane.messages)))

        def opened() -> list:
            return [frame[1:] for frame in frames if frame[0] == ALICE_JID]

        await pilot.press("enter")
        await wait_for(pilot, opened, tries=400)  # painted although no page came
        assert opened()[0] == (True, 0) and not app._batch_count
        gate.set()
        await wait_for(pilot, lambda: opened()[-1][1] > 0, tries=400)


# --- 5. background session unread ----------------------------------------------------------------
async def test_message_in_background_session_bumps_its_badge(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        before = sidebar(app).unread["work"]
        runtime.network.send_from(ALICE_PHONE, WORK_JID, "ping for work")
        await wait_for(pilot, lambda: sidebar(app).unread["work"] == before + 1)
        assert sidebar(app).row_text(1).endswith(str(before + 1))
        assert main_screen(app).session_id == "default"  # no switch
        assert sidebar(app).selected == "default"
        assert all(c.last_message_preview != "ping for work" for c in chat_list(app).chats)


# --- 6. pairing by QR ----------------------------------------------------------------------------
async def test_pair_by_qr_scan(runtime: Runtime) -> None:
    async with running(runtime, size=(160, 50)) as (app, pilot):
        await pilot.press("alt+3")
        screen = main_screen(app)
        pairing = screen.query_one(PairingView)
        await wait_for(pilot, lambda: screen.query_one(ContentSwitcher).current == "pairing")
        await wait_for(pilot, lambda: pairing.mode == "qr" and not pairing.too_small())
        payload = runtime.manager.get_client("personal").current_qr
        assert payload
        assert decode_screen(app) == [payload]
        assert app.focused is pairing

        await pilot.press("s")  # the demo's simulated scan
        await wait_for(pilot, lambda: state(runtime, "personal") is ConnectionState.CONNECTED)
        await wait_for(pilot, lambda: screen.query_one(ContentSwitcher).current == "conversation")
        await wait_for(pilot, list_shows(app, runtime, "personal"))
        assert len(chat_list(app).chats) >= 8
        assert not pairing.display  # the code is gone: the conversation is in its place
        assert main_screen(app).query_one(StatusPanel).fields()[0] == ("Connected", "yes")


# --- 7. pairing by phone code ----------------------------------------------------------------------
async def test_pair_by_phone_code(runtime: Runtime) -> None:
    phone = demo.DEMO_PHONES["personal"]
    async with running(runtime) as (app, pilot):
        await pilot.press("alt+3")
        screen = main_screen(app)
        pairing = screen.query_one(PairingView)
        await wait_for(pilot, lambda: pairing.mode == "qr" and app.focused is pairing)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, PhoneNumberDialog))
        await pilot.press(*f"+{phone}", "enter")
        await wait_for(pilot, lambda: pairing.mode == "code")
        shown = str(pairing.query_one("#pairing-code", Static).render())
        code = shown.replace(" ", "")
        assert len(code) == 9 and code[4] == "-"
        assert shown == spaced_code(code)
        assert str(pairing.query_one("#pairing-hint", Static).render()) == f"Code for +{phone}"

        runtime.network.enter_pairing_code(phone, code)  # typed on the phone
        await wait_for(pilot, lambda: state(runtime, "personal") is ConnectionState.CONNECTED)
        await wait_for(pilot, list_shows(app, runtime, "personal"))
        assert chat_list(app).chats
        assert screen.query_one(ContentSwitcher).current == "conversation"


# --- 8. add / remove / default ---------------------------------------------------------------------
def saved_config(runtime: Runtime) -> cfg.Config:
    return cfg.load_config(runtime.environment.paths.config_file, env={}).config


async def test_add_remove_and_default_sessions_are_saved(runtime: Runtime, monkeypatch) -> None:
    async with running(runtime) as (app, pilot):
        # add, through the dialog; an existing id is refused as it is typed
        app.action_add_session()
        await wait_for(pilot, lambda: isinstance(app.screen, AddSessionDialog))
        dialog = app.screen
        await pilot.press(*"work")
        assert dialog.errors.get("session-id") == "session already exists: work"
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"extra", "tab", *"Extra phone", "enter")
        await wait_for(pilot, lambda: main_screen(app).session_id == "extra")
        assert runtime.manager.session_ids() == ["default", "work", "personal", "extra"]
        assert [(s.id, s.label) for s in saved_config(runtime).sessions][-1] == ("extra", "Extra phone")
        await wait_for(pilot, lambda: len(sidebar(app).statuses) == 4)
        assert "Extra phone" in sidebar(app).row_text(3)
        await wait_for(pilot, lambda: state(runtime, "extra") is ConnectionState.NEEDS_PAIRING)

        # set the default from the palette
        await run_palette(pilot, app, "Set default session: work")
        await wait_for(pilot, lambda: runtime.manager.get_default_session() == "work")
        assert saved_config(runtime).default_session == "work"
        await wait_for(pilot, lambda: "★" in sidebar(app).row_text(1) and "★" not in sidebar(app).row_text(0))

        # remove, keeping the chats
        work_chats = await store_chats(runtime, "work")
        app.action_remove_session("work")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRemoveDialog))
        await pilot.press("enter")  # "Remove, keep chats" has the focus
        await wait_for(pilot, lambda: "work" not in runtime.manager.session_ids())
        config = saved_config(runtime)
        assert [s.id for s in config.sessions] == ["default", "personal", "extra"]
        assert config.default_session == "default"  # the default moved on
        assert [c.jid for c in await store_chats(runtime, "work")] == [c.jid for c in work_chats]
        await wait_for(pilot, lambda: sidebar(app).session_ids == ["default", "personal", "extra"])

        # remove the open session, deleting its chats: the screen moves to the default
        await pilot.press("alt+1")
        await wait_for(pilot, lambda: main_screen(app).session_id == "default")
        # Hold the delete: the session's last status (stopped) reaches the screen before
        # SessionsChanged does, and the screen must already let go of the removed session.
        gate = asyncio.Event()
        real_delete = runtime.repo.delete_session_data

        async def held_delete(*args, **kwargs):
            await gate.wait()
            return await real_delete(*args, **kwargs)

        monkeypatch.setattr(runtime.repo, "delete_session_data", held_delete)
        app.action_remove_session("default")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRemoveDialog))
        await pilot.press("right", "enter")  # "Remove and delete chats"
        await wait_for(pilot, lambda: "default" not in runtime.manager.session_ids())
        await wait_for(pilot, lambda: main_screen(app).session_id == "personal")
        gate.set()

        async def deleted() -> bool:
            return await store_chats(runtime, "default") == []

        await wait_for(pilot, deleted)
        config = saved_config(runtime)
        assert [s.id for s in config.sessions] == ["personal", "extra"]
        assert config.default_session == "personal"
        await wait_for(pilot, lambda: sidebar(app).session_ids == ["personal", "extra"])
        assert main_screen(app).session_id == "personal"

        # cancel leaves everything alone
        app.action_remove_session("extra")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRemoveDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert runtime.manager.session_ids() == ["personal", "extra"]


# --- 9. theme --------------------------------------------------------------------------------------
async def test_theme_from_palette_is_saved(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        assert app.theme == "watui-dark"
        await run_palette(pilot, app, "Theme: watui-light")
        await wait_for(pilot, lambda: app.theme == "watui-light")
        assert saved_config(runtime).theme == "watui-light"


# --- 10. help ---------------------------------------------------------------------------------------
def help_lines(app: WatuiApp) -> dict[str, str]:
    """binding id -> its line in the help text."""
    assert isinstance(app.screen, HelpScreen)
    lines = {}
    for line in app.screen.text().splitlines():
        words = line.split()
        if words:
            lines[words[-1]] = line
    return lines


def expected_keys(app: WatuiApp, keymap: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Every app and main-screen binding id -> how its keys are displayed, after ``keymap``."""
    keys: dict[str, list[str]] = {}
    for owner in (WatuiApp, MainScreen):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding) and binding.id, binding
            for key in (keymap or {}).get(binding.id, binding.key).split(","):
                display = app.get_key_display(Binding(key.strip(), binding.action))
                keys.setdefault(binding.id, []).append(display)
    return keys


async def test_help_lists_every_binding_with_its_current_key(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        sidebar(app).focus()
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        expected = expected_keys(app)
        assert {"app.quit", "app.help", "session.select_1", "session.next", "chat.next_unread", "chat.filter"} <= set(expected)
        lines = help_lines(app)
        for binding_id, keys in expected.items():
            assert binding_id in lines, binding_id
            for key in keys:
                assert key in lines[binding_id], (binding_id, key, lines[binding_id])
        assert "alt+n" in lines["chat.next_unread"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        app.set_keymap({"chat.next_unread": "ctrl+u"})
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        lines = help_lines(app)
        remapped = expected_keys(app, {"chat.next_unread": "ctrl+u"})
        assert remapped["chat.next_unread"] == ["^u"]
        assert "^u" in lines["chat.next_unread"] and "alt+n" not in lines["chat.next_unread"]
        for binding_id, keys in remapped.items():
            for key in keys:
                assert key in lines[binding_id], (binding_id, key)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        # and the remapped key does what it says
        await pilot.press("ctrl+u")
        await wait_for(pilot, lambda: main_screen(app).chat_jid != "")


# --- 11. layout -------------------------------------------------------------------------------------
def assert_layout(app: WatuiApp) -> None:
    screen = main_screen(app)
    area = screen.region
    widgets = {
        name: screen.query_one(selector)
        for name, selector in [
            ("sidebar", "#sidebar"),
            ("left", "#left"),
            ("status", "#status"),
            ("chats", "#chats"),
            ("right", "#right"),
            ("title", "#chat-title"),
            ("pane", "#pane"),
            ("composer", "#composer"),
            ("footer", Footer),
        ]
    }
    for name, widget in widgets.items():
        region = widget.region
        assert region.area > 0, name
        assert area.contains_region(region), (name, region, area)
    siblings = [("sidebar", "left", "right"), ("status", "chats"), ("title", "pane", "composer")]
    for group in siblings + [("sidebar", "left", "right", "footer")]:
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                overlap = widgets[first].region.intersection(widgets[second].region)
                assert overlap.area == 0, (first, second, overlap)
    footer = widgets["footer"].region
    assert footer.bottom == area.bottom and footer.height == 1
    assert "Quit" in screen_lines(app)[footer.y] or "palette" in screen_lines(app)[footer.y]


async def test_layout_at_80x24_and_200x50(runtime: Runtime) -> None:
    async with running(runtime, size=(80, 24)) as (app, pilot):
        screen = main_screen(app)
        assert screen.has_class("-narrow")
        bar = sidebar(app)
        assert bar.is_compact
        assert [bar.row_text(i) for i in range(3)][0].startswith("1●")
        assert "Main phone" not in region_text(app, bar.region)
        assert_layout(app)
        # the status panel fits its narrow box: nothing of what it says is cut off
        panel = main_screen(app).query_one(StatusPanel)
        assert panel.compact
        shown = flat(region_text(app, panel.content_region))
        assert "Main phone · connected · logged in · default" in shown

        await pilot.resize_terminal(200, 50)
        await wait_for(pilot, lambda: screen.has_class("-wide") and not bar.is_compact)
        await wait_for(pilot, lambda: not panel.compact)
        assert_layout(app)
        shown = region_text(app, bar.region)
        for label in ("Main phone", "Work phone", "Personal phone"):
            assert label in shown
        assert "Device:" in region_text(app, panel.content_region)


# --- 12. next unread --------------------------------------------------------------------------------
async def test_next_unread_jumps_across_sessions(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        screen = main_screen(app)
        # from the unpaired session (no chats), alt+n goes on to the next session in order
        await pilot.press("alt+3")
        await wait_for(pilot, lambda: screen.session_id == "personal")
        first = (await store_chats(runtime, "default", unread_only=True))[0]
        await pilot.press("alt+n")
        await wait_for(pilot, lambda: (screen.session_id, screen.chat_jid) == ("default", first.jid))
        await wait_for(pilot, lambda: chat_list(app).cursor_jid == first.jid)

        async def read(session_id: str, jid: str) -> bool:
            return (await runtime.repo.get_chat_by_session(jid, session_id)).unread_count == 0

        await wait_for(pilot, lambda: read("default", first.jid))

        # read everything left in default: the next unread is in work
        for chat in await store_chats(runtime, "default", unread_only=True):
            await runtime.manager.mark_read("default", chat.jid)
        target = (await store_chats(runtime, "work", unread_only=True))[0]
        await pilot.press("alt+n")
        await wait_for(pilot, lambda: (screen.session_id, screen.chat_jid) == ("work", target.jid))
        await wait_for(pilot, list_shows(app, runtime, "work"))
        assert chat_list(app).cursor_jid == target.jid
        assert sidebar(app).selected == "work"


# --- 13. quit ---------------------------------------------------------------------------------------
async def test_ctrl_q_stops_every_session(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        main_screen(app).query_one(Composer).focus()  # a priority key: works from the composer too
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app._exit)
    assert app.return_code == 0
    assert not app.is_running
    statuses = runtime.manager.get_all_sessions_with_status()
    assert [s.state for s in statuses] == [ConnectionState.STOPPED] * 3
    assert not any(s.is_connected for s in statuses)


# --- 14. filter ------------------------------------------------------------------------------------
async def test_slash_filters_the_chat_list_by_name(runtime: Runtime) -> None:
    async with running(runtime) as (app, pilot):
        screen = main_screen(app)
        everything = [c.jid for c in chat_list(app).visible_chats]
        chat_list(app).focus()
        await pilot.press("slash")
        box = screen.query_one("#chat-filter", Input)
        assert box.has_focus and box.display
        await pilot.press(*"ali")
        wanted = [c.jid for c in chat_list(app).chats if "ali" in (c.name or "").casefold()]
        assert ALICE_JID in wanted and len(wanted) < len(everything)
        await wait_for(pilot, lambda: [c.jid for c in chat_list(app).visible_chats] == wanted)
        first_row = chat_list(app).render_line(0).text
        assert chat_list(app).visible_chats[0].name in first_row

        await pilot.press(*"zzz")
        await wait_for(pilot, lambda: not chat_list(app).visible_chats)
        assert "No chats match 'alizzz'" in chat_list(app).render_line(0).text

        await pilot.press("escape")
        await wait_for(pilot, lambda: [c.jid for c in chat_list(app).visible_chats] == everything)
        assert not box.display and box.value == ""
        assert chat_list(app).has_focus
