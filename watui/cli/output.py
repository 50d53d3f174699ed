"""How commands answer: the seed's JSON envelope for machines, aligned text for people.
Everything printed passes through printable(): names and texts come from strangers."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from rich.cells import cell_len

from watui.domain.text import printable


def seed_response(message: str, results: object, *, status: int = 200, code: str = "SUCCESS") -> dict:
    return {"status": status, "code": code, "message": message, "results": results}


def print_json(data: object) -> None:
    # ensure_ascii keeps control characters escaped as \\u001b, never raw
    sys.stdout.write(json.dumps(data, ensure_ascii=True, indent=2, default=str) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns aligned by terminal cells, not characters: a name with CJK or emoji in it
    takes two cells per character and must not push its row out of line."""
    cells = [[printable(str(c), single_line=True) for c in row] for row in [headers, *rows]]
    widths = [max(cell_len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c + " " * (w - cell_len(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def print_fields(pairs: Sequence[tuple[str, object]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        sys.stdout.write(f"{key.ljust(width)}  {printable(str(value), single_line=True)}\n")


def say(text: str) -> None:
    sys.stdout.write(printable(text) + "\n")
