"""Hostile text in the real app (Pilot, sim backend, 80x24 and 200x50): chat names, push
names, group subjects, file names, message bodies and quoted previews from tests/corpus.py
go in through the session's consumer (the handler path every engine uses) and come out
only as plain text: no markup read, no control or bidi character on screen, every rendered
row exactly as wide as its widget, nothing crashed. Also the palette, notifications (the
one path that writes escape sequences on purpose) and a hostile session label.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from textual.command import CommandList, CommandPalette
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input, Label
from textual.widgets._toast import Toast

from watui.config import NotificationsConfig
from watui.domain import events as ev
from watui.domain.errors import WatuiError
from watui.domain.models import MediaType, Message, utc_now
from watui.runtime import Runtime
from watui.ui.messages import OpenChat
from watui.ui.notify import Notifier
from watui.ui.widgets import MessagePane, VirtualChatList
from watui.ui.widgets.sidebar import SessionSidebar
from watui.ui.widgets.status_panel import StatusPanel

from tests import corpus
from tests.test_ui_app import chat_list, main_screen, running, runtime, wait_for  # noqa: F401

GROUP = "120363099999999999@g.us"
GROUP_NAME = corpus.HOSTILE["markup-click"] + corpus.HOSTILE["osc8-link"] + corpus.HOSTILE["bidi-override"]


def _jid(index: int) -> str:
    return f"1555{index:07d}@s.whatsapp.net"


def hostile_events() -> list[ev.Event]:
    """Per corpus entry: a 1:1 chat named by it (its message a document named by it, quoting
    it), and a message in one group from a sender whose push name it is."""
    now = utc_now()
    events: list[ev.Event] = []
    for i, (name, text) in enumerate(corpus.ALL.items()):
        sender = _jid(i)
        when = now - timedelta(seconds=len(corpus.ALL) - i)
        events.append(
            ev.MessageReceived(
                Message(
                    id=f"HOSTILE{i:04d}",
                    chat_jid=sender,
                    sender=sender,
                    timestamp=when,
                    content=text,
                    push_name=text,
                    media_type=MediaType.DOCUMENT if i % 2 else MediaType.NONE,
                    filename=corpus.fileish(text) if i % 2 else "",
                    file_length=1234 * i,
                    quoted_message_id=f"Q{i}",
                    quoted_sender=sender,
                    quoted_preview=text,
                ),
                chat_name=text or name,
            )
        )
        events.append(
            ev.MessageReceived(
                Message(
                    id=f"GROUP{i:04d}",
                    chat_jid=GROUP,
                    sender=sender,
                    timestamp=when,
                    content=text,
                    push_name=text,
                    media_type=MediaType.IMAGE if i % 3 == 0 else MediaType.NONE,
                    filename=corpus.fileish(text) if i % 3 == 0 else "",
                    quoted_message_id=f"HOSTILE{i:04d}" if i % 2 else "",
                    quoted_sender=sender,
                    quoted_preview=text,
                ),
                chat_name=GROUP_NAME,
            )
        )
    return events


def check_strips(strips, width: int, where: str) -> list[str]:
    """Every strip exactly ``width`` cells, none with a control or bidi character."""
    texts = []
    for y, strip in enumerate(strips):
        text = strip.text
        assert strip.cell_length == width, f"{where} line {y}: {strip.cell_length} cells, not {width}: {text!r}"
        assert not corpus.unsafe(text), f"{where} line {y}: {corpus.unsafe(text)!r} in {text!r}"
        texts.append(text)
    return texts


def check_widget(widget: Widget) -> list[str]:
    width, height = widget.outer_size
    strips = widget.render_lines(Region(0, 0, width, height))
    return check_strips(strips, width, f"{type(widget).__name__}#{widget.id}")


def check_screen(app) -> list[str]:
    strips = app.screen._compositor.render_strips()
    return check_strips(strips, app.size.width, "screen")


_OSC777 = re.compile(r"^\x07?\x1b\]777;notify;([^;]*);([^;]*)\x07$")


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
async def test_hostile_text_is_shown_as_text_everywhere(runtime: Runtime, size) -> None:  # noqa: F811
    async with running(runtime, size=size) as (app, pilot):
        written: list[str] = []
        app.notifier = Notifier(
            NotificationsConfig(bell=True, desktop="osc777", show_preview=True),
            written.append,
            env={},
            min_interval=0.0,
        )
        session = runtime.manager.get_session("default")
        events = hostile_events()
        for event in events:
            session.queue.put_nowait(event)
        await session.drain()
        assert session.handler_errors == 0

        # --- the chat list: every hostile row, drawn by the real row renderer ---------------
        chats = chat_list(app)
        jids = {e.message.chat_jid for e in events if isinstance(e, ev.MessageReceived)}
        await wait_for(pilot, lambda: jids <= {c.jid for c in chats.chats}, tries=400)
        width = chats.scrollable_content_region.width
        now = chats.clock()
        for chat in chats.chats:
            for line in (0, 1):
                for cursor_state in (0, 2):
                    strip = chats._render_row_line(chat, line, cursor_state, width, now)
                    check_strips([strip], width, f"chat row {chat.jid}:{line}")
        check_widget(chats)
        check_screen(app)
        chats.focus()
        for _ in range(4):  # page through the list on screen
            await pilot.press("pagedown")
            await pilot.pause()
            check_screen(app)

        # --- the group: every body, push name, file name and quote in the message pane --------
        assert chats.select_jid(GROUP)
        chats.focus()
        await pilot.press("enter")
        screen = main_screen(app)
        pane = screen.query_one(MessagePane)
        group_ids = {e.message.id for e in events if isinstance(e, ev.MessageReceived) and e.message.chat_jid == GROUP}

        def all_loaded() -> bool:  # older pages come as the pane is scrolled to its top
            if group_ids <= {m.id for m in pane.messages}:
                return True
            pane.scroll_home(animate=False)
            return False

        await wait_for(pilot, all_loaded, tries=600)
        await pilot.pause()
        shown = []
        pane_width = pane.scrollable_content_region.width
        for message in pane.messages:  # every message as drawn, not only those on screen
            shown.append("\n".join(check_strips(pane.message_lines(message.id), pane_width, f"message {message.id}")))
            assert not corpus.unsafe(pane.content_of(message.id).plain)
        plain = "\n".join(pane.content_of(message.id).plain for message in pane.messages)
        for key, literal in corpus.LITERAL_MARKUP.items():
            assert literal in plain, f"{key}: {literal!r} not shown literally"
        assert "[message could not be displayed]" not in plain
        title = check_widget(screen.query_one("#chat-title", Label))[0]
        assert "[@click=app.quit]quit![/]" in title or size[0] < 100  # narrow: may be cut
        check_widget(pane)
        check_screen(app)

        # --- a 1:1 chat per big string: the title and the one bounded message ----------------
        for key in corpus.ALL:
            if key not in corpus.BIG and key not in ("markup-unclosed", "lone-surrogates"):
                continue
            jid = _jid(list(corpus.ALL).index(key))
            screen.post_message(OpenChat("default", jid))
            await wait_for(pilot, lambda jid=jid: [m.chat_jid for m in pane.messages] == [jid], tries=400)
            await pilot.pause()
            for message in pane.messages:
                check_strips(pane.message_lines(message.id), pane.scrollable_content_region.width, message.id)
            check_widget(screen.query_one("#chat-title", Label))
            check_screen(app)

        # --- the palette: chat names are looked up and listed, never read as markup ----------
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(Input).value = "[@click"  # names are looked up by prefix
        commands = app.screen.query_one(CommandList)

        def listed() -> list[str]:
            return [
                getattr(commands.get_option_at_index(i).prompt, "plain", "")
                for i in range(commands.option_count)
            ]

        await wait_for(pilot, lambda: any("[@click=app.quit]quit![/]" in p for p in listed()), tries=300)
        for prompt in listed():
            assert not corpus.unsafe(prompt)
        check_screen(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))

        # --- the sidebar and status panel: a hostile label and a hostile push name -----------
        label = corpus.HOSTILE["rich-markup"] + corpus.HOSTILE["csi-clear"] + "\u202e" + "🇺🇸" * 20
        await runtime.manager.add_session("evil", label, start=False)
        push_name = corpus.HOSTILE["markup-link"] + corpus.HOSTILE["osc52-clipboard"] + corpus.HOSTILE["zalgo"]
        session.queue.put_nowait(ev.PairSuccess(jid="15550100:1@s.whatsapp.net", push_name=push_name))
        await session.drain()
        panel = screen.query_one(StatusPanel)
        bar = screen.query_one(SessionSidebar)
        await wait_for(pilot, lambda: panel.status is not None and panel.status.push_name == push_name)
        await wait_for(pilot, lambda: "evil" in bar.session_ids)
        await pilot.pause()
        check_widget(panel)
        assert dict(panel.fields())["Push name"].startswith("[link=https://evil.example]click[/link]")
        sidebar_text = check_widget(bar)
        if size[0] >= 100:  # wide: the label is shown (cut to the sidebar), brackets intact
            assert any("[bold red]not" in line for line in sidebar_text)
        check_screen(app)

        # --- an error toast quoting a stranger: plain text, not markup ----------------------
        reason = "not a member of the group " + corpus.HOSTILE["markup-close-only"] + corpus.HOSTILE["csi-clear"]

        async def fails() -> None:
            raise WatuiError(reason)

        app._guarded(fails())
        await wait_for(pilot, lambda: any("[/] [/] [/link]" in t.render().plain for t in app.screen.query(Toast)))
        for toast in app.screen.query(Toast):
            assert not corpus.unsafe(toast.render().plain)
        check_screen(app)

        # --- notifications: only our own framing is an escape sequence -----------------------
        await wait_for(pilot, lambda: written, tries=300)
        for data in written:
            match = _OSC777.match(data)
            assert match is not None, repr(data)
            for part in match.groups():
                assert not corpus.unsafe(part), repr(part)
