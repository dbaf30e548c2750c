"""Waiting on a condition with a deadline: the one poll loop of raftzmq (and of its tests)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, *, interval: float = 0.02) -> T | None:
    """Call `predicate` every `interval` seconds until it returns something truthy, and return that; after
    `timeout` seconds return None. The predicate runs at least once, and once more at the deadline (never
    sleeping past it), so a condition that comes true at the last moment is seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(interval, left))  # polling a condition, bounded by the deadline
