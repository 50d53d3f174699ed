"""SIGKILL in the middle of a history sync and in the middle of a burst of incoming
messages. A real watui runtime (sim backend, its own data dir) runs in a subprocess and
prints, as they happen, the ids of messages the session consumer has COMMITTED (the store
publishes its notices only after the transaction) and of messages put in the outbox. The
test kills it mid-way, reopens the store and checks: integrity and foreign keys sound,
every committed message there exactly once, the outbox intact, and a restart on the same
data dir carries on (new messages arrive, the store stays sound)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from watui.domain import ChatFilter
from watui.domain.models import MessageStatus
from watui.store import ChatStorageRepository, with_session_id

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from watui.runtime import Options, build_runtime, load_environment
    from watui.sessions import MessagesChanged, ChatsChanged
    import watui.engine.sim.demo as demo
    from watui.domain.jid import normalize_phone
    from watui.store import with_session_id

    MODE, DATA, BURST = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if MODE == "history":  # a history long enough to be killed in the middle of
        import functools
        demo.build_demo_network = functools.partial(demo.build_demo_network, history_chats=2000)

    def say(line):
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    async def main():
        env = load_environment(Options(demo=True, data_dir=DATA))
        runtime = await build_runtime(env, start=False)
        manager, network = runtime.manager, runtime.network

        def notice(n):
            if isinstance(n, MessagesChanged):
                for mid in n.message_ids:
                    say(f"committed {n.session_id} {n.chat_jid} {mid}")
            elif isinstance(n, ChatsChanged):
                say(f"chats {n.session_id} {len(n.chat_jids)}")

        manager.subscribe(notice)
        default = manager.get_session("default")
        await manager.start_all()
        if MODE == "restart":
            while default.status.state.value != "connected":
                await asyncio.sleep(0.01)
            contact = demo.DEMO_CONTACTS[0][0]
            network.send_from(contact, demo.DEMO_PHONES["default"] + "@s.whatsapp.net",
                              "after the restart", message_id="3EB0AFTERRESTART")
            chat = normalize_phone(contact) + "@s.whatsapp.net"
            while True:
                await asyncio.sleep(0.02)
                await default.drain()
                with with_session_id("default"):
                    if await runtime.repo.get_message(chat, "3EB0AFTERRESTART"):
                        break
            say("restarted ok")
            await runtime.close()
            return
        say("started")
        # wait for the history sync to be under way, then (burst mode) done
        while default.status.state.value != "connected":
            await asyncio.sleep(0.001)
        if MODE == "history":
            await asyncio.sleep(3600)  # the test kills us during the sync
        await default.drain()
        # the outbox: sends the engine holds forever, stored as pending first
        network.set_send_behaviour("default", delay=3600)
        contact = demo.DEMO_CONTACTS[1][0]
        for i in range(5):
            message = await manager.send_text("default", contact, f"queued {i}")
            say(f"outbox {message.chat_jid} {message.id}")
        say("burst")
        me = demo.DEMO_PHONES["default"] + "@s.whatsapp.net"
        contacts = [phone for phone, _ in demo.DEMO_CONTACTS]
        for i in range(BURST):
            network.send_from(contacts[i % len(contacts)], me, f"burst {i}", message_id=f"3EB0BURST{i:06d}")
            if i % 50 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def spawn(tmp_path: Path, mode: str, burst: int = 0) -> subprocess.Popen[str]:
    script = tmp_path / "victim.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for name in list(env):
        if name == "SESSIONS" or name.endswith(("DB_URI", "DB_KEYS_URI")) or name == "WATUI_CONFIG":
            del env[name]
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(tmp_path / "data"), str(burst)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )


def read_until(process: subprocess.Popen[str], done, timeout: float = 60.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the victim ended early: {process.stderr.read()[-2000:] if process.stderr else ''}")
        lines.append(line.split("\n")[0])
        if done(lines):
            return lines
    raise AssertionError(f"timed out after {len(lines)} lines")


def kill(process: subprocess.Popen[str]) -> list[str]:
    """SIGKILL now; the lines it printed before dying still count (they were committed)."""
    process.send_signal(signal.SIGKILL)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return out.splitlines()


async def check_store(data: Path, committed: list[str], outbox: list[str]) -> dict[str, int]:
    repo = await ChatStorageRepository.open(data / "watui.db")
    try:
        assert await repo.integrity_check() == []
        seen = set()
        for line in committed:
            _, session_id, chat_jid, message_id = line.split()
            if (session_id, chat_jid, message_id) in seen:
                continue
            seen.add((session_id, chat_jid, message_id))
            with with_session_id(session_id):
                assert await repo.get_message(chat_jid, message_id) is not None, line
        for line in outbox:
            _, chat_jid, message_id = line.split()
            with with_session_id("default"):
                message = await repo.get_message(chat_jid, message_id)
                assert message is not None and message.status == MessageStatus.PENDING, line
        with with_session_id("default"):
            pending = {m.id for m in await repo.outbox_pending()}
        assert {line.split()[2] for line in outbox} <= pending
        # no duplicate rows: one per (session, chat, id), and no orphan message
        counts = await repo.row_counts()
        chats = await repo.get_chats(ChatFilter(session_id="default", limit=100_000, include_archived=True))
        assert len({c.jid for c in chats}) == len(chats)
        return {sid: n for sid, (_, n) in counts.items()}
    finally:
        await repo.close()


async def restart_and_check(tmp_path: Path) -> None:
    process = spawn(tmp_path, "restart")
    try:
        lines = read_until(process, lambda ls: ls[-1] == "restarted ok")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    assert lines[-1] == "restarted ok"
    repo = await ChatStorageRepository.open(tmp_path / "data" / "watui.db")
    try:
        assert await repo.integrity_check() == []
    finally:
        await repo.close()


async def test_sigkill_during_a_burst_loses_nothing_committed(tmp_path):
    process = spawn(tmp_path, "burst", burst=3000)
    try:
        before = read_until(process, lambda ls: ls[-1] == "burst")
        before += read_until(process, lambda ls: sum(1 for x in ls if "BURST" in x) >= 300)
    finally:
        lines = kill(process) if process.poll() is None else []
    everything = before + lines
    committed = [x for x in everything if x.startswith("committed ")]
    outbox = [x for x in everything if x.startswith("outbox ")]
    burst = [x for x in committed if "BURST" in x]
    assert len(outbox) == 5 and len(burst) >= 300
    assert len(burst) < 3000, "the kill came after the whole burst: make it bigger"
    await check_store(tmp_path / "data", committed, outbox)
    await restart_and_check(tmp_path)


async def test_sigkill_during_a_history_sync_leaves_a_sound_store(tmp_path):
    process = spawn(tmp_path, "history")
    try:
        # the main account syncs 2000 chats in batches of 50: kill after the second batch
        read_until(process, lambda ls: sum(x.startswith("chats default") for x in ls) >= 2)
    finally:
        lines = kill(process) if process.poll() is None else []
    committed = [x for x in lines if x.startswith("committed ")]
    counts = await check_store(tmp_path / "data", committed, [])
    assert counts.get("default", 0) > 0
    repo = await ChatStorageRepository.open(tmp_path / "data" / "watui.db")
    try:
        chats = await repo.get_chats(ChatFilter(session_id="default", limit=100_000, include_archived=True))
    finally:
        await repo.close()
    assert 100 <= len(chats) < 2000, "the kill did not land in the middle of the sync"
    await restart_and_check(tmp_path)
