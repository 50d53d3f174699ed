"""Nasty strings: what a stranger can put in a message, a push name, a group subject or a
file name. Every display path of watui must show these as plain text: no markup read, no
terminal control sequence emitted, no row wider than its widget, no crash.

``HOSTILE`` maps a short name (used as test id) to the string. ``BIG`` holds the large ones,
kept apart so a test can choose whether to pay for them.
"""

from __future__ import annotations

import re

ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"

HOSTILE: dict[str, str] = {
    # --- terminal control sequences ---------------------------------------------------------
    "csi-colour": f"{ESC}[31mred{ESC}[0m text",
    "csi-clear": f"{ESC}[2J{ESC}[H{ESC}[3Jscreen wiped",
    "csi-cursor": f"{ESC}[999;999H{ESC}[6n{ESC}[?1049l{ESC}[?25l",
    "osc52-clipboard": f"{ESC}]52;c;ZWNobyBwd25lZA=={BEL}copied",
    "osc8-link": f"{ESC}]8;;https://evil.example/{ST}click me{ESC}]8;;{ST}",
    "osc-title": f"{ESC}]0;owned title{BEL}{ESC}]2;again{ST}",
    "dcs": f"{ESC}P1$r0m{ST}{ESC}Ptmux;{ESC}{ESC}]52;c;eA=={BEL}{ST}",
    "c1-csi": "\x9b31mred\x9b0m \x9d0;title\x9c \x90dcs\x9c \x85nel",
    "bell-backspace-cr": f"ding{BEL}{BEL} abc\x08\x08\x08XYZ spoof\rOVERWRITE",
    "nul-and-c0": "a\x00b\x01c\x02d\x0be\x0cf\x7fg\x1ch",
    "tabs-newlines": "col1\tcol2\t\tcol3\nline2\r\nline3\n\n\nline6",
    "lone-surrogates": "half \ud83d pair \ude00 and \udfff end",
    # --- markup-like text -------------------------------------------------------------------
    "rich-markup": "[bold red]not bold[/] [/bold] [i]x[/i] [reverse]r[/reverse]",
    "markup-close-only": "[/] [/] [/link] text",
    "markup-link": "[link=https://evil.example]click[/link] [link='x']y[/]",
    "markup-click": "[@click=app.quit]quit![/] [@click=screen.dismiss]x[/] [@click=app.bell]",
    "markup-unclosed": "[bold", 
    "markup-variables": "$accent $text-muted $variable ${x} [$accent]dollar[/] $",
    "markup-escapes": "\\[bold]x\\[/] \\\\[i]y[/i] \\",
    "markup-nested": "[" * 50 + "x" + "]" * 50,
    "rich-emoji-codes": ":smile: :red_heart: :thumbs_up:",
    "style-like": "[on red][blink]blink[/blink][/on red] [#ff0000]hex[/]",
    # --- bidirectional text -----------------------------------------------------------------
    "bidi-override": "invoice \u202egpj.exe\u202c done",
    "bidi-isolates": "\u2066left\u2069 \u2067right\u2069 \u2068first\u2069 \u200f\u200e",
    "bidi-embedding": "\u202aLRE\u202bRLE\u202dLRO\u202c end",
    "rtl-text": "مرحبا بالعالم שלום עולם",
    # --- zero width and combining -----------------------------------------------------------
    "zero-width": "a\u200bb\u200cc\u200dd\u2060e\ufeff f\u00ad",
    "zalgo": "Z" + "\u0336\u0337\u0338\u0301\u0302\u0303\u0304" * 30 + "algo",
    "combining-only": "\u0301\u0302\u0303\u0304\u0305",
    "line-separators": "para\u2028line\u2029para \u0085",
    "hangul-filler": "\u3164\u115f\u1160 filler",
    # --- emoji ------------------------------------------------------------------------------
    "emoji-zwj-family": "👨\u200d👩\u200d👧\u200d👦 family 👩🏽\u200d💻",
    "emoji-flags": "🇺🇸🇫🇷🇯🇵 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "emoji-skin-tones": "👍🏻👍🏼👍🏽👍🏾👍🏿",
    "emoji-vs16": "❤️ ☀️ ✌️ 1️⃣ #️⃣ ☺︎",
    "wide-cjk": "漢字かなカナ한국어" * 5,
    "fullwidth": "ＷＩＤＥ　ｔｅｘｔ",
    # --- shapes -----------------------------------------------------------------------------
    "empty": "",
    "spaces": "     ",
    "only-newlines": "\n\n\n",
    "long-line": "lorem ipsum dolor sit amet " * 400,
    "long-word": "W" * 5_000,
}

BIG: dict[str, str] = {
    "word-100k": "x" * 100_000,
    "mixed-100k": ("[b]" + ESC + "[31m漢👍\u202e" + "\u0301") * 12_500,
    "megabyte": ("All work and no play. " + ESC + "[2J\n") * 40_000,  # ~1 MB
}

ALL: dict[str, str] = {**HOSTILE, **BIG}

#: Bytes that must never reach a terminal from stranger text: ESC, C1 controls, BEL, and
#: the other C0 controls except newline (tab is expanded or kept only where a widget says).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: Bidi controls a line must not carry raw (they reorder what the user reads).
BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

#: Markup-like snippets that must show up literally (their brackets intact) when shown.
LITERAL_MARKUP = {
    "rich-markup": "[bold red]not bold[/]",
    "markup-link": "[link=https://evil.example]click[/link]",
    "markup-click": "[@click=app.quit]quit![/]",
    "markup-variables": "$accent $text-muted",
    "style-like": "[on red][blink]blink",
}


def unsafe(text: str) -> list[str]:
    """The control and bidi characters in ``text`` (empty when it is safe to show)."""
    return CONTROL.findall(text) + BIDI.findall(text)


def fileish(text: str) -> str:
    """A corpus string as a plausible file name (still hostile)."""
    return (text[:200] or "unnamed") + ".pdf"
