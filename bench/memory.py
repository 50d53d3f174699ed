"""Memory of one engine child: ``python -m watui.engine.isolation.child`` hosting the real
neonize client (watui.runtime.NEONIZE_FACTORY) through ProcessClient, as the app runs it in
``isolation = "process"`` mode. WhatsApp is unreachable here, so the client loads Go, opens its
device store, dials, fails and backs off -- its steady offline state. Peak RSS (VmHWM) of the
child after several reconnect attempts. The app's own peak RSS is measured by bench/startup.py.

    .venv/bin/python bench/memory.py --runs 3
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, Row, common_args, median, print_table, rss_mb, save

ENGINE_RSS_MB = 80.0


async def engine_child_rss(seconds: float = 6.0) -> tuple[float, float, int]:
    """(peak RSS MB, current RSS MB, reconnect attempts) of one neonize engine child."""
    from watui.domain.events import Disconnected
    from watui.engine.isolation.proxy import ProcessClient
    from watui.runtime import NEONIZE_FACTORY

    with tempfile.TemporaryDirectory(prefix="watui-bench-engine-", dir=OUT) as tmp:
        tmp = Path(tmp)
        client = ProcessClient(
            "bench", NEONIZE_FACTORY, log_path=tmp / "engine.log",
            args={"db_uri": str(tmp / "sessions" / "bench.db"), "backoff_base": "0.5", "backoff_max": "1"},
        )
        attempts = 0

        def sink(event) -> None:
            nonlocal attempts
            if isinstance(event, Disconnected):
                attempts += 1

        client.set_event_sink(sink)
        await client.connect()
        deadline = time.monotonic() + seconds
        peak = current = 0.0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            pid = client.pid
            if pid is not None:
                current, hwm = rss_mb(pid)
                peak = max(peak, hwm)
        await client.disconnect()
        return peak, current, attempts


def run(runs: int) -> list[Row]:
    results = []
    for i in range(runs):
        peak, current, attempts = asyncio.run(engine_child_rss())
        results.append((peak, current, attempts))
        print(f"  run {i + 1}: engine child peak RSS {peak:.1f} MB (now {current:.1f} MB, {attempts} dials)", flush=True)
    peak = median(r[0] for r in results)
    return [
        Row("memory", "engine child peak RSS (neonize, offline)", peak, "MB", f"<= {ENGINE_RSS_MB:g} MB",
            peak <= ENGINE_RSS_MB,
            note=f"VmHWM of python -m watui.engine.isolation.child over 6 s of dial/back-off; "
                 f"current {median(r[1] for r in results):.1f} MB; median of {runs}"),
    ]


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    rows = run(args.runs)
    print_table(rows, "memory")
    save(rows, args.json, "memory")


if __name__ == "__main__":
    main()
