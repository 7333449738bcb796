"""Fill-to-stop time: how long a position is bare, measured on the engine's side."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Latency:
    """From seeing an entry fill to the broker accepting the stop that covers
    it (the window in which a position is unprotected)."""

    samples_ms: list[float] = field(default_factory=list)
    _open: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fill(self, key: str) -> None:
        with self._lock:
            self._open.setdefault(key, time.perf_counter())

    def stop(self, key: str) -> None:
        with self._lock:
            t0 = self._open.pop(key, None)
            if t0 is not None:
                self.samples_ms.append((time.perf_counter() - t0) * 1000)

    def percentile(self, p: float) -> float | None:
        with self._lock:
            xs = sorted(self.samples_ms)
        if not xs:
            return None
        k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
        return xs[k]
