"""Start-up to first paint, and the app's peak memory, in a fresh process each run.

The parent starts ``python bench/startup.py --child DIR`` (interpreter start and imports
included) on a copy of the big store with ten sim sessions, the way ``watui`` starts: build
the runtime without starting engines, then run the app, which starts them in the background.
The child reports when it painted its first frame and its first frame showing the default
session's chat list. Then it visits every session, opens the 100,000-message chat and reports
its peak RSS (VmHWM).

    .venv/bin/python bench/startup.py --scale 0.1 --runs 3
"""

from __future__ import annotations

import time

STARTED = time.time()  # before any import: the child's own start

import asyncio  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, ROOT, Row, common_args, median, print_table, rss_mb, save  # noqa: E402

FIRST_PAINT_S = 1.0
APP_RSS_MB = 200.0


async def _child(where: Path, huge: tuple[str, str]) -> dict:
    from bench.dataset import session_ids
    from bench.ui import SIZE, build_bench_runtime, send_key
    from watui.ui.app import WatuiApp

    runtime = await build_bench_runtime(where)
    app = WatuiApp(runtime)
    marks: dict[str, float] = {"runtime_built": time.time()}
    done = asyncio.Event()
    original = app._display

    def display(screen, renderable) -> None:
        original(screen, renderable)
        if renderable is None or app._batch_count:
            return
        render = getattr(renderable, "render_segments", None)
        if render is not None:
            render(app.console)
        marks.setdefault("first_paint", time.time())
        if "list_paint" not in marks:
            try:
                rows = app._main().query_one("#chats").chats
            except Exception:  # noqa: BLE001 - not composed yet
                rows = []
            if rows:
                marks["list_paint"] = time.time()
                done.set()

    app._display = display

    async def workload() -> None:
        await done.wait()
        from watui.domain.status import ConnectionState

        for _ in range(600):  # the engines come up in the background
            if all(s.state is ConnectionState.CONNECTED for s in runtime.manager.get_all_sessions_with_status()):
                break
            await asyncio.sleep(0.05)
        marks["engines_connected"] = time.time()
        main = app._main()
        for number in range(2, 10):
            send_key(app, f"alt+{number}")
            await asyncio.sleep(0.4)
        send_key(app, "alt+down")  # the tenth session
        await asyncio.sleep(0.4)
        send_key(app, f"alt+{session_ids().index(huge[0]) + 1}")
        await asyncio.sleep(0.5)
        chat_list = main.query_one("#chats")
        chat_list.focus()
        for _ in range(100):
            if chat_list.select_jid(huge[1]):
                break
            await asyncio.sleep(0.05)
        send_key(app, "enter")
        await asyncio.sleep(2.0)
        rss, hwm = rss_mb()
        marks["rss_mb"], marks["peak_rss_mb"] = rss, hwm
        app.exit()

    task = asyncio.create_task(workload())
    await app.run_async(headless=True, size=SIZE)
    await task
    await runtime.close()
    runtime.network.close()
    return marks


def _measure_once(where: Path, huge: tuple[str, str]) -> dict:
    started = time.time()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), "--child", str(where), "--huge", json.dumps(huge)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"start-up child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    marks = json.loads(lines[-1])
    return {
        "first_paint": marks["first_paint"] - started,
        "list_paint": marks["list_paint"] - started,
        "interpreter": marks["started"] - started,
        "runtime_built": marks["runtime_built"] - started,
        "engines_connected": marks["engines_connected"] - started,
        "rss_mb": marks["rss_mb"],
        "peak_rss_mb": marks["peak_rss_mb"],
    }


def run(scale: float, runs: int) -> list[Row]:
    from bench.dataset import ensure_store
    from bench.ui import prepare_data_dir

    _, meta = ensure_store(scale)
    huge = tuple(meta["huge_chat"])
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="watui-bench-startup-", dir=OUT) as tmp:
        where = prepare_data_dir(scale, Path(tmp))
        _measure_once(where, huge)  # warm the OS page cache and the .pyc files
        for i in range(runs):
            result = _measure_once(where, huge)
            results.append(result)
            print(f"  run {i + 1}: first paint {result['first_paint']:.3f} s, chat list {result['list_paint']:.3f} s, "
                  f"peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    first = median(r["first_paint"] for r in results)
    listed = median(r["list_paint"] for r in results)
    peak = median(r["peak_rss_mb"] for r in results)
    return [
        Row("start-up", "start-up to first paint", first, "s", f"<= {FIRST_PAINT_S:g} s", first <= FIRST_PAINT_S,
            note=f"fresh process, 10 sessions, {meta['messages']:,}-message store; median of {runs}; "
                 f"interpreter up at {median(r['interpreter'] for r in results):.3f} s, runtime built at "
                 f"{median(r['runtime_built'] for r in results):.3f} s"),
        Row("start-up", "start-up to the chat list painted", listed, "s", f"<= {FIRST_PAINT_S:g} s",
            listed <= FIRST_PAINT_S,
            note=f"engines all connected at {median(r['engines_connected'] for r in results):.2f} s (not waited for)"),
        Row("memory", "app peak RSS (big store, 10 sessions)", peak, "MB", f"<= {APP_RSS_MB:g} MB", peak <= APP_RSS_MB,
            note="VmHWM after visiting every session and opening the largest chat; current RSS "
                 f"{median(r['rss_mb'] for r in results):.0f} MB"),
    ]


def main() -> None:
    if "--child" in sys.argv:
        where = Path(sys.argv[sys.argv.index("--child") + 1])
        huge = tuple(json.loads(sys.argv[sys.argv.index("--huge") + 1]))
        marks = asyncio.run(_child(where, huge))
        marks["started"] = STARTED
        print(json.dumps(marks), flush=True)
        return
    args = common_args(__doc__.splitlines()[0]).parse_args()
    rows = run(args.scale, args.runs)
    print_table(rows, "start-up and memory")
    save(rows, args.json, "startup")


if __name__ == "__main__":
    main()
