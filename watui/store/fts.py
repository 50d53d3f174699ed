"""Full-text search: user text -> a safe FTS5 MATCH expression, and the SQL that pages hits.

Input is treated as plain terms: every whitespace-separated chunk becomes a quoted FTS5 string
(embedded quotes doubled), so operators, parentheses, colons, stars and stray quotes are just
text and can never raise a syntax error. Chunks without a letter or digit are dropped (they
would tokenize to nothing and make the whole AND fail). The last term is a prefix match, so
results appear while the user is still typing.

Results come newest first by default (as every messenger shows them), or best match first
(bm25). Newest first has two plans, both exact, picked per query by a cheap count of hits:

* SORT: every hit joined to its row and sorted by time. Its cost grows with the hits (each
  is a random row read): 4 ms for 2,000 hits in 1,000,000 messages, 35-40 ms for 21,000.
* WALK: each session's messages read newest first through idx_messages_session_time
  (migration 9), each entry tested against the hits by rowid, stopping once the page is
  full. Its cost grows with how far back the page reaches, i.e. with messages / hits: 5 ms
  for a word in 2% of messages, 18 ms for one in 0.2%, and a scan of every selected session
  for a word almost nobody used.

Only the page's rows get a snippet, a bm25 and a chat name (computed for every hit, they were
most of the cost of a common word).
"""

from __future__ import annotations

import re

_WORDISH = re.compile(r"[^\W_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a NUL would end the FTS5 string early

NEWEST = "newest"
RELEVANCE = "relevance"
ORDERS = (NEWEST, RELEVANCE)

# The one total order of newest-first results, and of their keyset cursor (a page continues
# strictly after the last hit's key). session_id sits second so that within each session the
# index gives the rest of the order, which lets SQLite stop each session's walk early.
NEWEST_ORDER = "m.timestamp DESC, m.session_id DESC, m.id DESC, m.chat_jid DESC"
_AFTER_CURSOR = " AND (m.timestamp, m.session_id, m.id, m.chat_jid) < (?, ?, ?, ?)"

# Counting hits stops here: past it the walk is the cheaper plan in any store we expect.
PROBE_CAP = 20_000
# (messages in the store, hits up to PROBE_CAP) for the plan choice, in one round trip.
PROBE_SQL = (
    "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM messages), "
    "(SELECT COUNT(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?))"
)
# Measured on the 1,000,000-message bench store: sorting costs ~2 us per hit, the walk
# ~0.7 us per message it passes (about messages * page / hits of them).
_SORT_COST_PER_HIT = 3
_WALK_COST_PER_STEP = 1


def fts_query(text: str) -> str | None:
    """The MATCH expression for ``text``, or None when it holds no searchable term."""
    chunks = [chunk for chunk in _CONTROL.sub(" ", text).split() if _WORDISH.search(chunk)]
    if not chunks:
        return None
    terms = ['"' + chunk.replace('"', '""') + '"' for chunk in chunks]
    terms[-1] += "*"
    return " ".join(terms)


def check_order(order: object) -> str:
    if order not in ORDERS:
        raise ValueError(f"order: expected 'newest' or 'relevance', got {order!r}")
    return order  # type: ignore[return-value]


def walk_is_cheaper(hits: int, messages: int, limit: int) -> bool:
    """Whether walking the time index beats sorting ``hits`` for a page of ``limit``, with
    ``messages`` in the store (all sessions: a bound for the selected ones)."""
    if hits <= limit:
        return False
    return _SORT_COST_PER_HIT * hits * hits >= _WALK_COST_PER_STEP * messages * limit


def search_sql(order: str, *, walk: bool, sessions: int, cursor: bool, columns: str) -> str:
    """One statement for a page of hits. Parameters, in order: the MATCH expression, the
    session ids, the cursor (timestamp ms, session_id, id, chat_jid) when ``cursor`` (newest
    first only: relevance is not paged), the limit, the MATCH expression again. Columns:
    ``columns`` (messages as ``m``), snippet, bm25, chat name."""
    sids = ", ".join("?" * sessions)
    after = _AFTER_CURSOR if cursor else ""
    if order == RELEVANCE:
        page = f"""SELECT m.rowid AS r, bm25(messages_fts) AS k
            FROM messages_fts CROSS JOIN messages m ON m.rowid = messages_fts.rowid
            WHERE messages_fts MATCH ? AND m.session_id IN ({sids}) AND m.deleted = 0
            ORDER BY bm25(messages_fts), {NEWEST_ORDER} LIMIT ?"""
        outer = f"page.k, {NEWEST_ORDER}"
    elif walk:
        # "+" keeps the rowid test off the rowid lookup: the index drives, the hits filter
        page = f"""SELECT m.rowid AS r, 0 AS k
            FROM messages m INDEXED BY idx_messages_session_time
            WHERE +m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)
              AND m.session_id IN ({sids}) AND m.deleted = 0{after}
            ORDER BY {NEWEST_ORDER} LIMIT ?"""
        outer = NEWEST_ORDER
    else:
        page = f"""SELECT m.rowid AS r, 0 AS k
            FROM messages_fts CROSS JOIN messages m ON m.rowid = messages_fts.rowid
            WHERE messages_fts MATCH ? AND m.session_id IN ({sids}) AND m.deleted = 0{after}
            ORDER BY {NEWEST_ORDER} LIMIT ?"""
        outer = NEWEST_ORDER
    # (SORT and RELEVANCE: CROSS JOIN keeps the hits driving. Given one session, SQLite
    # would rather walk that session's index and ask FTS5 about every message: seconds.)
    # The page is found first; then one pass over the hits (cheap: rowids only) picks out
    # the page's rows for their snippets. CROSS JOIN fixes that order: FTS5 finding a single
    # rowid under a MATCH costs ~0.6 ms for a common word, per row.
    return f"""SELECT {columns}, snippet(messages_fts, 0, '«', '»', '…', 12), bm25(messages_fts),
               COALESCE(c.name, '')
        FROM messages_fts
        CROSS JOIN ({page}) AS page ON page.r = messages_fts.rowid
        CROSS JOIN messages m ON m.rowid = page.r
        LEFT JOIN chats c ON c.session_id = m.session_id AND c.jid = m.chat_jid
        WHERE messages_fts MATCH ?
        ORDER BY {outer}"""


__all__ = [
    "NEWEST",
    "ORDERS",
    "PROBE_CAP",
    "PROBE_SQL",
    "RELEVANCE",
    "check_order",
    "fts_query",
    "search_sql",
    "walk_is_cheaper",
]
