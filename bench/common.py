"""Shared helpers for the benchmark suite: statistics, results, the table, paths, RSS.

Every script produces :class:`Row` objects. A row holds a measured figure, optionally the
baseline it is compared with (measured in the same run, so machine noise hits both) and a
target; :func:`print_table` prints them and :func:`save` keeps them as JSON under bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

if str(ROOT) not in sys.path:  # each script also runs alone: python bench/queries.py
    sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One line of the results table."""

    group: str
    name: str
    value: float
    unit: str
    target: str = ""  # e.g. "<= 2 ms p50", ">= 0.7x raw"
    met: bool | None = None  # None: no target (context figure)
    baseline: str = ""  # what the figure is compared with, and its value
    note: str = ""
    extra: dict = field(default_factory=dict)

    def figure(self) -> str:
        return fmt(self.value, self.unit)


def fmt(value: float, unit: str) -> str:
    if unit in ("ms", "µs"):
        return f"{value:,.2f} {unit}" if value < 10 else f"{value:,.1f} {unit}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("msgs/s", "rows/s"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:,.1f} MB"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,.2f} {unit}".strip()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> float:
    return seconds * 1000.0


def common_args(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the full store (1.0: 10 sessions x 5,000 chats, 1,000,000 messages)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions whose median is reported")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024:,} MB"
                break
    except OSError:
        pass
    import textual  # noqa: PLC0415 - only for the version

    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "textual": textual.__version__,
        "os": f"{platform.system()} {platform.release()}",
    }


def print_table(rows: Sequence[Row], title: str = "") -> None:
    if title:
        print(f"\n== {title}")
    header = ("group", "metric", "measured", "baseline (same run)", "target", "met")
    lines = [header]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "NO")
        lines.append((r.group, r.name, r.figure(), r.baseline, r.target, met))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    notes = [r for r in rows if r.note]
    for r in notes:
        print(f"  * {r.name}: {r.note}")


def markdown_table(rows: Sequence[Row]) -> str:
    out = ["| group | metric | measured | baseline (same run) | target | met |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        out.append(f"| {r.group} | {r.name} | {r.figure()} | {r.baseline} | {r.target} | {met} |")
    return "\n".join(out)


def save(rows: Sequence[Row], path: Path | None, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = path or OUT / f"results-{name}.json"
    path.write_text(json.dumps({"machine": machine(), "rows": [asdict(r) for r in rows]}, indent=2))
    return path


def load_rows(path: Path) -> list[Row]:
    data = json.loads(path.read_text())
    return [Row(**r) for r in data["rows"]]


# --- memory ------------------------------------------------------------------------------
def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc/<pid>/status."""
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset VmHWM (Linux >= 4.0: write 5 to clear_refs); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False
