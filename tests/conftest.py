"""Shared fixtures: a real store in tmp_path, a small sim network, and a manager over both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from watui.engine.sim.history import HistorySpec
from watui.engine.sim.network import SimNetwork
from watui.sessions import SessionManager
from watui.store import ChatStorageRepository

from tests.support import ALICE, HOME, WORK


@pytest.fixture
async def repo(tmp_path):
    repository = await ChatStorageRepository.open(tmp_path / "watui.db")
    yield repository
    await repository.close()


@pytest.fixture
def network():
    net = SimNetwork(seed=1, qr_first=30.0, qr_next=30.0, reply_delay=0.0, backoff_base=0.01, backoff_max=0.05)
    net.add_account(HOME, "Home", history=HistorySpec(chats=12, messages_per_chat=5, big_chats=1, big_chat_messages=40, chunk_size=4))
    net.add_account(WORK, "Work", history=HistorySpec(chats=5, messages_per_chat=4, big_chats=0, chunk_size=5))
    net.add_account(ALICE, "Alice", auto_reply=True)
    yield net
    net.close()


@pytest.fixture
async def make_manager(repo, network, tmp_path):
    managers: list[SessionManager] = []

    def make(registry=None) -> SessionManager:
        manager = SessionManager(
            repo, lambda sid: network.client(sid, tmp_path / "sessions" / f"{sid}.db"), registry=registry
        )
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.shutdown(timeout=2.0)
