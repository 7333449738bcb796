"""Small helpers shared by the support tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from live.clock import IST


def at(hh: int, mm: int = 0, ss: int = 0, *, day: int = 20, month: int = 11) -> datetime:
    """An aware IST datetime in November 2026 (the 20th is a Friday)."""
    return datetime(2026, month, day, hh, mm, ss, tzinfo=IST)


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Bounded wait on real threads/processes. Not a timed assertion: the
    timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
