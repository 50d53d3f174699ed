"""The heap keeper's schedule, on a clock the test moves; and what a collection leaves frozen."""

from __future__ import annotations

import gc

from watui.ui import heap
from watui.ui.heap import HeapKeeper


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_under_traffic_young_collections_come_every_few_seconds_and_a_deep_one_rarely():
    clock = Clock()
    keeper = HeapKeeper(clock)
    kinds = []
    for _ in range(int(heap.DEEP_MAX / 0.5)):  # DEEP_MAX of constant activity
        clock.now += 0.5
        keeper.activity()
        kind = keeper.due()
        if kind == "young":
            keeper._last_young = clock.now
        elif kind == "deep":
            keeper._last_deep = keeper._last_young = clock.now
        kinds.append(kind)
    young = kinds.count("young")
    assert kinds.count("deep") == 1 and kinds[-1] == "deep"
    assert heap.DEEP_MAX / heap.YOUNG_MAX - 2 <= young <= heap.DEEP_MAX / heap.YOUNG_MAX


def test_a_quiet_app_collects_sooner_and_deeply_more_often():
    clock = Clock()
    keeper = HeapKeeper(clock)
    clock.now += 0.5
    keeper.activity()
    clock.now += max(heap.IDLE, heap.YOUNG_QUIET) - 0.1
    assert keeper.due() is None  # not quiet yet
    clock.now += 0.1
    assert keeper.due() == "young"  # quiet: sooner than YOUNG_MAX
    clock.now = 1000.0 + heap.DEEP_QUIET
    assert keeper.due() == "deep"
    keeper.activity()
    assert keeper.due() == "young"  # busy again: the deep one waits for DEEP_MAX


def test_a_young_collection_frees_cycles_and_freezes_survivors_a_deep_one_thaws_them():
    class Node:
        def __init__(self) -> None:
            self.me = self

    clock = Clock()
    keeper = HeapKeeper(clock)
    keeper.start()
    try:
        frozen = gc.get_freeze_count()
        survivor = Node()
        garbage = Node()
        del garbage
        clock.now += heap.YOUNG_MAX
        assert keeper.tick() == "young"
        assert gc.get_freeze_count() > frozen  # the survivor is frozen now
        assert not any(type(o) is Node and o is not survivor for o in gc.get_objects())
        clock.now += heap.DEEP_MAX
        assert keeper.tick() == "deep"
        assert gc.get_freeze_count() > 0  # refrozen after walking everything
        assert survivor.me is survivor
    finally:
        keeper.stop()
    assert gc.get_freeze_count() == 0
