"""The main screen: session sidebar, status panel, chat list, message pane and composer.

Attributes flow down (the screen sets what each widget shows), messages flow up (widgets
post what the user did). Workers fetch from the store and post results; the handlers here
are the only code that changes widgets.
"""

from __future__ import annotations

import asyncio
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
from watui.ui import heap
from watui.ui.heap import HeapKeeper
from watui.ui.messages import OpenChat, PairingEvent, SessionsRefresh
from watui.ui.widgets.chat_list import VirtualChatList
from watui.ui.widgets.composer import Composer
from watui.ui.widgets.message_pane import MessagePane
from watui.ui.widgets.pairing import PairingView
from watui.ui.widgets.sidebar import SessionSidebar
from watui.ui.widgets.status_panel import StatusPanel

log = logging.getLogger("watui.ui")

CHAT_LIST_LIMIT = 20_000  # the whole list of even a very busy account, as light rows
CHAT_FIRST_PAGE = 100  # shown at once on a switch (pinned chats come on top of it) ...
CHAT_CHUNK = 1_000  # ... the rest follows in chunks this big, between frames
CHUNK_PAUSE = 0.02  # seconds
MESSAGE_PAGE = 80
FOOTER_DELAY = 0.1  # seconds: the footer's keys follow a focus change after this
LIST_CACHE_REFILL_DELAY = 1.0  # seconds without changes before cached list tops are read again
PREFETCH_DELAY = 0.05  # seconds the cursor rests on a chat before its first page is read
MESSAGE_FIRST_PAGE = 20  # opening a chat reads this many (a screenful); older pages
# come as the user scrolls up, or at once when these do not fill the pane.
OPEN_PAINT_HOLD = 0.05  # seconds: the screen waits this long at most for an opened chat's page
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


class KeyFooter(Footer):
    """Textual's Footer, rebuilt only when what it shows changes, and a moment after the
    change. Footer recomposes (one widget per key, 15-25 ms) on every bindings signal; a
    focus change sends one or two, even when the keys shown stay the same, and opening a
    chat moves the focus: the messages the user is waiting for were painted after the
    footer's new keys (bench/ui.py). Now they come first and the keys follow."""

    _shown: tuple = ()
    _timer = None

    def _keys_shown(self) -> tuple:
        active = self.screen.active_bindings
        shown = tuple(
            (binding.key, binding.action, binding.description, binding.group, enabled, tooltip,
             self.app.get_key_display(binding))
            for _, binding, enabled, tooltip in active.values()
            if binding.show
        )
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        return (shown, palette and palette[1:], self.compact, self.show_command_palette)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            if self._timer is not None:
                self._timer.stop()
            if not self._shown:  # the first keys: at once, as Footer does
                self.call_after_refresh(self._recompose_if_changed)
            else:
                self._timer = self.set_timer(FOOTER_DELAY, self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._timer = None
        if not self.is_attached:
            return
        shown = self._keys_shown()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()


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
        self._select_pending = ""  # a chat to put the cursor on when its chunk of the list arrives
        self._read_pending: tuple[str, str] | None = None  # opened, to mark read once shown
        self._paint_hold = None  # (batch_update context, timer) while a chat's first page is read
        # (session, chat, first page oldest first, names) of the highlighted chat
        self._prefetched: tuple[str, str, list[Message], dict[str, str]] | None = None
        self._prefetch_token: object | None = None
        self._prefetch_timer = None
        # The top of each session's chat list as it was last read, while nothing in that
        # session has changed since: a switch paints it in its first frame, then the list is
        # read again. Dropped as soon as the session reports a change; refilled when quiet.
        self._list_cache: dict[str, list[Chat]] = {}
        self._list_generation: dict[str, int] = {}
        self._refill_timer = None

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
        yield KeyFooter()

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
        self._refill_list_cache()
        self._heap = HeapKeeper()  # see watui/ui/heap.py: when garbage is collected
        self.call_after_refresh(self._start_heap_keeper)
        self.set_interval(heap.CHECK_INTERVAL, self._heap.tick)

    def _start_heap_keeper(self) -> None:
        if self.is_attached:
            self._heap.start()

    def on_unmount(self) -> None:
        self._release_paint()
        if hasattr(self, "_heap"):
            self._heap.stop()

    def on_key(self) -> None:
        self._heap.activity()

    # --- switching ---------------------------------------------------------------------
    def switch_session(self, session_id: str) -> None:
        if session_id == self.session_id:
            return
        self._save_draft()
        chat_list = self.query_one(VirtualChatList)
        if self.session_id and self.session_id in self.manager.session_ids():
            self._list_cache[self.session_id] = chat_list.chats[:CHAT_FIRST_PAGE]
        self.session_id = session_id
        self.chat_jid = ""
        self._select_pending = ""
        self._prefetched = self._prefetch_token = None
        self.query_one(SessionSidebar).selected = session_id
        self.query_one(SessionSidebar).refresh()
        self._show_status()
        self._show_conversation_or_pairing()
        self.query_one("#chat-title", Label).update("")
        self.query_one(MessagePane).set_messages([], {}, False)
        # the old session's rows must go now: enter on one would open its jid in this session
        chat_list.set_chats(self._list_cache.get(session_id, []))
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
        # marked read once its messages are on screen: the write (and the list and badge
        # refresh it causes) no longer competes with painting them
        self._read_pending = (self.session_id, chat_jid)
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None and prefetched[:2] == (self.session_id, chat_jid):
            # read while the chat was highlighted: shown in this frame
            self.workers.cancel_group(self, "messages-older")
            self.workers.cancel_group(self, "messages-replace")
            self._messages_loaded(MessagesLoaded(self.session_id, chat_jid, prefetched[2], "replace", prefetched[3]))
        else:
            self._hold_paint()
            self._load_messages(self.session_id, chat_jid, "replace")

    def _hold_paint(self) -> None:
        """Opening a chat moves the focus (a frame) and reads its first page (a few ms):
        painted apart, the messages came a frame (~17 ms) after the focus change. Screen
        updates wait for the page, OPEN_PAINT_HOLD at most (bench/ui.py, enter at once)."""
        if self._paint_hold is None:
            hold = self.app.batch_update()
            hold.__enter__()
            self._paint_hold = (hold, self.set_timer(OPEN_PAINT_HOLD, self._release_paint))

    def _release_paint(self) -> None:
        if self._paint_hold is not None:
            hold, timer = self._paint_hold
            self._paint_hold = None
            timer.stop()
            hold.__exit__(None, None, None)

    @on(VirtualChatList.Highlighted)
    def _chat_highlighted(self, message: VirtualChatList.Highlighted) -> None:
        """Read the first page of the highlighted chat a moment after the cursor stops on it,
        so that opening it paints its messages in the same frame (bench/ui.py)."""
        if self._prefetch_timer is not None:
            self._prefetch_timer.stop()
            self._prefetch_timer = None
        key = (self.session_id, message.jid)
        if not self.session_id or key == (self.session_id, self.chat_jid):
            return
        if self._prefetched is not None and self._prefetched[:2] == key:
            return
        self._prefetch_timer = self.set_timer(PREFETCH_DELAY, lambda: self._prefetch(*key))

    @work(group="prefetch", exclusive=True, exit_on_error=False)
    async def _prefetch(self, session_id: str, chat_jid: str) -> None:
        self._prefetch_timer = None
        self._prefetched = None
        token = self._prefetch_token = object()
        messages = await self.repo.get_messages(
            MessageFilter(session_id=session_id, chat_jid=chat_jid, limit=MESSAGE_FIRST_PAGE)
        )
        messages.reverse()
        names = await self._names_for(session_id, messages)
        # kept unless something about that chat arrived meanwhile (SessionsRefresh drops it)
        if self._prefetch_token is token and session_id == self.session_id:
            self._prefetched = (session_id, chat_jid, messages, names)

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
    async def _load_chats(self, session_id: str, *, reload: bool = False) -> None:
        """The session's chat list: pinned chats and the newest page first, then the rest in
        chunks, so a switch paints its list after one small query and the loop is never
        blocked by building thousands of rows at once. ``reload`` (after a history sync):
        the list on screen stays until the whole new one is read."""
        pinned = await self.repo.get_pinned_chats(session_id)
        page = await self.repo.get_chats(ChatFilter(session_id=session_id, limit=CHAT_FIRST_PAGE))
        first = list({c.jid: c for c in [*pinned, *page]}.values())
        everything = list(first)
        if not reload:
            self.post_message(ChatsLoaded(session_id, first, replace=True))
        loaded, last, size = len(page), page[-1] if page else None, CHAT_FIRST_PAGE
        while last is not None and len(page) == size and loaded < CHAT_LIST_LIMIT:
            # a frame goes out between chunks (the first page's, first of all): building a
            # thousand rows is ~10 ms of this loop, and the screen paints at most every ~17 ms
            await asyncio.sleep(CHUNK_PAUSE)
            size = min(CHAT_CHUNK, CHAT_LIST_LIMIT - loaded)
            page = await self.repo.get_chats(ChatFilter(
                session_id=session_id, limit=size, before=PageCursor(last.last_message_time, last.jid)
            ))
            if not page:
                break
            loaded, last = loaded + len(page), page[-1]
            if reload:
                everything += page
            else:
                self.post_message(ChatsLoaded(session_id, page, replace=False))
        if reload:
            self.post_message(ChatsLoaded(session_id, everything, replace=True))

    @work(group="list-cache", exclusive=True, exit_on_error=False)
    async def _refill_list_cache(self) -> None:
        """Read the top of every other session's chat list that is not cached."""
        self._refill_timer = None
        for session_id in self.manager.session_ids():
            if session_id == self.session_id or session_id in self._list_cache:
                continue
            generation = self._list_generation.get(session_id, 0)
            pinned = await self.repo.get_pinned_chats(session_id)
            page = await self.repo.get_chats(ChatFilter(session_id=session_id, limit=CHAT_FIRST_PAGE))
            if self._list_generation.get(session_id, 0) == generation and session_id != self.session_id:
                self._list_cache[session_id] = list({c.jid: c for c in [*pinned, *page]}.values())

    @work(group="chat-rows", exit_on_error=False)
    async def _reload_chats(self, session_id: str, jids: set[str]) -> None:
        rows = await self.repo.get_chats_by_jid(jids, session_id)  # one query, not one a chat
        self.post_message(ChatsLoaded(session_id, list(rows.values()), replace=False))

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
        limit = MESSAGE_FIRST_PAGE if mode == "replace" else MESSAGE_PAGE
        messages = await self.repo.get_messages(
            MessageFilter(session_id=session_id, chat_jid=chat_jid, limit=limit, before=before)
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
            shown = pane.message_by_id(message_id)
            if shown is not None and shown.timestamp >= page[0].timestamp:
                return True
        return False

    async def _names_for(self, session_id: str, messages: list[Message]) -> dict[str, str]:
        senders = {m.sender for m in messages if not m.is_from_me}
        known = await self.repo.get_contact_names(senders, session_id)  # one query, not one a sender
        return {sender: known.get(sender) or display_for_jid(sender) for sender in senders}

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
            await self.manager.send_text(session_id, chat_jid, text, reply_to=reply_to, consumes_draft=True)
        except WatuiError as error:  # nothing was queued (an unwritable store, a bad reply)
            self.app.notify(str(error), severity="error")
            self._give_back(session_id, chat_jid, text)

    def _give_back(self, session_id: str, chat_jid: str, text: str) -> None:
        """The text of a send that failed goes back where it was typed (that chat's draft
        when another chat is open now), unless something new was typed there meanwhile."""
        composer = self.query_one(Composer)
        key = (session_id, chat_jid)
        if key != (self.session_id, self.chat_jid):
            composer.drafts.setdefault(key, text)
        elif not composer.text.strip():
            composer.drafts[key] = text
            composer.load_draft(key)

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
                # list arrived: the cursor goes to it, not to the top (or, when it is not
                # in the first page, once its chunk arrives)
                self._select_pending = "" if chat_list.select_jid(self.chat_jid) else self.chat_jid
        else:
            chat_list.update_chats(message.chats)
            if self._select_pending and chat_list.select_jid(self._select_pending):
                self._select_pending = ""
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
            self._release_paint()
            if self._read_pending == (message.session_id, message.chat_jid):
                self._read_pending = None
                self.call_after_refresh(self._mark_read, message.session_id, message.chat_jid)
            chat = self.query_one(VirtualChatList).chat_by_jid(message.chat_jid)
            if chat is not None:
                self._show_title(chat)
        elif message.mode == "older":
            pane.prepend_older(message.messages, message.names)
        else:
            pane.upsert_messages(message.messages, message.names)

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
        self._heap.activity()
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
        if dirty.incoming:
            # the badges move now, by the counts the store reported; the totals read next
            # correct them (a duplicate delivery, a message read on the phone meanwhile)
            unread = dict(getattr(self, "_unread", {}))
            for (session_id, chat_jid), count in dirty.incoming.items():
                if (session_id, chat_jid) != (self.session_id, self.chat_jid):
                    unread[session_id] = unread.get(session_id, 0) + count
            self._unread = unread
            self._refresh_sidebar()
        if dirty.chats or dirty.incoming:
            self._load_unread()
        if self._prefetched is not None or self._prefetch_token is not None:
            # a prefetched page (or one being read) of a chat that changed is not used
            if any(key[0] == self.session_id for key in dirty.messages):
                prefetched = self._prefetched
                if prefetched is None or prefetched[:2] in dirty.messages:
                    self._prefetched = self._prefetch_token = None
        stale = dirty.chats.keys() - {self.session_id}
        if stale:
            for session_id in stale:
                self._list_cache.pop(session_id, None)
                self._list_generation[session_id] = self._list_generation.get(session_id, 0) + 1
            if self._refill_timer is not None:
                self._refill_timer.stop()
            self._refill_timer = self.set_timer(LIST_CACHE_REFILL_DELAY, self._refill_list_cache)
        changed = dirty.chats.get(self.session_id)
        if changed:
            if len(changed) > 200:  # a history sync: reading the list again is cheaper
                self._load_chats(self.session_id, reload=True)
            else:
                self._reload_chats(self.session_id, set(changed))
        if (self.session_id, self.chat_jid) in dirty.messages:
            self._load_messages(
                self.session_id, self.chat_jid, "upsert", changed_ids=dirty.messages[(self.session_id, self.chat_jid)]
            )
            if dirty.incoming.get((self.session_id, self.chat_jid)):
                self._mark_read(self.session_id, self.chat_jid)
        elsewhere = [
            (session_id, chat_jid)
            for (session_id, chat_jid) in dirty.incoming
            if (session_id, chat_jid) != (self.session_id, self.chat_jid)
        ]
        if elsewhere:
            # one worker for the whole refresh (a busy minute brings hundreds of chats)
            self._notify_incoming(elsewhere)

    @work(group="notify", exit_on_error=False)
    async def _notify_incoming(self, incoming: list[tuple[str, str]]) -> None:
        """A bell or desktop notification for each chat that is not on screen; muted chats
        stay silent (the notifier decides, from the config)."""
        by_session: dict[str, list[str]] = {}
        for session_id, chat_jid in incoming:
            by_session.setdefault(session_id, []).append(chat_jid)
        notifier = self.app.notifier
        for session_id, jids in by_session.items():
            if session_id not in self.manager.session_ids():
                continue
            chats = await self.repo.get_chats_by_jid(jids, session_id)
            label = self.manager.get_session(session_id).label
            for chat_jid in jids:
                chat = chats.get(chat_jid)
                notifier.notify(
                    label,
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
        if self._draft_timer is not None:
            # Not the timer's save of the emptied composer: the stored draft keeps the text
            # until the send stores it in the outbox, and goes in that same transaction.
            self._draft_timer.stop()
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
