"""Ingest: a history sync through the real handler path, beside two baselines.

* watui: HistorySyncBatch events go into a real :class:`~watui.sessions.session.Session`'s
  queue through its event sink (as an engine delivers them); its consumer applies them with
  ``on_history_sync`` -> ``repo.store_history(session, messages, chats, push_names)``. Timed
  from the first event to ``drain()``.
* raw: the same rows (chats, messages, the senders' push names), already as tuples,
  ``executemany``'d by plain sqlite3 into the same schema (indexes, foreign keys, and the
  full-text index filled for the new rows by one INSERT ... SELECT) in ONE transaction: the
  floor.
* seed: the seed system's layout (go-whatsapp-web-multidevice HEAD: device_id in composite
  primary keys, single-column indexes, no FTS) and its write pattern: per conversation,
  StoreChat (UPDATE, then INSERT when no row changed, autocommitted) and StoreMessagesBatch
  (one transaction, UPDATE-then-INSERT per row with prepared statements). Times are text as
  mattn/go-sqlite3 writes them. The conversion from domain objects is timed, as it is for
  watui.

Two scenarios: a fresh store, and the same account added to the big store (ten accounts, a
million messages: bench/dataset.py; the seed variant gets the same rows in its layout).
Every run uses fresh copies with the same pragmas (WAL, synchronous=NORMAL); the three
variants are interleaved run by run, and ratios are taken within a run.

    .venv/bin/python bench/ingest.py --scale 0.1 --runs 3
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, Row, common_args, median, print_table, save
from bench.seed import create_seed_store, ensure_seed_copy, seed_ingest
from bench.dataset import (
    CHAT_COLUMNS,
    CHATS_PER_SESSION,
    MESSAGE_COLUMNS,
    TOTAL_MESSAGES,
    SESSIONS,
    HistoryRows,
    chat_row,
    ensure_store,
    history_for_ingest,
)
from watui.engine.sim.testing import QuietClient
from watui.sessions.session import Session
from watui.store import ChatStorageRepository
from watui.store.migrations import upgrade_store

def raw_ingest(path: Path, hist: HistoryRows) -> float:
    """executemany of ready tuples into the watui schema, one transaction; seconds."""
    if not path.exists():
        upgrade_store(path, backup=False)
    chats = [chat_row(p, hist.rows[p.jid]) for p in hist.plans]
    messages = [r for p in hist.plans for r in hist.rows[p.jid]]
    # the senders' push names, which watui stores with the history too
    now = int(time.time() * 1000)
    contacts = [(hist.plans[0].session_id, jid, name, now)
                for jid, name in {jid: name for b in hist.batches for jid, name in b.push_names}.items()]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    before = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM messages").fetchone()[0]
    conn.executemany(
        f"INSERT INTO chats ({', '.join(CHAT_COLUMNS)}) VALUES ({', '.join('?' * len(CHAT_COLUMNS))})", chats)
    conn.executemany(
        f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})",
        messages)
    conn.executemany(
        """INSERT INTO contacts (session_id, jid, push_name, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(session_id, jid) DO UPDATE SET push_name = excluded.push_name""", contacts)
    # the full-text index as the schema keeps it, for the new rows only (since migration 8
    # the repository fills it in bulk; before, a trigger did it row by row). Until
    # 2026-11-25 this indexed every row of the table again: in the 1,000,000-message store
    # raw paid for 1.1M rows, not 100,000 (and left the index with duplicate entries).
    conn.execute(
        "INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE rowid > ?", (before,))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def watui_ingest(path: Path, hist: HistoryRows, session_id: str = "ingest") -> float:
    repo = await ChatStorageRepository.open(path)
    client = QuietClient()
    session = Session(session_id, client, repo, lambda notice: None)
    try:
        await session.start()
        started = time.perf_counter()
        for batch in hist.batches:
            client.sink(batch)
        await session.drain()
        elapsed = time.perf_counter() - started
        if session.handler_errors:
            raise RuntimeError(f"{session.handler_errors} handler error(s) during ingest")
    finally:
        await session.stop()
        await repo.close()
    return elapsed


def check_same(watui_db: Path, raw_db: Path, seed_db: Path, expected: int) -> None:
    counts = []
    for db in (watui_db, raw_db, seed_db):
        conn = sqlite3.connect(db)
        counts.append(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        conn.close()
    if counts != [expected] * 3:
        raise RuntimeError(f"the variants stored different row counts: {counts}, expected {expected}")
    conn = sqlite3.connect(watui_db)
    bad = conn.execute(
        """SELECT COUNT(*) FROM chats c WHERE unread_count != (SELECT COUNT(*) FROM messages m
           WHERE m.session_id = c.session_id AND m.chat_jid = c.jid AND m.is_read = 0 AND m.is_from_me = 0)"""
    ).fetchone()[0]
    conn.close()
    if bad:
        raise RuntimeError(f"{bad} chats with an unread_count that does not match their messages")
    for db in (watui_db, raw_db):  # each full-text index holds exactly its messages
        conn = sqlite3.connect(db)
        try:
            conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            raise RuntimeError(f"{db.name}: the full-text index does not match the messages: {exc}") from exc
        finally:
            conn.close()


def _copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def _one_run(hist: HistoryRows, tmp: Path, base: tuple[Path, Path] | None, check: bool) -> tuple[float, float, float]:
    """(watui, raw, seed) seconds for one run; ``base``: (watui store, seed store) to ingest
    into, else fresh files."""
    watui_db, raw_db, seed_db = tmp / "watui.db", tmp / "raw.db", tmp / "seed.db"
    before = 0
    if base is not None:
        _copy(base[0], watui_db)
        _copy(base[0], raw_db)
        _copy(base[1], seed_db)
        conn = sqlite3.connect(watui_db)
        before = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        conn.close()
    t_watui = asyncio.run(watui_ingest(watui_db, hist))
    t_raw = raw_ingest(raw_db, hist)
    conn = create_seed_store(seed_db)
    started = time.perf_counter()
    seed_ingest(conn, hist, "15550000001@s.whatsapp.net")
    t_seed = time.perf_counter() - started
    conn.close()
    if check:
        check_same(watui_db, raw_db, seed_db, before + hist.message_count)
    return t_watui, t_raw, t_seed


def run(scale: float, runs: int, into_big: bool = True) -> list[Row]:
    messages = max(5_000, round(TOTAL_MESSAGES / SESSIONS * scale))
    chats = max(50, round(CHATS_PER_SESSION * scale))
    print(f"ingest: generating one account's history ({messages:,} messages, {chats:,} chats) ...", flush=True)
    hist = history_for_ingest(messages, chats)
    n = hist.message_count
    scenarios: list[tuple[str, tuple[Path, Path] | None]] = [("fresh store", None)]
    if into_big:
        big, meta = ensure_store(scale)
        scenarios.append((f"into the {meta['messages']:,}-msg store", (big, ensure_seed_copy(scale, big))))
    rows: list[Row] = []
    for label, base in scenarios:
        results: dict[str, list[float]] = {"watui": [], "raw": [], "seed": []}
        vs_raw: list[float] = []
        vs_seed: list[float] = []
        for i in range(runs):
            with tempfile.TemporaryDirectory(prefix="watui-bench-ingest-", dir=OUT) as tmp:
                t_watui, t_raw, t_seed = _one_run(hist, Path(tmp), base, check=i == 0)
            for name, t in (("watui", t_watui), ("raw", t_raw), ("seed", t_seed)):
                results[name].append(n / t)
            vs_raw.append(t_raw / t_watui)
            vs_seed.append(t_seed / t_watui)
            print(f"  {label}, run {i + 1}: watui {n / t_watui:,.0f}  raw {n / t_raw:,.0f}  "
                  f"seed {n / t_seed:,.0f} msgs/s", flush=True)
        r_raw, r_seed = median(vs_raw), median(vs_seed)
        size = f"{n:,} msgs in {len(hist.plans):,} chats, {len(hist.batches)} chunks; median of {runs} runs"
        rows += [
            Row("ingest", f"history sync, real handler path ({label})", median(results["watui"]), "msgs/s",
                note=size),
            Row("ingest", f"  raw executemany, same schema ({label})", median(results["raw"]), "msgs/s"),
            Row("ingest", f"  seed layout + update-then-insert ({label})", median(results["seed"]), "msgs/s"),
            Row("ingest", f"  watui / raw ({label})", r_raw, "x", ">= 0.7x", r_raw >= 0.7,
                baseline=f"raw {median(results['raw']):,.0f} msgs/s"),
            Row("ingest", f"  watui / seed ({label})", r_seed, "x", ">= 3x", r_seed >= 3.0,
                baseline=f"seed {median(results['seed']):,.0f} msgs/s"),
        ]
    return rows


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--fresh-only", action="store_true", help="skip ingesting into the big store")
    args = parser.parse_args()
    rows = run(args.scale, args.runs, into_big=not args.fresh_only)
    print_table(rows, "ingest")
    save(rows, args.json, "ingest")


if __name__ == "__main__":
    main()
