"""SIGKILL in the middle of a history sync, a burst of incoming messages, a send, and the
user's Enter in the composer. A real watui runtime (sim backend, its own data dir) runs in a
subprocess and prints, as they happen, the ids of messages the session consumer has
COMMITTED (the store publishes its notices only after the transaction), of messages put in
the outbox, and each point of a send it reaches; where a kill must land between two steps
the victim freezes itself there (the harness wraps a method; watui has no test hooks). The
test kills it, reopens the store and checks: integrity and foreign keys sound, every
committed message there exactly once, the outbox intact, and a restart on the same data dir
carries on (new messages arrive, the outbox sends what it holds once, the store stays sound).
SIGKILL during a migration: tests/test_faults_kill_migration.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from watui.domain import ChatFilter, MessageFilter
from watui.domain.models import Message, MessageStatus
from watui.store import ChatStorageRepository, with_session_id

REPO = Path(__file__).resolve().parents[1]

# What both victims share: printing for the test, freezing where a kill must land, and
# seeing the engine's send.
PRELUDE = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from watui.runtime import Options, build_runtime, load_environment
    from watui.sessions import MessagesChanged, ChatsChanged
    import watui.engine.sim.demo as demo
    from watui.domain.jid import normalize_phone
    from watui.domain.models import MessageStatus
    from watui.store import with_session_id

    MODE, DATA, ARGS = sys.argv[1], sys.argv[2], sys.argv[3:]
    ME = demo.DEMO_PHONES["default"]
    CONTACT = demo.DEMO_CONTACTS[1][0]  # a contact who answers
    CHAT = normalize_phone(CONTACT) + "@s.whatsapp.net"

    def say(line):
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    def freeze():
        # Stops the whole process here, event loop included, until the test kills it:
        # nothing after this point runs, exactly as if the kill landed here.
        time.sleep(3600)

    def watch_engine(session, server_ids=False):
        # The harness sees each call to the engine's send (the engine itself is the sim's).
        # server_ids: the ack carries an id of the server's, new on every send, as neonize
        # 0.5.2's does (it cannot send with ours), so the store re-keys the row on the ack.
        send = session.client.send_text
        async def watched(chat_jid, text, **kw):
            say(f"engine {kw['message_id']}")
            result = await send(chat_jid, text, **kw)
            if server_ids:
                result = type(result)("3EB0SRV" + os.urandom(8).hex().upper(), result.timestamp)
            return result
        session.client.send_text = watched

    async def until_connected(session):
        while session.status.state.value != "connected":
            await asyncio.sleep(0.001)

    """
)

# The runtime alone: the burst, the history sync, the points of a send.
SCRIPT = PRELUDE + textwrap.dedent(
    """
    if MODE == "history":  # a history long enough to be killed in the middle of
        import functools
        demo.build_demo_network = functools.partial(demo.build_demo_network, history_chats=2000)

    async def main():
        env = load_environment(Options(demo=True, data_dir=DATA))
        runtime = await build_runtime(env, start=False)
        manager, network, repo = runtime.manager, runtime.network, runtime.repo

        def notice(n):
            if isinstance(n, MessagesChanged):
                for mid in n.message_ids:
                    say(f"committed {n.session_id} {n.chat_jid} {mid}")
            elif isinstance(n, ChatsChanged):
                say(f"chats {n.session_id} {len(n.chat_jids)}")

        manager.subscribe(notice)
        default = manager.get_session("default")
        if MODE.startswith("send"):
            watch_engine(default, server_ids=ARGS[0] == "server")
        await manager.start_all()
        if MODE == "restart":
            await until_connected(default)
            contact = demo.DEMO_CONTACTS[0][0]
            network.send_from(contact, ME + "@s.whatsapp.net",
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
        if MODE.startswith("send"):
            await until_connected(default)
            await default.drain()
            await SEND_MODES[MODE](runtime, default, ARGS[1])
            return
        say("started")
        # wait for the history sync to be under way, then (burst mode) done
        await until_connected(default)
        if MODE == "history":
            await asyncio.sleep(3600)  # the test kills us during the sync
        await default.drain()
        # the outbox: sends the engine holds forever, stored as pending first
        network.set_send_behaviour("default", delay=3600)
        for i in range(5):
            message = await manager.send_text("default", CONTACT, f"queued {i}")
            say(f"outbox {message.chat_jid} {message.id}")
        say("burst")
        me = ME + "@s.whatsapp.net"
        contacts = [phone for phone, _ in demo.DEMO_CONTACTS]
        for i in range(int(ARGS[0])):
            network.send_from(contacts[i % len(contacts)], me, f"burst {i}", message_id=f"3EB0BURST{i:06d}")
            if i % 50 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(3600)

    # --- a send, killed at one of its points ------------------------------------------
    async def send_stored(runtime, session, text):
        # the outbox row is committed; the outbox task that calls the engine has not run
        message = await runtime.manager.send_text("default", CONTACT, text)
        say(f"outbox {message.chat_jid} {message.id}")
        freeze()

    async def send_in_flight(runtime, session, text):
        runtime.network.set_send_behaviour("default", delay=3600)  # the engine holds it
        message = await runtime.manager.send_text("default", CONTACT, text)
        say(f"outbox {message.chat_jid} {message.id}")
        await asyncio.sleep(3600)

    async def send_accepted(runtime, session, text):
        # the network took it (its ledger has our id); mark_sent has not committed
        def accepted(chat_jid, message_id, *args, **kw):
            ledger = (ME, message_id) in runtime.network._ledger
            say(f"accepted {message_id} {ledger}")
            freeze()
        runtime.repo.mark_sent = accepted
        message = await runtime.manager.send_text("default", CONTACT, text)
        say(f"outbox {message.chat_jid} {message.id}")
        await asyncio.sleep(3600)

    async def send_marked(runtime, session, text):
        # mark_sent committed; nothing after it has run
        mark_sent = runtime.repo.mark_sent
        async def marked(chat_jid, message_id, *args, **kw):
            await mark_sent(chat_jid, message_id, *args, **kw)
            say(f"marked {message_id}")
            freeze()
        runtime.repo.mark_sent = marked
        message = await runtime.manager.send_text("default", CONTACT, text)
        say(f"outbox {message.chat_jid} {message.id}")
        await asyncio.sleep(3600)

    async def send_restart(runtime, session, survivor):
        # The outbox sends oldest first: once a message queued now is sent, the one that
        # survived the kill has been dealt with.
        message = await runtime.manager.send_text("default", CONTACT, "marker after the restart")
        with with_session_id("default"):
            while message.id in {m.id for m in await runtime.repo.outbox_pending(include_failed=True)}:
                await asyncio.sleep(0.01)
        inbox = runtime.network.accounts[normalize_phone(CONTACT)].inbox
        while not any(env.message_id == message.id for env in inbox):  # delivered in order
            await asyncio.sleep(0.01)
        say(f"remote {survivor} {sum(env.message_id == survivor for env in inbox)}")
        say("restarted ok")
        await runtime.close()

    SEND_MODES = {"send-stored": send_stored, "send-in-flight": send_in_flight,
                  "send-accepted": send_accepted, "send-marked": send_marked,
                  "send-restart": send_restart}

    asyncio.run(main())
    """
)


# The terminal UI (headless, driven by Textual's pilot as a user would type): what happens
# to the text typed into the composer when the app is killed around pressing Enter.
UI_SCRIPT = PRELUDE + textwrap.dedent(
    """
    from watui.ui.app import WatuiApp
    from watui.ui.screens.main import DRAFT_SAVE_DELAY
    from watui.ui.widgets.chat_list import VirtualChatList

    async def main():
        text = ARGS[0]
        runtime = await build_runtime(load_environment(Options(demo=True, data_dir=DATA)), start=False)
        repo, network = runtime.repo, runtime.network
        saved = []
        save_draft = repo.save_draft
        async def saving(chat_jid, draft, session_id=None):
            await save_draft(chat_jid, draft, session_id)
            saved.append(draft)
            say(f"draft {len(draft)}")
        repo.save_draft = saving
        watch_engine(runtime.manager.get_session("default"))
        if MODE == "ui-in-flight":
            network.set_send_behaviour("default", delay=3600)  # the engine holds the send
        if MODE == "ui-slow-store":
            # the send is slow to reach the store (a busy reader or writer): longer than
            # the composer's draft timer, then the kill
            async def stalled(message, **kw):
                await asyncio.sleep(DRAFT_SAVE_DELAY * 1.5)
                say("stalled")
                freeze()
            repo.store_sent_message_with_context = stalled

        app = WatuiApp(runtime)
        async with app.run_test(size=(120, 40)) as pilot:
            async def until(predicate):
                while not predicate():
                    await pilot.pause(0.01)
            chats = app.screen.query_one(VirtualChatList)
            await until(lambda: len(chats.chats) > 3)
            chats.focus()
            await pilot.press("g", "enter")
            await until(lambda: app.screen.chat_jid != "")
            say(f"chat {app.screen.chat_jid}")
            await pilot.press(*text)
            await until(lambda: text in saved)  # the composer's draft is in the store
            say("typed")
            if MODE == "ui-typed":
                freeze()
            await pilot.press("enter")
            await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def spawn(tmp_path: Path, mode: str, *args: object, script: str = SCRIPT) -> subprocess.Popen[str]:
    """Run a victim (``SCRIPT`` or ``UI_SCRIPT``) in ``mode`` on ``tmp_path``/data."""
    path = tmp_path / "victim.py"
    path.write_text(script)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for name in list(env):
        if name == "SESSIONS" or name.endswith(("DB_URI", "DB_KEYS_URI")) or name == "WATUI_CONFIG":
            del env[name]
    return subprocess.Popen(
        [sys.executable, str(path), mode, str(tmp_path / "data"), *map(str, args)],
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


async def restart_and_check(tmp_path: Path, mode: str = "restart", *args: object) -> list[str]:
    """Start again on the same data dir; the victim's ``mode`` says what it waits for before
    printing "restarted ok" and closing cleanly. Returns what it printed."""
    process = spawn(tmp_path, mode, *args)
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
    return lines


async def test_sigkill_during_a_burst_loses_nothing_committed(tmp_path):
    process = spawn(tmp_path, "burst", 3000)
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


# --- SIGKILL during a send ------------------------------------------------------------------
async def sent_copies(data: Path, chat_jid: str, text: str) -> tuple[list[Message], set[str]]:
    """Every message of the chat with ``text`` -- by content, not id: an ack from neonize
    re-keys the row to the server's id -- and the ids the outbox still holds, after checking
    the store is sound."""
    repo = await ChatStorageRepository.open(data / "watui.db")
    try:
        assert await repo.integrity_check() == []
        with with_session_id("default"):
            recent = await repo.get_messages(MessageFilter(chat_jid=chat_jid, limit=200))
            queued = {m.id for m in await repo.outbox_pending(include_failed=True)}
        return [m for m in recent if m.content == text], queued
    finally:
        await repo.close()


# (victim mode, the line it prints where the kill lands, engine calls before the kill,
#  whether the message is still to send after the kill)
SEND_KILL_POINTS = [
    # stored as pending with its outbox row; the engine not called yet
    ("send-stored", "outbox", 0, True),
    # the engine's send in flight (the sim holds it)
    ("send-in-flight", "engine", 1, True),
    # the network took it; our mark_sent had not committed
    ("send-accepted", "accepted", 1, True),
    # mark_sent committed: nothing is sent again
    ("send-marked", "marked", 1, False),
]
IDS = {
    "ours": "the sim's engine sends with our message id",
    "server": "the ack carries a new id of the server's, as neonize 0.5.2's does",
}


@pytest.mark.parametrize(
    ("mode", "kill_on", "engine_calls", "still_to_send", "ids"),
    [
        pytest.param(*point, ids, id=f"{point[0]}-{ids}-ids")
        for point in SEND_KILL_POINTS
        for ids in IDS
        if ids == "ours" or point[0] in ("send-accepted", "send-marked")  # where an ack matters
    ],
)
async def test_sigkill_during_a_send(tmp_path, mode, kill_on, engine_calls, still_to_send, ids):
    text = f"sent through a kill at {mode}"
    process = spawn(tmp_path, mode, ids, text)
    lines: list[str] = []
    try:
        lines = read_until(process, lambda ls: ls[-1].startswith(f"{kill_on} "))
    finally:
        lines += kill(process) if process.poll() is None else []
    [(chat_jid, message_id)] = [tuple(x.split()[1:]) for x in lines if x.startswith("outbox ")]
    assert lines.count(f"engine {message_id}") == engine_calls
    if mode == "send-accepted":
        assert f"accepted {message_id} True" in lines  # the network had it when we died

    [message], queued = await sent_copies(tmp_path / "data", chat_jid, text)  # exactly once
    if still_to_send:
        assert message.id == message_id and message.status == MessageStatus.PENDING
        assert message_id in queued
    else:
        assert message.status >= MessageStatus.SENT and message.id not in queued
        assert message.id == message_id if ids == "ours" else message.id.startswith("3EB0SRV")

    # After the restart the outbox sends what it still holds, once, and nothing else again.
    # The sim network restarts with the process: it cannot show what the recipient got
    # before the kill, only the resends after it, counted here. A kill after the network
    # took the message but before mark_sent committed therefore reaches the recipient
    # twice; with neonize 0.5.2 (no sending with our id) WhatsApp cannot tell the two apart.
    after = await restart_and_check(tmp_path, "send-restart", ids, message_id)
    resent = 1 if still_to_send else 0
    assert after.count(f"engine {message_id}") == resent
    assert f"remote {message_id} {resent}" in after
    [message], queued = await sent_copies(tmp_path / "data", chat_jid, text)  # still once
    assert message.status >= MessageStatus.SENT and message.id not in queued
    assert message.id == message_id if ids == "ours" else message.id.startswith("3EB0SRV")


# --- the user's side of a send: the text typed into the composer ---------------------------
# (victim mode, the line where the kill lands, whether the text must be found in the outbox
#  rather than in the chat's stored draft)
UI_KILL_POINTS = [
    # typed, the draft saved, Enter not pressed
    pytest.param("ui-typed", "typed", False, id="typed-not-sent"),
    # Enter pressed, the engine's send in flight: it is in the outbox and no longer a draft
    # (a draft left beside it would come back into the composer and be sent twice)
    pytest.param("ui-in-flight", "engine", True, id="submitted-engine-in-flight"),
    # Enter pressed, the send not yet in the store after the composer's draft timer ran:
    # the stored draft still holds the text
    pytest.param("ui-slow-store", "stalled", False, id="submitted-not-yet-stored"),
]


@pytest.mark.parametrize(("mode", "kill_on", "in_outbox"), UI_KILL_POINTS)
async def test_sigkill_never_loses_the_text_the_user_typed(tmp_path, mode, kill_on, in_outbox):
    text = "typed before the kill"
    process = spawn(tmp_path, mode, text, script=UI_SCRIPT)
    lines: list[str] = []
    try:
        lines = read_until(process, lambda ls: ls[-1] == kill_on or ls[-1].startswith(f"{kill_on} "))
    finally:
        lines += kill(process) if process.poll() is None else []
    [chat_jid] = [x.split()[1] for x in lines if x.startswith("chat ")]
    repo = await ChatStorageRepository.open(tmp_path / "data" / "watui.db")
    try:
        assert await repo.integrity_check() == []
        drafts = await repo.get_drafts("default")
        with with_session_id("default"):
            queued = [m for m in await repo.outbox_pending(include_failed=True) if m.content == text]
            stored = [m for m in await repo.get_messages(MessageFilter(chat_jid=chat_jid, limit=200)) if m.content == text]
    finally:
        await repo.close()
    if in_outbox:  # exactly once, and only there
        assert len(queued) == 1 and stored == queued and queued[0].status == MessageStatus.PENDING
        assert chat_jid not in drafts
    else:
        assert drafts.get(chat_jid) == text
        assert queued == [] and stored == []
