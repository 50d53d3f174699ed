"""Load: ten sessions on the sim network, each receiving a 100,000-message history sync while
live traffic flows to all of them, with the real WatuiApp headless on top (as bench/ui.py
drives it) and keys pressed throughout.

* history: every session's sync is ``--history`` messages in chunks of at most 50 chats /
  ``--chunk-messages`` messages (a big chat split over several chunks, newest part first),
  offered at ``--history-rate`` messages/s per session;
* live: ``--live-rate`` messages/s per session for the whole run, from a dozen contacts: 1:1,
  groups, and texts from the owner's own phone to contacts that answer (delivery and read
  receipts, replies); opening a chat sends read receipts too;
* keys: session switches, list moves, opening a chat, each timed from the key to the painted
  frame showing its result; the longest gap between frames and the longest event-loop stall;
* at the end: every message id the network handed to a session (recorded at the engine
  boundary, to a file, so the record costs no memory) is in the store exactly once -- missing,
  extra and duplicate ids per session, plus duplicates by content and timestamp (a re-keyed
  copy) -- and the store passes integrity_check();
* memory: peak RSS (VmHWM) of the process and RSS over time and at the end; the sim network
  runs with ``forget_delivered`` so its own retention stays bounded (reported separately).

    .venv/bin/python bench/load.py                          # 10 x 100,000, about 2.5 minutes
    .venv/bin/python bench/load.py --history-rate 3000      # more history than the store takes
    .venv/bin/python bench/load.py --sessions 3 --history 20000 --live-rate 20
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, Row, common_args, ms, percentile, print_table, reset_peak_rss, rss_mb, save
from bench.dataset import owner_phone, session_ids
from bench.ui import SIZE, PaintProbe, _widgets, contact_phone, key_to_paint
from watui import config as cfg
from watui.domain import events as ev
from watui.engine.sim.history import HistorySpec
from watui.engine.sim.network import SimNetwork
from watui.runtime import ConfigRegistry, Options, Runtime, load_environment
from watui.sessions import SessionManager
from watui.sessions.notices import StatusChanged
from watui.store import ChatStorageRepository

CONTACTS = 12  # per session: who the live traffic comes from
ANSWERING = 3  # of them, phones that acknowledge, read and answer the owner's texts
GROUPS = 3  # per session, with the owner and 5 contacts each
TICK = 0.1  # the live traffic is sent in steps of this many seconds


@dataclass
class LoadConfig:
    sessions: int = 10
    history: int = 100_000  # messages per session
    history_rate: float = 1_000.0  # messages/s per session offered by the network
    chunk_messages: int = 1_000
    history_chats: int = 1_000
    live_rate: float = 30.0  # messages/s per session
    tail: float = 30.0  # seconds of live traffic after the last sync is stored (memory at rest)
    reply_delay: float = 2.0  # seconds from a text to the answering phone's reply (read half-way)
    max_seconds: float = 1_800.0
    census: bool = False  # list the most common live object types at the end (diagnosis)
    seed: int = 8

    @classmethod
    def scaled(cls, scale: float = 1.0, **overrides) -> LoadConfig:
        """The full-size run with ``scale`` times the history (and at most a chat per 100
        messages)."""
        history = overrides.pop("history", None) or max(1_000, round(cls.history * scale))
        return cls(history=history, history_chats=min(cls.history_chats, max(10, history // 100)), **overrides)


# --- the world ------------------------------------------------------------------------------
def build_network(conf: LoadConfig) -> tuple[SimNetwork, dict[str, list[str]]]:
    """The sim network: per session an owner with a big history, contacts and groups.
    Returns the network and each session's group jids."""
    network = SimNetwork(seed=conf.seed, reply_delay=conf.reply_delay, qr_first=600.0, qr_next=600.0,
                         history_rate=conf.history_rate, forget_delivered=True)
    spec = HistorySpec(chats=conf.history_chats, messages_per_chat=40, big_chats=5, big_chat_messages=8_000,
                       messages=conf.history, chunk_messages=conf.chunk_messages)
    nothing = HistorySpec(chats=0, include_network=False)
    groups: dict[str, list[str]] = {}
    for index, sid in enumerate(session_ids(conf.sessions), start=1):
        network.add_account(owner_phone(sid), f"Me {sid}", history=spec)
        for k in range(CONTACTS):
            network.add_account(contact_phone(index, k), f"Contact {index}-{k}", history=nothing,
                                auto_reply=k < ANSWERING)
        groups[sid] = [
            network.add_group(f"Load {index}-{g}", [owner_phone(sid)]
                              + [contact_phone(index, ANSWERING + (g * 3 + j) % (CONTACTS - ANSWERING)) for j in range(5)])
            for g in range(GROUPS)
        ]
    return network, groups


def write_config(where: Path, ids: list[str]) -> None:
    def mutate(doc: dict) -> None:
        doc["engine"] = {"backend": "sim", "isolation": "inline"}
        doc["sessions"] = [{"id": sid, "label": f"Account {sid[1:]}"} for sid in ids]
        doc["default_session"] = ids[0]

    (where / "data").mkdir(parents=True, exist_ok=True)
    cfg.edit_config(where / "config.toml", mutate)


class Recorder:
    """What the network handed to each session, taken at the engine boundary (the client's
    event sink): message ids go to a file per session, counts stay in memory."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.files: dict[str, object] = {}
        self.history: Counter[str] = Counter()
        self.live: Counter[str] = Counter()
        self.receipts: Counter[str] = Counter()
        self.chunks: Counter[str] = Counter()
        self.first_chunk: dict[str, float] = {}
        self.done_at: dict[str, float] = {}  # the last chunk handed over
        self.stored_at: dict[str, float] = {}  # ... and applied to the store

    def path(self, sid: str) -> Path:
        return self.where / f"delivered-{sid}.tsv"

    def wrap(self, sid: str, put):
        out = self.files[sid] = open(self.path(sid), "w", buffering=1 << 16)  # noqa: SIM115

        def sink(event) -> None:
            if isinstance(event, ev.MessageReceived):
                out.write(f"{event.message.chat_jid}\t{event.message.id}\n")
                self.live[sid] += 1
            elif isinstance(event, ev.HistorySyncBatch):
                out.write("".join(f"{m.chat_jid}\t{m.id}\n" for m in event.messages))
                self.history[sid] += len(event.messages)
                self.chunks[sid] += 1
                self.first_chunk.setdefault(sid, time.perf_counter())
                if event.done:
                    self.done_at[sid] = time.perf_counter()
            elif isinstance(event, ev.Receipt):
                self.receipts[sid] += 1
            put(event)

        return sink

    def on_notice(self, notice) -> None:
        """A sync counts as stored once the session applied as many history messages as it
        was handed, the last chunk among them."""
        if isinstance(notice, StatusChanged):
            sid = notice.session_id
            if (sid in self.done_at and sid not in self.stored_at
                    and notice.status.synced_messages >= self.history[sid]):
                self.stored_at[sid] = time.perf_counter()

    def close(self) -> None:
        for out in self.files.values():
            out.close()


async def build_load_runtime(where: Path, conf: LoadConfig, recorder: Recorder) -> tuple[Runtime, dict[str, list[str]]]:
    """Like watui.runtime.build_runtime on the sim backend, on the load network: every
    session pre-paired, its history sync due on its first connect."""
    ids = session_ids(conf.sessions)
    write_config(where, ids)
    env = load_environment(Options(config=str(where / "config.toml"), data_dir=str(where / "data"), backend="sim"), env={})
    network, groups = build_network(conf)
    sessions = {s.id: s for s in env.config.sessions}
    for sid in ids:
        network.pre_pair(sid, env.paths.session_db_uri(sessions[sid]), owner_phone(sid), history=True)
    repo = await ChatStorageRepository.open(env.paths.store_path)
    manager = SessionManager(repo, lambda sid: network.client(sid, env.paths.session_db_uri(sessions[sid])),
                             registry=ConfigRegistry(env.paths.config_file))
    for s in env.config.sessions:
        session = await manager.add_session(s.id, s.label, start=False, persist=False)
        session.client.set_event_sink(recorder.wrap(s.id, session.deliver))
    manager.set_default_session(ids[0], persist=False)
    manager.subscribe(recorder.on_notice)
    return Runtime(env, repo, manager, network, None), groups


# --- live traffic -----------------------------------------------------------------------------
async def live_traffic(network: SimNetwork, conf: LoadConfig, groups: dict[str, list[str]], stop: asyncio.Event) -> int:
    """``live_rate`` msgs/s to every session until ``stop``: 60% 1:1 from a contact, 25% in a
    group, 15% typed on the owner's phone to a contact that answers. Returns how many were
    sent (answers come on top)."""
    rng = random.Random(conf.seed)
    ids = session_ids(conf.sessions)
    sent = 0
    owed = 0.0
    started = time.perf_counter()
    step = 0
    while not stop.is_set():
        owed += conf.live_rate * TICK
        count, owed = int(owed), owed - int(owed)
        for index, sid in enumerate(ids, start=1):
            owner = owner_phone(sid)
            answering = list(range(ANSWERING))  # one text per answering phone per step
            for _ in range(count):
                roll = rng.random()
                text = f"live {sid} {sent} {rng.getrandbits(32):08x}"
                if roll < 0.15 and answering:
                    k = answering.pop(rng.randrange(len(answering)))
                    network.send_from(owner, f"{contact_phone(index, k)}@s.whatsapp.net", text)
                elif roll < 0.40:
                    group = rng.randrange(GROUPS)
                    sender = contact_phone(index, ANSWERING + (group * 3 + rng.randrange(5)) % (CONTACTS - ANSWERING))
                    network.send_from(sender, groups[sid][group], text)
                else:
                    network.send_from(contact_phone(index, rng.randrange(ANSWERING, CONTACTS)), f"{owner}@s.whatsapp.net", text)
                sent += 1
        step += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, started + step * TICK - time.perf_counter()))
    return sent


# --- keys -------------------------------------------------------------------------------------
@dataclass
class KeyStats:
    latency: dict[str, list[float]] = field(default_factory=dict)
    missed: Counter[str] = field(default_factory=Counter)

    def all(self) -> list[float]:
        return [x for values in self.latency.values() for x in values]


async def press_keys(app, pilot, probe: PaintProbe, ids: list[str], stop: asyncio.Event, stats: KeyStats) -> None:
    """Switch sessions, move in the chat list, open chats, over and over, until ``stop``."""
    main, chat_list, pane, _ = _widgets(app)
    turn = 0

    async def timed(kind: str, key: str, predicate) -> None:
        try:
            took = await key_to_paint(pilot, probe, key, predicate, timeout=5.0)
        except TimeoutError:
            stats.missed[kind] += 1
        else:
            stats.latency.setdefault(kind, []).append(took)

    while not stop.is_set():
        target = ids[(ids.index(main.session_id) + 1) % min(len(ids), 9)] if main.session_id in ids else ids[0]

        def switched(target=target) -> bool:
            rows = chat_list._all
            return main.session_id == target and bool(rows) and rows[0].session_id == target

        await timed("session switch", f"alt+{ids.index(target) + 1}", switched)
        chat_list.focus()
        for _ in range(3):
            await asyncio.sleep(0.2)
            if len(chat_list._view) < 2:
                break
            before = chat_list.cursor_jid
            down = chat_list.cursor < len(chat_list._view) - 1
            key = ("pagedown" if down else "home") if turn % 2 else ("down" if down else "up")
            await timed("list move", key, lambda b=before: chat_list.cursor_jid != b)
        await asyncio.sleep(0.2)
        chosen = chat_list.cursor_jid
        if chosen:
            def opened(chosen=chosen) -> bool:
                shown = pane.messages
                return main.chat_jid == chosen and bool(shown) and shown[-1].chat_jid == chosen

            await timed("open chat", "enter", opened)
        chat_list.focus()
        turn += 1
        await asyncio.sleep(0.3)


# --- watching -----------------------------------------------------------------------------------
@dataclass
class Sample:
    at: float  # seconds since the sessions started
    rss_mb: float
    queued_events: int  # waiting in the sessions' queues and the clients' buffers
    queued_history: int  # history messages among them
    history_stored: int
    live_handed: int
    blocks: int  # Python objects alive (sys.getallocatedblocks): live memory, not freed arenas


def backlog(runtime: Runtime) -> tuple[int, int]:
    events = messages = 0
    for sid in runtime.manager.session_ids():
        session = runtime.manager.get_session(sid)
        for item in (*session.queue._queue, *session.client._out):  # a look inside, for the figures
            events += 1
            if isinstance(item, ev.HistorySyncBatch):
                messages += len(item.messages)
    return events, messages


async def watch(runtime: Runtime, recorder: Recorder, t0: float, stop: asyncio.Event, samples: list[Sample]) -> None:
    while not stop.is_set():
        events, messages = backlog(runtime)
        stored = sum(runtime.manager.get_session(sid).status.synced_messages for sid in runtime.manager.session_ids())
        samples.append(Sample(time.perf_counter() - t0, rss_mb()[0], events, messages, stored, sum(recorder.live.values()),
                              sys.getallocatedblocks()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def heartbeat(stop: asyncio.Event, beats: list[float]) -> None:
    while not stop.is_set():
        beats.append(time.perf_counter())
        await asyncio.sleep(0.005)


def object_census(top: int = 15) -> list[tuple[str, int]]:
    """The most common types among the objects the garbage collector tracks."""
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()).most_common(top)


def sim_retention(network: SimNetwork) -> dict[str, int]:
    """What the sim network itself still holds at the end (entries, not bytes)."""
    return {
        "inbox entries": sum(len(a.inbox) for a in network.accounts.values()),
        "ledger entries": len(network._ledger),
        "pending hops": len(network._pending),
        "timers": len(network._timers),
    }


# --- the count ------------------------------------------------------------------------------------
@dataclass
class Count:
    delivered: int  # distinct (chat, id) the network handed over
    handed_twice: int  # handed over more than once (a store must keep one)
    stored: int
    missing: int
    extra: int
    duplicate_keys: int  # (session, chat, id) more than once (impossible with the primary key)
    duplicate_content: int  # same chat, sender, text and time under an id never handed over: a re-keyed copy
    same_text_and_time: int  # distinct messages the network handed over that happen to match
    examples: list[str] = field(default_factory=list)


def count_session(db: sqlite3.Connection, sid: str, delivered_file: Path) -> Count:
    handed: Counter[tuple[str, str]] = Counter()
    with open(delivered_file) as lines:
        for line in lines:
            chat, _, mid = line.rstrip("\n").partition("\t")
            handed[(chat, mid)] += 1
    stored = set()
    examples_extra: list[str] = []
    duplicate_keys = 0
    for chat, mid in db.execute("SELECT chat_jid, id FROM messages WHERE session_id = ?", (sid,)):
        if (chat, mid) in stored:
            duplicate_keys += 1
        stored.add((chat, mid))
    delivered = set(handed)
    missing = delivered - stored
    extra = stored - delivered
    duplicate_content = same_text_and_time = 0
    for chat, ids in db.execute(
        """SELECT chat_jid, group_concat(id, ' ') FROM messages WHERE session_id = ?
           GROUP BY chat_jid, sender, content, media_type, filename, timestamp HAVING COUNT(*) > 1""",
        (sid,),
    ):
        if all((chat, mid) in delivered for mid in ids.split()):
            same_text_and_time += 1  # e.g. two phone answers with the same text in one millisecond
            examples_extra.append(f"distinct ids with the same text and time {chat} {ids}")
        else:
            duplicate_content += 1
            examples_extra.insert(0, f"re-keyed copy {chat} {ids}")
    examples = ([f"missing {c} {m}" for c, m in sorted(missing)[:3]] + [f"extra {c} {m}" for c, m in sorted(extra)[:3]]
                + examples_extra[:3])
    return Count(len(delivered), sum(1 for n in handed.values() if n > 1), len(stored), len(missing), len(extra),
                 duplicate_keys, duplicate_content, same_text_and_time, examples)


async def check_store(path: Path, ids: list[str], recorder: Recorder) -> tuple[dict[str, Count], list[str]]:
    repo = await ChatStorageRepository.open(path)
    try:
        problems = await repo.integrity_check()
    finally:
        await repo.close()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        counts = {sid: count_session(db, sid, recorder.path(sid)) for sid in ids}
    finally:
        db.close()
    return counts, problems


# --- the run ----------------------------------------------------------------------------------------
@dataclass
class LoadResult:
    conf: LoadConfig
    seconds: float
    sync_seconds: dict[str, float]
    sync_span: float  # first chunk anywhere -> last sync stored
    history_messages: int
    live_sent: int
    live_handed: int
    receipts: int
    keys: KeyStats
    frame_gaps: list[float]
    loop_stalls: list[float]
    samples: list[Sample]
    rss_start: float
    rss_peak: float
    rss_end: float
    sim: dict[str, int]
    counts: dict[str, Count]
    problems: list[str]
    load_average: tuple[float, float, float]
    synced_at: float  # seconds from the start to the last sync stored
    census: list[tuple[str, int]]


async def measure(conf: LoadConfig) -> LoadResult:
    from watui.ui.app import WatuiApp  # textual is imported only by the UI benchmarks

    ids = session_ids(conf.sessions)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="watui-bench-load-", dir=OUT) as tmp:
        where = Path(tmp)
        recorder = Recorder(where)
        runtime, groups = await build_load_runtime(where, conf, recorder)
        network: SimNetwork = runtime.network
        app = WatuiApp(runtime)
        probe = PaintProbe(app)
        stop = asyncio.Event()
        beats: list[float] = []
        samples: list[Sample] = []
        stats = KeyStats()
        gc.collect()
        reset_peak_rss()
        rss_start = rss_mb()[0]
        try:
            async with app.run_test(size=SIZE) as pilot:
                t0 = time.perf_counter()  # the app starts the sessions on mount
                tasks = [
                    asyncio.create_task(heartbeat(stop, beats)),
                    asyncio.create_task(watch(runtime, recorder, t0, stop, samples)),
                ]
                traffic = asyncio.create_task(live_traffic(network, conf, groups, stop))
                main = app._main()
                while not main.query_one("#chats").chats and time.perf_counter() - t0 < 60:
                    await asyncio.sleep(0.05)
                keys = asyncio.create_task(press_keys(app, pilot, probe, ids, stop, stats))
                paints_from = len(probe.paints)
                while len(recorder.stored_at) < len(ids) and time.perf_counter() - t0 < conf.max_seconds:
                    if keys.done():
                        keys.result()  # a failure in the key driver ends the run with its traceback
                    await asyncio.sleep(0.25)
                await asyncio.sleep(conf.tail)
                stop.set()
                live_sent = await traffic
                await keys
                ended = time.perf_counter()
                await asyncio.sleep(conf.reply_delay + 0.5)  # the answers to the last texts
                await runtime.manager.drain()
                await app.workers.wait_for_complete()
                for task in tasks:
                    await task
                rss_end, rss_peak = rss_mb()
                sim = sim_retention(network)
                census = object_census() if conf.census else []
                paints = [t for t in probe.paints[paints_from:] if t <= ended]
        finally:
            await runtime.close()
            network.close()
            recorder.close()
        counts, problems = await check_store(runtime.environment.paths.store_path, ids, recorder)
    sync_seconds = {sid: recorder.stored_at[sid] - recorder.first_chunk[sid] for sid in recorder.stored_at}
    span = (max(recorder.stored_at.values()) - min(recorder.first_chunk.values())) if recorder.stored_at else float("nan")
    return LoadResult(
        conf, ended - t0, sync_seconds, span, sum(recorder.history.values()), live_sent,
        sum(recorder.live.values()), sum(recorder.receipts.values()), stats,
        [b - a for a, b in zip(paints, paints[1:])], [b - a for a, b in zip(beats, beats[1:])],
        samples, rss_start, rss_peak, rss_end, sim, counts, problems, os.getloadavg(),
        (max(recorder.stored_at.values()) - t0) if recorder.stored_at else float("nan"), census,
    )


def _p(values: list[float], q: float) -> float:
    return ms(percentile(values, q))


def backlog_series(samples: list[Sample], points: int = 12) -> str:
    """'10s 12ev/3,000h 180MB; ...' (events and history messages waiting, RSS) at about
    ``points`` moments of the run."""
    every = max(1.0, (samples[-1].at if samples else 0) / points)
    out, next_at = [], 0.0
    for s in samples:
        if s.at >= next_at:
            out.append(f"{s.at:.0f}s {s.queued_events:,}ev/{s.queued_history:,}h {s.rss_mb:.0f}MB {s.blocks / 1e6:.2f}Mobj")
            next_at += every
    return "; ".join(out)


def rows_for(result: LoadResult) -> list[Row]:
    conf = result.conf
    n = conf.sessions
    counts = result.counts.values()
    missing = sum(c.missing for c in counts)
    extra = sum(c.extra for c in counts)
    dupes = sum(c.duplicate_keys + c.duplicate_content for c in counts)
    same = sum(c.same_text_and_time for c in counts)
    delivered = sum(c.delivered for c in counts)
    handed_twice = sum(c.handed_twice for c in counts)
    syncs = list(result.sync_seconds.values())
    rate = result.history_messages / result.sync_span if result.sync_span else float("nan")
    keys = result.keys.all()
    missed = sum(result.keys.missed.values())
    peak_backlog = max(result.samples, key=lambda s: s.queued_history, default=None)
    at_sync = next((s for s in result.samples if s.at >= result.synced_at), None)
    last = result.samples[-1] if result.samples else None
    census = ", ".join(f"{name.rsplit('.', 1)[-1]} {n:,}" for name, n in result.census)
    examples = [e for c in counts for e in c.examples][:6]
    return [
        Row("load", f"history sync, {n} x {conf.history:,} msgs: all stored in", result.sync_span, "s",
            note=f"offered {conf.history_rate:,.0f} msgs/s per session in chunks of <= {conf.chunk_messages:,} msgs / 50 chats; "
                 f"per session {min(syncs, default=0):.1f}-{max(syncs, default=0):.1f} s (median {percentile(syncs, 50):.1f} s); "
                 f"{len(syncs)}/{n} syncs complete"),
        Row("load", "history stored per second (all sessions)", rate, "msgs/s",
            baseline=f"offered {conf.history_rate * n:,.0f}/s", target=f">= {0.9 * conf.history_rate * n:,.0f}/s",
            met=rate >= 0.9 * conf.history_rate * n),
        Row("load", f"live messages handed to the sessions ({conf.live_rate:g}/s per session offered)",
            result.live_handed, "msgs",
            note=f"{result.live_sent:,} sent from phones over {result.seconds:.0f} s (answers and own-phone copies on top); "
                 f"{result.receipts:,} receipts"),
        Row("load", "message ids missing from the store", missing, "", "0", missing == 0,
            note=f"{delivered:,} distinct ids handed over (history + live); "
                 + (", ".join(examples) if examples else "none missing or extra")),
        Row("load", "ids in the store never handed over", extra, "", "0", extra == 0),
        Row("load", "duplicates (by chat+id, by chat+sender+text+time)", dupes, "", "0", dupes == 0,
            note="; ".join(x for x in (
                f"{handed_twice:,} ids were handed over twice and stored once" if handed_twice else "",
                f"{same:,} groups of distinct messages (every id handed over) share chat, sender, text and millisecond"
                if same else "") if x)),
        Row("load", "store integrity_check() problems", len(result.problems), "", "0", not result.problems,
            note="; ".join(result.problems[:3])),
        Row("load", "key to paint p50 during the load", _p(keys, 50), "ms", "<= 50 ms", _p(keys, 50) <= 50 and not missed,
            note=f"p99 {_p(keys, 99):.0f} ms, max {ms(max(keys, default=0)):.0f} ms, {len(keys)} keys"
                 + "".join(f"; {kind} p50 {_p(v, 50):.0f}/p99 {_p(v, 99):.0f} ms" for kind, v in result.keys.latency.items())
                 + (f"; {missed} never painted within 5 s ({dict(result.keys.missed)})" if missed else "")),
        Row("load", "longest gap between frames", ms(max(result.frame_gaps, default=0)), "ms",
            note=f"{len(result.frame_gaps) + 1} frames; p99 gap {_p(result.frame_gaps, 99):.0f} ms (a headless app paints only on change)"),
        Row("load", "longest event-loop stall", ms(max(result.loop_stalls, default=0)), "ms",
            note=f"5 ms heartbeat; p99 {_p(result.loop_stalls, 99):.0f} ms"),
        Row("load", "peak queue backlog (history messages waiting)", peak_backlog.queued_history if peak_backlog else 0, "msgs",
            note=(f"at {peak_backlog.at:.0f} s, {peak_backlog.queued_events:,} events; over time: {backlog_series(result.samples)}"
                  if peak_backlog else "")),
        Row("load", "peak RSS (VmHWM) of the process", result.rss_peak, "MB",
            note=f"{result.rss_start:.0f} MB before the sessions started"
                 + (f"; {at_sync.rss_mb:.0f} MB and {at_sync.blocks / 1e6:.2f} M live objects when the last sync was stored "
                    f"({at_sync.at:.0f} s), {last.rss_mb:.0f} MB and {last.blocks / 1e6:.2f} M at {last.at:.0f} s"
                    if at_sync and last else "")
                 + "; the sim network holds " + ", ".join(f"{v:,} {k}" for k, v in result.sim.items()) + " at the end"
                 + (f"; most common objects at the end: {census}" if census else "")),
        Row("load", "RSS at the end", result.rss_end, "MB",
            note=f"load average at the end {result.load_average[0]:.2f}/{result.load_average[1]:.2f}/{result.load_average[2]:.2f} "
                 f"on {os.cpu_count()} cores"),
    ]


def run(scale: float = 1.0, conf: LoadConfig | None = None) -> list[Row]:
    conf = conf or LoadConfig.scaled(scale)
    return rows_for(asyncio.run(measure(conf)))


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    defaults = LoadConfig()
    parser.add_argument("--sessions", type=int, default=defaults.sessions)
    parser.add_argument("--history", type=int, default=None, help=f"messages per session (default {defaults.history:,} x scale)")
    parser.add_argument("--history-rate", type=float, default=defaults.history_rate, help="msgs/s per session offered")
    parser.add_argument("--chunk-messages", type=int, default=defaults.chunk_messages)
    parser.add_argument("--live-rate", type=float, default=defaults.live_rate, help="live msgs/s per session")
    parser.add_argument("--tail", type=float, default=defaults.tail, help="seconds of live traffic after the syncs")
    parser.add_argument("--census", action="store_true", help="name the most common live objects at the end")
    args = parser.parse_args()
    conf = LoadConfig.scaled(args.scale, sessions=args.sessions, history=args.history, history_rate=args.history_rate,
                             chunk_messages=args.chunk_messages, live_rate=args.live_rate, tail=args.tail,
                             census=args.census)
    rows = run(conf=conf)
    print_table(rows, f"load -- {conf.sessions} sessions x {conf.history:,} history messages, "
                      f"live {conf.live_rate:g} msgs/s per session")
    save(rows, args.json, "load")


if __name__ == "__main__":
    main()
