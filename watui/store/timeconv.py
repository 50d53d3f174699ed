"""Legacy timestamp text -> integer unix milliseconds UTC.

The seed (Go, mattn/go-sqlite3) stored ``time.Time`` in TIMESTAMP columns as text in the form
``2006-01-02 15:04:05.999999999-07:00``; ``CURRENT_TIMESTAMP`` defaults wrote
``2006-01-02 15:04:05`` (UTC); other writers left RFC 3339 (``T``/``Z``) or plain integers.
Everything becomes integer milliseconds since the epoch, UTC; sub-millisecond digits are
truncated. Nothing here raises: a value that cannot be read becomes the fallback, so that a
row is never lost over its timestamp.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

_TS_RE = re.compile(
    r"""^\s*
    (?P<y>-?\d{4,})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})
    (?:[Tt\s]+
        (?P<h>\d{1,2}):(?P<mi>\d{2})
        (?::(?P<s>\d{2})(?:[.,](?P<frac>\d+))?)?
    )?
    \s*
    (?P<tz>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?(?::?\d{2})?)?
    """,
    re.VERBOSE,
)


def _parse_text(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return _from_number(int(text))
    if re.fullmatch(r"[+-]?\d+\.\d*", text):
        return _from_number(float(text))
    m = _TS_RE.match(text)
    if m is None:
        return None
    try:
        base = datetime(
            int(m["y"]),
            int(m["mo"]),
            int(m["d"]),
            int(m["h"] or 0),
            int(m["mi"] or 0),
            int(m["s"] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    ms = (base - _EPOCH) // _MS
    frac = m["frac"]
    if frac:
        ms += int((frac + "00")[:3])
    tz = m["tz"]
    if tz and tz[0] in "+-":
        digits = tz[1:].replace(":", "")
        hours = int(digits[0:2])
        minutes = int(digits[2:4] or 0)
        seconds = int(digits[4:6] or 0)
        offset_ms = ((hours * 60 + minutes) * 60 + seconds) * 1000
        # local time = UTC + offset  ->  UTC = local - offset
        ms -= offset_ms if tz[0] == "+" else -offset_ms
    return ms


def _from_number(value: float) -> int:
    """Integers are taken as seconds, milliseconds, microseconds or nanoseconds by size."""
    magnitude = abs(value)
    if magnitude < 100_000_000_000:  # < 1e11: seconds (covers year 1973..5138)
        return int(value * 1000)
    if magnitude < 100_000_000_000_000:  # milliseconds
        return int(value)
    if magnitude < 100_000_000_000_000_000:  # microseconds
        return int(value // 1000)
    return int(value // 1_000_000)  # nanoseconds


def legacy_to_millis(value: object, fallback: int | None = 0) -> int | None:
    """Convert one legacy TIMESTAMP cell; ``fallback`` when it is NULL or unreadable."""
    if value is None:
        return fallback
    if isinstance(value, bool):
        return fallback
    if isinstance(value, int | float):
        return _from_number(value)
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return fallback
    if isinstance(value, str):
        parsed = _parse_text(value)
        return fallback if parsed is None else parsed
    return fallback


__all__ = ["legacy_to_millis"]
