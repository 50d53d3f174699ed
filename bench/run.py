"""The whole benchmark suite, one command, one table.

    .venv/bin/python bench/run.py                 # full size: 10 sessions, 1,000,000 messages
    .venv/bin/python bench/run.py --scale 0.1     # a quick look (100,000 messages)
    .venv/bin/python bench/run.py --only ingest,queries

Each part also runs alone (bench/ingest.py, queries.py, ui.py, startup.py, memory.py,
ui_widgets.py, load.py -- ten 100,000-message history syncs under live traffic, scaled by
--scale). The generated store is cached under bench/out/ (gitignored); results go to
bench/out/results.json and, as a Markdown table, bench/out/results.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, Row, common_args, machine, markdown_table, print_table, save

PARTS = ("ingest", "queries", "ui", "startup", "memory", "widgets", "load")


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--flood-seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=200, help="msgs/s per session during the flood")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    from bench.dataset import ensure_store

    _, meta = ensure_store(args.scale)
    rows: list[Row] = []
    started = time.perf_counter()
    for part in parts:
        print(f"\n### {part}", flush=True)
        if part == "ingest":
            from bench import ingest

            rows += ingest.run(args.scale, max(1, min(args.runs, 5)))
        elif part == "queries":
            from bench import queries

            rows += queries.run(args.scale, args.runs)
        elif part == "ui":
            from bench import ui

            rows += ui.run(args.scale, args.runs, args.flood_seconds, args.rate)
        elif part == "startup":
            from bench import startup

            rows += startup.run(args.scale, args.runs)
        elif part == "memory":
            from bench import memory

            rows += memory.run(args.runs)
        elif part == "widgets":
            from bench import ui_widgets

            rows += ui_widgets.run()
        elif part == "load":
            from bench import load

            rows += load.run(args.scale)
    info = machine()
    title = (f"watui benchmarks -- {meta['messages']:,} messages, {meta['chats']:,} chats, 10 sessions; "
             f"{info['cpu']} x{info['cores']}, {info['date']}; {time.perf_counter() - started:.0f} s")
    print_table(rows, title)
    path = save(rows, args.json or OUT / "results.json", "all")
    md = OUT / "results.md"
    md.write_text(f"{title}\n\n{markdown_table(rows)}\n\n" + "\n".join(f"- {r.name}: {r.note}" for r in rows if r.note) + "\n")
    missed = [r for r in rows if r.met is False]
    print(f"\nresults: {path}, {md}; targets met {sum(1 for r in rows if r.met)}/{sum(1 for r in rows if r.met is not None)}"
          + (f"; missed: {', '.join(r.name for r in missed)}" if missed else ""))


if __name__ == "__main__":
    main()
