"""Refuse deeply nested JSON before parsing it.

json.loads meets "[[[[…" a hundred thousand levels deep with a RecursionError; catching it
is not enough on CPython 3.11, which leaves its recursion bookkeeping off afterwards (the
next ast.parse in the process fails with "AST constructor recursion depth mismatch"). Our
frames and requests are a few levels deep, so anything deeper than MAX_DEPTH is refused
without ever reaching the parser.
"""

from __future__ import annotations

MAX_DEPTH = 64
_OPENERS = frozenset(b"[{")


def too_deep(data: bytes | str, max_depth: int = MAX_DEPTH) -> bool:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the usual case, decided at C speed
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > max_depth:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
