"""Chat list, message pane, composer and display formatting."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from textual import events
from textual.app import App, ComposeResult

from watui.domain.models import Chat, MediaType, Message, MessageStatus
from watui.ui.format import (
    chat_preview,
    clean_text,
    day_label,
    format_time,
    human_size,
    media_label,
    status_glyph,
    truncate_cells,
)
from watui.ui.widgets import Composer, MessagePane, VirtualChatList

# Local noon: day-relative labels stay on the right day in any timezone.
NOW = datetime(2025, 3, 14, 12, 0).astimezone().astimezone(UTC)
SIZE = (80, 24)


def clock() -> datetime:
    return NOW


def make_chats(n: int) -> list[Chat]:
    return [
        Chat(
            jid=f"{15550000000 + i}@s.whatsapp.net",
            name=f"Chat {i}" if i % 2 else "",
            last_message_time=NOW - timedelta(minutes=i),
            unread_count=i % 4,
            last_message_preview=f"hello {i}",
        )
        for i in range(n)
    ]


def msg(i: int, *, at: datetime | None = None, **kw) -> Message:
    fields = {"content": f"message {i}", "sender": "15551110000@s.whatsapp.net"}
    fields.update(kw)
    return Message(
        id=f"m{i:05d}",
        chat_jid="120363@g.us",
        timestamp=at if at is not None else NOW - timedelta(minutes=500 - i),
        **fields,
    )


class Host(App[None]):
    def __init__(self, *widgets) -> None:
        super().__init__()
        self._widgets = widgets
        self.seen: list = []

    def compose(self) -> ComposeResult:
        yield from self._widgets

    def on_mount(self) -> None:
        self._widgets[0].focus()


def posted(app: Host, kind: type) -> list:
    """Each message once (the hook sees it again at every node it bubbles through)."""
    out, ids = [], set()
    for message in app.seen:
        if isinstance(message, kind) and id(message) not in ids:
            ids.add(id(message))
            out.append(message)
    return out


def run(app: Host):
    return app.run_test(size=SIZE, message_hook=app.seen.append)


def lines(widget: VirtualChatList, count: int) -> list[str]:
    return [widget.render_line(y).text for y in range(count)]


# --- format ---------------------------------------------------------------------------------


def test_format_time_today_week_and_older():
    now = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)
    assert format_time(now - timedelta(hours=2), now, tz=UTC) == "13:30"
    assert format_time(now - timedelta(days=1), now, tz=UTC) == "Thu"
    assert format_time(now - timedelta(days=6), now, tz=UTC) == "Sat"
    assert format_time(now - timedelta(days=7), now, tz=UTC) == "2025-03-07"
    # local time: a UTC instant shown in UTC+2 crosses midnight
    plus2 = timezone(timedelta(hours=2))
    assert format_time(datetime(2025, 3, 14, 23, 0, tzinfo=UTC), now, tz=plus2) == "2025-03-15"
    assert format_time(datetime(1970, 1, 1, tzinfo=UTC), now) == "" and format_time(None) == ""


def test_day_label():
    now = datetime(2025, 3, 14, 15, 30, tzinfo=UTC)
    assert day_label(now, now, tz=UTC) == "Today"
    assert day_label(now - timedelta(days=1), now, tz=UTC) == "Yesterday"
    assert day_label(now - timedelta(days=3), now, tz=UTC) == "Tuesday"
    assert day_label(now - timedelta(days=30), now, tz=UTC) == "Wed 2025-02-12"


def test_sizes_glyphs_media():
    assert human_size(0) == "0 B"
    assert human_size(512) == "512 B"
    assert human_size(1258291) == "1.2 MB"
    assert human_size(35 * 1024 * 1024) == "35 MB"
    assert status_glyph(MessageStatus.PENDING) == "◷"
    assert status_glyph(MessageStatus.SENT) == "✓"
    assert status_glyph(MessageStatus.DELIVERED) == "✓✓"
    assert status_glyph(MessageStatus.READ) == "✓✓"
    assert status_glyph(MessageStatus.RECEIVED) == ""
    assert status_glyph(MessageStatus.FAILED) == "✗"
    image = msg(1, media_type=MediaType.IMAGE, filename="photo.jpg", file_length=1258291)
    assert media_label(image) == "[image: photo.jpg · 1.2 MB]"
    assert media_label(msg(2, media_type=MediaType.VOICE)) == "[voice message]"
    assert media_label(msg(3)) == ""
    hostile = msg(4, media_type=MediaType.DOCUMENT, filename="a\x1b[2J\nb.pdf")
    assert media_label(hostile) == "[document: a\\x1b[2J b.pdf]"


def test_text_helpers():
    assert truncate_cells("你好世界abc", 5) == "你好…"
    assert truncate_cells("short", 10) == "short"
    capped = clean_text("x" * 1_000_000)
    assert len(capped) < 4100 and capped.endswith("(996,000 more characters)")
    assert clean_text("a\x1b[31mb\nc") == "a\\x1b[31mb\nc"
    group = Chat("1@g.us", "G", NOW, is_group=True, last_message_preview="hi", last_message_sender="15551234567@s.whatsapp.net")
    assert chat_preview(group, {"15551234567@s.whatsapp.net": "Bob"}) == "Bob: hi"
    assert chat_preview(group) == "+15551234567: hi"
    own = Chat("2@s.whatsapp.net", "", NOW, last_message_preview="ok", last_message_is_from_me=True)
    assert chat_preview(own) == "You: ok"


# --- chat list ------------------------------------------------------------------------------


async def test_chat_list_10k_renders_and_navigates():
    chats = make_chats(10_000)
    started = time.process_time()
    chat_list = VirtualChatList(chats, clock=clock)
    app = Host(chat_list)
    async with run(app) as pilot:
        await pilot.pause()
        mount_cpu = time.process_time() - started
        first = lines(chat_list, 4)
        assert first[0].startswith(" +15550000000") and first[0].rstrip().endswith(format_time(NOW, NOW))
        assert first[1].strip() == "hello 0"
        assert first[2].startswith(" Chat 1") and first[3].rstrip().endswith("1")
        width = chat_list.scrollable_content_region.width
        assert all(chat_list.render_line(y).cell_length == width for y in range(22))
        assert chat_list.render_count <= 2 * 24  # only visible rows were drawn
        await pilot.press("j", "j")
        assert chat_list.cursor == 2
        await pilot.press("k")
        assert chat_list.cursor == 1
        await pilot.press("G")
        assert chat_list.cursor == 9_999
        assert chat_list.scroll_offset.y == 10_000 * 2 - chat_list.scrollable_content_region.height
        assert "hello 9999" in chat_list.render_line(chat_list.scrollable_content_region.height - 1).text
        await pilot.press("g")
        assert chat_list.cursor == 0 and chat_list.scroll_offset.y == 0
        await pilot.press("pagedown")
        assert chat_list.cursor == chat_list.scrollable_content_region.height // 2
        await pilot.press("home", "down", "enter")
        await pilot.pause()
        opened = posted(app, VirtualChatList.Opened)
        assert [m.jid for m in opened] == [chats[1].jid]
        assert opened[0].control is chat_list
        assert posted(app, VirtualChatList.Highlighted)[-1].jid == chats[1].jid
    assert mount_cpu < 5.0


async def test_chat_list_update_moves_to_top_and_redraws_one_row():
    chats = make_chats(500)
    chat_list = VirtualChatList(chats, clock=clock)
    app = Host(chat_list)
    async with run(app) as pilot:
        await pilot.pause()
        lines(chat_list, 22)
        # in-place update (same order): only that row's two lines are drawn again
        before = chat_list.render_count
        changed = chats[3]
        chat_list.update_chats([Chat(changed.jid, changed.name, changed.last_message_time, unread_count=9, last_message_preview="edited preview")])
        lines(chat_list, 22)
        assert chat_list.render_count - before == 2
        assert chat_list.render_line(7).text.strip().startswith("edited preview")
        # a new message in chat 7 moves it to the top; other rows come from the cache
        before = chat_list.render_count
        moved = chats[7]
        chat_list.update_chats([Chat(moved.jid, moved.name, NOW + timedelta(minutes=1), last_message_preview="newest")])
        await pilot.pause()
        assert chat_list.visible_chats[0].jid == moved.jid
        text = lines(chat_list, 22)
        assert text[0].startswith(" Chat 7") and text[1].strip() == "newest"
        assert chat_list.render_count - before == 2
        # the cursor stays on the chat the user had highlighted
        assert chat_list.cursor_jid == chats[0].jid and chat_list.cursor == 1
        # pinned chats go first
        pinned = chats[400]
        chat_list.update_chats([Chat(pinned.jid, "Pinned", pinned.last_message_time, pinned=True)])
        assert chat_list.visible_chats[0].jid == pinned.jid
        assert "⌃" in chat_list.render_line(0).text


async def test_chat_list_filter_and_set_chats_keep_cursor():
    chats = make_chats(1000)
    chat_list = VirtualChatList(chats, clock=clock)
    app = Host(chat_list)
    async with run(app) as pilot:
        await pilot.pause()
        chat_list.set_filter("chat 99")
        assert [c.name for c in chat_list.visible_chats] == ["Chat 99", "Chat 991", "Chat 993", "Chat 995", "Chat 997", "Chat 999"]
        chat_list.set_filter("5550000998")  # by number, unnamed chat
        assert [c.jid for c in chat_list.visible_chats] == [chats[998].jid]
        assert chat_list.cursor_jid == chats[998].jid
        chat_list.set_filter("zzz")
        assert chat_list.visible_chats == [] and "No chats match" in chat_list.render_line(0).text
        chat_list.set_filter("")
        assert len(chat_list.visible_chats) == 1000
        assert chat_list.select_jid(chats[10].jid) and chat_list.cursor == 10
        chat_list.set_chats(list(reversed(chats[5:])))
        assert chat_list.cursor_jid == chats[10].jid and chat_list.cursor == 5


async def test_chat_list_hostile_names_and_click():
    hostile = [
        Chat("1@g.us", "[bold red]Grp[/] \x1b[2J\x07 " + "long " * 30, NOW, is_group=True, unread_count=1234, last_message_preview="[link=x]y[/link]\nline2", last_message_sender="15551234567@s.whatsapp.net"),
        Chat("15551234567@s.whatsapp.net", "家族🎉" * 20, NOW - timedelta(days=2), muted_until=datetime(9999, 1, 1, tzinfo=UTC), archived=True),
        Chat("15557654321@s.whatsapp.net", "", NOW - timedelta(days=30)),
    ]
    chat_list = VirtualChatList(hostile, clock=clock)
    app = Host(chat_list)
    async with run(app) as pilot:
        await pilot.pause()
        text = lines(chat_list, 6)
        width = chat_list.scrollable_content_region.width
        assert all(chat_list.render_line(y).cell_length == width for y in range(6))
        assert text[0].startswith(" # [bold red]Grp[/] \\x1b[2J\\x07 long") and "…" in text[0]
        assert "+15551234567: [link=x]y[/link] line2" in text[1] and " 999+ " in text[1]
        assert "∅⊟" in text[2] and "…" in text[2]
        assert text[4].startswith(" +15557654321") and (NOW - timedelta(days=30)).astimezone().strftime("%Y-%m-%d") in text[4]
        await pilot.click(chat_list, offset=(5, 4))
        await pilot.pause()
        assert chat_list.cursor == 2
        assert [m.jid for m in posted(app, VirtualChatList.Opened)] == ["15557654321@s.whatsapp.net"]


# --- message pane ---------------------------------------------------------------------------


def pane_texts(pane: MessagePane) -> list[str]:
    return [pane.content_of(m.id).plain for m in pane.messages]


def on_screen(pane: MessagePane) -> list[str]:
    """The pane's visible lines as drawn (a line-API widget: render_line is the screen)."""
    return [pane.render_line(y).text for y in range(pane.scrollable_content_region.height)]


def assert_exact_width(pane: MessagePane) -> None:
    width = pane.scrollable_content_region.width
    for y in range(pane.scrollable_content_region.height):
        assert pane.render_line(y).cell_length == width, y
    for message in pane.messages:
        for strip in pane.message_lines(message.id):
            assert strip.cell_length == width, message.id


async def test_pane_set_messages_separators_and_rendering():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    names = {"15551110000@s.whatsapp.net": "Alice", "15552220000@s.whatsapp.net": "[b]Bob\x1b[31m"}
    messages = [
        msg(1, at=NOW - timedelta(days=10)),
        msg(2, at=NOW - timedelta(days=1), sender="15552220000@s.whatsapp.net", content="[bold]x[/] \x1b[31mred"),
        msg(3, at=NOW - timedelta(days=1, minutes=-1), is_from_me=True, status=MessageStatus.READ, content="mine"),
        msg(4, at=NOW - timedelta(hours=1), media_type=MediaType.IMAGE, filename="photo.jpg", file_length=1258291, content="caption",
            quoted_message_id="m00001", quoted_sender="15552220000@s.whatsapp.net", quoted_preview="quoted [i]text"),
        msg(5, at=NOW - timedelta(minutes=30), deleted=True),
        msg(6, at=NOW - timedelta(minutes=20), edited=True),
        msg(7, at=NOW - timedelta(minutes=10), is_from_me=True, status=MessageStatus.FAILED, error="timed out"),
        msg(8, at=NOW - timedelta(minutes=5), is_from_me=True, status=MessageStatus.PENDING),
    ]
    async with run(app) as pilot:
        pane.set_messages(messages, names, is_group=True)
        await pilot.pause()
        expected_old = day_label(NOW - timedelta(days=10), NOW)
        assert pane.separators == [expected_old, "Yesterday", "Today"]
        texts = pane_texts(pane)
        assert texts[0].endswith("Alice: message 1")
        assert texts[1].endswith("[b]Bob\\x1b[31m: [bold]x[/] \\x1b[31mred")
        assert texts[2].endswith("mine ✓✓") and "Alice" not in texts[2]
        assert texts[3].startswith("│ [b]Bob\\x1b[31m: quoted [i]text\n")
        assert texts[3].endswith("Alice: [image: photo.jpg · 1.2 MB] caption")
        assert texts[4].endswith("Alice: This message was deleted")
        assert texts[5].endswith("message 6 (edited)")
        assert texts[6].endswith("message 7 ✗ timed out (R to retry)")
        assert texts[7].endswith("message 8 ◷")
        # what is drawn: the separators centred, a bar left of each message, yours indented
        screen = on_screen(pane)
        assert screen[0].strip() == f"── {expected_old} ──" and screen[0].startswith(" ")
        assert "── Today ──" in [line.strip() for line in screen]
        assert screen[1].startswith("▊ ") and screen[1].rstrip().endswith("Alice: message 1")
        mine = pane.message_lines("m00003")
        assert mine[0].text.startswith(" " * 4 + "▊ ") and mine[0].text.rstrip().endswith("mine ✓✓")
        quoted = [strip.text.rstrip() for strip in pane.message_lines("m00004")]
        assert quoted[0] == "▊ │ [b]Bob\\x1b[31m: quoted [i]text" and quoted[1].endswith("caption")
        # the bar's colour says whose message it is and whether it failed
        def bar_colour(message_id: str):
            return next(s for s in pane.message_lines(message_id)[0] if s.text.strip()).style.color

        def part(name: str):
            return pane.get_component_rich_style(name, partial=True).color

        assert bar_colour("m00001") == part("message-pane--bar")
        assert bar_colour("m00003") == part("message-pane--bar-own")
        assert bar_colour("m00007") == part("message-pane--bar-failed") != part("message-pane--bar-own")
        drawn = [line.rstrip() for line in screen if line.strip()]
        assert pane.at_bottom and drawn[-1].endswith("message 8 ◷")  # a short chat starts at the top
        assert_exact_width(pane)


async def test_pane_group_senders_have_stable_colours_and_names_follow_renames():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    alice, bob = "15551110000@s.whatsapp.net", "15552220000@s.whatsapp.net"
    async with run(app) as pilot:
        pane.set_messages([msg(1, sender=alice), msg(2, sender=bob), msg(3, sender=alice)], {alice: "Alice"}, is_group=True)
        await pilot.pause()

        def sender_segment(message_id: str, name: str):
            return next(s for s in pane.message_lines(message_id)[0] if s.text == f"{name}: ")

        assert sender_segment("m00001", "Alice").style == sender_segment("m00003", "Alice").style
        assert sender_segment("m00001", "Alice").style.bold
        assert sender_segment("m00002", "+15552220000")  # no name known: the number
        pane.set_names({alice: "Alice", bob: "Bob"})
        await pilot.pause()
        assert sender_segment("m00002", "Bob")
        # a member's first message since the chat was opened, and one in an older page,
        # come with their senders' names
        carol, dave = "15553330000@s.whatsapp.net", "15554440000@s.whatsapp.net"
        pane.upsert_messages([msg(4, sender=carol)], {carol: "Carol"})
        pane.prepend_older([msg(0, sender=dave)], {dave: "Dave with a name long enough to take a second line " * 2})
        await pilot.pause()
        assert sender_segment("m00004", "Carol") and "Alice" in pane.message_lines("m00001")[0].text
        assert pane.message_lines("m00000")[0].text.startswith("▊ 03:40 Dave with")
        assert len(pane.message_lines("m00000")) >= 2
        assert_exact_width(pane)
        assert [line for line in on_screen(pane) if line.strip()][-1].rstrip().endswith("Carol: message 4")
        # a 1:1 chat shows no sender names
        pane.set_messages([msg(1, sender=alice)], {alice: "Alice"}, is_group=False)
        await pilot.pause()
        assert "Alice" not in pane.message_lines("m00001")[0].text


async def test_pane_upsert_updates_in_place_and_appends():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    async with run(app) as pilot:
        own = msg(10, is_from_me=True, status=MessageStatus.PENDING)
        pane.set_messages([msg(i) for i in range(1, 10)] + [own], {}, is_group=False)
        await pilot.pause()
        for status, glyph in ((MessageStatus.SENT, "✓"), (MessageStatus.DELIVERED, "✓✓"), (MessageStatus.READ, "✓✓")):
            pane.upsert_messages([msg(10, is_from_me=True, status=status)])
            await pilot.pause()
            assert len(pane.messages) == 10 and pane.message_by_id(own.id).status == status
            assert pane.message_lines(own.id)[-1].text.rstrip().endswith(f"message 10 {glyph}")
            assert [line for line in on_screen(pane) if line.strip()][-1].rstrip().endswith(f"message 10 {glyph}")
        pane.upsert_messages([msg(3, content="changed", edited=True), msg(4, deleted=True)])
        assert pane.content_of("m00003").plain.endswith("changed (edited)")
        assert pane.content_of("m00004").plain.endswith("This message was deleted")
        # a new message arrives while at the bottom: appended, stays at the bottom
        pane.upsert_messages([msg(11), msg(9)])  # 9 is a duplicate
        await pilot.pause()
        assert [m.id for m in pane.messages][-3:] == ["m00009", "m00010", "m00011"]
        assert len(pane.messages) == 11 and pane.at_bottom and pane.new_count == 0
        # an out-of-order one lands in its place
        pane.upsert_messages([msg(5, content="same id, new text")])
        assert len(pane.messages) == 11
        pane.upsert_messages([Message("late", "120363@g.us", "x@s.whatsapp.net", NOW - timedelta(minutes=494, seconds=30), "late")])
        assert [m.id for m in pane.messages][4:6] == ["m00005", "late"]
        assert pane.separators == ["Today"]
        # an edit that makes a message longer pushes the ones below down, still at the bottom
        pane.upsert_messages([msg(11, content="long " * 60, edited=True)])
        await pilot.pause()
        assert len(pane.message_lines("m00011")) > 3 and pane.at_bottom
        assert [line for line in on_screen(pane) if line.strip()][-1].rstrip().endswith("(edited)")
        assert_exact_width(pane)


async def test_pane_new_indicator_when_scrolled_up():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    async with run(app) as pilot:
        pane.set_messages([msg(i) for i in range(60)], {}, is_group=False)
        await pilot.pause()
        assert pane.at_bottom and pane.max_scroll_y > 10
        assert "new ↓" not in on_screen(pane)[-1]
        pane.scroll_to(y=5, animate=False)
        await pilot.pause()
        before = on_screen(pane)
        pane.upsert_messages([msg(100), msg(101)])
        await pilot.pause()
        assert pane.scroll_y == 5  # no jump
        assert pane.new_count == 2
        assert on_screen(pane)[:-1] == before[:-1] and on_screen(pane)[-1].rstrip().endswith(" 2 new ↓")
        await pilot.press("G")
        await pilot.pause()
        assert pane.at_bottom and pane.new_count == 0 and "new ↓" not in on_screen(pane)[-1]
        assert on_screen(pane)[-1].rstrip().endswith("message 101")
        # the user's own just-sent message always scrolls into view
        pane.scroll_to(y=5, animate=False)
        await pilot.pause()
        pane.upsert_messages([msg(102, is_from_me=True, status=MessageStatus.PENDING)])
        await pilot.pause()
        assert pane.at_bottom
        # back at the bottom, new messages keep it anchored
        pane.upsert_messages([msg(103)])
        await pilot.pause()
        assert pane.at_bottom and pane.new_count == 0
        # scrolled up again: a click on the indicator jumps down
        pane.scroll_to(y=5, animate=False)
        await pilot.pause()
        pane.upsert_messages([msg(104)])
        await pilot.pause()
        bottom = pane.scrollable_content_region.height - 1
        width = pane.scrollable_content_region.width
        await pilot.click(pane, offset=(width - 3, bottom))
        await pilot.pause()
        assert pane.at_bottom and pane.new_count == 0


async def test_pane_scrolled_up_keeps_its_lines_when_a_late_message_lands_above():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    async with run(app) as pilot:
        pane.set_messages([msg(i) for i in range(60)], {}, is_group=False)
        await pilot.pause()
        pane.scroll_to(y=30, animate=False)
        await pilot.pause()
        before = on_screen(pane)
        late = Message("late", "120363@g.us", "x@s.whatsapp.net", NOW - timedelta(minutes=495, seconds=30), "late")
        pane.upsert_messages([late])
        await pilot.pause()
        assert [m.id for m in pane.messages][5:7] == ["late", "m00005"]
        assert on_screen(pane) == before and pane.scroll_y == 31 and pane.new_count == 0


async def test_pane_stays_at_the_bottom_when_it_gets_smaller():
    """The composer grows with a long draft: the newest line stays in view."""
    pane = MessagePane(clock=clock)
    app = Host(pane)
    async with run(app) as pilot:
        pane.set_messages([msg(i) for i in range(60)], {}, is_group=False)
        await pilot.pause()
        pane.styles.height = 10
        await pilot.pause()
        await pilot.pause()
        assert pane.at_bottom and on_screen(pane)[-1].rstrip().endswith("message 59")


async def test_pane_wraps_long_lines_at_any_width_and_keeps_the_reading_position():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    words = " ".join(f"w{i:03d}" for i in range(120))
    messages = [msg(i, content=f"m{i} {words}" if i % 5 == 0 else f"message {i}") for i in range(40)]
    async with run(app) as pilot:
        pane.set_messages(messages, {}, is_group=False)
        await pilot.pause()
        for width in (80, 40, 23, 120, 12):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            await pilot.pause()
            assert_exact_width(pane)
            assert pane.at_bottom and on_screen(pane)[-1] == pane.message_lines("m00039")[-1].text
            # every word of the long message is on one of its lines, in order
            body = " ".join(strip.text.strip(" ▊") for strip in pane.message_lines("m00035"))
            assert " ".join(body.split()).endswith(words) or width < 20
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        # scrolled up: a resize keeps the same message at the top
        region = pane.message_region("m00011")
        pane.scroll_to(y=region[0], animate=False)
        await pilot.pause()
        assert on_screen(pane)[0].rstrip().endswith("message 11")
        await pilot.resize_terminal(50, 24)
        await pilot.pause()
        await pilot.pause()
        assert on_screen(pane)[0].rstrip().endswith("message 11") and not pane.at_bottom


async def test_pane_need_older_and_prepend_bounded():
    pane = MessagePane(clock=clock, window=60)
    app = Host(pane)
    async with run(app) as pilot:
        pane.set_messages([msg(i) for i in range(100, 150)], {}, is_group=False)
        await pilot.pause()
        pane.scroll_home(animate=False)
        await pilot.pause()
        need = posted(app, MessagePane.NeedOlder)
        assert len(need) == 1 and need[0].before_message.id == "m00100"
        before = on_screen(pane)
        assert before[0].strip() == "── Today ──" and before[1].rstrip().endswith("message 100")
        pane.prepend_older([msg(i) for i in range(70, 100)])
        await pilot.pause()
        ids = [m.id for m in pane.messages]
        assert len(ids) == 60 and ids[0] == "m00070" and ids[-1] == "m00129"  # trimmed the far end
        assert ids == sorted(ids)
        # the reading position is kept to the line: what was on screen still is, in place
        after = on_screen(pane)
        assert after[1:] == before[1:] and after[0].rstrip().endswith("message 99")
        assert pane.separators == ["Today"]
        pane.prepend_older([])  # start of the chat
        assert pane.has_older is False
        # the window was trimmed at the newest end: jumping down asks for the latest page
        await pilot.press("end")
        await pilot.pause()
        assert len(posted(app, MessagePane.NeedLatest)) == 1


async def test_pane_short_chat_asks_for_older_at_once():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    async with run(app) as pilot:
        pane.set_messages([msg(1), msg(2)], {}, is_group=False)
        await pilot.pause()
        await pilot.pause()
        assert [m.before_message.id for m in posted(app, MessagePane.NeedOlder)] == ["m00001"]
        pane.prepend_older([])
        assert pane.has_older is False


async def test_pane_selection_reply_and_retry():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    failed = msg(3, is_from_me=True, status=MessageStatus.FAILED, error="offline")
    async with run(app) as pilot:
        pane.set_messages([msg(1), msg(2), failed, msg(4)], {}, is_group=False)
        await pilot.pause()
        await pilot.press("k")
        assert pane.selected_message.id == "m00004"
        await pilot.press("R")  # not a failed message: nothing
        await pilot.press("k")
        assert pane.selected_message.id == "m00003"
        selected = pane.message_lines("m00003")[0]
        assert selected.text.startswith("    █ ")  # the thick bar marks the selection ...
        assert pane.message_lines("m00004")[0].text.startswith("▊ ")  # ... and only there
        focused_bg = next(iter(selected)).style.bgcolor  # the indent keeps the pane's colour
        assert [s for s in selected if s.text.strip()][0].style.color == pane.get_component_rich_style(
            "message-pane--bar-selected", partial=True).color
        text_bg = [s for s in selected if "message 3" in s.text][0].style.bgcolor
        assert text_bg != focused_bg
        await pilot.press("R", "k", "r")
        await pilot.pause()
        assert [m.message.id for m in posted(app, MessagePane.RetryRequested)] == ["m00003"]
        assert [m.message.id for m in posted(app, MessagePane.ReplyRequested)] == ["m00002"]
        await pilot.press("j", "j", "j")
        assert pane.selected_message.id == "m00004"
        await pilot.press("escape")
        assert pane.selected_message is None
        assert pane.message_lines("m00004")[0].text.startswith("▊ ")
        # a click selects the message under the pointer (its second line too)
        pane.upsert_messages([msg(5, content="first\nsecond")])
        await pilot.pause()
        first, count = pane.message_region("m00005")
        row = first + 1 - round(pane.scroll_y)
        await pilot.click(pane, offset=(5, row))
        await pilot.pause()
        assert pane.selected_message.id == "m00005" and app.focused is pane


async def test_pane_follows_the_theme():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    async with run(app) as pilot:
        pane.set_messages([msg(1, is_from_me=True, status=MessageStatus.READ)], {}, is_group=False)
        await pilot.pause()

        def colours():
            return [s.style.color for s in pane.message_lines("m00001")[0] if s.text.strip()]

        before = colours()
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        await pilot.pause()
        assert colours() != before
        assert_exact_width(pane)


async def test_pane_huge_message_does_not_hang():
    pane = MessagePane(clock=clock)
    app = Host(pane)
    huge = "word " * 200_000 + "\n" * 10_000  # ~1 MB
    async with run(app) as pilot:
        started = time.process_time()
        pane.set_messages([msg(1), msg(2, content=huge), msg(3, content="\n" * 5000 + "end")], {}, is_group=False)
        await pilot.pause()
        assert time.process_time() - started < 5.0
        text = pane.content_of("m00002").plain
        assert len(text) < 4200 and "more characters)" in text
        assert pane.content_of("m00003").plain.count("\n") <= 61
        assert len(pane.message_lines("m00002")) < 200
        assert_exact_width(pane)


async def test_pane_narrow_widths_keep_every_line_exact():
    """Wide characters and a pane only a few columns wide: every line exactly the width."""
    pane = MessagePane(clock=clock)
    app = Host(pane)
    texts = ["🇺🇸" * 30, "漢字" * 40, "a\u0301" * 50 + "e\u200b" * 20, "x" * 300, "[b]y[/b] " * 10]
    async with run(app) as pilot:
        pane.set_messages(
            [msg(i, content=text, is_from_me=bool(i % 2), status=MessageStatus.DELIVERED) for i, text in enumerate(texts)],
            {}, is_group=True,
        )
        await pilot.pause()
        for width in (3, 4, 5, 7, 9, 11, 24, 25, 31):
            pane.styles.width = width
            await pilot.pause()
            await pilot.pause()
            assert_exact_width(pane)


# --- composer -------------------------------------------------------------------------------


async def test_composer_enter_submits_and_newline_key():
    composer = Composer()
    app = Host(composer)
    async with run(app) as pilot:
        await pilot.press("enter")
        await pilot.press("space", "space", "enter")
        assert posted(app, Composer.Submitted) == []
        composer.clear()
        await pilot.press("h", "i", "ctrl+j", "y", "o", "alt+enter", "!")
        assert composer.text == "hi\nyo\n!"
        await pilot.press("enter")
        await pilot.pause()
        submitted = posted(app, Composer.Submitted)
        assert [m.text for m in submitted] == ["hi\nyo\n!"] and submitted[0].control is composer
        assert composer.text == ""


async def test_composer_keeps_text_typed_in_the_same_burst_as_enter():
    """Over SSH a fast typist's 'hi' and Enter arrive in one read: the driver posts the three
    key events back to back, before any of them is handled."""
    composer = Composer()
    app = Host(composer)
    async with run(app) as pilot:
        composer.focus()
        await pilot.pause()
        for key, char in (("h", "h"), ("i", "i"), ("enter", "\r"), ("o", "o"), ("k", "k"), ("ctrl+j", "\n"), ("x", "x")):
            app.post_message(events.Key(key, char))
        await pilot.pause()
        await pilot.pause()
        assert [m.text for m in posted(app, Composer.Submitted)] == ["hi"]
        assert composer.text == "ok\nx"


async def test_composer_newline_key_is_remappable():
    composer = Composer()
    app = Host(composer)
    async with run(app) as pilot:
        app.set_keymap({"composer.newline": "ctrl+n"})
        await pilot.press("a", "ctrl+n", "b")
        assert composer.text == "a\nb"


async def test_composer_reply_banner_and_escape():
    composer = Composer()
    app = Host(composer)
    target = msg(1, sender="15552220000@s.whatsapp.net", content="[b]hello\x1b[2J")
    async with run(app) as pilot:
        composer.names = {"15552220000@s.whatsapp.net": "Bob"}
        composer.reply_to = target
        assert composer._border_title.plain == "Replying to Bob: [b]hello\\x1b[2J (esc cancels)"
        await pilot.press("escape")
        await pilot.pause()
        assert composer.reply_to is None and composer.border_title is None
        assert [m.message.id for m in posted(app, Composer.ReplyCancelled)] == ["m00001"]
        composer.reply_to = target
        await pilot.press("o", "k", "enter")
        await pilot.pause()
        submitted = posted(app, Composer.Submitted)
        assert submitted[-1].text == "ok" and submitted[-1].reply_to is target
        assert composer.reply_to is None


async def test_composer_drafts_per_chat():
    composer = Composer()
    app = Host(composer)
    a, b = ("work", "1@s.whatsapp.net"), ("home", "1@s.whatsapp.net")
    async with run(app) as pilot:
        composer.load_draft(a)
        await pilot.press("d", "r", "a", "f", "t")
        composer.save_draft(a)
        composer.load_draft(b)
        assert composer.text == ""
        await pilot.press("o", "t", "h", "e", "r", "ctrl+j", "x")
        composer.switch_draft(a)
        assert composer.text == "draft" and composer.cursor_location == (0, 5)
        composer.switch_draft(b)
        assert composer.text == "other\nx"
        await pilot.press("enter")  # sending clears this chat's draft
        composer.switch_draft(a)
        assert composer.drafts == {a: "draft"}


@pytest.mark.parametrize("width", [80, 100])
async def test_all_three_fit_at_small_sizes(width):
    from textual.containers import Horizontal, Vertical

    class Layout(App[None]):
        CSS = "VirtualChatList { width: 28; } #right { width: 1fr; }"

        def compose(self) -> ComposeResult:
            with Horizontal():
                yield VirtualChatList(make_chats(50), clock=clock)
                with Vertical(id="right"):
                    yield MessagePane(clock=clock)
                    yield Composer()

    app = Layout()
    async with app.run_test(size=(width, 24)) as pilot:
        pane = app.query_one(MessagePane)
        pane.set_messages([msg(i, content="some text " * 8) for i in range(30)], {}, is_group=True)
        await pilot.pause()
        composer = app.query_one(Composer)
        assert composer.region.bottom == 24 and composer.region.height >= 3
        assert pane.region.height >= 15 and pane.region.width >= width - 30
        assert app.query_one(VirtualChatList).render_line(0).text.strip().startswith("+15550000000")


def test_emoji_presentation_selector_is_dropped_so_rows_keep_their_width():
    from rich.cells import cell_len

    from watui.ui.format import clean_line, clean_text

    assert clean_line("Love it ❤️") == "Love it ❤"
    assert clean_text("sun ☀️\nok") == "sun ☀\nok"
    assert cell_len(clean_line("❤️ ☀️")) == 3


async def test_pane_focus_changes_redraw_only_the_selected_message():
    """Textual reports a focus change as a style update: the lines already drawn stay (a
    theme change is what redraws everything, see test_pane_follows_the_theme)."""
    from textual.widgets import Input

    pane = MessagePane(clock=clock)
    app = Host(pane, Input())
    async with run(app) as pilot:
        pane.set_messages([msg(i) for i in range(40)], {}, is_group=False)
        await pilot.pause()
        await pilot.press("k")  # select the newest
        await pilot.pause()
        drawn = pane.render_count
        app.query_one(Input).focus()
        await pilot.pause()
        pane.focus()
        await pilot.pause()
        assert pane.render_count - drawn == 2  # the selected message, blurred then focused
        assert on_screen(pane)[-1].startswith("█")


async def test_chat_list_focus_changes_redraw_only_the_cursor_row():
    from textual.widgets import Input

    chat_list = VirtualChatList(make_chats(200), clock=clock)
    app = Host(chat_list, Input())
    async with run(app) as pilot:
        await pilot.pause()
        drawn = chat_list.render_count
        app.query_one(Input).focus()  # as opening a chat moves the focus to the composer
        await pilot.pause()
        assert chat_list.render_count - drawn == 2  # the cursor row's two lines
        cursor_line = chat_list.render_line(0)
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        assert chat_list.render_line(0).text == cursor_line.text and chat_list.render_line(0) != cursor_line
