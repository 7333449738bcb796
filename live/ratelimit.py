"""Client-side moving-window rate limiting for OpenAlgo's per-class limits.

OpenAlgo limits each client IP per endpoint class with a moving window
(orders 10/s, smart orders 2/s, everything else 50/s by default). Going over
earns a 429 and, worse, a rejected stop-loss. So every REST call first takes a
slot from its class's limiter here; the caller blocks until a slot is free
instead of sleeping ad hoc. A 429 from the server still happens (other
clients on the same IP, a server configured tighter than we think): the
adapter then calls :meth:`MovingWindowLimiter.penalize` so the whole class
waits out ``retry_after``.

Protective orders have a priority lane: inside ``with urgent():`` a call
may use the last ``reserve`` slots of its window, which ordinary calls
(entries, trailing modifies) leave free. A stop-loss or a cutoff exit never
waits behind a burst of trailing modifies for more than what is already in
flight.

Time comes from an injected monotonic function and sleeps go through an
injected sleep, so tests drive the window with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "ORDER_ENDPOINTS",
    "urgent",
    "SMART_ENDPOINTS",
    "LimiterClass",
    "MovingWindowLimiter",
    "RateLimitExceeded",
    "RateLimiters",
    "RateLimits",
]

ORDER_ENDPOINTS = frozenset({"placeorder", "modifyorder", "cancelorder"})
SMART_ENDPOINTS = frozenset({"placesmartorder"})


_lane = threading.local()


@contextmanager
def urgent() -> Iterator[None]:
    """Calls made by this thread inside the block are protective (a stop,
    an exit, a cancel that keeps a position safe): they may use the reserved
    slots."""
    before = getattr(_lane, "urgent", False)
    _lane.urgent = True
    try:
        yield
    finally:
        _lane.urgent = before


def is_urgent() -> bool:
    return getattr(_lane, "urgent", False)


class LimiterClass:
    ORDERS = "orders"
    SMART = "smart"
    OTHER = "other"


class RateLimitExceeded(Exception):
    """A slot would only free after more than ``max_wait`` seconds (typically
    a server-imposed ``retry_after``): waiting that long inside a trading call
    is worse than telling the caller now."""

    def __init__(self, limiter: str, wait: float):
        super().__init__(f"rate limit '{limiter}': next slot in {wait:.2f}s (over max_wait)")
        self.limiter = limiter
        self.wait = wait


@dataclass(frozen=True)
class RateLimits:
    """Calls allowed per ``window`` seconds, per class. ``max_wait`` bounds how
    long a caller may block for a slot before getting RateLimitExceeded."""

    orders: int = 10
    orders_reserved: int = 2  # of ``orders``, kept for protective calls (``urgent``)
    smart: int = 2
    other: int = 50
    window: float = 1.0
    max_wait: float = 5.0
    # OpenAlgo's 429 handler (app.py) always says retry_after=60 although its
    # window is one second; blocking stop-loss placement for a minute because
    # of a constant would hurt more than a second 429. So the penalty we apply
    # is min(retry_after, retry_after_cap); the raw value is still reported.
    retry_after_cap: float = 2.0
    # The server counts arrivals, we count departures: thread scheduling and
    # transit jitter can squeeze 11 of our 10-per-second into its window. A
    # little slack on our side costs ~10% throughput and avoids those 429s.
    margin: float = 0.1

    def __post_init__(self) -> None:
        for name in ("orders", "smart", "other"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"rate_limits.{name}: must be a positive int, got {v!r}")
        if not self.window > 0:
            raise ValueError(f"rate_limits.window: must be > 0 seconds, got {self.window!r}")
        if not self.retry_after_cap >= 0:
            raise ValueError(
                f"rate_limits.retry_after_cap: must be >= 0 seconds, got {self.retry_after_cap!r}"
            )
        if not self.margin >= 0:
            raise ValueError(f"rate_limits.margin: must be >= 0 seconds, got {self.margin!r}")
        if not isinstance(self.orders_reserved, int) or self.orders_reserved < 0:
            raise ValueError(
                f"rate_limits.orders_reserved: must be an int >= 0, got {self.orders_reserved!r}"
            )
        if not self.max_wait >= 0:
            raise ValueError(f"rate_limits.max_wait: must be >= 0 seconds, got {self.max_wait!r}")


class MovingWindowLimiter:
    """At most ``limit`` acquisitions in any ``window``-second interval.

    Keeps the times of the last ``limit`` acquisitions; a new one may go when
    the oldest of them is at least ``window`` old. Thread-safe: the lock is
    held only to inspect and record, never while sleeping.
    """

    def __init__(
        self,
        name: str,
        limit: int,
        window: float = 1.0,
        *,
        reserved: int = 0,
        max_wait: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ):
        if limit <= 0:
            raise ValueError(f"limit: must be > 0, got {limit}")
        if window <= 0:
            raise ValueError(f"window: must be > 0, got {window}")
        self.name = name
        self.limit = limit
        self.reserved = reserved
        self.window = float(window)
        self.max_wait = float(max_wait)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()
        self._blocked_until = 0.0
        self.waits = 0  # how many acquisitions had to wait at least once

    def _next_free(self, now: float) -> float:
        """Seconds until a slot is free (0 if one is free now). Lock held.
        An ordinary call leaves the last ``reserved`` slots to urgent ones."""
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        limit = self.limit if is_urgent() else self.limit - self.reserved
        wait = 0.0
        if len(self._stamps) >= limit:
            wait = self._stamps[len(self._stamps) - limit] + self.window - now
        return max(wait, self._blocked_until - now, 0.0)

    def try_acquire(self) -> float:
        """Take a slot if one is free and return 0; else return the wait."""
        with self._lock:
            now = self._monotonic()
            wait = self._next_free(now)
            if wait <= 0:
                self._stamps.append(now)
            return wait

    def acquire(self) -> None:
        waited = False
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            if wait > self.max_wait:
                raise RateLimitExceeded(self.name, wait)
            if not waited:
                waited = True
                with self._lock:
                    self.waits += 1
            self._sleep(wait)

    def penalize(self, seconds: float) -> None:
        """Block the whole class for ``seconds`` (server said retry_after)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._monotonic() + max(seconds, 0.0))

    def in_window(self) -> int:
        with self._lock:
            self._next_free(self._monotonic())
            return len(self._stamps)


class RateLimiters:
    """One limiter per endpoint class; ``for_endpoint`` picks the class."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ):
        limits = limits or RateLimits()
        self.limits = limits

        def make(name: str, n: int, reserved: int = 0) -> MovingWindowLimiter:
            return MovingWindowLimiter(
                name,
                n,
                limits.window + limits.margin,
                reserved=reserved,
                max_wait=limits.max_wait,
                monotonic=monotonic,
                sleep=sleep,
            )

        self._by_class: Mapping[str, MovingWindowLimiter] = {
            LimiterClass.ORDERS: make(
                LimiterClass.ORDERS, limits.orders, min(limits.orders_reserved, limits.orders - 1)
            ),
            LimiterClass.SMART: make(LimiterClass.SMART, limits.smart),
            LimiterClass.OTHER: make(LimiterClass.OTHER, limits.other),
        }

    @staticmethod
    def class_of(endpoint: str) -> str:
        if endpoint in ORDER_ENDPOINTS:
            return LimiterClass.ORDERS
        if endpoint in SMART_ENDPOINTS:
            return LimiterClass.SMART
        return LimiterClass.OTHER

    def for_endpoint(self, endpoint: str) -> MovingWindowLimiter:
        return self._by_class[self.class_of(endpoint)]

    def __getitem__(self, cls: str) -> MovingWindowLimiter:
        return self._by_class[cls]
