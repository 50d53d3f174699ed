"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from watui.sessions import SessionManager

ALICE = "15550001111"  # a phone-only contact who answers
WORK = "15550002222"
HOME = "15550003333"


async def until(manager: SessionManager, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``predicate`` to hold, re-checking after each notice the manager publishes."""
    changed = asyncio.Event()
    unsubscribe = manager.subscribe(lambda _notice: changed.set())
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


def device_store(tmp_path, session_id: str):
    return tmp_path / "sessions" / f"{session_id}.db"
