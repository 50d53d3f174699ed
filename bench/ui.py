"""UI: the real WatuiApp, headless (Textual's run_test), on a copy of the big store with ten
sim sessions, measured from a key press (or an incoming message) to the painted frame that
shows its result.

A frame counts as painted when the compositor's update for it has been rendered to terminal
output (headless Textual skips that last step, so the probe does it, to keep its cost in).

* session switch (alt+N) -> the new session's chat list on screen;
* opening a chat (enter) -> its messages on screen (the 100,000-message chat among them);
* a page of chat-list scrolling (page down) -> the moved cursor on screen;
* a message arriving in a background session (from the sim network) -> its badge on screen;
* flood: 10 sessions x 200 msgs/s from the sim network for 30 s: messages stored per second,
  key-to-paint latency of list moves meanwhile, the longest gap between frames and the
  longest event-loop stall.

Start-up to first paint runs in a fresh process (imports included): see bench/startup.py.

    .venv/bin/python bench/ui.py --scale 0.1 --flood-seconds 10
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, Row, common_args, ms, percentile, print_table, save
from bench.dataset import ensure_store, owner_phone, session_ids
from watui import config as cfg
from watui.engine.sim.history import HistorySpec
from watui.engine.sim.network import SimNetwork
from watui.runtime import ConfigRegistry, Options, Runtime, load_environment
from watui.sessions import SessionManager
from watui.sessions.notices import MessagesChanged
from watui.store import ChatStorageRepository

SIZE = (120, 40)
DWELL = 0.25  # seconds between the cursor reaching a chat and enter (a glance at the row)
CONTACTS_PER_SESSION = 20


def contact_phone(session_index: int, k: int) -> str:
    return f"4477{session_index:02d}{k:06d}"


# --- the app on the big store --------------------------------------------------------------
def prepare_data_dir(scale: float, where: Path) -> Path:
    """A data dir holding a copy of the big store and a config with ten sim sessions."""
    store, _ = ensure_store(scale)
    data = where / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = where / "config.toml"

    def mutate(doc: dict) -> None:
        doc["engine"] = {"backend": "sim", "isolation": "inline"}
        doc["sessions"] = [{"id": sid, "label": f"Account {sid[1:]}"} for sid in session_ids()]
        doc["default_session"] = session_ids()[0]

    cfg.edit_config(config, mutate)
    shutil.copyfile(store, data / "watui.db")
    return where


async def build_bench_runtime(where: Path) -> Runtime:
    """Like watui.runtime.build_runtime on the sim backend, with the bench's own network:
    every session pre-paired (no history sync: the store already has it) and a pool of
    contacts per session that the flood sends from."""
    env = load_environment(
        Options(config=str(where / "config.toml"), data_dir=str(where / "data"), backend="sim"), env={}
    )
    network = SimNetwork(seed=11, reply_delay=60.0, qr_first=600.0, qr_next=600.0)
    sessions = {s.id: s for s in env.config.sessions}
    for index, sid in enumerate(session_ids(), start=1):
        network.add_account(owner_phone(sid), f"Me {sid}", history=HistorySpec(chats=0, include_network=False))
        for k in range(CONTACTS_PER_SESSION):
            network.add_account(contact_phone(index, k), f"Contact {index}-{k}",
                                history=HistorySpec(chats=0, include_network=False))
    for sid in session_ids():
        network.pre_pair(sid, env.paths.session_db_uri(sessions[sid]), owner_phone(sid), history=False)

    def factory(session_id: str):
        return network.client(session_id, env.paths.session_db_uri(sessions[session_id]))

    repo = await ChatStorageRepository.open(env.paths.store_path)
    manager = SessionManager(repo, factory, registry=ConfigRegistry(env.paths.config_file))
    for s in env.config.sessions:
        await manager.add_session(s.id, s.label, start=False, persist=False)
    manager.set_default_session(env.config.default_session, persist=False)
    return Runtime(env, repo, manager, network, None)


@dataclass
class _Waiter:
    predicate: Callable[[], bool]
    event: asyncio.Event = field(default_factory=asyncio.Event)
    at: float = 0.0


class PaintProbe:
    """Timestamps every frame the app paints and resolves waiters whose condition holds
    once a frame is out."""

    def __init__(self, app) -> None:
        self.app = app
        self.paints: list[float] = []
        self._waiters: list[_Waiter] = []
        original = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            # headless Textual stops before turning the update into terminal output: do it
            # here so that cost is part of every frame, as on a real terminal
            with contextlib.suppress(Exception):
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(app.console)
            now = time.perf_counter()
            self.paints.append(now)
            for waiter in list(self._waiters):
                try:
                    ok = waiter.predicate()
                except Exception:  # noqa: BLE001 - a predicate on a half-built screen
                    ok = False
                if ok:
                    waiter.at = now
                    waiter.event.set()
                    self._waiters.remove(waiter)

        app._display = display

    def expect(self, predicate: Callable[[], bool]) -> _Waiter:
        waiter = _Waiter(predicate)
        self._waiters.append(waiter)
        return waiter

    async def wait(self, waiter: _Waiter, pilot, timeout: float = 10.0) -> float:
        """Seconds at which the waiter's frame was painted."""
        deadline = time.perf_counter() + timeout
        while not waiter.event.is_set():
            if time.perf_counter() > deadline:
                self._waiters.remove(waiter)
                raise TimeoutError("the expected frame was never painted")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.event.wait(), 0.05)
            self.app.screen.refresh()  # nudge: headless apps paint on demand
        return waiter.at


@contextlib.asynccontextmanager
async def running_app(where: Path, *, wait_ready: bool = True) -> AsyncIterator[tuple]:
    from watui.ui.app import WatuiApp  # textual is imported only by the UI benchmarks

    runtime = await build_bench_runtime(where)
    app = WatuiApp(runtime)
    probe = PaintProbe(app)
    try:
        async with app.run_test(size=SIZE) as pilot:
            if wait_ready:
                await until_ready(app, runtime, pilot)
            yield app, pilot, probe, runtime
    finally:
        await runtime.close()
        runtime.network.close()


async def until_ready(app, runtime: Runtime, pilot, timeout: float = 60.0) -> None:
    from watui.domain.status import ConnectionState

    deadline = time.perf_counter() + timeout
    main = app._main()
    while True:
        states = [s.state for s in runtime.manager.get_all_sessions_with_status()]
        chats = main.query_one("#chats").chats
        if all(s is ConnectionState.CONNECTED for s in states) and chats:
            break
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the app never got ready: {states}")
        await pilot.pause(0.05)
    await runtime.manager.drain()
    await app.workers.wait_for_complete()
    await pilot.pause(0.2)


def _widgets(app):
    from watui.ui.widgets import MessagePane, VirtualChatList
    from watui.ui.widgets.sidebar import SessionSidebar

    main = app._main()
    return main, main.query_one(VirtualChatList), main.query_one(MessagePane), main.query_one(SessionSidebar)


def send_key(app, key: str) -> None:
    """The key as a terminal driver delivers it (Pilot.press also waits for the app to be
    idle, which it never is during a flood)."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _get_unicode_name_from_key

    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def key_to_paint(
    pilot, probe: PaintProbe, key: str, predicate: Callable[[], bool], timeout: float = 10.0
) -> float:
    waiter = probe.expect(predicate)
    started = time.perf_counter()
    send_key(pilot.app, key)
    return await probe.wait(waiter, pilot, timeout) - started


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause(0.05)


# --- the interactions ------------------------------------------------------------------------
async def measure_switch(app, pilot, probe, reps: int) -> list[float]:
    main, chat_list, _, _ = _widgets(app)
    ids = session_ids()
    out = []
    for i in range(reps):
        number = (i % 9) + 1 if ids[i % 9] != main.session_id else ((i + 1) % 9) + 1
        target = ids[number - 1]

        def shown(target=target) -> bool:
            rows = chat_list._all
            return main.session_id == target and bool(rows) and rows[0].session_id == target

        out.append(await key_to_paint(pilot, probe, f"alt+{number}", shown))
        await settle(app, pilot)
    return out


async def measure_open_chat(
    app, pilot, probe, reps: int, huge: tuple[str, str], dwell: float = DWELL
) -> tuple[list[float], float]:
    """Enter on a chat of the list, ``dwell`` seconds after the cursor came to it (a person
    reads the row before opening it; 0: at once)."""
    main, chat_list, pane, _ = _widgets(app)
    sid, huge_jid = huge
    if main.session_id != sid:
        await pilot.press(f"alt+{session_ids().index(sid) + 1}")
        await settle(app, pilot)
    out = []
    huge_ms = 0.0
    for i in range(reps + 1):
        chat_list.focus()
        await settle(app, pilot)
        if i == 0:
            chat_list.select_jid(huge_jid)
        else:
            chat_list.cursor = i
        if dwell:
            await settle(app, pilot)
            await pilot.pause(dwell)
            await settle(app, pilot)
        # else: enter in the same moment the cursor lands (nothing read ahead)
        target = chat_list.cursor_jid

        def shown(target=target) -> bool:
            messages = pane.messages
            return main.chat_jid == target and bool(messages) and messages[-1].chat_jid == target

        took = await key_to_paint(pilot, probe, "enter", shown)
        if i == 0:
            huge_ms = took
        out.append(took)
        await settle(app, pilot)
    return out, huge_ms


async def measure_scroll(app, pilot, probe, reps: int) -> list[float]:
    main, chat_list, _, _ = _widgets(app)
    chat_list.focus()
    chat_list.cursor = 0
    await settle(app, pilot)
    out = []
    for _ in range(reps):
        expected = min(chat_list.cursor + chat_list._page_rows(), len(chat_list._view) - 1)
        out.append(await key_to_paint(pilot, probe, "pagedown", lambda e=expected: chat_list.cursor == e))
        await pilot.pause(0.02)
    return out


async def measure_badge(app, pilot, probe, runtime: Runtime, reps: int) -> list[float]:
    main, _, _, sidebar = _widgets(app)
    network: SimNetwork = runtime.network
    out = []
    ids = session_ids()
    for i in range(reps):
        index = [n for n, sid in enumerate(ids) if sid != main.session_id][i % 9]
        sid = ids[index]
        before = sidebar.unread.get(sid, 0)
        waiter = probe.expect(lambda sid=sid, before=before: sidebar.unread.get(sid, 0) > before)
        started = time.perf_counter()
        network.send_from(contact_phone(index + 1, i % CONTACTS_PER_SESSION), f"{owner_phone(sid)}@s.whatsapp.net",
                          f"background message {i}")
        out.append(await probe.wait(waiter, pilot) - started)
        await settle(app, pilot)
        await asyncio.sleep(0.1)
    return out


@dataclass
class FloodResult:
    offered: int
    handled: int
    seconds: float
    input_latency: list[float]
    frame_gaps: list[float]
    loop_stalls: list[float]
    backlog: int
    missed_keys: int = 0  # presses whose frame never came within 2 s


async def measure_flood(app, pilot, probe, runtime: Runtime, seconds: float, rate: int) -> FloodResult:
    """Every session receives ``rate`` msgs/s from its contacts for ``seconds``; meanwhile the
    chat list cursor moves every 200 ms and the loop's heartbeat is watched."""
    main, chat_list, _, _ = _widgets(app)
    network: SimNetwork = runtime.network
    ids = session_ids()
    stored = 0

    def count(notice) -> None:
        nonlocal stored
        if isinstance(notice, MessagesChanged) and notice.incoming:
            stored += notice.incoming

    unsubscribe = runtime.manager.subscribe(count)
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    offered = 0
    stop = asyncio.Event()
    beats: list[float] = []

    async def heartbeat() -> None:
        while not stop.is_set():
            beats.append(time.perf_counter())
            await asyncio.sleep(0.005)

    async def drive() -> None:
        nonlocal offered
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < seconds:
            for index, sid in enumerate(ids, start=1):
                owner = f"{owner_phone(sid)}@s.whatsapp.net"
                for k in range(per_tick):
                    network.send_from(contact_phone(index, (n + k) % CONTACTS_PER_SESSION), owner,
                                      f"flood {n} {k} the quick brown fox jumps over the lazy dog")
                    offered += 1
            n += 1
            # keep the offered rate: sleep to the next tick boundary
            await asyncio.sleep(max(0.0, started + n * tick - time.perf_counter()))

    chat_list.focus()
    await settle(app, pilot)
    paints_from = len(probe.paints)
    beat_task = asyncio.create_task(heartbeat())
    drive_task = asyncio.create_task(drive())
    started = time.perf_counter()
    latencies: list[float] = []
    down = True
    missed = 0
    while not drive_task.done():
        await asyncio.sleep(0.2)
        if drive_task.done():
            break
        before = chat_list.cursor_jid
        if chat_list.cursor == 0:
            down = True
        elif chat_list.cursor >= len(chat_list._view) - 1:
            down = False
        # the list reorders under the flood; the cursor stays on its chat, so any move is
        # the key's doing
        try:
            latencies.append(await key_to_paint(pilot, probe, "down" if down else "up",
                                                lambda b=before: chat_list.cursor_jid != b, timeout=2.0))
        except TimeoutError:
            missed += 1
        down = not down
    await drive_task
    elapsed = time.perf_counter() - started
    handled = stored
    backlog = sum(s.queue.qsize() for s in (runtime.manager.get_session(sid) for sid in ids))
    stop.set()
    await beat_task
    unsubscribe()
    paints = [t for t in probe.paints[paints_from:] if t <= started + elapsed]
    gaps = [b - a for a, b in zip(paints, paints[1:])]
    stalls = [b - a for a, b in zip(beats, beats[1:])]
    await runtime.manager.drain()
    return FloodResult(offered, handled, elapsed, latencies, gaps, stalls, backlog, missed)


# --- the run ---------------------------------------------------------------------------------
def _p(values: list[float], q: float) -> float:
    return ms(percentile(values, q))


async def measure(scale: float, runs: int, flood_seconds: float, rate: int) -> list[Row]:
    _, meta = ensure_store(scale)
    huge = tuple(meta["huge_chat"])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="watui-bench-ui-", dir=OUT) as tmp:
        where = prepare_data_dir(scale, Path(tmp))
        async with running_app(where) as (app, pilot, probe, runtime):
            gc.collect()
            reps = max(10, runs * 4)
            switch = await measure_switch(app, pilot, probe, reps)
            opened, huge_ms = await measure_open_chat(app, pilot, probe, reps, huge)
            opened_at_once, huge_at_once = await measure_open_chat(app, pilot, probe, reps, huge, dwell=0.0)
            scroll = await measure_scroll(app, pilot, probe, reps)
            badge = await measure_badge(app, pilot, probe, runtime, reps)
            flood = await measure_flood(app, pilot, probe, runtime, flood_seconds, rate) if flood_seconds else None
    rows += [
        Row("ui", "session switch, key to paint p50", _p(switch, 50), "ms", "<= 50 ms p50", _p(switch, 50) <= 50,
            note=f"{len(switch)} switches across 10 sessions of {meta['chats'] // 10:,} chats; p99 {_p(switch, 99):.1f} ms"),
        Row("ui", f"open a chat, key to paint p50 (after {DWELL:g} s on the row)", _p(opened, 50), "ms",
            "<= 50 ms p50", _p(opened, 50) <= 50,
            note=f"{len(opened)} chats; the {meta['largest_chats'][0]:,}-message chat {ms(huge_ms):.1f} ms; "
                 f"p99 {_p(opened, 99):.1f} ms"),
        Row("ui", "open a chat, key to paint p50 (enter at once)", _p(opened_at_once, 50), "ms",
            "<= 50 ms p50", _p(opened_at_once, 50) <= 50,
            note=f"no time to read ahead; the big chat {ms(huge_at_once):.1f} ms; p99 {_p(opened_at_once, 99):.1f} ms"),
        Row("ui", "chat list page down, key to paint p50", _p(scroll, 50), "ms", note=f"p99 {_p(scroll, 99):.1f} ms"),
        Row("ui", "background message to painted badge p50", _p(badge, 50), "ms", "<= 100 ms", _p(badge, 50) <= 100,
            note=f"sim network send -> store -> sidebar badge; p99 {_p(badge, 99):.1f} ms"),
    ]
    if flood is not None:
        per_s = flood.handled / flood.seconds
        target_rate = rate * 10
        rows += [
            Row("flood", f"messages handled/s (offered {flood.offered / flood.seconds:,.0f}/s)", per_s, "msgs/s",
                f">= {target_rate:,}/s", per_s >= 0.95 * target_rate,
                note=f"{flood.seconds:.0f} s, 10 sessions; backlog at the end {flood.backlog:,} events"),
            Row("flood", "input latency meanwhile p50", _p(flood.input_latency, 50), "ms", "<= 50 ms",
                _p(flood.input_latency, 50) <= 50 and not flood.missed_keys,
                note=f"p99 {_p(flood.input_latency, 99):.1f} ms, {len(flood.input_latency)} key presses"
                     f"{f', {flood.missed_keys} never painted' if flood.missed_keys else ''}"),
            Row("flood", "longest gap between frames", ms(max(flood.frame_gaps, default=0)), "ms", "<= 100 ms",
                ms(max(flood.frame_gaps, default=0)) <= 100,
                note=f"{len(flood.frame_gaps) + 1} frames; p99 gap {_p(flood.frame_gaps, 99):.1f} ms"),
            Row("flood", "longest event-loop stall", ms(max(flood.loop_stalls, default=0)), "ms",
                note="5 ms heartbeat: no frame can be painted during a stall"),
        ]
    return rows


def run(scale: float, runs: int, flood_seconds: float = 30.0, rate: int = 200) -> list[Row]:
    return asyncio.run(measure(scale, runs, flood_seconds, rate))


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--flood-seconds", type=float, default=30.0, help="0: skip the flood")
    parser.add_argument("--rate", type=int, default=200, help="msgs/s per session during the flood")
    args = parser.parse_args()
    rows = run(args.scale, args.runs, args.flood_seconds, args.rate)
    print_table(rows, "ui")
    save(rows, args.json, "ui")


if __name__ == "__main__":
    main()
