from textual._xterm_parser import XTermParser

from watui.ui.keys import decode_alt_digits


def key_for(data: str) -> list[str]:
    """What the real parser makes of bytes a terminal sent (flushed as at the end of input)."""
    parser = XTermParser()
    events = [*parser.feed(data), *parser.feed("")]
    return [event.key for event in events if hasattr(event, "key")]


def test_escape_digit_is_alt_digit_as_xterm_and_tmux_send_it():
    decode_alt_digits()
    for digit in "123456789":
        assert key_for(f"\x1b{digit}") == [f"alt+{digit}"]
    assert key_for("\x1bn") == ["alt+n"]  # a neighbour that always worked still does
