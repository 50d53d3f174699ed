"""Queries on the big store, through the repository (aiosqlite, rows turned into domain
objects: what the UI waits for), beside the same questions asked of the seed's layout.

* chat list page: top 50 chats of a session by last activity, with unread counts and the
  preview line (watui: denormalised columns; seed: its GetChats plus the newest message of
  each chat as a correlated subquery -- the seed keeps no unread count at all);
* message page: the newest 50 messages of the 100,000-message chat, then the next older
  page (keyset paging; the seed pages with ``timestamp < ?`` too);
* search: full text across all sessions, newest first (watui: FTS5, the store picks sorting
  the hits or walking its time index; seed: its ``LOWER(content) LIKE '%term%'`` without the
  chat filter, newest first); and best match first (bm25, the ``--rank`` option);
* palette lookup: chats whose name starts with a prefix (seed: ``name LIKE '%x%'``).

The seed copy of the store is built once from the watui store (same rows, text times,
device_id keys) and cached beside it.

    .venv/bin/python bench/queries.py --scale 0.1
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosqlite

from bench.common import Row, common_args, median, ms, percentile, print_table, save
from bench.dataset import SEARCH_TERMS, ensure_store, session_ids
from bench.seed import SEED_CHAT_PAGE, SEED_LOOKUP, SEED_MESSAGES, SEED_SEARCH, ensure_seed_copy
from watui.domain.models import ChatFilter, MessageFilter, PageCursor
from watui.store import ChatStorageRepository
from watui.store.fts import fts_query

PREFIXES = ("Ma", "ro", "Fam", "j", "Tara", "44")
CHAT_LIST_P50_MS = 2.0
MESSAGE_PAGE_P50_MS = 2.0
SEARCH_P50_MS = 30.0


async def timed(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append(ms(time.perf_counter() - started))
    return out


async def measure(scale: float, runs: int, seed_runs: int) -> list[Row]:
    path, meta = ensure_store(scale)
    seed_path = ensure_seed_copy(scale, path)
    huge_sid, huge_jid = meta["huge_chat"]
    sids = session_ids()
    repo = await ChatStorageRepository.open(path)
    seed = await aiosqlite.connect(f"file:{seed_path}?mode=ro", uri=True)
    devices = {r[0]: r[1] for r in await repo._r.execute_fetchall("SELECT session_id, device_jid FROM sessions")}
    rng = random.Random(7)
    hits: dict[str, int] = {}
    matches: dict[str, int] = {}
    results: dict[str, list[float]] = {}
    n = max(50, runs * 40)

    def add(name: str, values: list[float]) -> None:
        results.setdefault(name, []).extend(values)

    try:
        # warm both (the OS cache holds both files; SQLite's page cache starts cold per run)
        await repo.get_chats(ChatFilter(session_id=sids[0], limit=50))
        for _ in range(runs):
            # chat list page, every session in turn
            for sid in sids:
                add("chat list", await timed(lambda sid=sid: repo.get_chats(ChatFilter(session_id=sid, limit=50)), n // 10))
                add("seed chat list", await timed(
                    lambda sid=sid: seed.execute_fetchall(SEED_CHAT_PAGE, (devices[sid],)), max(1, seed_runs // 10)))
            # message pages of the huge chat
            latest = await repo.get_messages(MessageFilter(session_id=huge_sid, chat_jid=huge_jid, limit=50))
            cursor = PageCursor(latest[-1].timestamp, latest[-1].id)
            add("message page", await timed(lambda: repo.get_messages(
                MessageFilter(session_id=huge_sid, chat_jid=huge_jid, limit=50)), n))
            add("older page", await timed(lambda: repo.get_messages(
                MessageFilter(session_id=huge_sid, chat_jid=huge_jid, limit=50, before=cursor)), n))
            seed_latest = await seed.execute_fetchall(SEED_MESSAGES.format(extra=""), (huge_jid, devices[huge_sid]))
            oldest_ts = seed_latest[-1][5]
            add("seed message page", await timed(lambda: seed.execute_fetchall(
                SEED_MESSAGES.format(extra=""), (huge_jid, devices[huge_sid])), seed_runs))
            add("seed older page", await timed(lambda: seed.execute_fetchall(
                SEED_MESSAGES.format(extra="AND timestamp < ?"), (huge_jid, devices[huge_sid], oldest_ts)), seed_runs))
            # search across all sessions: newest first (the default), and best match first
            for label, term in (*SEARCH_TERMS.items(), ("two words", f"{SEARCH_TERMS['common']} {SEARCH_TERMS['medium']}")):
                hits[label] = len(await repo.search(term, session_ids=sids, limit=50))
                matches[label] = (await repo._r.execute_fetchall(
                    "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?", (fts_query(term),)))[0][0]
                values = await timed(lambda term=term: repo.search(term, session_ids=sids, limit=50), max(5, n // 8))
                add("search", values)
                add(f"search: {label}", values)
                ranked = await timed(lambda term=term: repo.search(
                    term, session_ids=sids, limit=50, order="relevance"), max(5, n // 8))
                add("search ranked", ranked)
                add(f"search ranked: {label}", ranked)
                if label != "two words":
                    add("seed search", await timed(
                        lambda term=term: seed.execute_fetchall(SEED_SEARCH, (f"%{term.lower()}%",)), max(1, seed_runs // 10)))
            # palette lookup by name prefix
            for prefix in PREFIXES:
                sid = rng.choice(sids)
                add("lookup", await timed(lambda sid=sid, prefix=prefix: repo.lookup_chats(prefix, sid), n // 6))
                add("seed lookup", await timed(lambda sid=sid, prefix=prefix: seed.execute_fetchall(
                    SEED_LOOKUP, (f"%{prefix}%", devices[sid])), max(1, seed_runs // 6)))
    finally:
        await repo.close()
        await seed.close()

    if not all(hits.values()):
        raise RuntimeError(f"a search found nothing: {hits} (is the full-text index filled?)")

    def p(name: str, q: float) -> float:
        return percentile(results[name], q)

    def row(name: str, label: str, seed_name: str | None, target: float | None, note: str = "") -> list[Row]:
        p50, p99 = p(name, 50), p(name, 99)
        baseline = ""
        if seed_name:
            s50 = p(seed_name, 50)
            baseline = f"seed p50 {s50:,.1f} ms ({s50 / p50:,.0f}x slower)"
        target_text = f"<= {target:g} ms p50" if target else ""
        return [
            Row("queries", f"{label} p50", p50, "ms", target_text, None if target is None else p50 <= target,
                baseline, note, {"samples": len(results[name])}),
            Row("queries", f"{label} p99", p99, "ms", "", None,
                f"seed p99 {p(seed_name, 99):,.1f} ms" if seed_name else ""),
        ]

    rows: list[Row] = []
    rows += row("chat list", "chat list page (top 50)", "seed chat list", CHAT_LIST_P50_MS,
                "seed: no unread counts exist; preview via subquery")
    rows += row("message page", "latest 50 of the huge chat", "seed message page", MESSAGE_PAGE_P50_MS,
                f"{meta['largest_chats'][0]:,}-message chat")
    rows += row("older page", "next older 50", "seed older page", MESSAGE_PAGE_P50_MS)
    rows += row("search", "full-text search newest first, all sessions (4 kinds)", "seed search", SEARCH_P50_MS,
                f"{meta['messages']:,} messages; terms {', '.join(SEARCH_TERMS.values())} + a two-word query")
    for label in (*SEARCH_TERMS, "two words"):
        term = SEARCH_TERMS.get(label, f"{SEARCH_TERMS['common']} {SEARCH_TERMS['medium']}")
        value = p(f"search: {label}", 50)
        rows.append(Row("queries", f"  search, {label} term p50", value, "ms", f"<= {SEARCH_P50_MS:g} ms p50",
                        value <= SEARCH_P50_MS, note=f"'{term}': {matches[label]:,} matching messages; p99 {p(f'search: {label}', 99):,.1f} ms",
                        extra={"p99": p(f"search: {label}", 99)}))
    rows += row("search ranked", "full-text search best match first (--rank; 4 kinds)", None, None)
    for label in (*SEARCH_TERMS, "two words"):
        rows.append(Row("queries", f"  search ranked, {label} term p50", p(f"search ranked: {label}", 50), "ms",
                        note=f"p99 {p(f'search ranked: {label}', 99):,.1f} ms",
                        extra={"p99": p(f"search ranked: {label}", 99)}))
    rows += row("lookup", "palette lookup by prefix", "seed lookup", None)
    return rows


def run(scale: float, runs: int) -> list[Row]:
    return asyncio.run(measure(scale, runs, seed_runs=max(3, runs)))


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    rows = run(args.scale, args.runs)
    print_table(rows, "queries")
    save(rows, args.json, "queries")


if __name__ == "__main__":
    main()
