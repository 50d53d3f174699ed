"""The message pane of the open chat: a bounded window of message widgets in an anchored
VerticalScroll (see docs/textual-notes.md §3, "Message history").

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
from datetime import UTC, datetime

from textual import events
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widgets import Static

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
)

#: Messages kept mounted in normal operation.
WINDOW = 200
#: Hard cap while the user reads older messages and new ones keep arriving below.
WINDOW_MAX = 400

_SENDER_STYLES = ("bold $accent", "bold $secondary", "bold $success", "bold $warning", "bold $primary")

RETRY_HINT = "R to retry"


def _order_key(message: Message) -> tuple[float, str]:
    try:
        return (message.timestamp.timestamp(), message.id)
    except (AttributeError, OverflowError, ValueError, OSError):
        return (0.0, message.id)


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


class DaySeparator(Static):
    """'── Today ──' between messages of different local days."""

    DEFAULT_CSS = """
    DaySeparator {
        width: 1fr;
        height: 1;
        text-align: center;
        color: $text-muted;
    }
    """

    def __init__(self, label: str) -> None:
        self.label = label
        super().__init__(Content(f"── {label} ──"), markup=False)

    def set_label(self, label: str) -> None:
        if label != self.label:
            self.label = label
            self.update(Content(f"── {label} ──"))


class MessageView(Static):
    """One message. ``message`` is the domain object; the pane swaps it on updates."""

    DEFAULT_CSS = """
    MessageView {
        width: 1fr;
        height: auto;
        padding: 0 1 0 1;
        border-left: tall $panel-lighten-2;
    }
    MessageView.-own {
        margin-left: 4;
        border-left: tall $accent;
    }
    MessageView.-failed { border-left: tall $error; }
    MessageView.-deleted { color: $text-muted; }
    MessageView.-selected { background: $boost; border-left: thick $accent; }
    MessagePane:focus MessageView.-selected { background: $block-cursor-blurred-background; }
    """

    def __init__(
        self,
        message: Message,
        *,
        names: Mapping[str, str] | None = None,
        is_group: bool = False,
    ) -> None:
        self.message = message
        self.separator: DaySeparator | None = None
        self._names = names
        self._is_group = is_group
        super().__init__(self._build(), markup=False)
        self._apply_classes()

    def _build(self) -> Content:
        try:
            return build_message_content(self.message, names=self._names, is_group=self._is_group)
        except Exception:  # hostile content must never take the pane down
            return Content("[message could not be displayed]")

    def _apply_classes(self) -> None:
        m = self.message
        self.set_class(m.is_from_me, "-own")
        self.set_class(m.deleted, "-deleted")
        self.set_class(m.is_from_me and m.status == MessageStatus.FAILED, "-failed")

    def update_message(
        self, message: Message, names: Mapping[str, str] | None = None, is_group: bool | None = None
    ) -> None:
        self.message = message
        if names is not None:
            self._names = names
        if is_group is not None:
            self._is_group = is_group
        self._apply_classes()
        self.update(self._build())


class NewMessagesIndicator(Static):
    """Docked 'N new ↓' shown while the user reads older messages."""

    DEFAULT_CSS = """
    NewMessagesIndicator {
        dock: bottom;
        width: auto;
        height: 1;
        padding: 0 1;
        margin: 0 2 0 0;
        offset-x: 0;
        background: $accent;
        color: $text;
        text-style: bold;
        display: none;
    }
    NewMessagesIndicator.-visible { display: block; }
    """

    count: int = 0

    def set_count(self, count: int) -> None:
        self.count = count
        self.update(Content(f"{count} new ↓"))
        self.set_class(count > 0, "-visible")

    def _on_click(self, event: events.Click) -> None:
        event.stop()
        pane = self.parent
        if isinstance(pane, MessagePane):
            pane.action_jump_bottom()


class MessagePane(VerticalScroll, can_focus=True):
    """A bounded, bottom-anchored window over one chat's history."""

    BINDINGS = [
        Binding("up,k", "select_previous", "Previous", id="pane.up", show=False),
        Binding("down,j", "select_next", "Next", id="pane.down", show=False),
        Binding("end,G", "jump_bottom", "Latest", id="pane.jump_bottom", tooltip="Jump to the newest message"),
        Binding("r", "reply", "Reply", id="pane.reply", tooltip="Reply to the selected message"),
        Binding("R", "retry", "Retry", id="pane.retry", tooltip="Retry sending the selected failed message"),
        Binding("escape", "clear_selection", "Unselect", id="pane.unselect", show=False),
    ]

    DEFAULT_CSS = """
    MessagePane {
        background: $surface;
        padding: 0 0 0 1;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
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
        self._views: list[MessageView] = []
        self._by_id: dict[str, MessageView] = {}
        self._selected_id: str | None = None
        self._new_count = 0
        self._older_requested = False
        #: True when the newest end of the window was trimmed (a gap to the live end).
        self._gap_newer = False
        self._indicator = NewMessagesIndicator()

    # --- read-only state --------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """The messages in the window, oldest first."""
        return [view.message for view in self._views]

    @property
    def views(self) -> list[MessageView]:
        return list(self._views)

    @property
    def new_count(self) -> int:
        """Messages that arrived below while the user was scrolled up."""
        return self._new_count

    @property
    def selected_message(self) -> Message | None:
        view = self._by_id.get(self._selected_id) if self._selected_id else None
        return view.message if view else None

    @property
    def at_bottom(self) -> bool:
        # an anchored pane whose content is shorter than the viewport has a negative scroll_y
        return self.max_scroll_y <= 0 or self.scroll_y >= self.max_scroll_y - 1

    def view_for(self, message_id: str) -> MessageView | None:
        return self._by_id.get(message_id)

    # --- lifecycle --------------------------------------------------------------------

    def compose(self):
        yield self._indicator

    def on_mount(self) -> None:
        self.anchor()

    # --- public API: all mutations are serialised through the widget lock --------------

    def set_messages(
        self, messages: Iterable[Message], names: Mapping[str, str] | None = None, is_group: bool = False
    ) -> AwaitComplete:
        """Replace the window with ``messages`` (oldest first); the newest ``window`` are kept."""
        return AwaitComplete(self._set_messages(list(messages), names or {}, is_group))

    def upsert_messages(self, messages: Iterable[Message]) -> AwaitComplete:
        """Update rows in place by id (ticks, edits, deletes) and insert new ones in order."""
        return AwaitComplete(self._upsert(list(messages)))

    def prepend_older(self, messages: Iterable[Message]) -> AwaitComplete:
        """Add an older page (oldest first) above; an empty page means the chat's start."""
        return AwaitComplete(self._prepend(list(messages)))

    def set_names(self, names: Mapping[str, str]) -> None:
        """New display names (a contact was renamed): re-render the rows."""
        self.names = names
        for view in self._views:
            view.update_message(view.message, names=names)

    # --- implementation ---------------------------------------------------------------

    def _make_view(self, message: Message) -> MessageView:
        view = MessageView(message, names=self.names, is_group=self.is_group)
        self._by_id[message.id] = view
        return view

    def _interleave(self, views: list[MessageView]) -> list[DaySeparator | MessageView]:
        """``views`` with a day separator before the first of each local day."""
        widgets: list[DaySeparator | MessageView] = []
        previous = None
        for view in views:
            day = local_date(view.message.timestamp)
            if day != previous:
                view.separator = DaySeparator(self._label(view.message))
                widgets.append(view.separator)
            previous = day
            widgets.append(view)
        return widgets

    def _label(self, message: Message) -> str:
        return day_label(message.timestamp, self.clock())

    async def _set_messages(self, messages: list[Message], names: Mapping[str, str], is_group: bool) -> None:
        unique: dict[str, Message] = {}
        for message in messages:
            unique[message.id] = message
        ordered = sorted(unique.values(), key=_order_key)[-self.window :]
        async with self.batch():
            old = [w for w in self.children if w is not self._indicator]
            if old:
                await self.remove_children(old)
            self.names = names
            self.is_group = is_group
            self.has_older = True
            self._older_requested = False
            self._gap_newer = False
            self._by_id = {}
            self._selected_id = None
            self._views = []
            self._views = [self._make_view(message) for message in ordered]
            widgets = self._interleave(self._views)
            if widgets:
                await self.mount_all(widgets, before=self._indicator)
            self._set_new_count(0)
            self.anchor()
        self.call_after_refresh(self._maybe_fill_viewport)

    def _maybe_fill_viewport(self) -> None:
        """A short first page that does not fill the pane: ask for more right away."""
        if self._views and self.max_scroll_y == 0:
            self._request_older()

    async def _upsert(self, messages: list[Message]) -> None:
        if not messages:
            return
        async with self.batch():
            was_at_bottom = self.at_bottom and not self._gap_newer
            appended_incoming = 0
            jump = False
            inserted = False
            keys = [_order_key(view.message) for view in self._views]
            for message in messages:
                view = self._by_id.get(message.id)
                if view is not None:
                    view.update_message(message)
                    continue
                key = _order_key(message)
                if self._views and key < keys[0] and self.has_older:
                    continue  # older than the window: it will come with its page
                at_end = not keys or key >= keys[-1]
                if at_end and self._gap_newer:
                    if not message.is_from_me:
                        appended_incoming += 1
                    continue  # beyond the trimmed gap; NeedLatest will bring it
                position = bisect_right(keys, key)
                new_view = self._make_view(message)
                if position < len(self._views):
                    following = self._views[position]
                    await self.mount(new_view, before=following.separator or following)
                else:
                    await self.mount(new_view, before=self._indicator)
                self._views.insert(position, new_view)
                keys.insert(position, key)
                inserted = True
                if at_end:
                    if message.is_from_me and message.status == MessageStatus.PENDING:
                        jump = True  # the user just sent it: show it
                    elif not message.is_from_me:
                        appended_incoming += 1
            if inserted:
                await self._fix_separators()
            if was_at_bottom or jump:
                if len(self._views) > self.window:
                    await self._trim_top(len(self._views) - self.window)
                self._set_new_count(0)
                self.scroll_end(animate=False)
            else:
                if len(self._views) > WINDOW_MAX:
                    await self._trim_bottom(len(self._views) - WINDOW_MAX)
                if appended_incoming:
                    self._set_new_count(self._new_count + appended_incoming)

    async def _prepend(self, messages: list[Message]) -> None:
        self._older_requested = False
        async with self.batch():
            fresh = [m for m in {m.id: m for m in messages}.values() if m.id not in self._by_id]
            if self._views:
                first_key = _order_key(self._views[0].message)
                fresh = [m for m in fresh if _order_key(m) < first_key]
            if not fresh:
                self.has_older = False
                return
            fresh.sort(key=_order_key)
            first_old = self._views[0] if self._views else None
            before_y = first_old.virtual_region.y if first_old else 0
            new_views = [self._make_view(m) for m in fresh]
            target = (first_old.separator or first_old) if first_old else self._indicator
            await self.mount_all(self._interleave(new_views), before=target)
            self._views[0:0] = new_views
            await self._fix_separators()
            if len(self._views) > self.window:
                await self._trim_bottom(len(self._views) - self.window)
        if first_old is not None:

            def keep_position(tries: int = 4) -> None:
                # The new rows may only be laid out a refresh or two later; until then the
                # old first row has not moved and there is nothing to compensate yet.
                if not first_old.is_attached:
                    return
                delta = first_old.virtual_region.y - before_y
                if delta > 0:
                    self.scroll_to(y=self.scroll_y + delta, animate=False)
                elif tries:
                    self.call_after_refresh(keep_position, tries - 1)

            self.call_after_refresh(keep_position)

    async def _fix_separators(self) -> None:
        previous = None
        removals = []
        for view in self._views:
            day = local_date(view.message.timestamp)
            if day != previous:
                label = self._label(view.message)
                if view.separator is None:
                    view.separator = DaySeparator(label)
                    await self.mount(view.separator, before=view)
                else:
                    view.separator.set_label(label)
            elif view.separator is not None:
                removals.append(view.separator)
                view.separator = None
            previous = day
        if removals:
            await self.remove_children(removals)

    async def _remove_views(self, views: list[MessageView]) -> None:
        doomed = []
        for view in views:
            self._by_id.pop(view.message.id, None)
            if view.message.id == self._selected_id:
                self._selected_id = None
            if view.separator is not None:
                doomed.append(view.separator)
            doomed.append(view)
        if doomed:
            await self.remove_children(doomed)

    async def _trim_top(self, count: int) -> None:
        gone, self._views = self._views[:count], self._views[count:]
        await self._remove_views(gone)
        self.has_older = True
        await self._fix_separators()

    async def _trim_bottom(self, count: int) -> None:
        gone, self._views = self._views[-count:], self._views[:-count]
        await self._remove_views(gone)
        self._gap_newer = True

    # --- scrolling, 'N new' -----------------------------------------------------------

    def _set_new_count(self, count: int) -> None:
        self._new_count = count
        self._indicator.set_count(count)

    def _request_older(self) -> None:
        if self._views and self.has_older and not self._older_requested:
            self._older_requested = True
            self.post_message(self.NeedOlder(self, self._views[0].message))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value:
            self._request_older()
        if self._new_count and new_value >= self.max_scroll_y - 1 and not self._gap_newer:
            self._set_new_count(0)

    def action_jump_bottom(self) -> None:
        self._set_new_count(0)
        if self._gap_newer:
            self.post_message(self.NeedLatest(self))
        self.scroll_end(animate=False)

    # --- selection --------------------------------------------------------------------

    def _select(self, index: int) -> None:
        if not self._views:
            return
        index = max(0, min(index, len(self._views) - 1))
        previous = self._by_id.get(self._selected_id) if self._selected_id else None
        if previous is not None:
            previous.remove_class("-selected")
        view = self._views[index]
        self._selected_id = view.message.id
        view.add_class("-selected")
        if index == len(self._views) - 1 and self.at_bottom:
            return  # already visible; scrolling would release the anchor
        self.scroll_to_widget(view, animate=False, immediate=True)

    def _selected_index(self) -> int | None:
        view = self._by_id.get(self._selected_id) if self._selected_id else None
        if view is None:
            return None
        try:
            return self._views.index(view)
        except ValueError:
            return None

    def select_message(self, message_id: str) -> bool:
        view = self._by_id.get(message_id)
        if view is None:
            return False
        self._select(self._views.index(view))
        return True

    def action_select_previous(self) -> None:
        index = self._selected_index()
        if index is None:
            self._select(len(self._views) - 1)
            return
        if index == 0:
            self._request_older()
            self.scroll_home(animate=False)
        self._select(index - 1)

    def action_select_next(self) -> None:
        index = self._selected_index()
        if index is None:
            self._select(len(self._views) - 1)
            return
        self._select(index + 1)

    def action_clear_selection(self) -> None:
        view = self._by_id.get(self._selected_id) if self._selected_id else None
        if view is not None:
            view.remove_class("-selected")
        self._selected_id = None

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

    def on_click(self, event: events.Click) -> None:
        widget = event.widget
        while widget is not None and widget is not self:
            if isinstance(widget, MessageView):
                if widget.message.id in self._by_id:
                    index = self._views.index(widget)
                    self.focus()
                    self._select(index)
                return
            widget = widget.parent


__all__ = [
    "DaySeparator",
    "MessagePane",
    "MessageView",
    "NewMessagesIndicator",
    "build_message_content",
]
