"""Terminal key decoding fixes, applied once before the app starts.

Textual 8.2.8 decodes ESC followed by a digit as the character macOS's Option key types on
a US/UK layout (ESC 3 -> '£'), to suit WezTerm on macOS. Every xterm-style terminal and
tmux send exactly those bytes for Alt+digit, so Alt+1..9 (select a session) would never
arrive. watui is keyboard-first and those keys are its session switcher: we drop the
mapping, and ESC+digit reaches the app as alt+digit. Typing '£' with Option+3 in WezTerm
is the price; set WezTerm's send_composed_key_when_left_alt_is_pressed to keep it.
"""

from __future__ import annotations

from textual import _ansi_sequences

_OPTION_DIGITS = [f"\x1b{digit}" for digit in "0123456789"]


def decode_alt_digits() -> None:
    for sequence in _OPTION_DIGITS:
        if isinstance(_ansi_sequences.ANSI_SEQUENCES_KEYS.get(sequence), str):
            del _ansi_sequences.ANSI_SEQUENCES_KEYS[sequence]
