"""The session list: one row per session, in the configured order.

Each row is ``<n> <glyph> <label> ★ <unread>``; the number (1-9) is the one the session
switch keys use. State glyphs:

    ●  connected
    ◌  connecting
    ⚠  offline (lost or refused; retrying)
    ○  stopped
    ▣  needs pairing (showing QR codes)
    ⊘  logged out (the phone unlinked this device)
    ★  the default session
    !  the store cannot be written: new messages wait (the status panel says why)

Compact mode (``compact = True``, or narrower than ``COMPACT_WIDTH``) shows only the number,
the glyph, the store mark and the unread badge.

The parent sets the data with ``set_sessions(statuses, unread)`` and the open session with
``selected``; up/down move the cursor (binding ids ``sidebar.up`` / ``sidebar.down``), enter
(``sidebar.open``) or a click posts ``SessionSidebar.Selected(session_id)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.style import Style as VisualStyle
from textual.widget import Widget

from watui.domain.status import ConnectionState, SessionStatus
from watui.domain.text import printable

COMPACT_WIDTH = 20

GLYPHS: dict[ConnectionState, tuple[str, str]] = {
    ConnectionState.CONNECTED: ("●", "$success"),
    ConnectionState.CONNECTING: ("◌", "$warning"),
    ConnectionState.OFFLINE: ("⚠", "$warning"),
    ConnectionState.STOPPED: ("○", "$text-muted"),
    ConnectionState.NEEDS_PAIRING: ("▣", "$accent"),
    ConnectionState.LOGGED_OUT: ("⊘", "$error"),
}
DEFAULT_MARK = "★"
STORE_MARK = "!"


def state_glyph(state: ConnectionState) -> str:
    return GLYPHS[state][0]


def badge(count: int) -> str:
    if count <= 0:
        return ""
    return "99+" if count > 99 else str(count)


def row_number(index: int) -> str:
    return str(index + 1) if index < 9 else " "


class SessionSidebar(Widget, can_focus=True):
    """Sessions with their state, unread counts and the default marked."""

    DEFAULT_CSS = """
    SessionSidebar {
        width: 100%;
        height: auto;
        min-height: 1;
    }
    SessionSidebar > .sidebar--cursor { background: $block-cursor-blurred-background; }
    SessionSidebar:focus > .sidebar--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    SessionSidebar > .sidebar--selected { text-style: bold; }
    SessionSidebar > .sidebar--badge { color: $text-primary; text-style: bold; }
    """

    BINDING_GROUP_TITLE = "Sessions"
    COMPONENT_CLASSES = {"sidebar--cursor", "sidebar--selected", "sidebar--badge"}

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Previous session", id="sidebar.up", show=False),
        Binding("down,j", "cursor(1)", "Next session", id="sidebar.down", show=False),
        Binding("enter", "open", "Open session", id="sidebar.open"),
    ]

    selected: reactive[str | None] = reactive(None)
    """The session on screen (set by the parent)."""
    cursor: reactive[int] = reactive(0)
    compact: reactive[bool] = reactive(False)

    @dataclass
    class Selected(Message):
        session_id: str

    def __init__(
        self,
        statuses: list[SessionStatus] | None = None,
        unread: dict[str, int] | None = None,
        *,
        compact: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.statuses: list[SessionStatus] = list(statuses or [])
        self.unread: dict[str, int] = dict(unread or {})
        self.set_reactive(SessionSidebar.compact, compact)

    # --- attributes down ----------------------------------------------------------------
    def set_sessions(self, statuses: list[SessionStatus], unread: dict[str, int] | None = None) -> None:
        current = self.cursor_session
        self.statuses = list(statuses)
        self.unread = dict(unread or {})
        ids = [status.session_id for status in self.statuses]
        if current in ids:
            self.cursor = ids.index(current)
        else:
            self.cursor = min(self.cursor, max(0, len(ids) - 1))
        self.refresh(layout=True)

    @property
    def session_ids(self) -> list[str]:
        return [status.session_id for status in self.statuses]

    @property
    def cursor_session(self) -> str | None:
        if 0 <= self.cursor < len(self.statuses):
            return self.statuses[self.cursor].session_id
        return None

    @property
    def is_compact(self) -> bool:
        width = self.content_size.width
        return self.compact or (0 < width < COMPACT_WIDTH)

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self.statuses) - 1)) if self.statuses else 0

    def watch_selected(self, selected: str | None) -> None:
        if selected in self.session_ids:
            self.cursor = self.session_ids.index(selected)
        self.refresh()

    def watch_cursor(self) -> None:
        self.refresh()

    def watch_compact(self) -> None:
        self.refresh(layout=True)

    # --- rendering ----------------------------------------------------------------------
    def row_text(self, index: int, width: int | None = None, compact: bool | None = None) -> str:
        """The plain text of row ``index`` (what render() draws, without colours)."""
        return self._row(index, width, compact).plain

    def _row(self, index: int, width: int | None = None, compact: bool | None = None) -> Content:
        status = self.statuses[index]
        compact = self.is_compact if compact is None else compact
        width = width if width is not None else (self.content_size.width or 30)
        glyph, glyph_style = GLYPHS.get(status.state, ("?", ""))
        count = badge(self.unread.get(status.session_id, 0))
        number = row_number(index)
        badge_style = self._component_style("sidebar--badge")
        store_mark = STORE_MARK if status.store_error else ""
        if compact:
            compact_parts: list[tuple[str, VisualStyle | str] | str] = [number, (glyph, glyph_style)]
            if store_mark:
                compact_parts.append((store_mark, "$error"))
            if count:
                compact_parts += [" ", (count, badge_style)]
            return Content.assemble(*compact_parts).truncate(max(1, width))
        label = printable(status.label or status.session_id, single_line=True)
        right = " ".join(
            item for item in (store_mark, DEFAULT_MARK if status.is_default else "", count) if item
        )
        head = f"{number} "
        fixed = len(head) + 2 + (len(right) + 1 if right else 0)  # glyph and space, right part
        room = max(1, width - fixed)
        label_content = Content(label).truncate(room, ellipsis=True)
        parts: list[tuple[str, VisualStyle | str] | str | Content] = [
            head, (glyph, glyph_style), " ", label_content
        ]
        if right:
            parts.append(" " * max(1, width - fixed - label_content.cell_length + 1))
            if store_mark:
                parts += [(store_mark, "$error")] + ([" "] if status.is_default or count else [])
            if status.is_default:
                parts += [(DEFAULT_MARK, "$accent")] + ([" "] if count else [])
            if count:
                parts.append((count, badge_style))
        return Content.assemble(*parts)

    def _component_style(self, name: str) -> VisualStyle | str:
        return self.get_visual_style(name, partial=True) if self.is_mounted else ""

    def render(self) -> Content:
        if not self.statuses:
            return Content.styled("no sessions", "$text-muted")
        width = self.content_size.width
        lines: list[Content] = []
        cursor_style = self._component_style("sidebar--cursor")
        selected_style = self._component_style("sidebar--selected")
        for index, status in enumerate(self.statuses):
            line = self._row(index, width)
            if status.session_id == self.selected:
                line = line.stylize_before(selected_style)
            if index == self.cursor:
                line = line.extend_right(max(0, width - line.cell_length)).stylize_before(cursor_style)
            lines.append(line)
        return Content("\n").join(lines)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.statuses))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        if self.compact:
            return 6
        return max([COMPACT_WIDTH] + [len(self._row(i, 200, False).plain.rstrip()) for i in range(len(self.statuses))])

    # --- input --------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_open(self) -> None:
        session = self.cursor_session
        if session is not None:
            self.post_message(self.Selected(session))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = offset.y + int(self.scroll_offset.y)
        if 0 <= row < len(self.statuses):
            self.cursor = row
            self.post_message(self.Selected(self.statuses[row].session_id))


__all__ = ["GLYPHS", "STORE_MARK", "SessionSidebar", "badge", "state_glyph"]
