"""Display formatting shared by the widgets: times, day separators, sizes, names, status ticks.

Pure functions, no Textual. Domain datetimes are UTC; everything here is shown in the local
timezone unless ``tz`` is given (tests pass ``tz`` and ``now`` for determinism). Every string
that came from another person goes through :func:`watui.domain.text.printable` here or in the
caller before it reaches a widget, and widgets treat the result as plain text, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo

from rich.cells import cell_len, chop_cells

from watui.domain.jid import display_for_jid
from watui.domain.models import EPOCH, Chat, MediaType, Message, MessageStatus
from watui.domain.text import printable

ELLIPSIS = "…"

#: The most characters of one message the message pane renders; the rest is summarised.
MAX_MESSAGE_CHARS = 4000
#: The most lines of one message the message pane renders.
MAX_MESSAGE_LINES = 60


def _local(dt: datetime, tz: tzinfo | None) -> datetime:
    if dt.tzinfo is None:  # tolerate naive input: domain times are UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz)  # tz=None: the system's local timezone


def _now(now: datetime | None, tz: tzinfo | None) -> datetime:
    return _local(now if now is not None else datetime.now(UTC), tz)


def format_time(dt: datetime | None, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """Chat list time: 'HH:MM' today, a weekday ('Mon') within the last 7 days, else 'YYYY-MM-DD'.
    Empty for no time (None or the epoch, which the store uses for "never")."""
    if dt is None or (dt.tzinfo is not None and dt <= EPOCH):
        return ""
    try:
        local = _local(dt, tz)
        today = _now(now, tz).date()
    except (OverflowError, ValueError, OSError):
        return ""
    days = (today - local.date()).days
    if days == 0:
        return local.strftime("%H:%M")
    if 0 < days < 7:
        return local.strftime("%a")
    return local.strftime("%Y-%m-%d")


def format_clock(dt: datetime | None, tz: tzinfo | None = None) -> str:
    """'HH:MM' in local time (message rows: the day is on the separator)."""
    if dt is None:
        return ""
    try:
        return _local(dt, tz).strftime("%H:%M")
    except (OverflowError, ValueError, OSError):
        return ""


def local_date(dt: datetime, tz: tzinfo | None = None):
    """The local calendar date of ``dt`` (what day separators group by)."""
    try:
        return _local(dt, tz).date()
    except (OverflowError, ValueError, OSError):
        return None


def day_label(dt: datetime, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """Day separator text: 'Today', 'Yesterday', a weekday within the week, else the date."""
    try:
        local = _local(dt, tz)
        today = _now(now, tz).date()
    except (OverflowError, ValueError, OSError):
        return "Unknown date"
    days = (today - local.date()).days
    if days == 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if 1 < days < 7:
        return local.strftime("%A")
    return local.strftime("%a %Y-%m-%d")


def human_size(n: int | None) -> str:
    """Bytes in binary units: '512 B', '1.2 KB', '34 MB' (one decimal below 10)."""
    if not n or n < 0:
        return "0 B"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    if value < 10:
        text = f"{value:.1f}"
        if text == "10.0":
            return f"10 {unit}"
        return f"{text} {unit}"
    return f"{value:.0f} {unit}"


_GLYPHS = {
    MessageStatus.PENDING: "◷",
    MessageStatus.SENT: "✓",
    MessageStatus.DELIVERED: "✓✓",
    MessageStatus.READ: "✓✓",
    MessageStatus.PLAYED: "✓✓",
    MessageStatus.FAILED: "✗",
}


def status_glyph(status: MessageStatus | int) -> str:
    """Outgoing status ticks; '' for received messages. READ/PLAYED share '✓✓' and are told
    apart from DELIVERED by colour (see :func:`status_is_read`)."""
    try:
        return _GLYPHS.get(MessageStatus(status), "")
    except ValueError:
        return ""


def status_is_read(status: MessageStatus | int) -> bool:
    return status in (MessageStatus.READ, MessageStatus.PLAYED)


_MEDIA_NAMES = {
    MediaType.IMAGE: "image",
    MediaType.VIDEO: "video",
    MediaType.AUDIO: "audio",
    MediaType.VOICE: "voice message",
    MediaType.DOCUMENT: "document",
    MediaType.STICKER: "sticker",
    MediaType.OTHER: "file",
}


def media_label(message: Message) -> str:
    """'[image: photo.jpg · 1.2 MB]' for a media message, '' otherwise. Without a caption."""
    kind = message.media_type
    if not kind:
        return ""
    try:
        name = _MEDIA_NAMES.get(MediaType(kind), "file")
    except ValueError:
        name = clean_line(str(kind), 20) or "file"
    label = name
    filename = clean_line(message.filename, 48)
    if filename:
        label += f": {filename}"
    if message.file_length > 0:
        label += f" · {human_size(message.file_length)}"
    return f"[{label}]"


# --- names and text --------------------------------------------------------------------


# U+FE0F asks for the wide emoji form of a narrow symbol (❤️, ☀️). Terminals disagree on
# its width while Rich counts it as zero, so rows with it overrun their borders by a cell;
# without it the symbol shows in its text form and every row keeps its width.
EMOJI_PRESENTATION = "\ufe0f"


def clean_line(text: str | None, max_chars: int | None = None) -> str:
    """One line of untrusted text, safe to show: controls escaped, newlines and tabs as spaces,
    optionally cut to ``max_chars`` characters with '…'."""
    if not text:
        return ""
    if max_chars is not None and len(text) > max_chars * 4:
        text = text[: max_chars * 4]  # don't scan megabytes for one line
    line = printable(text, single_line=True).replace(EMOJI_PRESENTATION, "")
    if max_chars is not None and len(line) > max_chars:
        line = line[: max(max_chars - 1, 0)] + ELLIPSIS
    return line


def clean_text(
    text: str | None, max_chars: int = MAX_MESSAGE_CHARS, max_lines: int = MAX_MESSAGE_LINES
) -> str:
    """Multi-line untrusted text, safe to show and bounded: at most ``max_chars`` characters
    and ``max_lines`` lines, then '… (N more characters)'."""
    if not text:
        return ""
    total = len(text)
    head = text[:max_chars]
    lines = head.split("\n")
    if len(lines) > max_lines:
        head = "\n".join(lines[:max_lines])
    shown = printable(head).replace("\t", "    ").replace(EMOJI_PRESENTATION, "")
    rest = total - len(head)
    if rest > 0:
        shown += f"{ELLIPSIS} ({rest:,} more characters)"
    return shown


def truncate_cells(text: str, width: int) -> str:
    """Cut ``text`` to at most ``width`` terminal cells, ending with '…' when cut."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    # chop_cells never splits a wide character, so the head may be one cell short
    return chop_cells(text, width - 1)[0] + ELLIPSIS


def name_for(jid: str, names: Mapping[str, str] | None = None, fallback: str = "") -> str:
    """A safe one-line display name for a jid: the known name, else ``fallback`` (a push name),
    else the formatted number."""
    name = ""
    if names and jid:
        name = names.get(jid, "")
        if not name and ":" in jid:  # device form user:device@server
            user, _, server = jid.partition("@")
            name = names.get(f"{user.split(':', 1)[0]}@{server}", "")
    name = name or fallback or display_for_jid(jid or "")
    return clean_line(name, 64)


def chat_title(chat: Chat) -> str:
    """The chat's name, else its formatted number; one safe line."""
    return clean_line(chat.name or display_for_jid(chat.jid), 200)


def chat_preview(chat: Chat, names: Mapping[str, str] | None = None) -> str:
    """Line 2 of a chat list row: 'You: …' for own, 'Name: …' in groups."""
    text = clean_line(chat.last_message_preview, 300)
    if chat.last_message_is_from_me:
        return f"You: {text}" if text else "You"
    if chat.is_group and chat.last_message_sender:
        sender = name_for(chat.last_message_sender, names)
        return f"{sender}: {text}" if text else sender
    return text


__all__ = [
    "ELLIPSIS",
    "MAX_MESSAGE_CHARS",
    "MAX_MESSAGE_LINES",
    "chat_preview",
    "chat_title",
    "clean_line",
    "clean_text",
    "day_label",
    "format_clock",
    "format_time",
    "human_size",
    "local_date",
    "media_label",
    "name_for",
    "status_glyph",
    "status_is_read",
    "truncate_cells",
]
