"""The pure display helpers over the whole nasty-string corpus: printable, the format
functions every widget uses, one message as Content, and the notification escape sequence
(the one place watui writes escape sequences on purpose, with a stranger's text inside)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from rich.cells import cell_len

from watui.config import NotificationsConfig
from watui.domain.models import Chat, MediaType, Message, MessageStatus
from watui.domain.text import printable
from watui.ui.format import (
    MAX_MESSAGE_CHARS,
    chat_preview,
    chat_title,
    clean_line,
    clean_text,
    media_label,
    name_for,
    truncate_cells,
)
from watui.ui.notify import Notifier
from watui.ui.widgets.message_pane import build_message_content

from tests import corpus

T = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
IDS = list(corpus.ALL)


@pytest.fixture(params=IDS)
def nasty(request) -> str:
    return corpus.ALL[request.param]


def test_printable_leaves_nothing_unsafe_and_keeps_safe_text(nasty):
    for single_line in (False, True):
        shown = printable(nasty, single_line=single_line)
        assert not corpus.unsafe(shown)
        assert not re.search("[\ud800-\udfff\u2028\u2029]", shown)
        if single_line:
            assert "\n" not in shown and "\t" not in shown
    assert printable("plain [b] text 👍 漢字\nline") == "plain [b] text 👍 漢字\nline"


def test_line_helpers_are_one_safe_bounded_line(nasty):
    line = clean_line(nasty, 64)
    assert not corpus.unsafe(line) and "\n" not in line and len(line) <= 64
    for width in (1, 5, 20, 77):
        cut = truncate_cells(line, width)
        assert cell_len(cut) <= width
    chat = Chat(nasty[:5000] and "1@g.us", nasty, T, is_group=True, last_message_preview=nasty,
                last_message_sender="15551234567@s.whatsapp.net")
    for text in (chat_title(chat), chat_preview(chat, {"15551234567@s.whatsapp.net": nasty}),
                 name_for("15551234567@s.whatsapp.net", {}, nasty)):
        assert not corpus.unsafe(text) and "\n" not in text


def test_message_content_is_bounded_and_safe(nasty):
    text = clean_text(nasty)
    assert not corpus.unsafe(text.replace("\n", ""))
    # at most MAX_MESSAGE_CHARS characters of the message, each shown as at most 6 ('\u202e')
    assert len(text) <= 6 * MAX_MESSAGE_CHARS + 40
    message = Message(
        id="M1", chat_jid="1@g.us", sender="15551234567@s.whatsapp.net", timestamp=T,
        content=nasty, push_name=nasty, media_type=MediaType.DOCUMENT, filename=corpus.fileish(nasty),
        quoted_message_id="Q", quoted_sender="15551234567@s.whatsapp.net", quoted_preview=nasty,
        is_from_me=False, error=nasty,
    )
    assert not corpus.unsafe(media_label(message))
    content = build_message_content(message, names={}, is_group=True)
    assert not corpus.unsafe(content.plain)
    failed = build_message_content(
        Message(id="M2", chat_jid="1@g.us", sender="me", timestamp=T, content=nasty,
                is_from_me=True, status=MessageStatus.FAILED, error=nasty)
    )
    assert not corpus.unsafe(failed.plain)
    assert len(content.plain) < 7 * MAX_MESSAGE_CHARS


def test_markup_is_kept_literally():
    for key, literal in corpus.LITERAL_MARKUP.items():
        message = Message(id="M", chat_jid="1@s.whatsapp.net", sender="1@s.whatsapp.net",
                          timestamp=T, content=corpus.HOSTILE[key])
        assert literal in build_message_content(message).plain, key


_OSC = {
    "osc9": re.compile(r"^\x07?\x1b\]9;([^\x07\x1b]*)\x07$"),
    "osc777": re.compile(r"^\x07?\x1b\]777;notify;([^;\x07\x1b]*);([^;\x07\x1b]*)\x07$"),
}


@pytest.mark.parametrize("desktop", ["osc9", "osc777"])
@pytest.mark.parametrize("tmux", [False, True], ids=["plain", "tmux"])
def test_notification_payload_cannot_escape_its_sequence(nasty, desktop, tmux):
    written: list[str] = []
    notifier = Notifier(
        NotificationsConfig(bell=True, desktop=desktop, show_preview=True),
        written.append,
        env={"TMUX": "1"} if tmux else {},
        min_interval=0.0,
    )
    assert notifier.notify(nasty or "s", chat=nasty, text=nasty)
    (data,) = written
    if tmux:  # ESC Ptmux; <sequence with ESC doubled> ESC \
        assert data.startswith("\x07\x1bPtmux;") and data.endswith("\x1b\\")
        data = "\x07" + data[len("\x07\x1bPtmux;") : -2].replace("\x1b\x1b", "\x1b")
    match = _OSC[desktop].match(data)
    assert match is not None, repr(data)
    for part in match.groups():
        assert not corpus.unsafe(part) and len(part) <= 260
