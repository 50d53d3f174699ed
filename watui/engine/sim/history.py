"""Deterministic history for a freshly paired sim account.

Everything comes from RNGs seeded with the network seed and the account's phone (one for the
chat plan, one per chat for its messages), so the same seed gives identical HistorySyncBatch
events (pass ``HistorySpec.end`` to pin the timestamps as well; by default the newest
message is "now"). The chunks are made one at a time as they are asked for
(:func:`iter_history`): a 100,000-message sync never sits in memory whole.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from watui.domain.events import HistorySyncBatch
from watui.domain.jid import USER_SERVER
from watui.domain.models import Chat, MediaType, Message, MessageStatus


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """What a history sync holds. Sizes are skewed like a real phone: a few big chats and
    many small ones."""

    chats: int = 40  # in all, including the chats with other network accounts and groups
    messages_per_chat: int = 12  # mean size of an ordinary chat (exponential spread)
    big_chats: int = 3  # a few chats ...
    big_chat_messages: int = 250  # ... with about this many messages
    group_ratio: float = 0.2  # share of generated chats that are groups
    group_senders: tuple[int, int] = (3, 8)  # other senders in a generated group
    media_ratio: float = 0.08  # share of messages that are image/document/voice/video rows
    unread_ratio: float = 0.15  # share of chats with unread incoming messages at the end
    archived_ratio: float = 0.05
    pinned: int = 2
    muted_ratio: float = 0.05
    reply_ratio: float = 0.05  # share of messages quoting an earlier one
    chunk_size: int = 50  # chats per HistorySyncBatch
    span_days: float = 120.0  # how far back the chats' last activity reaches
    end: datetime | None = None  # newest possible message; None: the network clock at sync
    include_network: bool = True  # chats with the other network accounts and shared groups
    messages: int | None = None  # exactly this many messages in all (sizes scaled); None: as drawn
    # a chunk also closes at this many messages, and a bigger chat is split over several
    # chunks (newest part first, each with the chat's record), as WhatsApp's blobs are
    # bounded in bytes; 0: chunks are bounded by chunk_size chats only
    chunk_messages: int = 0


@dataclass(frozen=True, slots=True)
class Peer:
    jid: str
    name: str


@dataclass(frozen=True, slots=True)
class PeerGroup:
    jid: str
    subject: str
    members: tuple[Peer, ...] = field(default=())  # without the owner


_FIRST = (
    "Amara", "Ben", "Carla", "Diego", "Elif", "Farah", "Georg", "Hiro", "Ines", "Jonas", "Kemi",
    "Lars", "Maya", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Chen", "Dara", "Emil", "Freya", "Gita",
    "Hugo", "Ivana", "Jamal", "Kira", "Luca", "Mei", "Nico",
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
_PHRASES = (
    "Hey, how are you?", "Sounds good!", "On my way", "Running 10 minutes late, sorry",
    "Did you see the news?", "Can you send me the address?", "Thanks a lot 🙏", "Haha 😂",
    "Let's do Friday instead", "What time works for you?", "I'll call you later",
    "Just landed ✈️", "Happy birthday!! 🎉", "Dinner at 8?", "Yes please", "No worries",
    "Can you review the doc when you get a chance?", "Meeting moved to 3pm",
    "Where did we park?", "Good morning ☀️", "Miss you guys", "That's hilarious",
    "Let me check and get back to you", "Sure, no problem", "Could you pick up some bread?",
    "Ok 👍", "See you tomorrow", "I'm at the station", "The train is delayed again",
    "Great job today!", "Who's bringing the snacks?", "Link's in the calendar invite",
    "I sent you the photos", "Are we still on for the weekend?", "Love it ❤️",
    "Did the package arrive?", "Call me when you're free", "Almost done here",
    "Can't make it tonight, next time?", "Agreed", "Let's keep it simple",
    "Just pushed the fix, can you try again?", "Weather looks great for Sunday",
    "Booked the tickets 🎟️", "Happy to help", "What do you think?", "Not sure yet",
    "I'll bring the cake 🍰", "Good night 🌙", "Looks perfect",
)
_CAPTIONS = ("", "", "Look at this!", "From today", "As promised", "Here you go", "😍")
_DOCS = (
    ("Quarterly report.pdf", "application/pdf"), ("Invoice 2291.pdf", "application/pdf"),
    ("Slides draft.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("Budget.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("Tickets.pdf", "application/pdf"), ("Notes.txt", "text/plain"),
    ("Lease agreement.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
)
_COUNTRY_CODES = ("1", "44", "49", "34", "55", "91", "33", "39", "81", "61")


def _message_id(rng: random.Random) -> str:
    return "3EB0" + f"{rng.getrandbits(72):018X}"


def _group_jid(rng: random.Random) -> str:
    return f"120363{rng.randrange(10**11, 10**12)}@g.us"


def _media(rng: random.Random, when: datetime, seq: int) -> dict[str, object]:
    roll = rng.random()
    stamp = when.strftime("%Y%m%d")
    if roll < 0.5:
        return {
            "media_type": MediaType.IMAGE,
            "filename": f"IMG-{stamp}-WA{seq:04d}.jpg",
            "mimetype": "image/jpeg",
            "file_length": rng.randrange(40_000, 4_000_000),
            "content": rng.choice(_CAPTIONS),
        }
    if roll < 0.75:
        name, mime = rng.choice(_DOCS)
        return {
            "media_type": MediaType.DOCUMENT,
            "filename": name,
            "mimetype": mime,
            "file_length": rng.randrange(8_000, 12_000_000),
            "content": "",
        }
    if roll < 0.95:
        return {
            "media_type": MediaType.VOICE,
            "filename": f"PTT-{stamp}-WA{seq:04d}.opus",
            "mimetype": "audio/ogg; codecs=opus",
            "file_length": rng.randrange(3_000, 600_000),
            "content": "",
        }
    return {
        "media_type": MediaType.VIDEO,
        "filename": f"VID-{stamp}-WA{seq:04d}.mp4",
        "mimetype": "video/mp4",
        "file_length": rng.randrange(300_000, 40_000_000),
        "content": rng.choice(_CAPTIONS),
    }


def generate_history(
    spec: HistorySpec,
    *,
    seed: int,
    owner_phone: str,
    end: datetime,
    peers: tuple[Peer, ...] = (),
    groups: tuple[PeerGroup, ...] = (),
) -> list[HistorySyncBatch]:
    """The whole history sync as a list (see :func:`iter_history`)."""
    return list(iter_history(spec, seed=seed, owner_phone=owner_phone, end=end, peers=peers, groups=groups))


@dataclass(frozen=True, slots=True)
class _ChatPlan:
    jid: str
    name: str
    is_group: bool
    members: tuple[Peer, ...]
    last: datetime  # the newest message, to the millisecond
    size: int
    pinned: bool = False


def iter_history(
    spec: HistorySpec,
    *,
    seed: int,
    owner_phone: str,
    end: datetime,
    peers: tuple[Peer, ...] = (),
    groups: tuple[PeerGroup, ...] = (),
) -> Iterator[HistorySyncBatch]:
    """The history sync for one account, as ordered HistorySyncBatch chunks (most recent
    chats first), each made when it is asked for. ``peers`` and ``groups`` are the network's
    own contacts of this account (used when ``spec.include_network``); the rest is invented
    from the seed."""
    end = spec.end or end
    plans = _plan_chats(spec, seed, owner_phone, end, peers, groups)
    layout = _layout([plan.size for plan in plans], max(1, spec.chunk_size), max(0, spec.chunk_messages))
    media_seq = itertools.count(1)
    # a chat split over several chunks is made once and kept until its last (oldest) part
    held: dict[int, tuple[Chat, list[Message], list[tuple[str, str]]]] = {}
    for order, parts in enumerate(layout):
        chats: list[Chat] = []
        messages: list[Message] = []
        names: set[tuple[str, str]] = set()
        for index, start, stop in parts:
            made = held.get(index)
            if made is None:
                made = _make_chat(plans[index], spec, seed, owner_phone, end, media_seq)
                if start > 0:
                    held[index] = made
            elif start == 0:
                del held[index]
            chat, chat_messages, chat_names = made
            chats.append(chat)
            messages += chat_messages[start:stop]
            names.update(chat_names)
        yield HistorySyncBatch(
            chats=tuple(chats),
            messages=tuple(messages),
            push_names=tuple(sorted(names)),
            sync_type="initial",
            chunk_order=order,
            progress=round(100.0 * (order + 1) / len(layout), 1),
            done=order == len(layout) - 1,
        )


def _plan_chats(
    spec: HistorySpec,
    seed: int,
    owner_phone: str,
    end: datetime,
    peers: tuple[Peer, ...],
    groups: tuple[PeerGroup, ...],
) -> list[_ChatPlan]:
    """Every chat of the history (who, how big, how recent), most recent first."""
    rng = random.Random(f"watui-sim:{seed}:history:{owner_phone}")
    span = timedelta(days=spec.span_days)
    used_phones = {owner_phone} | {p.jid.split("@", 1)[0] for p in peers}

    def new_person() -> Peer:
        while True:
            phone = rng.choice(_COUNTRY_CODES) + str(rng.randrange(10**9, 10**10))
            if phone not in used_phones:
                used_phones.add(phone)
                return Peer(f"{phone}@{USER_SERVER}", f"{rng.choice(_FIRST)} {rng.choice(_LAST)}")

    plans: list[_ChatPlan] = []
    if spec.include_network:
        for peer in peers:
            last = end - timedelta(seconds=rng.uniform(60, 8 * 3600))  # on top of the list
            size = max(2, int(rng.expovariate(1.0 / spec.messages_per_chat)))
            plans.append(_ChatPlan(peer.jid, peer.name, False, (peer,), last, size))
        for group in groups:
            last = end - timedelta(seconds=rng.uniform(60, 6 * 3600))
            size = max(4, int(rng.expovariate(1.0 / max(spec.messages_per_chat, 1)) * 2))
            members = group.members or (new_person(),)
            plans.append(_ChatPlan(group.jid, group.subject, True, members, last, size))
    generated = max(0, spec.chats - len(plans))
    big = set(rng.sample(range(generated), min(spec.big_chats, generated))) if generated else set()
    for index in range(generated):
        last = end - span * (rng.random() ** 2)  # skewed towards recent activity
        if index in big:
            size = max(1, int(spec.big_chat_messages * rng.uniform(0.6, 1.0)))
        else:
            size = max(1, int(rng.expovariate(1.0 / max(spec.messages_per_chat, 1))))
        if rng.random() < spec.group_ratio:
            low, high = spec.group_senders
            members = tuple(new_person() for _ in range(rng.randint(low, max(low, high))))
            subject = rng.choice(_GROUP_WORDS[0]) + rng.choice(_GROUP_WORDS[1])
            plans.append(_ChatPlan(_group_jid(rng), subject, True, members, last, size))
        else:
            person = new_person()
            plans.append(_ChatPlan(person.jid, person.name, False, (person,), last, size))

    pinned = set(rng.sample(range(len(plans)), min(spec.pinned, len(plans))))
    sizes = _fit_sizes([plan.size for plan in plans], spec.messages)
    plans = [
        replace(plan, last=_to_millis(plan.last), size=size, pinned=index in pinned)
        for index, (plan, size) in enumerate(zip(plans, sizes, strict=True))
    ]
    plans.sort(key=lambda plan: (plan.last, plan.jid), reverse=True)
    return plans


def _fit_sizes(sizes: list[int], total: int | None) -> list[int]:
    """``sizes`` scaled to add up to exactly ``total`` (None: as they are), every chat keeping
    at least one message."""
    if total is None or not sizes:
        return sizes
    if total < len(sizes):
        raise ValueError(f"HistorySpec.messages={total} is below the number of chats ({len(sizes)})")
    drawn = sum(sizes)
    fitted = [max(1, size * total // drawn) for size in sizes]
    # the rounding difference goes to (or comes from) the biggest chats
    order = sorted(range(len(fitted)), key=lambda i: -fitted[i])
    diff, turn = total - sum(fitted), 0
    while diff:
        i = order[turn % len(order)]
        if diff > 0:
            fitted[i] += 1
            diff -= 1
        elif fitted[i] > 1:
            fitted[i] -= 1
            diff += 1
        turn += 1
    return fitted


def _layout(sizes: list[int], chats_per_chunk: int, messages_per_chunk: int) -> list[list[tuple[int, int, int]]]:
    """The chunks as lists of (chat index, start, stop) slices of each chat's messages
    (oldest first). A chunk holds at most ``chats_per_chunk`` slices and, when
    ``messages_per_chunk`` is set, at most that many messages: a bigger chat is cut into
    parts sent newest first, the oldest part sharing its chunk with the chats after it."""
    chunks: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    used = 0
    for index, size in enumerate(sizes):
        stop = size
        while messages_per_chunk and stop > messages_per_chunk:  # the newest parts: a chunk each
            if current:
                chunks.append(current)
                current, used = [], 0
            chunks.append([(index, stop - messages_per_chunk, stop)])
            stop -= messages_per_chunk
        if messages_per_chunk and current and used + stop > messages_per_chunk:
            chunks.append(current)
            current, used = [], 0
        current.append((index, 0, stop))
        used += stop
        if len(current) >= chats_per_chunk:
            chunks.append(current)
            current, used = [], 0
    if current:
        chunks.append(current)
    return chunks or [[]]


def _to_millis(when: datetime) -> datetime:
    return when.replace(microsecond=(when.microsecond // 1000) * 1000)


def _make_chat(
    plan: _ChatPlan,
    spec: HistorySpec,
    seed: int,
    owner_phone: str,
    end: datetime,
    media_seq: Iterator[int],
) -> tuple[Chat, list[Message], list[tuple[str, str]]]:
    """One chat's conversation record, its messages (oldest first) and its senders' names."""
    rng = random.Random(f"watui-sim:{seed}:history:{owner_phone}:{plan.jid}")
    me = f"{owner_phone}@{USER_SERVER}"
    size = plan.size
    mean_gap = min(max(timedelta(days=spec.span_days).total_seconds() / (size * 6), 30.0), 86400.0)
    times = [plan.last]
    for _ in range(size - 1):
        times.append(times[-1] - timedelta(seconds=rng.expovariate(1.0 / mean_gap) + 1))
    times.reverse()
    unread = 0
    if rng.random() < spec.unread_ratio:
        unread = rng.randint(1, min(size, 6))
    mine_p = 0.25 if plan.is_group else 0.45
    messages: list[Message] = []
    names: set[tuple[str, str]] = set()
    for position, when in enumerate(times):
        when = _to_millis(when)
        from_me = position < size - unread and rng.random() < mine_p
        author = None if from_me else rng.choice(plan.members)
        fields: dict[str, object] = {"content": rng.choice(_PHRASES)}
        if rng.random() < spec.media_ratio:
            fields = _media(rng, when, next(media_seq))
        if from_me:
            status = MessageStatus.READ if position < size - 2 else rng.choice(
                (MessageStatus.DELIVERED, MessageStatus.READ)
            )
        else:
            status = MessageStatus.RECEIVED
        message = Message(
            id=_message_id(rng),
            chat_jid=plan.jid,
            sender=me if author is None else author.jid,
            timestamp=when,
            is_from_me=from_me,
            push_name="" if author is None else author.name,
            status=status,
            **fields,  # type: ignore[arg-type]
        )
        if messages and rng.random() < spec.reply_ratio:
            target = rng.choice(messages)
            message.quoted_message_id = target.id
            message.quoted_sender = target.sender
            message.quoted_preview = target.preview
        if author is not None:
            names.add((author.jid, author.name))
        messages.append(message)
    newest = messages[-1]
    chat = Chat(
        jid=plan.jid,
        name=plan.name,
        last_message_time=newest.timestamp,
        is_group=plan.is_group,
        unread_count=unread,
        archived=not plan.pinned and rng.random() < spec.archived_ratio,
        pinned=plan.pinned,
        muted_until=end + timedelta(days=365) if rng.random() < spec.muted_ratio else None,
        created_at=messages[0].timestamp,
        last_message_id=newest.id,
        last_message_preview=newest.preview,
        last_message_sender=newest.sender,
        last_message_is_from_me=newest.is_from_me,
    )
    return chat, messages, sorted(names)
