"""When the app collects its garbage.

A full collection walks every tracked object that is not frozen: 50-90 ms at start-up,
and with ten busy sessions 0.5 M live objects took 200-270 ms -- frames that never came
(bench/ui.py's flood). Left to pile up, rendering garbage reached 3 M objects, 294 MB and a
2.6 s collection (bench/load.py). So Python's own full collections are off, and:

* every few seconds (sooner when nothing has happened for a second) a *young* collection
  runs over what was made since the last one, and what survives it is frozen: each walk
  covers seconds of allocations, not the whole heap;
* now and then, preferably in a quiet moment, a *deep* collection unfreezes everything
  and walks it all, so garbage that was frozen while still alive is freed too.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Literal

CHECK_INTERVAL = 0.5  # seconds between decisions
IDLE = 1.0  # nothing for this long: quiet, no frame is due
YOUNG_QUIET = 1.0  # a young collection when quiet, at most this often ...
YOUNG_MAX = 2.0  # ... and at least this often under traffic
DEEP_QUIET = 30.0  # a deep one when quiet, at most this often ...
DEEP_MAX = 60.0  # ... and at least this often: frozen garbage (bounded caches churning) grew 0.36 M objects a minute under bench/load.py

Collection = Literal["young", "deep"]


class HeapKeeper:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._last_activity = self._last_young = self._last_deep = now
        self._threshold: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Once the screen is up: what exists now lives as long as the app."""
        self._threshold = gc.get_threshold()
        gc.set_threshold(self._threshold[0], self._threshold[1], 1_000_000)
        gc.freeze()

    def stop(self) -> None:
        if self._threshold is not None:
            gc.set_threshold(*self._threshold)
            self._threshold = None
        gc.unfreeze()  # collectable again (tests run many apps in one process)

    def activity(self) -> None:
        self._last_activity = self._clock()

    def due(self) -> Collection | None:
        now = self._clock()
        quiet = now - self._last_activity >= IDLE
        if now - self._last_deep >= (DEEP_QUIET if quiet else DEEP_MAX):
            return "deep"
        if now - self._last_young >= (YOUNG_QUIET if quiet else YOUNG_MAX):
            return "young"
        return None

    def tick(self) -> Collection | None:
        kind = self.due()
        if kind == "deep":
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._last_deep = self._last_young = self._clock()
        elif kind == "young":
            gc.collect()
            gc.freeze()
            self._last_young = self._clock()
        return kind
