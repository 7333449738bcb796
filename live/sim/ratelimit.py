"""Server-side moving-window rate limits, as OpenAlgo's flask-limiter applies
them: orders (placeorder, placesmartorder, modifyorder, cancelorder) share
one window, telegram alerts have their own per-minute window (the server's
TELEGRAM_RATE_LIMIT, 30 per minute), everything else another. Time comes from an injected monotonic function so
in-process tests can drive it with the sim clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from live.ratelimit import MovingWindowLimiter

__all__ = ["RateLimits", "RateLimiter", "ORDER_ENDPOINTS"]

ORDER_ENDPOINTS = frozenset({"placeorder", "placesmartorder", "modifyorder", "cancelorder"})


@dataclass(frozen=True)
class RateLimits:
    orders_per_window: int = 10
    others_per_window: int = 50
    window_seconds: float = 1.0
    retry_after: int = 60  # what OpenAlgo's 429 body says, whatever the window
    telegram_per_minute: int = 30

    def __post_init__(self) -> None:
        if min(self.orders_per_window, self.others_per_window, self.telegram_per_minute) < 1:
            raise ValueError("rate limits: per-window counts must be >= 1")
        if self.window_seconds <= 0:
            raise ValueError("rate limits: window_seconds must be > 0")


class RateLimiter:
    """The server's side of OpenAlgo's limits: the same moving window our
    client paces itself with, asked without waiting (full means HTTP 429)."""

    def __init__(self, limits: RateLimits, *, monotonic: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._windows = {
            "orders": MovingWindowLimiter(
                "orders", limits.orders_per_window, limits.window_seconds, monotonic=monotonic
            ),
            "others": MovingWindowLimiter(
                "others", limits.others_per_window, limits.window_seconds, monotonic=monotonic
            ),
            "telegram": MovingWindowLimiter(
                "telegram", limits.telegram_per_minute, 60.0, monotonic=monotonic
            ),
        }

    @staticmethod
    def bucket(endpoint: str) -> str:
        if endpoint.startswith("telegram/"):
            return "telegram"
        return "orders" if endpoint in ORDER_ENDPOINTS else "others"

    def allow(self, endpoint: str) -> bool:
        """Count the call if it fits the moving window; False means 429."""
        return self._windows[self.bucket(endpoint)].try_acquire() <= 0
