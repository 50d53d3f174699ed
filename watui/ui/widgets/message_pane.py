"""The message pane of the open chat: a line-API view (a ScrollView that draws only the
visible lines, like the chat list) over a bounded window of one chat's history.

Opening a chat used to mount one widget per message and a widget per day separator:
style matching, layout and compose of ~20 widgets cost most of the 50 ms from the key to
the painted frame (bench/ui.py). Here a message is a list of cached strips: its Content is
wrapped at the pane's width once, the window's line offsets are a running sum, and a frame
renders only the lines on screen.

The parent owns the data: it calls :meth:`MessagePane.set_messages`,
:meth:`~MessagePane.upsert_messages` and :meth:`~MessagePane.prepend_older`, and answers
:class:`MessagePane.NeedOlder` / :class:`MessagePane.NeedLatest` by fetching pages from the
store. The pane never opens the store. All text from other people is rendered as plain
``Content`` (never markup), with control characters escaped and each message bounded.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Size
from textual.message import Message as TextualMessage
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.visual import RenderOptions

from watui.domain.models import Message, MessageStatus
from watui.ui.format import (
    clean_line,
    clean_text,
    day_label,
    format_clock,
    local_date,
    media_label,
    name_for,
    status_glyph,
    status_is_read,
    truncate_cells,
)
from watui.ui.widgets.style_signature import style_signature

#: Messages kept in the window in normal operation.
WINDOW = 200
#: Hard cap while the user reads older messages and new ones keep arriving below.
WINDOW_MAX = 400

_SENDER_STYLES = ("bold $accent", "bold $secondary", "bold $success", "bold $warning", "bold $primary")

RETRY_HINT = "R to retry"

OWN_INDENT = 4  # columns: your own messages sit to the right of the others'
BAR = "▊"  # the coloured bar left of each message ...
BAR_SELECTED = "█"  # ... and of the selected one
UNREADABLE = "[message could not be displayed]"


def _order_key(message: Message) -> tuple[float, str]:
    try:
        return (message.timestamp.timestamp(), message.id)
    except (AttributeError, OverflowError, ValueError, OSError):
        return (0.0, message.id)


def _day(message: Message) -> date | None:
    try:
        return local_date(message.timestamp)
    except (AttributeError, OverflowError, ValueError, OSError):
        return None


def sender_style(jid: str) -> str:
    """A stable per-sender colour (theme variables, so it follows the theme)."""
    return _SENDER_STYLES[zlib.crc32(jid.encode("utf-8", "replace")) % len(_SENDER_STYLES)]


def build_message_content(
    message: Message,
    *,
    names: Mapping[str, str] | None = None,
    is_group: bool = False,
    retry_hint: str = RETRY_HINT,
) -> Content:
    """One message as plain-text Content: quote line, time, sender, text/media, markers, ticks."""
    parts: list[str | tuple[str, str]] = []
    if message.quoted_message_id or message.quoted_preview:
        quoted = clean_line(message.quoted_preview, 120) or "…"
        who = name_for(message.quoted_sender, names) if message.quoted_sender else ""
        parts.append(("│ " + (f"{who}: " if who else "") + quoted, "$text-muted"))
        parts.append("\n")
    clock = format_clock(message.timestamp)
    if clock:
        parts.append((clock, "$text-muted"))
        parts.append(" ")
    if is_group and not message.is_from_me:
        sender = name_for(message.sender, names, clean_line(message.push_name, 64))
        parts.append((f"{sender}: ", sender_style(message.sender)))
    if message.deleted:
        parts.append(("This message was deleted", "italic $text-muted"))
    else:
        label = media_label(message)
        if label:
            parts.append((label, "$secondary"))
            if message.content:
                parts.append(" ")
        parts.append(clean_text(message.content))
        if message.edited:
            parts.append((" (edited)", "italic $text-muted"))
    if message.is_from_me:
        glyph = status_glyph(message.status)
        if message.status == MessageStatus.FAILED:
            reason = clean_line(message.error, 80) or "not sent"
            parts.append((f" {glyph} {reason} ({retry_hint})", "bold $error"))
        elif glyph:
            style = "bold $accent" if status_is_read(message.status) else "$text-muted"
            parts.append(" ")
            parts.append((glyph, style))
    return Content.assemble(*parts)


class _Entry:
    """One message of the window and where it is drawn."""

    __slots__ = ("message", "key", "day", "version", "label", "top", "height")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.key = _order_key(message)
        self.day = _day(message)
        self.version = 0  # bumped when the message changes: its cached lines are stale
        self.label: str | None = None  # the day separator drawn above it, if any
        self.top = 0  # first line (its separator's, when it has one) in the window
        self.height = 0  # lines, separator included

    @property
    def body_top(self) -> int:
        return self.top + (1 if self.label is not None else 0)


def _top(entry: _Entry) -> int:
    return entry.top


class MessagePane(ScrollView, can_focus=True):
    """A bounded, bottom-anchored window over one chat's history, drawn line by line."""

    BINDINGS = [
        Binding("up,k", "select_previous", "Previous", id="pane.up", show=False),
        Binding("down,j", "select_next", "Next", id="pane.down", show=False),
        Binding("end,G", "jump_bottom", "Latest", id="pane.jump_bottom", tooltip="Jump to the newest message"),
        Binding("r", "reply", "Reply", id="pane.reply", tooltip="Reply to the selected message"),
        Binding("R", "retry", "Retry", id="pane.retry", tooltip="Retry sending the selected failed message"),
        Binding("escape", "clear_selection", "Unselect", id="pane.unselect", show=False),
    ]

    COMPONENT_CLASSES = {
        "message-pane--bar",
        "message-pane--bar-own",
        "message-pane--bar-failed",
        "message-pane--bar-selected",
        "message-pane--deleted",
        "message-pane--selected",
        "message-pane--selected-focused",
        "message-pane--separator",
        "message-pane--new",
    }

    DEFAULT_CSS = """
    MessagePane {
        background: $surface;
        padding: 0 0 0 1;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
        & > .message-pane--bar { color: $panel-lighten-2; }
        & > .message-pane--bar-own { color: $accent; }
        & > .message-pane--bar-failed { color: $error; }
        & > .message-pane--bar-selected { color: $accent; }
        & > .message-pane--deleted { color: $text-muted; }
        & > .message-pane--selected { background: $boost; }
        & > .message-pane--selected-focused { background: $block-cursor-blurred-background; }
        & > .message-pane--separator { color: $text-muted; }
        & > .message-pane--new { background: $accent; color: $text; text-style: bold; }
    }
    """

    @dataclass
    class NeedOlder(TextualMessage):
        """The user reached the top: fetch the page before ``before_message`` and call
        :meth:`MessagePane.prepend_older` (with an empty list when there is none)."""

        pane: MessagePane
        before_message: Message

        @property
        def control(self) -> MessagePane:
            return self.pane

    @dataclass
    class NeedLatest(TextualMessage):
        """The window was trimmed at the newest end and the user wants the latest messages:
        reload them with :meth:`MessagePane.set_messages`."""

        pane: MessagePane

        @property
        def control(self) -> MessagePane:
            return self.pane

    @dataclass
    class ReplyRequested(TextualMessage):
        pane: MessagePane
        message: Message

        @property
        def control(self) -> MessagePane:
            return self.pane

    @dataclass
    class RetryRequested(TextualMessage):
        pane: MessagePane
        message: Message

        @property
        def control(self) -> MessagePane:
            return self.pane

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        window: int = WINDOW,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        #: Returns "now" (UTC) for day labels; injectable for tests.
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.window = window
        self.names: Mapping[str, str] = {}
        self.is_group = False
        #: False once the parent answered NeedOlder with nothing: the start of the chat.
        self.has_older = True
        self._entries: list[_Entry] = []
        self._by_id: dict[str, _Entry] = {}
        self._selected_id: str | None = None
        self._new_count = 0
        self._older_requested = False
        #: True when the newest end of the window was trimmed (a gap to the live end).
        self._gap_newer = False
        #: Stay at the newest line as the window or the pane changes (until the user scrolls up).
        self._follow = True
        #: The width the offsets were computed for (0: not laid out yet).
        self._layout_width = 0
        #: message id -> ((version, width, selection state), strips of its body)
        self._lines: dict[str, tuple[tuple, list[Strip]]] = {}
        self._separators: dict[tuple[str, int], Strip] = {}  # (label, width) -> strip
        self._style_signature: tuple = ()
        #: How many message bodies were wrapped and styled (cache misses); tests and benches read it.
        self.render_count = 0

    # --- read-only state --------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """The messages in the window, oldest first."""
        return [entry.message for entry in self._entries]

    @property
    def new_count(self) -> int:
        """Messages that arrived below while the user was scrolled up."""
        return self._new_count

    @property
    def selected_message(self) -> Message | None:
        entry = self._by_id.get(self._selected_id) if self._selected_id else None
        return entry.message if entry else None

    @property
    def at_bottom(self) -> bool:
        return self.max_scroll_y <= 0 or self.scroll_y >= self.max_scroll_y - 1

    def message_by_id(self, message_id: str) -> Message | None:
        entry = self._by_id.get(message_id)
        return entry.message if entry else None

    def content_of(self, message_id: str) -> Content | None:
        """What the message shows, as Content (its plain text is what is on screen)."""
        entry = self._by_id.get(message_id)
        return self._content(entry) if entry else None

    def message_lines(self, message_id: str) -> list[Strip]:
        """The message's lines as drawn at the pane's current width (separator excluded)."""
        entry = self._by_id.get(message_id)
        width = self._content_width()
        if entry is None or width <= 0:
            return []
        return self._body(entry, width)

    def message_region(self, message_id: str) -> tuple[int, int] | None:
        """(first line, line count) of the message's body in the window's virtual lines."""
        entry = self._by_id.get(message_id)
        if entry is None:
            return None
        return entry.body_top, entry.height - (entry.body_top - entry.top)

    @property
    def separators(self) -> list[str]:
        """The day separators, top to bottom."""
        return [entry.label for entry in self._entries if entry.label is not None]

    # --- public API -------------------------------------------------------------------

    def set_messages(
        self, messages: Iterable[Message], names: Mapping[str, str] | None = None, is_group: bool = False
    ) -> None:
        """Replace the window with ``messages`` (oldest first); the newest ``window`` are kept."""
        unique: dict[str, Message] = {}
        for message in messages:
            unique[message.id] = message
        ordered = sorted(unique.values(), key=_order_key)[-self.window :]
        self.names = names or {}
        self.is_group = is_group
        self.has_older = True
        self._older_requested = False
        self._gap_newer = False
        self._selected_id = None
        self._lines = {}
        if len(self._separators) > 256:  # day labels of every chat read so far, at each width
            self._separators = {}
        self._entries = [_Entry(message) for message in ordered]
        self._by_id = {entry.message.id: entry for entry in self._entries}
        self._new_count = 0
        self._follow = True
        self._relayout()
        self.call_after_refresh(self._maybe_fill_viewport)

    def upsert_messages(self, messages: Iterable[Message], names: Mapping[str, str] | None = None) -> None:
        """Update rows in place by id (ticks, edits, deletes) and insert new ones in order;
        ``names`` adds the display names of senders not known yet."""
        messages = list(messages)
        if not messages:
            return
        self._add_names(names)
        follow = self._follow and not self._gap_newer
        anchor = None if follow else self._top_anchor()  # before the offsets go stale
        appended_incoming = 0
        jump = False
        keys = [entry.key for entry in self._entries]
        for message in messages:
            entry = self._by_id.get(message.id)
            if entry is not None:
                entry.message = message
                entry.version += 1
                new_key = _order_key(message)
                if new_key != entry.key:  # a corrected timestamp: it moves
                    entry.key, entry.day = new_key, _day(message)
                    self._entries.sort(key=lambda e: e.key)
                    keys = [e.key for e in self._entries]
                continue
            key = _order_key(message)
            if self._entries and key < keys[0] and self.has_older:
                continue  # older than the window: it will come with its page
            at_end = not keys or key >= keys[-1]
            if at_end and self._gap_newer:
                if not message.is_from_me:
                    appended_incoming += 1
                continue  # beyond the trimmed gap; NeedLatest will bring it
            position = bisect_right(keys, key)
            entry = _Entry(message)
            self._entries.insert(position, entry)
            self._by_id[message.id] = entry
            keys.insert(position, key)
            if at_end:
                if message.is_from_me and message.status == MessageStatus.PENDING:
                    jump = True  # the user just sent it: show it
                elif not message.is_from_me:
                    appended_incoming += 1
        if follow or jump:
            if len(self._entries) > self.window:
                self._drop(self._entries[: len(self._entries) - self.window])
                self.has_older = True
            self._new_count = 0
            self._follow = True
            self._relayout()
        else:
            if len(self._entries) > WINDOW_MAX:
                self._drop(self._entries[WINDOW_MAX:])
                self._gap_newer = True
            self._relayout(keep=anchor)
            if appended_incoming:
                self._new_count += appended_incoming
        self.refresh()

    def prepend_older(self, messages: Iterable[Message], names: Mapping[str, str] | None = None) -> None:
        """Add an older page (oldest first) above; an empty page means the chat's start.
        The lines on screen stay where they are. ``names`` as for :meth:`upsert_messages`."""
        self._older_requested = False
        renamed = self._add_names(names)
        fresh = [m for m in {m.id: m for m in messages}.values() if m.id not in self._by_id]
        if self._entries:
            first_key = self._entries[0].key
            fresh = [m for m in fresh if _order_key(m) < first_key]
        if not fresh:
            self.has_older = False
            if renamed:
                self._relayout(keep=self._top_anchor())
            return
        fresh.sort(key=_order_key)
        anchor = self._top_anchor()
        new_entries = [_Entry(message) for message in fresh]
        for entry in new_entries:
            self._by_id[entry.message.id] = entry
        self._entries[0:0] = new_entries
        if len(self._entries) > self.window:
            self._drop(self._entries[self.window :])
            self._gap_newer = True
        self._relayout(keep=anchor)

    def set_names(self, names: Mapping[str, str]) -> None:
        """New display names (a contact was renamed): re-render the rows."""
        self.names = names
        self._lines = {}
        self._relayout(keep=self._top_anchor())

    def _add_names(self, names: Mapping[str, str] | None) -> bool:
        """Names of senders met in a later page (a group member's first message since the
        chat was opened): the rows are drawn again only when one is new or changed. True
        then: the caller lays out again (a longer name may take another line)."""
        if not names:
            return False
        changed = {jid: name for jid, name in names.items() if self.names.get(jid) != name}
        if changed:
            self.names = {**self.names, **changed}
            self._lines = {}
        return bool(changed)

    # --- layout -----------------------------------------------------------------------

    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def _scroll_y_to(self, y: float) -> None:
        # forced: right after the window changes, the scrollbar Textual checks for
        # ("can this scroll?") is only updated at the next layout
        self.scroll_to(y=y, animate=False, force=True)

    def _drop(self, entries: list[_Entry]) -> None:
        gone = {id(entry) for entry in entries}
        for entry in entries:
            message_id = entry.message.id
            self._by_id.pop(message_id, None)
            self._lines.pop(message_id, None)
            if message_id == self._selected_id:
                self._selected_id = None
        self._entries = [entry for entry in self._entries if id(entry) not in gone]

    def _top_anchor(self) -> tuple[str, int] | None:
        """The message at the top of the view and how far into its body the view starts."""
        if self._follow or not self._entries or not self._layout_width:
            return None
        y = round(self.scroll_y)
        index = max(0, bisect_right(self._entries, y, key=_top) - 1)
        entry = self._entries[index]
        return entry.message.id, y - entry.body_top

    def _relayout(self, keep: tuple[str, int] | None = None) -> None:
        """Separators, heights and offsets at the current width; then the scroll position:
        the newest line when following, else ``keep``'s message stays where it was."""
        width = self._content_width()
        self._layout_width = max(width, 0)
        now = self.clock()
        labels: dict[date | None, str] = {}
        top = 0
        previous: object = object()
        for entry in self._entries:
            if entry.day != previous:
                label = labels.get(entry.day)
                if label is None:
                    label = labels[entry.day] = day_label(entry.message.timestamp, now) if entry.day else ""
                entry.label = label
            else:
                entry.label = None
            previous = entry.day
            entry.top = top
            entry.height = (
                (1 if entry.label is not None else 0) + len(self._body(entry, width)) if width > 0 else 0
            )
            top += entry.height
        self.virtual_size = Size(0, top)
        if self._follow:
            self._scroll_y_to(self.max_scroll_y)
        elif keep is not None:
            entry = self._by_id.get(keep[0])
            if entry is not None:
                offset = max(-1, min(keep[1], entry.height - 1 - (entry.body_top - entry.top)))
                self._scroll_y_to(entry.body_top + offset)
        self.refresh()

    def _maybe_fill_viewport(self) -> None:
        """A short first page that does not fill the pane: ask for more right away."""
        if self._entries and self.max_scroll_y == 0:
            self._request_older()

    def _on_resize(self, event: events.Resize) -> None:
        if self._content_width() != self._layout_width:
            self._relayout(keep=self._top_anchor())
        elif self._follow:
            self._scroll_y_to(self.max_scroll_y)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        signature = style_signature(self)  # unchanged on a mere focus change
        if not signature or signature != self._style_signature:
            self._style_signature = signature
            self._lines = {}
            self._separators = {}

    # --- rendering --------------------------------------------------------------------

    def _content(self, entry: _Entry) -> Content:
        try:
            return build_message_content(entry.message, names=self.names, is_group=self.is_group)
        except Exception:  # hostile content must never take the pane down
            return Content(UNREADABLE)

    def _state(self, entry: _Entry) -> int:
        if entry.message.id != self._selected_id:
            return 0
        return 2 if self.has_focus else 1

    def _body(self, entry: _Entry, width: int) -> list[Strip]:
        state = self._state(entry)
        key = (entry.version, width, state)
        cached = self._lines.get(entry.message.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        self.render_count += 1
        try:
            strips = self._render_body(entry, width, state)
        except Exception:  # a hostile message must never take the pane down
            strips = [Strip.blank(width, self._base_style())]
        self._lines[entry.message.id] = (key, strips)
        return strips

    def _render_body(self, entry: _Entry, width: int, state: int) -> list[Strip]:
        """``| text`` lines: an indent for your own messages, the bar, a column of padding
        each side of the wrapped text; every strip exactly ``width`` cells."""
        message = entry.message
        own = message.is_from_me
        failed = own and message.status == MessageStatus.FAILED
        pane = self._base_style()
        components = []
        if state:
            components.append("message-pane--selected-focused" if state == 2 else "message-pane--selected")
        if message.deleted:
            components.append("message-pane--deleted")
        text_style = self.get_visual_style(*components) if components else self.visual_style
        body = text_style.rich_style
        if state:
            bar_part, bar = "message-pane--bar-selected", BAR_SELECTED
        elif failed:
            bar_part, bar = "message-pane--bar-failed", BAR
        elif own:
            bar_part, bar = "message-pane--bar-own", BAR
        else:
            bar_part, bar = "message-pane--bar", BAR
        bar_style = pane + self.get_component_rich_style(bar_part, partial=True)
        indent = OWN_INDENT if own and width >= 24 else 0
        framed = width - indent >= 8  # room for the bar and the padding
        text_width = width - indent - (3 if framed else 0)
        try:
            lines = self._content(entry).render_strips(
                text_width, None, text_style, RenderOptions(self._get_style, self.styles)
            )
        except Exception:
            lines = Content(UNREADABLE).render_strips(text_width, None, text_style, RenderOptions(self._get_style, self.styles))
        strips = []
        for line in lines or [Strip.blank(text_width, body)]:
            line = line.adjust_cell_length(text_width, body)
            segments: list[Segment] = []
            if indent:
                segments.append(Segment(" " * indent, pane))
            if framed:
                segments += [Segment(bar, bar_style), Segment(" ", body)]
            segments += list(line)
            if framed:
                segments.append(Segment(" ", body))
            strips.append(Strip(segments).adjust_cell_length(width, pane))
        return strips

    def _separator(self, label: str, width: int) -> Strip:
        strip = self._separators.get((label, width))
        if strip is None:
            base = self._base_style()
            style = base + self.get_component_rich_style("message-pane--separator", partial=True)
            text = truncate_cells(f"── {label} ──", width)
            left = max(0, (width - cell_len(text)) // 2)
            strip = Strip([Segment(" " * left, style), Segment(text, style)]).adjust_cell_length(width, base)
            self._separators[(label, width)] = strip
        return strip

    def _base_style(self) -> RichStyle:
        # the widget's style, cached by Textual (DOMNode.rich_style walks every ancestor)
        return self.visual_style.rich_style

    def render_line(self, y: int) -> Strip:
        width = self._content_width()
        if width <= 0:
            return Strip.blank(0)
        if width != self._layout_width:
            # the first line drawn at a new width: lay out first, so this frame is whole
            self._relayout(keep=self._top_anchor())
        strip = self._line(y + self.scroll_offset.y, width)
        if self._new_count and y == self.scrollable_content_region.height - 1:
            strip = self._with_new_count(strip, width)
        return strip

    def _line(self, virtual_y: int, width: int) -> Strip:
        entries = self._entries
        if not entries or virtual_y < 0 or virtual_y >= entries[-1].top + entries[-1].height:
            return Strip.blank(width, self._base_style())
        index = bisect_right(entries, virtual_y, key=_top) - 1
        entry = entries[index]
        line = virtual_y - entry.top
        if entry.label is not None:
            if line == 0:
                return self._separator(entry.label, width)
            line -= 1
        body = self._body(entry, width)
        return body[line] if line < len(body) else Strip.blank(width, self._base_style())

    def _new_label(self) -> str:
        return f" {self._new_count} new ↓ "

    def _with_new_count(self, strip: Strip, width: int) -> Strip:
        """'N new ↓' over the bottom line, at the right, while the user reads above."""
        label = self._new_label()
        size = cell_len(label)
        if size + 1 > width:
            return strip
        start = width - size - 1
        style = self._base_style() + self.get_component_rich_style("message-pane--new", partial=True)
        return Strip.join([strip.crop(0, start), Strip([Segment(label, style)], size), strip.crop(start + size, width)])

    # --- scrolling, 'N new' -----------------------------------------------------------

    def _request_older(self) -> None:
        if self._entries and self.has_older and not self._older_requested:
            self._older_requested = True
            self.post_message(self.NeedOlder(self, self._entries[0].message))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._follow = new_value >= self.max_scroll_y - 1 and not self._gap_newer
        if new_value <= 0 < old_value:
            self._request_older()
        if self._new_count and new_value >= self.max_scroll_y - 1 and not self._gap_newer:
            self._new_count = 0
            self.refresh()

    def action_jump_bottom(self) -> None:
        self._new_count = 0
        if self._gap_newer:
            self.post_message(self.NeedLatest(self))
        self._follow = not self._gap_newer
        self._scroll_y_to(self.max_scroll_y)
        self.refresh()

    # --- selection --------------------------------------------------------------------

    def _refresh_entry(self, entry: _Entry | None) -> None:
        if entry is not None and entry.height:
            self.refresh_lines(entry.top, entry.height)

    def _select(self, index: int) -> None:
        if not self._entries:
            return
        index = max(0, min(index, len(self._entries) - 1))
        previous = self._by_id.get(self._selected_id) if self._selected_id else None
        entry = self._entries[index]
        self._selected_id = entry.message.id
        self._refresh_entry(previous)
        self._refresh_entry(entry)
        self._scroll_into_view(entry)

    def _scroll_into_view(self, entry: _Entry) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top, bottom = entry.top, entry.top + entry.height
        scroll_y = round(self.scroll_y)
        if top < scroll_y or bottom - top > height:
            self._scroll_y_to(top)
        elif bottom > scroll_y + height:
            self._scroll_y_to(bottom - height)

    def _selected_index(self) -> int | None:
        entry = self._by_id.get(self._selected_id) if self._selected_id else None
        if entry is None:
            return None
        return self._entries.index(entry)

    def select_message(self, message_id: str) -> bool:
        entry = self._by_id.get(message_id)
        if entry is None:
            return False
        self._select(self._entries.index(entry))
        return True

    def action_select_previous(self) -> None:
        index = self._selected_index()
        if index is None:
            self._select(len(self._entries) - 1)
            return
        if index == 0:
            self._request_older()
            self._scroll_y_to(0)
        self._select(index - 1)

    def action_select_next(self) -> None:
        index = self._selected_index()
        if index is None:
            self._select(len(self._entries) - 1)
            return
        self._select(index + 1)

    def action_clear_selection(self) -> None:
        entry = self._by_id.get(self._selected_id) if self._selected_id else None
        self._selected_id = None
        self._refresh_entry(entry)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reply":
            message = self.selected_message
            return message is not None and not message.deleted
        if action == "retry":
            message = self.selected_message
            return (
                message is not None and message.is_from_me and message.status == MessageStatus.FAILED
            )
        if action == "clear_selection":
            return self._selected_id is not None
        return True

    def action_reply(self) -> None:
        message = self.selected_message
        if message is not None and not message.deleted:
            self.post_message(self.ReplyRequested(self, message))

    def action_retry(self) -> None:
        message = self.selected_message
        if message is not None and message.is_from_me and message.status == MessageStatus.FAILED:
            self.post_message(self.RetryRequested(self, message))

    def _on_focus(self, event: events.Focus) -> None:
        self._refresh_entry(self._by_id.get(self._selected_id) if self._selected_id else None)

    def _on_blur(self, event: events.Blur) -> None:
        self._refresh_entry(self._by_id.get(self._selected_id) if self._selected_id else None)

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        width = self._content_width()
        if self._new_count and offset.y == self.scrollable_content_region.height - 1:
            if offset.x >= width - cell_len(self._new_label()) - 1:
                self.action_jump_bottom()
                return
        virtual_y = offset.y + self.scroll_offset.y
        entries = self._entries
        if not entries or virtual_y >= entries[-1].top + entries[-1].height:
            return
        index = bisect_right(entries, virtual_y, key=_top) - 1
        entry = entries[index]
        if entry.label is not None and virtual_y == entry.top:
            return  # the day separator
        self.focus()
        self._select(index)


__all__ = [
    "MessagePane",
    "build_message_content",
    "sender_style",
]
