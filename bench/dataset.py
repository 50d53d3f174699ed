"""A deterministic, skewed chat store for the benchmarks.

Default (scale 1.0): 10 sessions x 5,000 chats, 1,000,000 messages. Sizes are skewed the way
real phones are: one huge chat (100,000 messages, in session ``s01``), a few big chats per
session, and a long tail of small ones (log-normal); 20% groups with 3-60 senders (some much
chattier than others); 8% media rows with keys and hashes; 5% replies; 15% of chats with
unread incoming messages; a few pinned, archived and muted chats. Text is drawn from a
Zipf-distributed vocabulary, so full-text search meets common, medium and rare words.

The store is written straight into the real schema (``upgrade_store`` creates it; the FTS
triggers index the text) with the denormalised columns (last_message_*, unread_count,
is_read) exactly as the repository keeps them. It is cached as bench/out/store-<scale>.db
and rebuilt when the generator changes; a newer schema is applied by ``upgrade_store``.

    .venv/bin/python bench/dataset.py --scale 0.1          # build (or reuse) and describe
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, common_args
from watui.domain.events import HistorySyncBatch
from watui.domain.models import Chat, Message, MessageStatus, from_millis
from watui.store.migrations import LATEST_VERSION, preview_text, upgrade_store

GENERATOR_VERSION = 5
SEED = 20260807
END = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)  # the newest message; fixed, so runs compare
END_MS = int(END.timestamp() * 1000)

SESSIONS = 10
CHATS_PER_SESSION = 5_000
TOTAL_MESSAGES = 1_000_000
HUGE_CHAT_MESSAGES = 100_000  # one chat of session s01
BIG_CHATS_PER_SESSION = 3
BIG_CHAT_SHARE = 0.03  # of a session's messages, each
GROUP_RATIO = 0.2
MEDIA_RATIO = 0.08
REPLY_RATIO = 0.05
UNREAD_RATIO = 0.15
PINNED_PER_SESSION = 3
ARCHIVED_RATIO = 0.04
MUTED_RATIO = 0.05

_FIRST = (
    "Amara", "Ben", "Carla", "Diego", "Elif", "Farah", "Georg", "Hiro", "Ines", "Jonas", "Kemi",
    "Lars", "Maya", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Chen", "Dara", "Emil", "Freya", "Gita",
    "Hugo", "Ivana", "Jamal", "Kira", "Luca", "Mei", "Nico", "Marta", "Marco", "Maria", "Mateo",
)
_LAST = (
    "Almeida", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi",
    "Silva", "Tanaka", "Uddin", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Moreau", "Novak",
)
_GROUP_WORDS = (
    ("Family", "Book club", "Climbing", "Flat", "Football", "Choir", "Parents", "Alumni",
     "Design", "Ops", "Garden", "Board games", "Running", "Neighbours", "Trip", "Study"),
    ("", " 🏔", " crew", " chat", " 2024", " squad", " group", " team", " ✨", " planning"),
)
_HEAD_WORDS = (
    "ok i you the to a and is it that we for on can be at see yes no will do this me have "
    "what so just are my not with time tomorrow today there now get good know call thanks "
    "going how when where let us sure like think did was come need will send later great one "
    "back home work day night week morning meeting dinner lunch train station address photos "
    "weekend friday sunday monday please sorry love happy birthday doc review fix tickets "
    "package bread snacks cake weather flight landed park late minutes plan idea office"
).split()
_SYLLABLES = ("ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "po", "la", "ri", "an",
              "el", "or", "us", "ba", "ce", "fi", "go", "hu", "je", "ku", "ma", "no", "pe")
_EMOJI = ("😂", "🙏", "❤️", "👍", "🎉", "😍", "✨", "☀️", "🍰", "✈️")
_DOCS = (("Quarterly report.pdf", "application/pdf"), ("Invoice 2291.pdf", "application/pdf"),
         ("Budget.xlsx", "application/vnd.ms-excel"), ("Notes.txt", "text/plain"))


def vocabulary() -> list[str]:
    """Head words (everyday chat) then ~6,000 invented words for the tail, Zipf-ranked."""
    words = list(dict.fromkeys(_HEAD_WORDS))
    rng = random.Random(f"{SEED}:vocab")
    seen = set(words)
    while len(words) < 6_000:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


VOCAB = vocabulary()
_CUM = list(itertools.accumulate(1.0 / (rank + 1) ** 1.05 for rank in range(len(VOCAB))))
_LENGTHS = (1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 12, 14, 18, 25, 40)

# Probe terms for the search benchmark, by Zipf rank: common, medium, rare.
SEARCH_TERMS = {"common": VOCAB[40], "medium": VOCAB[400], "rare": VOCAB[4000]}


@dataclass(frozen=True, slots=True)
class ChatPlan:
    session_id: str
    index: int
    jid: str
    name: str
    is_group: bool
    members: tuple[tuple[str, str], ...]  # (jid, push name) of the other senders
    size: int
    last_ms: int
    span_ms: int
    unread: int
    pinned: bool
    archived: bool
    muted: bool


@dataclass(frozen=True, slots=True)
class Scale:
    sessions: int
    chats_per_session: int
    total_messages: int
    huge: int

    @classmethod
    def of(cls, scale: float) -> Scale:
        return cls(
            sessions=SESSIONS,
            chats_per_session=max(50, round(CHATS_PER_SESSION * scale)),
            total_messages=max(5_000, round(TOTAL_MESSAGES * scale)),
            huge=max(1_000, round(HUGE_CHAT_MESSAGES * scale)),
        )


def session_ids(n: int = SESSIONS) -> list[str]:
    return [f"s{i:02d}" for i in range(1, n + 1)]


def owner_phone(session_id: str) -> str:
    digits = session_id[1:] if session_id[1:].isdigit() else str(int(hashlib.sha256(session_id.encode()).hexdigest(), 16) % 10**6)
    return f"1555{int(digits):07d}"


def _person(rng: random.Random, used: set[str]) -> tuple[str, str]:
    while True:
        phone = rng.choice(("1", "44", "49", "34", "55", "91", "33")) + str(rng.randrange(10**9, 10**10))
        if phone not in used:
            used.add(phone)
            break
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" if rng.random() < 0.92 else ""
    return f"{phone}@s.whatsapp.net", name


def plan_session(session_id: str, chats: int, messages: int, huge: int = 0, seed: int = SEED) -> list[ChatPlan]:
    """The chats of one session (most recent first), with how many messages each holds."""
    rng = random.Random(f"{seed}:{session_id}:plan")
    used: set[str] = set()
    budget = messages - huge
    big = BIG_CHATS_PER_SESSION if chats > 20 else 0
    big_sizes = [max(50, int(messages * BIG_CHAT_SHARE * rng.uniform(0.5, 1.5))) for _ in range(big)]
    budget -= sum(big_sizes)
    rest = chats - big - (1 if huge else 0)
    weights = [rng.lognormvariate(0.0, 1.4) for _ in range(rest)]
    total_w = sum(weights)
    sizes = [max(1, int(budget * w / total_w)) for w in weights]
    sizes[0] += budget - sum(sizes)  # exact total
    if sizes[0] < 1:
        sizes[0] = 1
    all_sizes = ([huge] if huge else []) + big_sizes + sizes
    plans: list[ChatPlan] = []
    pinned = set(rng.sample(range(chats), min(PINNED_PER_SESSION, chats)))
    for index, size in enumerate(all_sizes):
        last_ms = END_MS - int(365 * 86_400_000 * rng.random() ** 2.2)
        if index == 0 and huge:
            last_ms = END_MS - rng.randrange(60_000, 3_600_000)  # the huge chat is active
        span_ms = int(86_400_000 * min(730.0, max(1.0, size / rng.uniform(3, 40))))
        is_group = rng.random() < GROUP_RATIO or (index == 0 and huge > 0)
        if is_group:
            senders = rng.choice((3, 4, 6, 8, 12, 20, 35, 60))
            members = tuple(_person(rng, used) for _ in range(senders))
            name = rng.choice(_GROUP_WORDS[0]) + rng.choice(_GROUP_WORDS[1])
            jid = f"120363{rng.randrange(10**11, 10**12)}@g.us"
        else:
            person = _person(rng, used)
            members = (person,)
            jid, name = person
        unread = rng.randint(1, 20) if rng.random() < UNREAD_RATIO else 0
        plans.append(ChatPlan(
            session_id, index, jid, name, is_group, members, size, last_ms, span_ms,
            min(unread, size), index in pinned,
            index not in pinned and rng.random() < ARCHIVED_RATIO, rng.random() < MUTED_RATIO,
        ))
    return plans


def plan_store(scale: float, seed: int = SEED) -> list[list[ChatPlan]]:
    s = Scale.of(scale)
    ids = session_ids(s.sessions)
    # sessions differ in size too: 30% .. 170% of the mean
    rng = random.Random(f"{seed}:sessions")
    shares = [rng.uniform(0.3, 1.7) for _ in ids]
    rest = s.total_messages - s.huge
    counts = [int(rest * share / sum(shares)) for share in shares]
    counts[-1] += rest - sum(counts)
    return [
        plan_session(sid, s.chats_per_session, counts[i] + (s.huge if i == 0 else 0),
                     s.huge if i == 0 else 0, seed)
        for i, sid in enumerate(ids)
    ]


def _text(rng: random.Random) -> str:
    words = rng.choices(VOCAB, cum_weights=_CUM, k=rng.choice(_LENGTHS))
    text = " ".join(words)
    if rng.random() < 0.12:
        text += " " + rng.choice(_EMOJI)
    if rng.random() < 0.3:
        text = text[:1].upper() + text[1:]
    return text


MESSAGE_COLUMNS = (
    "id", "chat_jid", "session_id", "sender", "content", "timestamp", "is_from_me", "media_type",
    "filename", "url", "media_key", "file_sha256", "file_enc_sha256", "file_length", "mimetype",
    "push_name", "status", "quoted_message_id", "quoted_sender", "quoted_preview", "edited",
    "edited_at", "deleted", "error", "is_read", "created_at", "updated_at",
)
CHAT_COLUMNS = (
    "jid", "session_id", "name", "last_message_time", "ephemeral_expiration", "created_at",
    "updated_at", "is_group", "unread_count", "archived", "pinned", "muted_until",
    "last_message_id", "last_message_preview", "last_message_sender", "last_message_is_from_me",
)


def chat_messages(plan: ChatPlan, seed: int = SEED) -> list[tuple]:
    """The chat's rows (oldest first) as tuples in MESSAGE_COLUMNS order."""
    rng = random.Random(f"{seed}:{plan.session_id}:{plan.index}:messages")
    me = f"{owner_phone(plan.session_id)}@s.whatsapp.net"
    size = plan.size
    mean_gap = max(plan.span_ms / size, 1_000)
    times = [0] * size
    t = plan.last_ms
    for i in range(size - 1, -1, -1):
        times[i] = t
        t -= int(rng.expovariate(1.0 / mean_gap)) + 1_000
    members = plan.members
    # a few members write most of a group's messages
    member_weights = list(itertools.accumulate(1.0 / (k + 1) for k in range(len(members))))
    mine_p = 0.25 if plan.is_group else 0.45
    unread_from = size - plan.unread
    rows: list[tuple] = []
    ids: list[tuple[str, str, str]] = []  # (id, sender, preview) for replies
    for position in range(size):
        ts = times[position]
        from_me = position < unread_from and rng.random() < mine_p
        if from_me:
            sender, push = me, ""
        else:
            sender, push = rng.choices(members, cum_weights=member_weights)[0]
        mid = "3EB0" + f"{rng.getrandbits(72):018X}"
        media_type = filename = mimetype = url = ""
        key = sha = enc = None
        length = 0
        if rng.random() < MEDIA_RATIO:
            roll = rng.random()
            if roll < 0.55:
                media_type, filename, mimetype = "image", f"IMG-{position:05d}.jpg", "image/jpeg"
                content = rng.choice(("", "", "Look at this!", _text(rng)))
            elif roll < 0.75:
                media_type, (filename, mimetype) = "document", rng.choice(_DOCS)
                content = ""
            elif roll < 0.95:
                media_type, filename, mimetype = "voice", f"PTT-{position:05d}.opus", "audio/ogg; codecs=opus"
                content = ""
            else:
                media_type, filename, mimetype = "video", f"VID-{position:05d}.mp4", "video/mp4"
                content = rng.choice(("", _text(rng)))
            length = rng.randrange(3_000, 20_000_000)
            key, sha, enc = rng.randbytes(32), rng.randbytes(32), rng.randbytes(32)
            url = f"https://mmg.whatsapp.net/v/t62.7118-24/{rng.getrandbits(64):x}.enc"
        else:
            content = _text(rng)
        quoted_id = quoted_sender = quoted_preview = ""
        if ids and rng.random() < REPLY_RATIO:
            quoted_id, quoted_sender, quoted_preview = ids[-1 - min(len(ids) - 1, int(rng.expovariate(0.3)))]
        status = (MessageStatus.READ if position < size - 2 else MessageStatus.DELIVERED) if from_me else MessageStatus.RECEIVED
        is_read = 1 if (from_me or position < unread_from) else 0
        rows.append((
            mid, plan.jid, plan.session_id, sender, content, ts, 1 if from_me else 0, media_type,
            filename, url, key, sha, enc, length, mimetype, push, int(status), quoted_id,
            quoted_sender, quoted_preview, 0, None, 0, "", is_read, ts, ts,
        ))
        ids.append((mid, sender, preview_text(content, media_type, False)[:100]))
    return rows


def chat_row(plan: ChatPlan, rows: list[tuple]) -> tuple:
    last = rows[-1]
    unread = sum(1 for r in rows if r[24] == 0)
    return (
        plan.jid, plan.session_id, plan.name, last[5], 0, rows[0][5], last[5],
        1 if plan.is_group else 0, unread, 1 if plan.archived else 0, 1 if plan.pinned else 0,
        END_MS + 365 * 86_400_000 if plan.muted else None,
        last[0], preview_text(last[4], last[7], False), last[3], last[6],
    )


# --- domain objects (the ingest benchmark feeds these through the real handler path) ----------
def to_message(row: tuple) -> Message:
    return Message(
        id=row[0], chat_jid=row[1], sender=row[3], timestamp=from_millis(row[5]), content=row[4],
        is_from_me=bool(row[6]), media_type=row[7], filename=row[8], url=row[9],
        media_key=row[10] or b"", file_sha256=row[11] or b"", file_enc_sha256=row[12] or b"",
        file_length=row[13], mimetype=row[14], push_name=row[15], status=MessageStatus(row[16]),
        quoted_message_id=row[17], quoted_sender=row[18], quoted_preview=row[19],
    )


def to_chat(plan: ChatPlan, rows: list[tuple]) -> Chat:
    c = chat_row(plan, rows)
    return Chat(
        jid=plan.jid, name=plan.name, last_message_time=from_millis(c[3]), is_group=plan.is_group,
        unread_count=c[8], archived=plan.archived, pinned=plan.pinned,
        muted_until=from_millis(c[11]) if c[11] else None, created_at=from_millis(c[5]),
        last_message_id=c[12], last_message_preview=c[13], last_message_sender=c[14],
        last_message_is_from_me=bool(c[15]),
    )


@dataclass
class HistoryRows:
    """One session's history, three ways: the plans, the rows and the domain batches."""

    plans: list[ChatPlan]
    rows: dict[str, list[tuple]]  # chat jid -> message rows
    batches: list[HistorySyncBatch]

    @property
    def message_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def history_for_ingest(messages: int, chats: int, session_id: str = "ingest", chunk: int = 50) -> HistoryRows:
    """A fresh account's history sync of ``messages`` messages in ``chats`` chats, chunked
    like WhatsApp's (``chunk`` conversations per HistorySyncBatch, most recent first)."""
    plans = plan_session(session_id, chats, messages, 0, seed=SEED + 1)
    plans.sort(key=lambda p: p.last_ms, reverse=True)
    rows = {p.jid: chat_messages(p, seed=SEED + 1) for p in plans}
    batches: list[HistorySyncBatch] = []
    total = -(-len(plans) // chunk)
    for order in range(total):
        part = plans[order * chunk : (order + 1) * chunk]
        names = sorted({(r[3], r[15]) for p in part for r in rows[p.jid] if r[15]})
        batches.append(HistorySyncBatch(
            chats=tuple(to_chat(p, rows[p.jid]) for p in part),
            messages=tuple(to_message(r) for p in part for r in rows[p.jid]),
            push_names=tuple(names), sync_type="initial", chunk_order=order,
            progress=round(100.0 * (order + 1) / total, 1), done=order == total - 1,
        ))
    return HistoryRows(plans, rows, batches)


# --- the cached store ---------------------------------------------------------------------------
def _tag(scale: float) -> str:
    return f"{scale:g}".replace(".", "_")


def store_path(scale: float) -> Path:
    return OUT / f"store-{_tag(scale)}.db"


def _meta_path(scale: float) -> Path:
    return OUT / f"store-{_tag(scale)}.json"


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def build_store(path: Path, scale: float, *, verbose: bool = True) -> dict:
    """Write the whole store at ``path`` (replacing it). Returns its description."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    upgrade_store(path, backup=False)
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    insert_message = _insert_sql("messages", MESSAGE_COLUMNS)
    insert_chat = _insert_sql("chats", CHAT_COLUMNS)
    huge: tuple[str, str] | None = None
    sizes: list[int] = []
    names: dict[str, list[str]] = {}
    total = 0
    for sessions in plan_store(scale):
        sid = sessions[0].session_id
        conn.execute("BEGIN")
        before = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM messages").fetchone()[0]
        contacts: dict[str, str] = {}
        for plan in sessions:
            rows = chat_messages(plan)
            conn.execute(insert_chat, chat_row(plan, rows))
            conn.executemany(insert_message, rows)
            for jid, push in plan.members:
                if push:
                    contacts[jid] = push
            total += len(rows)
            sizes.append(len(rows))
            if plan.index == 0 and plan.size >= Scale.of(scale).huge:
                huge = (sid, plan.jid)
            if plan.name:
                names.setdefault(sid, []).append(plan.name)
        # the full-text index, as the repository fills it (in bulk, after the rows)
        conn.execute(
            "INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE rowid > ?",
            (before,),
        )
        conn.executemany(
            "INSERT INTO contacts (session_id, jid, push_name, updated_at) VALUES (?, ?, ?, ?)",
            [(sid, jid, push, END_MS) for jid, push in contacts.items()],
        )
        conn.execute(
            "INSERT INTO sessions (session_id, label, device_jid, push_name, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (sid, f"Account {sid[1:]}", f"{owner_phone(sid)}:1@s.whatsapp.net", f"Me {sid}", END_MS, END_MS),
        )
        conn.execute("COMMIT")
        if verbose:
            print(f"  {sid}: {len(sessions):,} chats, {total:,} messages so far "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    conn.execute("PRAGMA optimize")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    sizes.sort(reverse=True)
    meta = {
        "generator": GENERATOR_VERSION,
        "scale": scale,
        "sessions": SESSIONS,
        "chats": len(sizes),
        "messages": total,
        "largest_chats": sizes[:6],
        "median_chat": sizes[len(sizes) // 2],
        "huge_chat": list(huge) if huge else None,
        "build_seconds": round(time.perf_counter() - started, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }
    return meta


def ensure_store(scale: float, *, verbose: bool = True) -> tuple[Path, dict]:
    """The cached store for ``scale`` (built on first use, rebuilt when the generator changed,
    upgraded when the schema did) and its description."""
    path, meta_path = store_path(scale), _meta_path(scale)
    meta = None
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") != GENERATOR_VERSION:
            meta = None
    if meta is None:
        if verbose:
            print(f"building the benchmark store for scale {scale:g} at {path} ...", flush=True)
        meta = build_store(path, scale, verbose=verbose)
        meta_path.write_text(json.dumps(meta, indent=2))
    else:
        conn = sqlite3.connect(path)
        version = conn.execute("SELECT MAX(version) FROM schema_info").fetchone()[0]
        conn.close()
        if version < LATEST_VERSION:
            if verbose:
                print(f"upgrading the cached store from schema {version} to {LATEST_VERSION} ...", flush=True)
            started = time.perf_counter()
            upgrade_store(path, backup=False)
            meta["upgrade_seconds"] = round(time.perf_counter() - started, 1)
            meta_path.write_text(json.dumps(meta, indent=2))
    return path, meta


def fingerprint(path: Path) -> str:
    """A cheap identity of a store's content (counts and a few rows), for sanity checks."""
    conn = sqlite3.connect(path)
    h = hashlib.sha256()
    for sql in ("SELECT COUNT(*), MAX(timestamp) FROM messages", "SELECT COUNT(*), SUM(unread_count) FROM chats",
                "SELECT id FROM messages ORDER BY rowid LIMIT 5"):
        h.update(repr(conn.execute(sql).fetchall()).encode())
    conn.close()
    return h.hexdigest()[:16]


def iter_plans(scale: float) -> Iterator[ChatPlan]:
    for session in plan_store(scale):
        yield from session


def main() -> None:
    parser = common_args(__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild:
        _meta_path(args.scale).unlink(missing_ok=True)
    path, meta = ensure_store(args.scale)
    print(json.dumps(meta, indent=2))
    print("fingerprint", fingerprint(path), "log2 messages", round(math.log2(meta["messages"]), 1))


if __name__ == "__main__":
    main()
