"""Telling the user about messages in chats that are not on screen: the terminal bell and
desktop notifications by escape sequence (OSC 9, or OSC 777 ``notify;title;body``).

Pure logic around a ``write`` callable that puts text on the terminal, so tests check the
exact bytes. Everything a stranger can choose (message text, chat and contact names) is
sanitised before it goes into an escape sequence: control characters are dropped (so ESC,
BEL and ST cannot end the OSC early and start a sequence of their own), ';' is replaced
(it separates OSC fields), and the length is capped. Inside tmux the OSC is wrapped in
tmux's passthrough so it reaches the outer terminal.

Notifications are rate-limited: at most one per ``min_interval`` seconds. Messages that
arrive in between are counted and come out together ("3 new messages in Work") on the next
notification or on ``flush()``, which the app calls after ``due_in()`` seconds.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from watui.config import NotificationsConfig

BEL = "\x07"
ESC = "\x1b"
APP_TITLE = "watui"
MAX_TITLE = 64
MAX_BODY = 160

# C0 and C1 controls and DEL, lone surrogates, bidi overrides/isolates, line and paragraph
# separators: none of them belongs in a one-line notification.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_SPACES = re.compile(r"\s+")


def sanitize(text: str, limit: int) -> str:
    """One line of plain text safe inside an OSC payload, at most ``limit`` characters."""
    text = _UNSAFE.sub(" ", text)
    text = text.replace(";", ",")
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def tmux_wrap(sequence: str) -> str:
    """tmux's DCS passthrough: every ESC inside is doubled."""
    return f"{ESC}Ptmux;" + sequence.replace(ESC, ESC + ESC) + f"{ESC}\\"


@dataclass
class _Pending:
    count: int = 0
    sessions: tuple[str, ...] = ()


class Notifier:
    """Bell and desktop notifications for incoming messages, per ``NotificationsConfig``."""

    def __init__(
        self,
        config: NotificationsConfig,
        write: Callable[[str], None],
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 1.0,
    ) -> None:
        self.config = config
        self._write = write
        self._env = os.environ if env is None else env
        self._clock = clock
        self.min_interval = min_interval
        self._last: float | None = None
        self._pending = _Pending()

    @property
    def in_tmux(self) -> bool:
        return bool(self._env.get("TMUX"))

    @property
    def enabled(self) -> bool:
        return self.config.bell or self.config.desktop != "off"

    @property
    def pending(self) -> int:
        """Messages held back by the rate limit, not yet notified."""
        return self._pending.count

    # --- the API ------------------------------------------------------------------------
    def notify(
        self,
        session: str,
        chat: str = "",
        text: str = "",
        *,
        muted: bool = False,
        on_screen: bool = False,
    ) -> bool:
        """A message arrived in ``chat`` of ``session`` (its label). Returns True if something
        was written now; a held-back message is counted and notified later."""
        if on_screen or not self.enabled or (muted and not self.config.notify_muted):
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.min_interval:
            self._hold(session)
            return False
        if self._pending.count:
            self._hold(session)
            return self._emit_pending(now)
        title, body = self._describe(session, chat, text)
        self._emit(title, body, now)
        return True

    def due_in(self) -> float | None:
        """Seconds until ``flush()`` can write the held-back messages; None if there are none."""
        if not self._pending.count:
            return None
        if self._last is None:
            return 0.0
        return max(0.0, self.min_interval - (self._clock() - self._last))

    def flush(self) -> bool:
        """Write the held-back messages as one notification, if the rate limit allows."""
        if not self._pending.count:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self.min_interval:
            return False
        return self._emit_pending(now)

    # --- internals ----------------------------------------------------------------------
    def _hold(self, session: str) -> None:
        sessions = self._pending.sessions
        if session not in sessions:
            sessions = (*sessions, session)
        self._pending = _Pending(self._pending.count + 1, sessions)

    def _emit_pending(self, now: float) -> bool:
        pending, self._pending = self._pending, _Pending()
        if pending.count == 1:
            title, body = self._describe(pending.sessions[0], "", "", force_private=True)
        else:
            where = f" in {pending.sessions[0]}" if len(pending.sessions) == 1 else ""
            title, body = APP_TITLE, f"{pending.count} new messages{where}"
        self._emit(title, body, now)
        return True

    def _describe(
        self, session: str, chat: str, text: str, *, force_private: bool = False
    ) -> tuple[str, str]:
        """(title, body) before sanitising. Without show_preview nothing a stranger wrote
        (not even the chat name) is shown."""
        if self.config.show_preview and not force_private:
            title = f"{chat} ({session})" if chat else session
            return title, text or "New message"
        return APP_TITLE, f"New message in {session}"

    def sequence(self, title: str, body: str) -> str:
        """The exact text written for one notification (bell and/or OSC)."""
        out = BEL if self.config.bell else ""
        title = sanitize(title, MAX_TITLE)
        body = sanitize(body, MAX_BODY)
        osc = ""
        if self.config.desktop == "osc9":
            osc = f"{ESC}]9;{title}: {body}{BEL}" if title != APP_TITLE else f"{ESC}]9;{body}{BEL}"
        elif self.config.desktop == "osc777":
            osc = f"{ESC}]777;notify;{title};{body}{BEL}"
        if osc and self.in_tmux:
            osc = tmux_wrap(osc)
        return out + osc

    def _emit(self, title: str, body: str, now: float) -> None:
        data = self.sequence(title, body)
        self._last = now
        if data:
            self._write(data)


__all__ = ["Notifier", "sanitize", "tmux_wrap"]
