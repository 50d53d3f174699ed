"""Text written by strangers (messages, push names, group subjects, file names) is shown
exactly as text: no terminal control sequences may reach the user's terminal through it."""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates that can make a line read differently from what it contains.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def printable(text: str, *, single_line: bool = False) -> str:
    """Replace control characters with visible escapes: ESC shows as the four characters
    \\x1b, a right-to-left override as \\u202e. Lone surrogates become U+FFFD; U+2028 and
    U+2029 become newlines. ``single_line``: newlines and tabs become spaces."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    text = _UNSAFE.sub(_escape, text)
    # the Unicode line and paragraph separators break lines as newline does (str.splitlines,
    # some terminals): they count as one, never as an invisible character inside a row
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    if single_line:
        text = text.replace("\n", " ").replace("\t", " ")
    return text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
