"""NoticeBridge: session notices become coalesced SessionsRefresh messages, at once when the
bridge was idle, throttled to one per interval while notices keep coming. The clock and the
scheduler are controlled by the test (no sleeping, no timing assertions): the bridge's own
code decides every delay."""

from __future__ import annotations

from collections.abc import Callable

from watui.domain.events import QRCode
from watui.sessions import ChatsChanged, MessagesChanged, PairingUpdate, SessionsChanged, StatusChanged
from watui.ui.bridge import FLUSH_INTERVAL, NoticeBridge
from watui.ui.messages import PairingEvent, SessionsRefresh


class Loop:
    """A manual clock and the callbacks scheduled on it (what call_later and call_soon were
    asked for)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pending: list[tuple[float, Callable[[], None]]] = []
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        assert delay > 0, delay  # Textual's timers can't take 0 (they divide by it)
        self.delays.append(delay)
        self.pending.append((self.now + delay, fn))

    def call_soon(self, fn: Callable[[], None]) -> None:
        self.delays.append(0.0)
        self.pending.append((self.now, fn))

    def advance(self, seconds: float) -> None:
        """Move the clock, running every callback that falls due on the way, in order."""
        end = self.now + seconds
        while True:
            due = sorted((when, i) for i, (when, _) in enumerate(self.pending) if when <= end)
            if not due:
                break
            when, index = due[0]
            _, fn = self.pending.pop(index)
            self.now = max(self.now, when)
            fn()
        self.now = end


def make_bridge(loop: Loop, interval: float = FLUSH_INTERVAL):
    posted: list = []
    bridge = NoticeBridge(posted.append, loop.call_later, call_soon=loop.call_soon, clock=loop.clock, interval=interval)
    return bridge, posted


def incoming(session: str = "work", chat: str = "a@s.whatsapp.net", message_id: str = "m1") -> MessagesChanged:
    return MessagesChanged(session, chat_jid=chat, message_ids=(message_id,), incoming=1)


def refreshes(posted: list) -> list[SessionsRefresh]:
    return [m for m in posted if isinstance(m, SessionsRefresh)]


def test_first_notice_when_idle_is_flushed_without_waiting():
    loop = Loop()
    bridge, posted = make_bridge(loop)
    bridge(incoming())
    assert loop.delays == [0.0]  # as soon as the loop is free, not after the interval
    assert posted == []  # not from inside the publisher's call: notices of one commit stay together
    loop.advance(0)
    [refresh] = refreshes(posted)
    assert refresh.dirty.incoming == {("work", "a@s.whatsapp.net"): 1}
    assert refresh.dirty.messages == {("work", "a@s.whatsapp.net"): {"m1"}}


def test_notices_published_together_make_one_refresh():
    loop = Loop()
    bridge, posted = make_bridge(loop)
    bridge(incoming(message_id="m1"))
    bridge(incoming(message_id="m2"))
    bridge(ChatsChanged("work", chat_jids=frozenset({"a@s.whatsapp.net"})))
    bridge(StatusChanged("home", status=None))
    bridge(SessionsChanged("home"))
    assert loop.delays == [0.0]  # one flush scheduled, not five
    loop.advance(0)
    [refresh] = refreshes(posted)
    dirty = refresh.dirty
    assert dirty.messages == {("work", "a@s.whatsapp.net"): {"m1", "m2"}}
    assert dirty.incoming == {("work", "a@s.whatsapp.net"): 2}
    assert dirty.chats == {"work": {"a@s.whatsapp.net"}}
    assert dirty.statuses == {"home"} and dirty.sessions_changed


def test_a_notice_soon_after_a_flush_waits_an_interval():
    loop = Loop()
    bridge, posted = make_bridge(loop, interval=0.05)
    bridge(incoming(message_id="m1"))
    loop.advance(0.01)
    assert len(refreshes(posted)) == 1
    bridge(incoming(message_id="m2"))
    bridge(incoming(message_id="m3"))
    assert loop.delays == [0.0, 0.05]  # one timer for both
    loop.advance(0.049)
    assert len(refreshes(posted)) == 1
    loop.advance(0.001)
    assert [r.dirty.messages for r in refreshes(posted)][-1] == {("work", "a@s.whatsapp.net"): {"m2", "m3"}}


def test_after_a_quiet_interval_the_next_notice_goes_at_once_again():
    loop = Loop()
    bridge, posted = make_bridge(loop, interval=0.05)
    bridge(incoming(message_id="m1"))
    loop.advance(0.2)
    bridge(incoming(message_id="m2"))
    assert loop.delays == [0.0, 0.0]
    loop.advance(0)
    assert len(refreshes(posted)) == 2


def test_a_flood_is_throttled_to_one_refresh_per_interval_and_loses_nothing():
    loop = Loop()
    bridge, posted = make_bridge(loop, interval=0.05)
    sent = 0
    for _ in range(1000):  # 1,000 notices a second for a second, one every millisecond
        sent += 1
        bridge(incoming(chat=f"c{sent % 7}@s.whatsapp.net", message_id=f"m{sent}"))
        loop.advance(0.001)
    loop.advance(1.0)  # the last one is flushed too
    flushes = refreshes(posted)
    assert 20 <= len(flushes) <= 21  # one per interval (the first at once)
    assert sum(sum(r.dirty.incoming.values()) for r in flushes) == sent
    ids = set().union(*(ids for r in flushes for ids in r.dirty.messages.values()))
    assert len(ids) == sent


def test_flushes_are_never_closer_than_the_interval():
    loop = Loop()
    times: list[float] = []
    bridge = NoticeBridge(lambda m: times.append(loop.now), loop.call_later, call_soon=loop.call_soon,
                          clock=loop.clock, interval=0.05)
    for step in (0.0, 0.003, 0.02, 0.049, 0.051, 0.07, 0.2, 0.2001, 0.26, 0.3):
        loop.advance(step - (loop.now - 1000.0))
        bridge(incoming(message_id=str(step)))
    loop.advance(1.0)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert times[0] == 1000.0 and all(gap >= 0.05 - 1e-9 for gap in gaps), gaps


def test_pairing_updates_are_posted_at_once_and_schedule_nothing():
    loop = Loop()
    bridge, posted = make_bridge(loop)
    qr = QRCode(code="2@abc")
    bridge(PairingUpdate("work", event=qr))
    assert loop.delays == []
    [message] = posted
    assert isinstance(message, PairingEvent) and message.session_id == "work" and message.event is qr


def test_a_flush_with_nothing_new_posts_nothing_and_does_not_delay_the_next():
    loop = Loop()
    bridge, posted = make_bridge(loop)
    bridge.flush()  # e.g. a stray call: nothing accumulated
    assert posted == []
    bridge(incoming())
    assert loop.delays == [0.0]


async def test_on_a_real_loop_an_idle_bridge_flushes_on_the_next_turn():
    """The default call_soon is the running loop's: the refresh is posted once the
    publishing code has returned, without a timer."""
    import asyncio

    posted: list = []
    later: list = []
    bridge = NoticeBridge(posted.append, lambda delay, fn: later.append(delay))
    bridge(incoming(message_id="m1"))
    bridge(incoming(message_id="m2"))
    assert posted == []
    await asyncio.sleep(0)
    [refresh] = refreshes(posted)
    assert refresh.dirty.messages == {("work", "a@s.whatsapp.net"): {"m1", "m2"}}
    assert later == []
    bridge(incoming(message_id="m3"))  # right after a flush: throttled through call_later
    assert len(later) == 1 and 0 < later[0] <= FLUSH_INTERVAL
