"""The world ``watui --demo`` runs in: three sessions of one person (Dana), eight chatty
contacts who answer, and two groups shared by the main and work accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from watui.domain.jid import normalize_phone
from watui.engine.sim.history import HistorySpec
from watui.engine.sim.network import SimNetwork


class DemoSession(NamedTuple):
    session_id: str
    label: str
    phone: str  # digits with country code
    push_name: str


DEMO_SESSIONS: list[DemoSession] = [
    DemoSession("default", "Main phone", normalize_phone("+1 555 0100"), "Dana"),
    DemoSession("work", "Work phone", normalize_phone("+1 555 0200"), "Dana (work)"),
    DemoSession("personal", "Personal phone", normalize_phone("+1 555 0300"), "Dana (personal)"),
]
DEMO_PHONES: dict[str, str] = {s.session_id: s.phone for s in DEMO_SESSIONS}
DEMO_PREPAIRED: tuple[str, ...] = ("default", "work")  # "personal" is paired by a (simulated) scan

DEMO_CONTACTS: list[tuple[str, str]] = [
    ("+1 555 0111", "Alice Moreno"),
    ("+1 555 0112", "Bob Chen"),
    ("+1 555 0113", "Chiara Rossi"),
    ("+1 555 0114", "Dmitri Volkov"),
    ("+1 555 0115", "Emeka Obi"),
    ("+1 555 0116", "Fatima Zahra"),
    ("+1 555 0117", "Gustavo Lima"),
    ("+1 555 0118", "Hana Sato"),
]


def build_demo_network(
    *,
    seed: int = 7,
    history_chats: int = 300,
    reply_delay: float = 1.5,
    **network_options: float,
) -> SimNetwork:
    """The demo network; ``network_options`` go to SimNetwork (qr_first, latency ...)."""
    network = SimNetwork(seed, reply_delay=reply_delay, **network_options)  # type: ignore[arg-type]
    specs = {
        "default": HistorySpec(chats=history_chats, big_chats=4, big_chat_messages=300),
        "work": HistorySpec(chats=max(10, history_chats // 6), big_chats=2, big_chat_messages=150),
        "personal": HistorySpec(chats=max(8, history_chats // 12), big_chats=1, big_chat_messages=80),
    }
    for session in DEMO_SESSIONS:
        network.add_account(session.phone, session.push_name, history=specs[session.session_id])
    for phone, name in DEMO_CONTACTS:
        network.add_account(phone, name, history=HistorySpec(chats=5), auto_reply=True)
    main, work = DEMO_PHONES["default"], DEMO_PHONES["work"]
    contacts = [phone for phone, _ in DEMO_CONTACTS]
    network.add_group("Weekend hikers 🏔", [main, work, *contacts[0:4]])
    network.add_group("Project Atlas", [main, work, *contacts[1:2], *contacts[4:7]])
    return network


def pre_pair_demo(
    network: SimNetwork,
    device_store_for: Callable[[str], str | Path],
    sessions: Iterable[str] = DEMO_PREPAIRED,
) -> dict[str, str]:
    """Pre-pair the demo sessions (``device_store_for(session_id)`` gives each store path);
    returns {session_id: device JID}."""
    return {sid: network.pre_pair(sid, device_store_for(sid), DEMO_PHONES[sid]) for sid in sessions}
