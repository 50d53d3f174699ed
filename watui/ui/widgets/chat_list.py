"""The chat list of one session: a line-API virtual list that draws only the visible rows.

Follows toolong's ``LogLines``: fixed two-line rows, ``virtual_size`` from the row count,
``render_line`` maps a screen line to (row, line) and strips are cached in an LRU keyed by
(jid, row version, line, cursor state, width). The parent owns the data ("attributes down"):
it calls :meth:`VirtualChatList.set_chats` / :meth:`~VirtualChatList.update_chats` /
:meth:`~VirtualChatList.set_filter`; the list posts :class:`VirtualChatList.Highlighted` and
:class:`VirtualChatList.Opened` ("messages up"). Text from other people is drawn as plain
segments: it is never parsed as markup and control characters are escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from watui.domain.jid import display_for_jid
from watui.domain.models import Chat
from watui.ui.format import chat_preview, chat_title, format_time, truncate_cells
from watui.ui.widgets.style_signature import style_signature

ROW_HEIGHT = 2

GROUP_MARKER = "#"
MUTED_MARKER = "∅"
PINNED_MARKER = "⌃"
ARCHIVED_MARKER = "⊟"


def _sort_key(chat: Chat) -> tuple[bool, float, str]:
    """Pinned first, then latest activity, then jid (all descending)."""
    try:
        ts = chat.last_message_time.timestamp()
    except (AttributeError, OverflowError, ValueError, OSError):
        ts = 0.0
    return (bool(chat.pinned), ts, chat.jid)


class VirtualChatList(ScrollView, can_focus=True):
    """Chats of one session, pinned first, then latest activity first."""

    ROW_HEIGHT = ROW_HEIGHT

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", id="list.up", show=False, tooltip="Previous chat"),
        Binding("down,j", "cursor_down", "Down", id="list.down", show=False, tooltip="Next chat"),
        Binding("g,home", "cursor_top", "Top", id="list.top", show=False, tooltip="First chat"),
        Binding("G,end", "cursor_bottom", "Bottom", id="list.bottom", show=False, tooltip="Last chat"),
        Binding("pageup", "page_up", "Page up", id="list.page_up", show=False),
        Binding("pagedown", "page_down", "Page down", id="list.page_down", show=False),
        Binding("enter", "open", "Open", id="list.open", tooltip="Open the highlighted chat"),
    ]

    COMPONENT_CLASSES = {
        "chat-list--cursor",
        "chat-list--cursor-blurred",
        "chat-list--name",
        "chat-list--unread",
        "chat-list--muted",
        "chat-list--marker",
        "chat-list--time",
        "chat-list--preview",
        "chat-list--badge",
        "chat-list--badge-muted",
        "chat-list--empty",
    }

    DEFAULT_CSS = """
    VirtualChatList {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        background: $surface;
        & > .chat-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
        & > .chat-list--cursor-blurred { background: $block-cursor-blurred-background; }
        & > .chat-list--name { }
        & > .chat-list--unread { text-style: bold; }
        & > .chat-list--muted { color: $text-muted; }
        & > .chat-list--marker { color: $text-muted; }
        & > .chat-list--time { color: $text-muted; }
        & > .chat-list--preview { color: $text-muted; }
        & > .chat-list--badge { background: $accent; color: $text; text-style: bold; }
        & > .chat-list--badge-muted { background: $panel-lighten-2; color: $text-muted; }
        & > .chat-list--empty { color: $text-muted; text-style: italic; }
    }
    """

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another chat."""

        chat_list: VirtualChatList
        jid: str

        @property
        def control(self) -> VirtualChatList:
            return self.chat_list

    @dataclass
    class Opened(Message):
        """The user opened a chat (enter or click)."""

        chat_list: VirtualChatList
        jid: str

        @property
        def control(self) -> VirtualChatList:
            return self.chat_list

    def __init__(
        self,
        chats: Iterable[Chat] = (),
        *,
        names: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        #: jid -> display name, used for group senders in the preview line.
        self.names: Mapping[str, str] = names or {}
        #: Returns "now" (UTC); injectable for deterministic tests.
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._all: list[Chat] = []
        self._all_index: dict[str, int] = {}
        self._by_jid: dict[str, Chat] = {}
        self._view: list[Chat] = []
        self._index: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._search_keys: dict[str, str] = {}
        self._filter = ""
        self._cursor = 0
        self._cursor_jid: str | None = None
        self._cache: LRUCache[tuple, Strip] = LRUCache(1024)
        #: How many row lines were rendered (cache misses); tests and benches read it.
        self.render_count = 0
        self._load(chats)
        self._apply_filter()
        self._cursor_jid = self._view[0].jid if self._view else None

    # --- public API -------------------------------------------------------------------

    @property
    def chats(self) -> list[Chat]:
        """All chats, sorted (a copy)."""
        return list(self._all)

    @property
    def visible_chats(self) -> list[Chat]:
        """The chats shown under the current filter, in order (a copy)."""
        return list(self._view)

    @property
    def filter_text(self) -> str:
        return self._filter

    @filter_text.setter
    def filter_text(self, text: str) -> None:
        self.set_filter(text)

    @property
    def cursor(self) -> int:
        """Index of the highlighted row in :attr:`visible_chats`."""
        return self._cursor

    @cursor.setter
    def cursor(self, index: int) -> None:
        self._move_cursor(index)

    @property
    def cursor_jid(self) -> str | None:
        """The highlighted chat's jid, or None when the list is empty."""
        return self._cursor_jid

    @property
    def highlighted_chat(self) -> Chat | None:
        return self._by_jid.get(self._cursor_jid) if self._cursor_jid else None

    def get_chat(self, jid: str) -> Chat | None:
        return self._by_jid.get(jid)

    chat_by_jid = get_chat

    def set_chats(self, chats: Iterable[Chat], names: Mapping[str, str] | None = None) -> None:
        """Replace all chats; the cursor stays on the same jid when it is still present."""
        if names is not None:
            self.names = names
        self._load(chats)
        self._after_reorder()

    def update_chats(self, changed: Iterable[Chat]) -> None:
        """Add or replace chats by jid. Redraws only their rows unless the order changed."""
        reorder = False
        dirty: list[str] = []
        for chat in changed:
            old = self._by_jid.get(chat.jid)
            self._by_jid[chat.jid] = chat
            self._versions[chat.jid] = self._versions.get(chat.jid, 0) + 1
            self._search_keys.pop(chat.jid, None)
            if old is None:
                reorder = True
            else:
                if _sort_key(old) != _sort_key(chat):
                    reorder = True
                dirty.append(chat.jid)
        if reorder:
            self._all = list(self._by_jid.values())
            self._all.sort(key=_sort_key, reverse=True)
            self._reindex_all()
            self._after_reorder()
            return
        # order unchanged: swap the objects in place and redraw only those rows
        for jid in dirty:
            self._all[self._all_index[jid]] = self._by_jid[jid]
        for jid in dirty:
            index = self._index.get(jid)
            if index is not None:
                self._view[index] = self._by_jid[jid]
                if self._matches(self._by_jid[jid]):
                    self.refresh_lines(index * ROW_HEIGHT, ROW_HEIGHT)
                else:  # no longer matches the filter
                    self._after_reorder()
                    return
            elif self._filter and self._matches(self._by_jid[jid]):  # now matches
                self._after_reorder()
                return

    def remove_chats(self, jids: Iterable[str]) -> None:
        gone = set(jids) & self._by_jid.keys()
        if not gone:
            return
        for jid in gone:
            del self._by_jid[jid]
            self._versions.pop(jid, None)
            self._search_keys.pop(jid, None)
        self._all = [chat for chat in self._all if chat.jid not in gone]
        self._reindex_all()
        self._after_reorder()

    def set_filter(self, text: str) -> None:
        """Show only chats whose name or number contains ``text`` (case-insensitive)."""
        text = text or ""
        if text == self._filter:
            return
        self._filter = text
        self._after_reorder()

    def select_jid(self, jid: str) -> bool:
        """Move the cursor to ``jid`` if it is visible."""
        index = self._index.get(jid)
        if index is None:
            return False
        self._move_cursor(index)
        return True

    def refresh_times(self) -> None:
        """Redraw everything (e.g. after midnight, so 'HH:MM' becomes a weekday)."""
        self._cache.clear()
        self.refresh()

    # --- data -------------------------------------------------------------------------

    def _load(self, chats: Iterable[Chat]) -> None:
        self._by_jid = {}
        for chat in chats:
            self._by_jid[chat.jid] = chat
        self._all = sorted(self._by_jid.values(), key=_sort_key, reverse=True)
        self._reindex_all()
        self._versions = {}
        self._search_keys = {}
        self._cache.clear()

    def _reindex_all(self) -> None:
        self._all_index = {chat.jid: position for position, chat in enumerate(self._all)}

    def _search_key(self, chat: Chat) -> str:
        key = self._search_keys.get(chat.jid)
        if key is None:
            user = chat.jid.partition("@")[0]
            key = f"{chat.name}\n{user}\n{display_for_jid(chat.jid)}".casefold()
            self._search_keys[chat.jid] = key
        return key

    def _matches(self, chat: Chat) -> bool:
        if not self._filter:
            return True
        return self._filter.casefold() in self._search_key(chat)

    def _apply_filter(self) -> None:
        if self._filter:
            needle = self._filter.casefold()
            self._view = [chat for chat in self._all if needle in self._search_key(chat)]
        else:
            self._view = list(self._all)
        self._index = {chat.jid: index for index, chat in enumerate(self._view)}

    def _after_reorder(self) -> None:
        """Recompute the view after an order/filter/content change; keep the cursor's jid."""
        self._apply_filter()
        previous = self._cursor_jid
        if previous is not None and previous in self._index:
            self._cursor = self._index[previous]
        else:
            self._cursor = min(self._cursor, max(len(self._view) - 1, 0))
        self._cursor_jid = self._view[self._cursor].jid if self._view else None
        self._update_virtual_size()
        self.refresh()
        if self._cursor_jid != previous and self._cursor_jid is not None:
            self.post_message(self.Highlighted(self, self._cursor_jid))

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(0, len(self._view) * ROW_HEIGHT)

    # --- cursor -----------------------------------------------------------------------

    def _move_cursor(self, index: int, *, post: bool = True) -> None:
        if not self._view:
            self._cursor, self._cursor_jid = 0, None
            return
        index = max(0, min(index, len(self._view) - 1))
        old = self._cursor
        self._cursor = index
        jid = self._view[index].jid
        changed = jid != self._cursor_jid
        self._cursor_jid = jid
        if old != index:
            self.refresh_lines(old * ROW_HEIGHT, ROW_HEIGHT)
        self.refresh_lines(index * ROW_HEIGHT, ROW_HEIGHT)
        self._scroll_cursor_visible()
        if changed and post:
            self.post_message(self.Highlighted(self, jid))

    def _scroll_cursor_visible(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = self._cursor * ROW_HEIGHT
        bottom = top + ROW_HEIGHT
        scroll_y = self.scroll_offset.y
        if top < scroll_y:
            self.scroll_to(y=top, animate=False)
        elif bottom > scroll_y + height:
            self.scroll_to(y=bottom - height, animate=False)

    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height // ROW_HEIGHT)

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor + 1)

    def action_cursor_top(self) -> None:
        self._move_cursor(0)

    def action_cursor_bottom(self) -> None:
        self._move_cursor(len(self._view) - 1)

    def action_page_up(self) -> None:
        self._move_cursor(self._cursor - self._page_rows())

    def action_page_down(self) -> None:
        self._move_cursor(self._cursor + self._page_rows())

    def action_open(self) -> None:
        if self._cursor_jid is not None:
            self.post_message(self.Opened(self, self._cursor_jid))

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = (offset.y + self.scroll_offset.y) // ROW_HEIGHT
        if 0 <= index < len(self._view):
            event.stop()
            self._move_cursor(index)
            self.action_open()

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh_lines(self._cursor * ROW_HEIGHT, ROW_HEIGHT)

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh_lines(self._cursor * ROW_HEIGHT, ROW_HEIGHT)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # unchanged on a mere focus change; the cursor row's focus state is in its cache key
        signature = style_signature(self)
        if not signature or signature != getattr(self, "_style_signature", None):
            self._style_signature = signature
            self._cache.clear()

    def _on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_cursor_visible()

    # --- rendering --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        virtual_y = y + self.scroll_offset.y
        row, line = divmod(virtual_y, ROW_HEIGHT)
        if row >= len(self._view) or width <= 0:
            if not self._view and virtual_y == 0 and width > 0:
                note = f"No chats match {self._filter!r}" if self._filter else "No chats"
                style = base + self.get_component_rich_style("chat-list--empty", partial=True)
                text = truncate_cells(" " + note.replace("\n", " "), width)
                return self._fit([Segment(text, style)], width, base)
            return Strip.blank(max(width, 0), base)
        chat = self._view[row]
        if row == self._cursor:
            cursor_state = 2 if self.has_focus else 1
        else:
            cursor_state = 0
        now = self.clock()
        key = (chat.jid, self._versions.get(chat.jid, 0), line, cursor_state, width, now.date())
        strip = self._cache.get(key)
        if strip is None:
            self.render_count += 1
            try:
                strip = self._render_row_line(chat, line, cursor_state, width, now)
            except Exception:  # a hostile row must never take the widget down
                strip = Strip.blank(width, base)
            self._cache.set(key, strip)
        return strip

    def _fit(self, segments: list[Segment], width: int, style: Style) -> Strip:
        return Strip(segments).adjust_cell_length(width, style)

    def _part(self, base: Style, *components: str) -> Style:
        style = base
        for component in components:
            style = style + self.get_component_rich_style(component, partial=True)
        return style

    def _render_row_line(
        self, chat: Chat, line: int, cursor_state: int, width: int, now: datetime
    ) -> Strip:
        if cursor_state == 2:
            base = self.get_component_rich_style("chat-list--cursor")
        elif cursor_state == 1:
            base = self.get_component_rich_style("chat-list--cursor-blurred")
        else:
            base = self.rich_style
        muted = chat.muted
        inner = width - 2  # one column of padding each side
        if inner <= 0:
            return Strip.blank(width, base)
        segments: list[Segment] = [Segment(" ", base)]
        if line == 0:
            markers = ""
            if muted:
                markers += MUTED_MARKER
            if chat.pinned:
                markers += PINNED_MARKER
            if chat.archived:
                markers += ARCHIVED_MARKER
            when = format_time(chat.last_message_time, now)
            right = " ".join(part for part in (markers, when) if part)
            title = chat_title(chat)
            prefix = f"{GROUP_MARKER} " if chat.is_group else ""
            right_cells = cell_len(right)
            room = inner - right_cells - (1 if right else 0)
            if room < 4:  # very narrow: drop the right part
                right, right_cells, room = "", 0, inner
            name_style = ["chat-list--name"]
            if chat.unread_count > 0:
                name_style.append("chat-list--unread")
            if muted:
                name_style.append("chat-list--muted")
            left = truncate_cells(prefix + title, room)
            segments.append(Segment(left, self._part(base, *name_style)))
            gap = inner - cell_len(left) - right_cells
            segments.append(Segment(" " * max(gap, 0), base))
            if right:
                if markers:
                    segments.append(Segment(markers, self._part(base, "chat-list--marker")))
                    if when:
                        segments.append(Segment(" ", base))
                if when:
                    segments.append(Segment(when, self._part(base, "chat-list--time")))
        else:
            preview = chat_preview(chat, self.names)
            badge = ""
            if chat.unread_count > 0:
                count = chat.unread_count
                badge = f" {count if count < 1000 else '999+'} "
            badge_cells = cell_len(badge)
            room = inner - badge_cells - (1 if badge else 0)
            if room < 4:
                badge, badge_cells, room = "", 0, inner
            text = truncate_cells(preview, room)
            segments.append(Segment(text, self._part(base, "chat-list--preview")))
            gap = inner - cell_len(text) - badge_cells
            segments.append(Segment(" " * max(gap, 0), base))
            if badge:
                component = "chat-list--badge-muted" if muted else "chat-list--badge"
                segments.append(Segment(badge, self._part(base, component)))
        segments.append(Segment(" ", base))
        return self._fit(segments, width, base)


__all__ = ["VirtualChatList", "ROW_HEIGHT"]
