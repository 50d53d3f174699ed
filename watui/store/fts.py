"""User text -> a safe FTS5 MATCH expression.

Input is treated as plain terms: every whitespace-separated chunk becomes a quoted FTS5 string
(embedded quotes doubled), so operators, parentheses, colons, stars and stray quotes are just
text and can never raise a syntax error. Chunks without a letter or digit are dropped (they
would tokenize to nothing and make the whole AND fail). The last term is a prefix match, so
results appear while the user is still typing.
"""

from __future__ import annotations

import re

_WORDISH = re.compile(r"[^\W_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a NUL would end the FTS5 string early


def fts_query(text: str) -> str | None:
    """The MATCH expression for ``text``, or None when it holds no searchable term."""
    chunks = [chunk for chunk in _CONTROL.sub(" ", text).split() if _WORDISH.search(chunk)]
    if not chunks:
        return None
    terms = ['"' + chunk.replace('"', '""') + '"' for chunk in chunks]
    terms[-1] += "*"
    return " ".join(terms)


__all__ = ["fts_query"]
