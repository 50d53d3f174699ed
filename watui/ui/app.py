"""The Textual app: thin. It owns the runtime, registers themes and keys, bridges session
notices into messages, and hands everything else to the main screen."""

from __future__ import annotations

import asyncio
import contextvars
import logging

from textual.app import App
from textual.binding import Binding

from watui import config as cfg
from watui.domain.errors import WatuiError
from watui.domain.events import PairingCode
from watui.domain.text import printable
from watui.runtime import Runtime
from watui.ui.messages import OpenChat
from watui.ui.bridge import NoticeBridge
from watui.ui.keys import decode_alt_digits
from watui.ui.commands import ChatCommands, SessionCommands, ViewCommands
from watui.ui.notify import Notifier
from watui.ui.screens.main import MainScreen
from watui.ui.themes import load_themes

log = logging.getLogger("watui.ui")

FALLBACK_THEME = "watui-dark"


class WatuiApp(App[None]):
    CSS_PATH = "watui.tcss"
    TITLE = "watui"
    COMMANDS = App.COMMANDS | {SessionCommands, ChatCommands, ViewCommands}
    # the screen gets -narrow below 100 columns: sidebar collapses, panels tighten
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="app.toggle_sidebar", show=False),
    ]

    def __init__(self, runtime: Runtime, *, start_sessions: bool = True, control=None) -> None:
        decode_alt_digits()
        super().__init__()
        self.runtime = runtime
        self._control = control  # the control socket's server (watui.control), served while we run
        self.manager = runtime.manager
        self.repo = runtime.repo
        self.config = runtime.environment.config
        self._start_sessions = start_sessions
        self._unsubscribe = None
        self.notifier = Notifier(self.config.notifications, self._write_to_terminal)
        self.theme_warnings: list[str] = []

    # --- start-up ----------------------------------------------------------------------
    def on_mount(self) -> None:
        self._register_themes()
        self.set_keymap(dict(self.config.keymap))
        main = MainScreen()
        # notices go to the main screen even while a dialog sits on top of it
        bridge = NoticeBridge(main.post_message, lambda delay, fn: self.set_timer(delay, fn))
        self._unsubscribe = self.manager.subscribe(bridge)
        if self._control is not None:
            # socket requests publish notices that reach the bridge: they run in our context
            self._control.run_handlers_in(contextvars.copy_context())
        self.push_screen(main)
        for warning in self.theme_warnings:
            self.notify(warning, severity="warning", timeout=8)
        if self._start_sessions:
            # The UI never waits for engines: they connect in the background.
            self.run_worker(self.manager.start_all(), group="engines", exit_on_error=False)

    def _register_themes(self) -> None:
        user_dir = self.runtime.environment.paths.config_file.parent / "themes"
        themes, self.theme_warnings = load_themes(user_dir)
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.theme
        if wanted not in self.available_themes:
            self.theme_warnings.append(f"theme {wanted!r} not found; using {FALLBACK_THEME}")
            wanted = FALLBACK_THEME
        self.theme = wanted

    def set_theme_and_save(self, name: str) -> None:
        self.theme = name
        try:
            cfg.set_theme(self.runtime.environment.paths.config_file, name)
        except cfg.ConfigError as error:
            self.notify(str(error), severity="error")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity="information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Toasts are plain text by default (Textual's default is markup): an error message
        can quote a stranger, e.g. a group subject or an engine's reason."""
        super().notify(
            printable(message),
            title=printable(title, single_line=True),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    def _write_to_terminal(self, data: str) -> None:
        # Bell and OSC notifications go straight to the terminal, past Textual's renderer.
        driver = self._driver
        if driver is not None:
            driver.write(data)
            driver.flush()

    # --- actions -----------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Stop every session cleanly (their queued events are written first), then exit."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        try:
            await self._main().save_state()
        except Exception:  # quitting must not fail on a draft
            log.exception("could not save the draft on quit")
        try:
            await asyncio.wait_for(self.manager.shutdown(timeout=3.0), 4.0)
        except TimeoutError:
            log.warning("sessions did not stop within 4 s; exiting anyway")
        self.exit()

    def action_help(self) -> None:
        from watui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_sidebar(self) -> None:
        self.screen.query_one("#sidebar").toggle_class("-hidden")

    def post_message_to_screen(self, message) -> None:
        self.screen.post_message(message)

    # --- session commands (palette, pairing view) ----------------------------------------
    def select_session(self, session_id: str) -> None:
        self._main().switch_session(session_id)

    def _main(self) -> MainScreen:
        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def action_add_session(self) -> None:
        from watui.ui.screens.dialogs import AddSessionDialog

        def added(result: tuple[str, str] | None) -> None:
            if result is not None:
                session_id, label = result
                self._guarded(self._add_session(session_id, label))

        # the ids in use, so the dialog refuses a duplicate as it is typed
        self.push_screen(AddSessionDialog(self.manager.session_ids()), added)

    async def _add_session(self, session_id: str, label: str) -> None:
        await self.manager.add_session(session_id, label)
        self.select_session(session_id)

    def action_remove_session(self, session_id: str) -> None:
        from watui.ui.screens.dialogs import ConfirmRemoveDialog

        def confirmed(choice: str | None) -> None:
            if choice is not None:
                self._guarded(self.manager.remove_session(session_id, delete_data=choice == "delete"))

        self.push_screen(ConfirmRemoveDialog(session_id), confirmed)

    def set_default_session(self, session_id: str) -> None:
        try:
            self.manager.set_default_session(session_id)
        except WatuiError as error:
            self.notify(str(error), severity="error")

    def action_logout(self, session_id: str) -> None:
        self._guarded(self.manager.logout(session_id))

    def run_command_pair_qr(self, session_id: str) -> None:
        """A fresh pairing window: stop the client and connect it again."""
        self.select_session(session_id)
        self._guarded(self.manager.restart_pairing(session_id))

    def run_command_pair_phone(self, session_id: str) -> None:
        from watui.ui.screens.dialogs import PhoneNumberDialog

        def entered(phone: str | None) -> None:
            if phone is not None:
                self._guarded(self.manager.pair_phone(session_id, phone))

        self.select_session(session_id)
        self.push_screen(PhoneNumberDialog(), entered)

    def simulate_scan(self, session_id: str) -> None:
        from watui.engine.sim.demo import DEMO_PHONES

        network = self.runtime.network
        phone = DEMO_PHONES.get(session_id)
        if network is None or phone is None:
            self.notify(f"no simulated phone for session {session_id}", severity="warning")
            return
        shown = self._main().pairing_shown(session_id)
        try:
            if isinstance(shown, PairingCode):  # the phone's user types the code
                network.enter_pairing_code(phone, shown.code)
            else:
                network.scan_session(session_id, phone)
        except WatuiError as error:
            self.notify(str(error), severity="error")

    def action_new_chat(self) -> None:
        from watui.ui.screens.dialogs import NewChatDialog

        main = self._main()

        def chosen(jid: str | None) -> None:
            if jid is not None and main.session_id:
                main.post_message(OpenChat(main.session_id, jid))

        self.push_screen(NewChatDialog(), chosen)

    def _guarded(self, coroutine) -> None:
        """Run a session action in the background; its error becomes one line on screen."""

        async def run() -> None:
            try:
                await coroutine
            except WatuiError as error:
                self.notify(str(error), severity="error")

        self.run_worker(run(), group="session-actions", exit_on_error=False)


def run_tui(runtime: Runtime) -> int:
    app = WatuiApp(runtime)
    app.run()
    return app.return_code or 0


__all__ = ["WatuiApp", "run_tui"]
