"""The main screen: session sidebar, status panel, chat list, message pane and composer.

Attributes flow down (the screen sets what each widget shows), messages flow up (widgets
post what the user did). Workers fetch from the store and post results; the handlers here
are the only code that changes widgets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message as TextualMessage
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Label, TextArea

from watui.domain import ChatFilter, ConnectionState, MessageFilter, PageCursor, WatuiError
from watui.domain.events import PairingCode, PairingWindowClosed, PairSuccess, QRCode
from watui.domain.jid import display_for_jid
from watui.domain.models import Chat, Message
from watui.domain.text import printable
from watui.store import with_session_id
from watui.ui.messages import OpenChat, PairingEvent, SessionsRefresh
from watui.ui.widgets.chat_list import VirtualChatList
from watui.ui.widgets.composer import Composer
from watui.ui.widgets.message_pane import MessagePane
from watui.ui.widgets.pairing import PairingView
from watui.ui.widgets.sidebar import SessionSidebar
from watui.ui.widgets.status_panel import StatusPanel

log = logging.getLogger("watui.ui")

CHAT_LIST_LIMIT = 20_000  # the whole list of even a very busy account, as light rows
MESSAGE_PAGE = 80
DRAFT_SAVE_DELAY = 1.0  # seconds after the last key
SESSION_KEYS = 9


# --- results posted by workers -------------------------------------------------------------
@dataclass
class ChatsLoaded(TextualMessage):
    session_id: str
    chats: list[Chat]
    replace: bool  # the whole list (a session switch) or some rows (an update)


@dataclass
class MessagesLoaded(TextualMessage):
    session_id: str
    chat_jid: str
    messages: list[Message]  # oldest first
    mode: str  # "replace" | "upsert" | "older"
    names: dict[str, str]


@dataclass
class DraftsLoaded(TextualMessage):
    session_id: str
    drafts: dict[str, str]  # chat jid -> text


@dataclass
class UnreadLoaded(TextualMessage):
    totals: dict[str, int]


class MainScreen(Screen[None]):
    BINDINGS = [
        *[
            Binding(f"alt+{n}", f"select_session({n})", f"Session {n}", id=f"session.select_{n}", show=False)
            for n in range(1, SESSION_KEYS + 1)
        ],
        Binding("alt+up", "cycle_session(-1)", "Prev session", id="session.prev", show=False),
        Binding("alt+down", "cycle_session(1)", "Next session", id="session.next"),
        Binding("alt+n", "next_unread", "Next unread", id="chat.next_unread"),
        Binding("slash", "filter_chats", "Filter", id="chat.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="chat.clear_filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.session_id = ""
        self.chat_jid = ""
        self._qr_by_session: dict[str, QRCode | PairingCode | PairingWindowClosed] = {}
        self._reply_to: Message | None = None
        self._draft_timer = None

    def pairing_shown(self, session_id: str) -> QRCode | PairingCode | PairingWindowClosed | None:
        """What the pairing screen of ``session_id`` shows now, if anything."""
        return self._qr_by_session.get(session_id)

    @property
    def manager(self):
        return self.app.manager

    @property
    def repo(self):
        return self.app.repo

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield SessionSidebar(id="sidebar")
            with Vertical(id="left"):
                yield StatusPanel(id="status")
                yield Input(placeholder="filter chats by name or number", id="chat-filter")
                yield VirtualChatList(id="chats")
            with ContentSwitcher(initial="conversation", id="right"):
                with Vertical(id="conversation"):
                    yield Label("", id="chat-title")
                    yield MessagePane(id="pane")
                    yield Composer(id="composer")
                yield PairingView("", id="pairing")
        yield Footer()

    def on_resize(self) -> None:
        # Screen._on_resize sets the breakpoint class after this handler: look once it has
        self.call_later(self._fit_status_panel)

    def _fit_status_panel(self) -> None:
        # below the breakpoint the panel gets two lines: the five-line form would be cut off
        self.query_one(StatusPanel).compact = self.has_class("-narrow")

    def on_mount(self) -> None:
        ids = self.manager.session_ids()
        default = self.manager.get_default_session()
        self._refresh_sidebar()
        if ids:
            self.switch_session(default or ids[0])

    # --- switching ---------------------------------------------------------------------
    def switch_session(self, session_id: str) -> None:
        if session_id == self.session_id:
            return
        self._save_draft()
        self.session_id = session_id
        self.chat_jid = ""
        self.query_one(SessionSidebar).selected = session_id
        self.query_one(SessionSidebar).refresh()
        self._show_status()
        self._show_conversation_or_pairing()
        self.query_one("#chat-title", Label).update("")
        self.query_one(MessagePane).set_messages([], {}, False)
        # the old session's rows must go now: enter on one would open its jid in this session
        self.query_one(VirtualChatList).set_chats([])
        self._load_chats(session_id)
        self._load_drafts(session_id)

    def _show_status(self) -> None:
        if not self.session_id:
            return
        status = next(
            (s for s in self.manager.get_all_sessions_with_status() if s.session_id == self.session_id),
            None,
        )
        if status is not None:
            self.query_one(StatusPanel).set_status(status)

    def _show_conversation_or_pairing(self) -> None:
        status = self.manager.get_session(self.session_id).status
        needs_pairing = status.state in (ConnectionState.NEEDS_PAIRING, ConnectionState.LOGGED_OUT)
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "pairing" if needs_pairing else "conversation"
        if needs_pairing:
            pairing = self.query_one(PairingView)
            pairing.session_id = self.session_id
            pairing.simulated = self.app.runtime.network is not None
            if not isinstance(self.focused, Input):
                pairing.focus()  # so its keys (c: phone number, p: new code) work at once
            last = self._qr_by_session.get(self.session_id)
            if isinstance(last, QRCode):
                pairing.show_qr(last)
            elif isinstance(last, PairingCode):
                pairing.show_code(last)
            elif isinstance(last, PairingWindowClosed) or status.state is ConnectionState.LOGGED_OUT:
                pairing.window_closed()

    def open_chat(self, chat_jid: str) -> None:
        if chat_jid == self.chat_jid:
            self.query_one(Composer).focus()
            return
        self._save_draft()
        self.chat_jid = chat_jid
        self._reply_to = None
        composer = self.query_one(Composer)
        composer.reply_to = None
        composer.load_draft((self.session_id, chat_jid))
        self._load_messages(self.session_id, chat_jid, "replace")
        self._mark_read(self.session_id, chat_jid)

    def _save_draft(self) -> None:
        """Keep what is in the composer for the open chat: in memory for the next switch,
        and in the store so a restart loses nothing."""
        if self.session_id and self.chat_jid:
            composer = self.query_one(Composer)
            key = (self.session_id, self.chat_jid)
            composer.save_draft(key)
            self._persist_draft(self.session_id, self.chat_jid, composer.drafts.get(key, ""))

    @work(group="drafts", exit_on_error=False)
    async def _persist_draft(self, session_id: str, chat_jid: str, text: str) -> None:
        await self.repo.save_draft(chat_jid, text, session_id)

    @work(group="drafts-load", exit_on_error=False)
    async def _load_drafts(self, session_id: str) -> None:
        drafts = await self.repo.get_drafts(session_id)
        self.post_message(DraftsLoaded(session_id, drafts))

    @on(TextArea.Changed, "#composer")
    def _composer_changed(self) -> None:
        # Save a moment after typing stops, not on every key.
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY, self._save_draft)

    # --- workers: fetch, then post -----------------------------------------------------
    @work(group="chats", exclusive=True, exit_on_error=False)
    async def _load_chats(self, session_id: str) -> None:
        chats = await self.repo.get_chats(ChatFilter(session_id=session_id, limit=CHAT_LIST_LIMIT))
        self.post_message(ChatsLoaded(session_id, chats, replace=True))

    @work(group="chat-rows", exit_on_error=False)
    async def _reload_chats(self, session_id: str, jids: set[str]) -> None:
        rows = [await self.repo.get_chat_by_session(jid, session_id) for jid in jids]
        self.post_message(ChatsLoaded(session_id, [c for c in rows if c is not None], replace=False))

    def _load_messages(
        self, session_id: str, chat_jid: str, mode: str, before=None, changed_ids: set[str] = frozenset()
    ) -> None:
        # One exclusive group per kind of load: a refresh of new messages must not cancel
        # the older page the user scrolled up for, and a new chat cancels both.
        if mode == "replace":
            self.workers.cancel_group(self, "messages-older")
        self.run_worker(
            self._fetch_messages(session_id, chat_jid, mode, before, set(changed_ids)),
            group=f"messages-{mode}",
            exclusive=True,
            exit_on_error=False,
        )

    async def _fetch_messages(
        self, session_id: str, chat_jid: str, mode: str, before, changed_ids: set[str]
    ) -> None:
        messages = await self.repo.get_messages(
            MessageFilter(session_id=session_id, chat_jid=chat_jid, limit=MESSAGE_PAGE, before=before)
        )
        messages.reverse()
        if mode == "upsert" and self._vanished(changed_ids, messages):
            # a message on screen is gone from the store (deleted for me, or re-keyed to the
            # server's id): the window is read again rather than patched
            mode = "replace"
        names = await self._names_for(session_id, messages)
        self.post_message(MessagesLoaded(session_id, chat_jid, messages, mode, names))

    def _vanished(self, changed_ids: set[str], page: list[Message]) -> bool:
        if not page:
            return False
        loaded = {m.id for m in page}
        pane = self.query_one(MessagePane)
        for message_id in changed_ids - loaded:
            view = pane.view_for(message_id)
            if view is not None and view.message.timestamp >= page[0].timestamp:
                return True
        return False

    async def _names_for(self, session_id: str, messages: list[Message]) -> dict[str, str]:
        names: dict[str, str] = {}
        with with_session_id(session_id):
            for sender in {m.sender for m in messages if not m.is_from_me}:
                names[sender] = await self.repo.get_contact_name(sender) or display_for_jid(sender)
        return names

    @work(group="unread", exclusive=True, exit_on_error=False)
    async def _load_unread(self) -> None:
        totals = await self.repo.unread_totals(self.manager.session_ids())
        self.post_message(UnreadLoaded(totals))

    @work(group="mark-read", exit_on_error=False)
    async def _mark_read(self, session_id: str, chat_jid: str) -> None:
        await self.manager.mark_read(session_id, chat_jid)

    @work(group="send", exit_on_error=False)
    async def _send(self, session_id: str, chat_jid: str, text: str, reply_to: str | None) -> None:
        try:
            await self.manager.send_text(session_id, chat_jid, text, reply_to=reply_to)
        except WatuiError as error:
            self.app.notify(str(error), severity="error")

    # --- handlers: mutate ----------------------------------------------------------------
    @on(ChatsLoaded)
    def _chats_loaded(self, message: ChatsLoaded) -> None:
        if message.session_id != self.session_id:
            return
        chat_list = self.query_one(VirtualChatList)
        if message.replace:
            previous = chat_list.cursor_jid
            chat_list.set_chats(message.chats)
            if self.chat_jid and chat_list.cursor_jid != previous:
                # a chat opened in another session (next unread, the palette) before its
                # list arrived: the cursor goes to it, not to the top
                chat_list.select_jid(self.chat_jid)
        else:
            chat_list.update_chats(message.chats)
        if self.chat_jid:
            chat = next((c for c in message.chats if c.jid == self.chat_jid), None)
            if chat is not None:
                self._show_title(chat)

    def _show_title(self, chat: Chat) -> None:
        # Text, not a str: a stranger's group name must never be read as markup
        title = Text(printable(chat.name or display_for_jid(chat.jid), single_line=True))
        if chat.is_group:
            title.append("  (group)", style="dim")
        self.query_one("#chat-title", Label).update(title)

    @on(MessagesLoaded)
    def _messages_loaded(self, message: MessagesLoaded) -> None:
        if (message.session_id, message.chat_jid) != (self.session_id, self.chat_jid):
            return
        pane = self.query_one(MessagePane)
        is_group = message.chat_jid.endswith("@g.us")
        if message.mode == "replace":
            pane.set_messages(message.messages, message.names, is_group)
            chat = self.query_one(VirtualChatList).chat_by_jid(message.chat_jid)
            if chat is not None:
                self._show_title(chat)
        elif message.mode == "older":
            pane.prepend_older(message.messages)
        else:
            pane.upsert_messages(message.messages)

    @on(DraftsLoaded)
    def _drafts_loaded(self, message: DraftsLoaded) -> None:
        composer = self.query_one(Composer)
        for chat_jid, text in message.drafts.items():
            composer.drafts.setdefault((message.session_id, chat_jid), text)
        if message.session_id == self.session_id and self.chat_jid and not composer.text:
            composer.load_draft((self.session_id, self.chat_jid))

    @on(UnreadLoaded)
    def _unread_loaded(self, message: UnreadLoaded) -> None:
        self._unread = message.totals
        self._refresh_sidebar()

    def _refresh_sidebar(self) -> None:
        self.query_one(SessionSidebar).set_sessions(
            self.manager.get_all_sessions_with_status(), getattr(self, "_unread", {})
        )

    @on(SessionsRefresh)
    def _sessions_refresh(self, message: SessionsRefresh) -> None:
        dirty = message.dirty
        ids = self.manager.session_ids()
        # A removed session's last status (STOPPED) may be flushed before SessionsChanged:
        # leave it as soon as it is gone, never ask the manager about it again.
        if self.session_id not in ids:
            self.session_id = ""
            if ids:
                self.switch_session(self.manager.get_default_session() or ids[0])
        if dirty.statuses or dirty.sessions_changed:
            self._refresh_sidebar()
            if self.session_id in dirty.statuses:
                self._show_status()
                self._show_conversation_or_pairing()
        if dirty.chats or dirty.incoming:
            self._load_unread()
        changed = dirty.chats.get(self.session_id)
        if changed:
            if len(changed) > 200:  # a history sync: reading the list again is cheaper
                self._load_chats(self.session_id)
            else:
                self._reload_chats(self.session_id, set(changed))
        if (self.session_id, self.chat_jid) in dirty.messages:
            self._load_messages(
                self.session_id, self.chat_jid, "upsert", changed_ids=dirty.messages[(self.session_id, self.chat_jid)]
            )
            if dirty.incoming.get((self.session_id, self.chat_jid)):
                self._mark_read(self.session_id, self.chat_jid)
        for (session_id, chat_jid), count in dirty.incoming.items():
            if (session_id, chat_jid) != (self.session_id, self.chat_jid):
                self._notify_incoming(session_id, chat_jid, count)

    @work(group="notify", exit_on_error=False)
    async def _notify_incoming(self, session_id: str, chat_jid: str, count: int) -> None:
        """A bell or desktop notification for a chat that is not on screen; muted chats
        stay silent (the notifier decides, from the config)."""
        if session_id not in self.manager.session_ids():
            return
        chat = await self.repo.get_chat_by_session(chat_jid, session_id)
        notifier = self.app.notifier
        notifier.notify(
            self.manager.get_session(session_id).label,
            chat=(chat.name if chat and chat.name else display_for_jid(chat_jid)),
            text=chat.last_message_preview if chat else "",
            muted=bool(chat and chat.muted),
        )
        due = notifier.due_in()
        if due is not None:
            self.set_timer(due + 0.01, notifier.flush)

    @on(PairingEvent)
    def _pairing_event(self, message: PairingEvent) -> None:
        event = message.event
        if isinstance(event, QRCode | PairingCode | PairingWindowClosed):
            self._qr_by_session[message.session_id] = event
        elif isinstance(event, PairSuccess):
            self._qr_by_session.pop(message.session_id, None)
        if message.session_id != self.session_id:
            return
        pairing = self.query_one(PairingView)
        if isinstance(event, QRCode):
            pairing.show_qr(event)
        elif isinstance(event, PairingCode):
            pairing.show_code(event)
        elif isinstance(event, PairingWindowClosed):
            pairing.window_closed()
        elif isinstance(event, PairSuccess):
            pairing.paired()
            self.query_one(ContentSwitcher).current = "conversation"

    # --- from widgets --------------------------------------------------------------------
    @on(SessionSidebar.Selected)
    def _sidebar_selected(self, message: SessionSidebar.Selected) -> None:
        self.switch_session(message.session_id)

    @on(VirtualChatList.Opened)
    def _chat_opened(self, message: VirtualChatList.Opened) -> None:
        self.open_chat(message.jid)
        self.query_one(Composer).focus()

    @on(Composer.Submitted)
    def _composer_submitted(self, message: Composer.Submitted) -> None:
        if not (self.session_id and self.chat_jid):
            self.app.notify("open a chat first (enter on the chat list)", severity="warning")
            return
        reply_to = self._reply_to.id if self._reply_to else None
        self._reply_to = None
        self.query_one(Composer).reply_to = None
        self._send(self.session_id, self.chat_jid, message.text, reply_to)

    @on(MessagePane.ReplyRequested)
    def _reply_requested(self, message: MessagePane.ReplyRequested) -> None:
        self._reply_to = message.message
        composer = self.query_one(Composer)
        composer.reply_to = message.message
        composer.focus()

    @on(MessagePane.RetryRequested)
    def _retry_requested(self, message: MessagePane.RetryRequested) -> None:
        failed = message.message
        self.run_worker(
            self.manager.retry_message(self.session_id, failed.chat_jid, failed.id),
            group="send",
            exit_on_error=False,
        )

    @on(MessagePane.NeedOlder)
    def _need_older(self, message: MessagePane.NeedOlder) -> None:
        oldest = message.before_message
        self._load_messages(
            self.session_id, self.chat_jid, "older", PageCursor(oldest.timestamp, oldest.id)
        )

    @on(MessagePane.NeedLatest)
    def _need_latest(self) -> None:
        self._load_messages(self.session_id, self.chat_jid, "replace")

    @on(PairingView.RestartRequested)
    def _restart_pairing(self) -> None:
        self.app.run_command_pair_qr(self.session_id)

    @on(PairingView.SimulateScanRequested)
    def _simulate_scan(self, message: PairingView.SimulateScanRequested) -> None:
        self.app.simulate_scan(message.session_id)

    @on(PairingView.PhonePairingRequested)
    def _phone_pairing(self) -> None:
        self.app.run_command_pair_phone(self.session_id)

    @on(Input.Changed, "#chat-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(VirtualChatList).set_filter(event.value)

    @on(Input.Submitted, "#chat-filter")
    def _filter_submitted(self) -> None:
        self.query_one(VirtualChatList).focus()

    async def save_state(self) -> None:
        """Before quitting: the open chat's draft goes to the store now, not in a worker."""
        if self.session_id and self.chat_jid:
            composer = self.query_one(Composer)
            composer.save_draft((self.session_id, self.chat_jid))
            text = composer.drafts.get((self.session_id, self.chat_jid), "")
            await self.repo.save_draft(self.chat_jid, text, self.session_id)

    # --- actions -------------------------------------------------------------------------
    def action_select_session(self, number: int) -> None:
        ids = self.manager.session_ids()
        if 1 <= number <= len(ids):
            self.switch_session(ids[number - 1])

    def action_cycle_session(self, step: int) -> None:
        ids = self.manager.session_ids()
        if not ids:
            return
        index = ids.index(self.session_id) if self.session_id in ids else 0
        self.switch_session(ids[(index + step) % len(ids)])

    def action_filter_chats(self) -> None:
        box = self.query_one("#chat-filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#chat-filter", Input)
        if box.has_class("-shown"):
            box.value = ""
            box.remove_class("-shown")
            self.query_one(VirtualChatList).focus()

    @work(group="next-unread", exclusive=True, exit_on_error=False)
    async def action_next_unread(self) -> None:
        """The next chat with unread messages: this session first, then the others in order."""
        ids = self.manager.session_ids()
        if not ids:
            return
        start = ids.index(self.session_id) if self.session_id in ids else 0
        for session_id in ids[start:] + ids[:start]:
            chats = await self.repo.get_chats(ChatFilter(session_id=session_id, unread_only=True, limit=2))
            target = next((c for c in chats if (session_id, c.jid) != (self.session_id, self.chat_jid)), None)
            if target is not None:
                self.post_message(OpenChat(session_id, target.jid))
                return
        self.app.notify("no unread messages")

    @on(OpenChat)
    def _open_chat_anywhere(self, message: OpenChat) -> None:
        """Open a chat in any session (next unread, the palette)."""
        self.switch_session(message.session_id)
        self.open_chat(message.chat_jid)
        self.query_one(VirtualChatList).select_jid(message.chat_jid)
        self.query_one(Composer).focus()
