"""A scripted engine to run inside an isolation child in tests (no network, no neonize).

    ProcessClient("s1", "watui.engine.isolation.testing:make_echo_client",
                  log_path=..., args={"deliveries": "/tmp/sent.txt", "exit_on": "send_text"})

Arguments (all strings, as on the child's command line):

``deliveries``  a file; every accepted send appends its message id as one line, so a test
                can count deliveries across crashes and restarts
``hang_on``     a command name (``connect``, ``send_text`` ...): block the child's loop for
                good when it runs, so it stops answering pings
``exit_on``     a command name: ``os._exit(exit_code)`` when it runs (a Go fatal error)
``exit_code``   for ``exit_on`` (default 2)
``garbage_on``  a command name: write bytes that are not a frame to the frame pipe
``once``        a file: ``hang_on``/``exit_on``/``garbage_on`` fire only if it does not exist
                yet (it is created when they fire), so the restarted child behaves
``noise``       "1": print junk to fd 1 and fd 2 (and Python's stdout, stderr and logging)
                when built and on connect, to prove none of it reaches the terminal
``history``     N: on connect, emit one HistorySyncBatch with N messages (bytes, datetimes)
``jid``         the device JID (default ``15550009999:7@s.whatsapp.net``)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from watui.domain.errors import EngineError
from watui.domain.events import (
    Connected,
    Disconnected,
    Event,
    HistorySyncBatch,
    LoggedOut,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    PairingCode,
    Reaction,
    Receipt,
    ReceiptKind,
    SendAcknowledged,
)
from watui.domain.models import Chat, Message, MessageStatus, QuotedMessage, utc_now
from watui.engine.protocol import ClientState, EventSink, SendResult

log = logging.getLogger("watui.engine.echo")

NOISE = "ECHO-NOISE"


class EchoClient:
    """connect -> Connected; send_text -> recorded, SendAcknowledged, and the text echoed
    back as a MessageReceived from the chat; the other calls emit their obvious event."""

    def __init__(
        self,
        session_id: str,
        *,
        deliveries: str = "",
        hang_on: str = "",
        exit_on: str = "",
        exit_code: str = "2",
        garbage_on: str = "",
        once: str = "",
        noise: str = "",
        history: str = "0",
        jid: str = "15550009999:7@s.whatsapp.net",
    ) -> None:
        self.session_id = session_id
        self.deliveries = Path(deliveries) if deliveries else None
        self.hang_on = hang_on
        self.exit_on = exit_on
        self.exit_code = int(exit_code)
        self.garbage_on = garbage_on
        self.once = Path(once) if once else None
        self.noise = noise == "1"
        self.history = int(history or 0)
        self.jid = jid
        self.connected = False
        self.paired = True
        self.sent: list[str] = []
        self._sink: EventSink | None = None
        self._held: list[Event] | None = None  # events held back while hold_incoming(True)
        if self.noise:
            self._make_noise("built")

    # --- scripted faults --------------------------------------------------------------------
    def _make_noise(self, when: str) -> None:
        os.write(1, f"{NOISE} raw fd1 {when}\n".encode())
        os.write(2, f"{NOISE} raw fd2 {when}\n".encode())
        print(f"{NOISE} print {when}")
        print(f"{NOISE} sys.stderr {when}", file=sys.stderr)
        logging.getLogger("neonize").warning("%s logging %s", NOISE, when)

    def _fault(self, command: str) -> None:
        if command not in (self.hang_on, self.exit_on, self.garbage_on):
            return
        if self.once is not None:
            if self.once.exists():
                return
            self.once.touch()
        if command == self.exit_on:
            log.error("exit_on %s: exiting hard with %d", command, self.exit_code)
            os._exit(self.exit_code)
        if command == self.garbage_on:
            fd = int(os.environ["WATUI_ENGINE_FRAME_FD"])
            os.write(fd, b"\x00\x00\x00\x0cnot a frame!")
            return
        log.error("hang_on %s: blocking the loop for good", command)
        while True:  # a deadlocked engine: the loop never runs again
            time.sleep(3600)

    # --- the protocol -------------------------------------------------------------------------
    def set_event_sink(self, sink: EventSink) -> None:
        self._sink = sink

    def _emit(self, event: Event) -> None:
        if self._held is not None:
            self._held.append(event)
        elif self._sink is not None:
            self._sink(event)

    def hold_incoming(self, held: bool) -> None:
        """Held, events wait here (an engine that does not acknowledge them); released,
        they go out in order."""
        if held:
            if self._held is None:
                self._held = []
            return
        waiting, self._held = self._held or [], None
        for event in waiting:
            self._emit(event)

    def state(self) -> ClientState:
        return ClientState(
            is_connected=self.connected,
            is_logged_in=self.connected and self.paired,
            device_jid=self.jid if self.paired else "",
            push_name="Echo" if self.paired else "",
        )

    def _require(self) -> None:
        if not self.connected:
            raise EngineError("not connected")

    async def connect(self) -> None:
        self._fault("connect")
        if self.noise:
            self._make_noise("connect")
        if self.connected:
            return
        self.connected = True
        self._emit(Connected(self.jid, "Echo"))
        if self.history:
            self._emit(_history(self.history))

    async def disconnect(self) -> None:
        self._fault("disconnect")
        if self.connected:
            self.connected = False
            self._emit(Disconnected("disconnected"))

    async def logout(self) -> None:
        self._fault("logout")
        self.connected = False
        self.paired = False
        self._emit(LoggedOut(reason="logged out"))

    async def pair_phone(self, phone: str) -> str:
        self._fault("pair_phone")
        self._require()
        self._emit(PairingCode("ECHO-CODE", phone))
        return "ECHO-CODE"

    async def send_text(
        self,
        chat_jid: str,
        text: str,
        *,
        message_id: str,
        quoted: QuotedMessage | None = None,
    ) -> SendResult:
        self._fault("send_text")
        self._require()
        if text == "!fail":
            raise EngineError("send refused by the echo engine")
        if self.deliveries is not None:
            with self.deliveries.open("a", encoding="utf-8") as out:
                out.write(message_id + "\n")
        self.sent.append(message_id)
        now = utc_now()
        self._emit(SendAcknowledged(chat_jid, message_id, now))
        self._emit(
            MessageReceived(
                Message(
                    id="ECHO" + message_id,
                    chat_jid=chat_jid,
                    sender=chat_jid,
                    timestamp=now,
                    content=text,
                    session_id=self.session_id,
                    quoted_message_id=quoted.message_id if quoted else "",
                    quoted_sender=quoted.sender if quoted else "",
                    quoted_preview=quoted.content if quoted else "",
                ),
                chat_name="Echo chat",
            )
        )
        return SendResult(message_id, now)

    async def mark_read(self, chat_jid: str, message_ids: Sequence[str], sender: str) -> None:
        self._fault("mark_read")
        self._require()
        self._emit(Receipt(chat_jid, tuple(message_ids), ReceiptKind.READ_SELF, sender, utc_now()))

    async def revoke(self, chat_jid: str, message_id: str) -> None:
        self._fault("revoke")
        self._require()
        self._emit(MessageRevoked(chat_jid, message_id, self.jid, utc_now()))

    async def edit(self, chat_jid: str, message_id: str, text: str) -> None:
        self._fault("edit")
        self._require()
        self._emit(MessageEdited(chat_jid, message_id, text, self.jid, utc_now()))

    async def react(self, chat_jid: str, message_id: str, sender: str, emoji: str) -> None:
        self._fault("react")
        self._require()
        self._emit(Reaction(chat_jid, message_id, self.jid, emoji, utc_now(), is_from_me=True))


def _history(count: int) -> HistorySyncBatch:
    now = utc_now()
    chat = "15550001111@s.whatsapp.net"
    messages = tuple(
        Message(
            id=f"HIST{i:06d}",
            chat_jid=chat,
            sender=chat,
            timestamp=now - timedelta(minutes=count - i),
            content=f"history message {i} " + "x" * 100,
            media_key=bytes(range(32)),
            file_sha256=os.urandom(32),
            status=MessageStatus.READ,
        )
        for i in range(count)
    )
    chats = (Chat(jid=chat, name="Alice", last_message_time=now, unread_count=count),)
    return HistorySyncBatch(chats=chats, messages=messages, push_names=((chat, "Alice"),), progress=100.0, done=True)


def make_echo_client(session_id: str, **args: str) -> EchoClient:
    """The factory the child calls: ``watui.engine.isolation.testing:make_echo_client``."""
    return EchoClient(session_id, **args)


__all__ = ["NOISE", "EchoClient", "make_echo_client"]
