"""One WhatsApp account at run time: its client, its event queue and the one consumer task
that applies its events in order, plus its outbox sender.

Every session runs on the app's loop. A slow or failing session never blocks another: each
has its own queue and task, and a handler error is logged and skipped, never fatal.

A store that cannot be written (disk full, read-only, locked past the busy timeout) is not
a handler error: the events wait in the queue, in order, the engine is asked to hold back
new ones (so they are not acknowledged as received), the status shows why, and the write
is retried with capped backoff until it succeeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from watui.domain import events as ev
from watui.domain.errors import EngineError
from watui.domain.models import Message, QuotedMessage, utc_now
from watui.domain.status import ConnectionState, SessionStatus
from watui.engine.protocol import WhatsAppClient
from watui.sessions.handlers import STORE_HANDLERS, store_incoming
from watui.sessions.notices import LiveEvent, MessagesChanged, Notice, PairingUpdate, StatusChanged
from watui.store import ChatStorageRepository, with_session_id
from watui.store.faults import StoreUnwritable, unwritable_reason

log = logging.getLogger("watui.sessions")

# A burst of incoming messages is written in runs of at most this many per transaction:
# big enough to amortise the commit, small enough to keep the UI fed while a flood lasts.
MAX_BATCH = 500
# History-sync chunks already waiting are written together, up to this many messages per
# store_history call: each commit flushes a full-text segment and the dirty index pages, so
# 50-chat chunks written one by one ran at about half the speed, and 5,000-message
# transactions at 0.66x raw executemany, 20,000 at 0.79x (bench/ingest.py). The store keeps
# other sessions' waits short: while another write waits it commits every
# ChatStorageRepository.HISTORY_PIECE messages (~0.1 s) and lets it in.
MAX_HISTORY_BATCH = 20_000
# How many waiting history messages the consumer takes at once to cut into such calls.
# Taking just one call's worth, the chunk that went over the limit was written alone: every
# second call was small.
HISTORY_LOOKAHEAD = 2 * MAX_HISTORY_BATCH
# An unwritable store is tried again after this long, doubling up to the cap: writing resumes
# within seconds of the condition clearing, without spinning on a disk that stays full.
STORE_RETRY_FIRST = 0.25
STORE_RETRY_MAX = 5.0
# How long stop() waits for a cancelled consumer to unwind (a rollback queued behind a write
# that waits out the busy timeout) before it gives up on it.
CANCEL_GRACE = 1.0
# Flow control: while more messages than this wait in a session's queue (a history sync
# arriving faster than the store writes it) the engine is asked to hold its intake, until
# fewer than BACKLOG_RELEASE wait. At ~0.6 KB a queued message this bounds a session's queue
# to a few MB; unbounded, ten syncs queued 230,000 messages (bench/load.py). Above one
# store_history call's worth of messages would be better for the write rate (0.66x raw
# executemany at 5,000, 0.79x at 20,000), below it keeps ten sessions' memory bounded.
BACKLOG_HOLD = 10_000
BACKLOG_RELEASE = 4_000

_STOP = object()
T = TypeVar("T")


class Session:
    def __init__(
        self,
        session_id: str,
        client: WhatsAppClient,
        repo: ChatStorageRepository,
        publish: Callable[[Notice], None],
        *,
        label: str = "",
    ) -> None:
        self.session_id = session_id
        self.client = client
        self.repo = repo
        self._publish = publish
        self.status = SessionStatus(session_id=session_id, label=label or session_id)
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._outbox_again = False
        self.handler_errors = 0
        self._batch: list[object] = []  # the consumer's current batch ...
        self._applied = 0  # ... and how many of its items are applied
        self._store_reason = ""  # why the store cannot be written, while it cannot
        self._store_failed = asyncio.Event()  # set while it cannot (drain stops waiting)
        self._backlog = 0  # messages waiting in the queue (history and live)
        self._holds: set[str] = set()  # why the engine's intake is held: "store", "backlog"
        client.set_event_sink(self.deliver)

    @property
    def label(self) -> str:
        return self.status.label

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        with with_session_id(self.session_id):
            record = await self.repo.get_session_record(self.session_id)
        if record:
            self.status.device_id = record.get("device_jid") or ""
            self.status.push_name = record.get("push_name") or ""
        if self._consumer is None:
            self._consumer = asyncio.create_task(
                self._consume(), name=f"watui-session-{self.session_id}"
            )
        self._set_status(state=ConnectionState.CONNECTING, last_error="")
        try:
            await self.client.connect()
        except EngineError as error:
            self._set_status(state=ConnectionState.OFFLINE, last_error=str(error))

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the client, then apply every event it already delivered: nothing the engine
        handed over is dropped on the way out -- unless the store cannot take them within
        ``timeout``; then they are counted in the log and the stop goes on."""
        try:
            await asyncio.wait_for(self.client.disconnect(), timeout)
        except (TimeoutError, EngineError) as error:
            log.warning("session %s: disconnect did not finish cleanly: %s", self.session_id, error)
        if self._outbox_task is not None:
            self._outbox_task.cancel()
        if self._consumer is not None:
            self.queue.put_nowait(_STOP)
            try:
                await asyncio.wait_for(asyncio.shield(self._consumer), timeout)
            except TimeoutError:
                await self._abandon_consumer()
            self._consumer = None
        if self._holds:
            self._holds.clear()
            self._hold(False)  # a later start begins with an open intake
        self._store_reason = ""
        self._store_failed.clear()
        self._backlog = 0
        self._set_status(state=ConnectionState.STOPPED, is_connected=False, store_error="")

    async def _abandon_consumer(self) -> None:
        """The consumer did not finish in time (a store that stays unwritable): cancel it and
        log how many events were not stored (never their contents)."""
        consumer = self._consumer
        assert consumer is not None
        consumer.cancel()
        await asyncio.wait({consumer}, timeout=CANCEL_GRACE)
        taken = len(self._batch)
        unstored = sum(1 for item in self._batch[self._applied :] if item is not _STOP)
        self._batch, self._applied = [], 0
        while True:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            taken += 1
            unstored += item is not _STOP
        for _ in range(taken):  # drain() callers must not wait for them forever
            self.queue.task_done()
        if unstored:
            log.error(
                "session %s: stopped with %d event(s) not stored: %s",
                self.session_id, unstored, self._store_reason or "the store did not answer in time",
            )

    async def drain(self) -> None:
        """Wait until every event queued so far has been applied (tests, shutdown, CLI).
        While the store cannot be written this raises StoreUnwritable instead of waiting for
        it forever; the events stay queued."""
        joined = asyncio.ensure_future(self.queue.join())
        try:
            while not joined.done():
                if self._store_reason:
                    raise StoreUnwritable(self.repo.path, self._store_reason)
                failed = asyncio.ensure_future(self._store_failed.wait())
                try:
                    await asyncio.wait({joined, failed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    failed.cancel()
        finally:
            joined.cancel()

    # --- the consumer ------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            item = await self.queue.get()
            if item is _STOP:
                self.queue.task_done()
                return
            batch = [item]
            # Take what is already waiting so a burst of messages, or of history chunks, is
            # one transaction.
            history = _history_size(item)
            while (
                (isinstance(batch[-1], ev.MessageReceived) and len(batch) < MAX_BATCH)
                or (isinstance(batch[-1], ev.HistorySyncBatch) and history < HISTORY_LOOKAHEAD)
            ):
                try:
                    nxt = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                batch.append(nxt)
                history += _history_size(nxt)
            self._batch, self._applied = batch, 0
            for run in _runs(batch):
                await self._apply(run)
                self._applied += len(run)
            self._batch = []
            for done in batch:
                self.queue.task_done()
                self._backlog = max(0, self._backlog - _backlog_size(done))
            if self._backlog < BACKLOG_RELEASE:
                self._set_hold("backlog", False)
            if batch[-1] is _STOP:
                return

    async def _apply(self, run: list[object]) -> None:
        first = run[0]
        if first is _STOP:
            return
        try:
            notices = await self._until_stored(lambda: self._store_scrubbed(run))
        except Exception:  # a bad event must not stop the session
            if len(run) > 1:
                # one poisoned message must not take the rest of its burst with it
                for item in run:
                    await self._apply([item])
                return
            self.handler_errors += 1
            log.exception("session %s: handler failed for %s", self.session_id, type(first).__name__)
            return
        for notice in notices:
            self._publish(notice)

    async def _store_scrubbed(self, run: list[object]) -> list[Notice]:
        try:
            return await self._store(run)
        except UnicodeEncodeError:
            # a lone surrogate (from a garbled engine event) cannot be stored as UTF-8:
            # store the text with U+FFFD in its place rather than lose the event
            return await self._store([scrub_surrogates(item) for item in run])

    async def _until_stored(self, write: Callable[[], Awaitable[T]]) -> T:
        """``write()``, again and again while the store cannot be written (capped backoff);
        an error about the data itself is raised at once."""
        delay = STORE_RETRY_FIRST
        while True:
            try:
                result = await write()
            except Exception as error:
                reason = unwritable_reason(error)
                if reason is None:
                    raise
                self._store_failing(reason)
                await asyncio.sleep(delay)
                delay = min(2 * delay, STORE_RETRY_MAX)
                continue
            self._store_recovered()
            return result

    # --- an unwritable store -----------------------------------------------------------
    def _store_failing(self, reason: str) -> None:
        if not self._store_reason:
            log.warning(
                "session %s: the store cannot be written (%s); events wait in memory, retrying",
                self.session_id, reason,
            )
        self._set_hold("store", True)
        self._store_reason = reason
        self._store_failed.set()
        self._set_status(store_error=f"{reason}, retrying")

    def _store_recovered(self) -> None:
        if not self._store_reason:
            return
        log.info("session %s: the store is writable again", self.session_id)
        self._store_reason = ""
        self._store_failed.clear()
        self._set_status(store_error="")
        self._set_hold("store", False)

    def deliver(self, event: object) -> None:
        """The engine's event sink (wrap this one to watch what a session is handed)."""
        self.queue.put_nowait(event)
        self._backlog += _backlog_size(event)
        if self._backlog > BACKLOG_HOLD:
            self._set_hold("backlog", True)

    def _set_hold(self, reason: str, on: bool) -> None:
        """Hold the engine's intake while any reason holds it; the engine hears only changes."""
        held = bool(self._holds)
        if on:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        if bool(self._holds) != held:
            self._hold(not held)

    def _hold(self, held: bool) -> None:
        """Ask the engine to stop (or resume) handing over incoming events, so that what the
        store cannot take is not acknowledged to the server as received."""
        try:
            self.client.hold_incoming(held)
        except Exception:  # the retry goes on either way
            log.exception("session %s: the engine could not %s its intake",
                          self.session_id, "hold" if held else "release")

    async def _store(self, run: list[object]) -> list[Notice]:
        with with_session_id(self.session_id):
            if isinstance(run[0], ev.MessageReceived):
                return await store_incoming(self.repo, self.session_id, run)
            if len(run) > 1:  # history chunks about different chats: one transaction
                return await self._handle(_merge_history(run))
            return await self._handle(run[0])

    async def _handle(self, event: object) -> list[Notice]:
        handler = STORE_HANDLERS.get(type(event))
        notices = await handler(self.repo, self.session_id, event) if handler else []
        await self._track_state(event)
        if isinstance(event, ev.HistorySyncBatch):
            self.status.synced_messages += len(event.messages)
            self._set_status(sync_progress=None if event.done else (event.progress or 0.0))
        return notices

    async def _track_state(self, event: object) -> None:
        """Connection and pairing events drive the status panel and the device record."""
        match event:
            case ev.QRCode() | ev.PairingCode() | ev.PairingWindowClosed():
                self._publish(PairingUpdate(self.session_id, event))
                if isinstance(event, ev.PairingWindowClosed):
                    self._set_status(last_error="pairing window closed")
                else:
                    self._set_status(
                        state=ConnectionState.NEEDS_PAIRING, is_connected=True, is_logged_in=False
                    )
            case ev.PairSuccess(jid=jid, push_name=push_name):
                await self.repo.upsert_session_record(
                    self.session_id, device_jid=jid, push_name=push_name
                )
                self._set_status(device_id=jid, push_name=push_name or self.status.push_name)
                self._publish(PairingUpdate(self.session_id, event))
            case ev.Connected():
                state = self.client.state()
                device = state.device_jid or self.status.device_id
                push_name = state.push_name or self.status.push_name
                if device and (device, push_name) != (self.status.device_id, self.status.push_name):
                    await self.repo.upsert_session_record(
                        self.session_id, device_jid=device, push_name=push_name
                    )
                self._set_status(
                    state=ConnectionState.CONNECTED,
                    is_connected=True,
                    is_logged_in=True,
                    device_id=device,
                    push_name=push_name,
                    last_error="",
                    retry_at=None,
                )
                self.kick_outbox()
            case ev.Disconnected(reason=reason, retry_in=retry_in) | ev.ConnectFailure(
                reason=reason, retry_in=retry_in
            ):
                self._offline(reason or "disconnected", retry_in)
            case ev.TemporaryBan(expires_in=expires_in):
                self._offline("temporarily banned by WhatsApp", expires_in or None)
            case ev.ClientOutdated():
                self._offline("client outdated: update watui", None)
            case ev.StreamReplaced():
                self._offline("stream replaced: another client is using this account", None)
            case ev.LoggedOut(reason=reason):
                await self.repo.upsert_session_record(self.session_id, device_jid="")
                self._set_status(
                    state=ConnectionState.LOGGED_OUT,
                    is_connected=False,
                    is_logged_in=False,
                    device_id="",
                    last_error=f"logged out{': ' + reason if reason else ''}",
                    retry_at=None,
                )
            case ev.Presence() | ev.ChatPresence():
                self._publish(LiveEvent(self.session_id, event))

    def _offline(self, reason: str, retry_in: float | None) -> None:
        self._set_status(
            state=ConnectionState.OFFLINE,
            is_connected=False,
            last_error=reason,
            retry_at=utc_now() + timedelta(seconds=retry_in) if retry_in else None,
        )

    def _set_status(self, **changes: object) -> None:
        before = replace(self.status)
        for name, value in changes.items():
            setattr(self.status, name, value)
        if self.status != before:
            self._publish(StatusChanged(self.session_id, replace(self.status)))

    # --- sending -----------------------------------------------------------------------
    def kick_outbox(self) -> None:
        """Send what the outbox holds, once connected. Calls during a run ask for another
        run, so a message queued while the outbox is being sent is not left behind."""
        if self._outbox_task is not None and not self._outbox_task.done():
            self._outbox_again = True
            return
        self._outbox_task = asyncio.create_task(
            self._send_outbox(), name=f"watui-outbox-{self.session_id}"
        )

    async def _send_outbox(self) -> None:
        while True:
            self._outbox_again = False
            if self.status.state is ConnectionState.CONNECTED:
                with with_session_id(self.session_id):
                    pending = await self.repo.outbox_pending()
                    for message in pending:
                        if not await self._send_one(message):
                            break
            if not self._outbox_again:
                return

    async def _send_one(self, message: Message) -> bool:
        """Hand one stored message to the engine; False when the connection is gone."""
        quoted = (
            QuotedMessage(message.quoted_message_id, message.quoted_sender, message.quoted_preview)
            if message.quoted_message_id
            else None
        )
        result = None
        try:
            result = await self.client.send_text(
                message.chat_jid, message.content, message_id=message.id, quoted=quoted
            )
        except EngineError as error:
            if not self.client.state().is_connected:
                return False  # stays pending; sent again on the next Connected
            reason = str(error)
            await self._until_stored(lambda: self.repo.mark_send_failed(message.chat_jid, message.id, reason))
        else:
            # the server has it now: a row left pending would be sent a second time, so the
            # outcome waits for the store like an incoming event does
            await self._until_stored(
                lambda: self.repo.mark_sent(
                    message.chat_jid, message.id, result.timestamp, server_id=result.message_id
                )
            )
        ids = tuple(dict.fromkeys((message.id, result.message_id if result else message.id)))
        self._publish(MessagesChanged(self.session_id, message.chat_jid, ids))
        return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_surrogates(value: object) -> object:
    """``value`` with every lone surrogate in its strings (recursively through events,
    messages, chats, tuples and lists) replaced by U+FFFD; other values are kept as they are."""
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, tuple | list):
        return type(value)(scrub_surrogates(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: scrub_surrogates(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def _runs(batch: list[object]) -> list[list[object]]:
    """Consecutive MessageReceived events form one run; so do consecutive history chunks
    about different chats (up to MAX_HISTORY_BATCH messages); every other event stands
    alone. A chunk naming a chat of the run before it starts a new run, so each chat's
    conversation record is applied exactly as if the chunks came one by one."""
    runs: list[list[object]] = []
    history_jids: set[str] = set()
    history_size = 0
    for item in batch:
        last = runs[-1][0] if runs else None
        if isinstance(item, ev.MessageReceived) and isinstance(last, ev.MessageReceived):
            runs[-1].append(item)
            continue
        if isinstance(item, ev.HistorySyncBatch):
            try:
                jids = {c.jid for c in item.chats} | {m.chat_jid for m in item.messages}
            except (AttributeError, TypeError):  # a malformed chunk stands alone (and fails alone)
                runs.append([item])
                history_jids, history_size = set(), MAX_HISTORY_BATCH
                continue
            if (
                isinstance(last, ev.HistorySyncBatch)
                and history_size + _history_size(item) <= MAX_HISTORY_BATCH
                and history_jids.isdisjoint(jids)
            ):
                runs[-1].append(item)
                history_jids |= jids
                history_size += len(item.messages)
                continue
            history_jids, history_size = jids, _history_size(item)
        runs.append([item])
    return runs


def _backlog_size(item: object) -> int:
    """What an event weighs in the backlog: its messages for a history chunk, else 1."""
    return _history_size(item) or (item is not _STOP)


def _history_size(item: object) -> int:
    """Messages in a history chunk (0 for anything else, or a malformed chunk)."""
    try:
        return len(item.messages) if isinstance(item, ev.HistorySyncBatch) else 0
    except TypeError:
        return 0


def _merge_history(run: list[object]) -> ev.HistorySyncBatch:
    """Chunks about different chats as one chunk; progress and done from the last one."""
    chunks: list[ev.HistorySyncBatch] = run  # type: ignore[assignment]
    last = chunks[-1]
    return ev.HistorySyncBatch(
        chats=tuple(c for chunk in chunks for c in chunk.chats),
        messages=tuple(m for chunk in chunks for m in chunk.messages),
        push_names=tuple(p for chunk in chunks for p in chunk.push_names),
        sync_type=last.sync_type,
        chunk_order=last.chunk_order,
        progress=last.progress,
        done=last.done,
    )
