"""One-minute OHLC bars built from the ticks as they are applied, for
intraday ``history``: memory grows with minutes x symbols, not with ticks."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

from live.clock import IST as _IST

__all__ = ["MinuteBars"]


class MinuteBars:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bars: dict[str, dict[int, list]] = {}
        self._last: tuple[datetime | None, int] = (None, 0)

    def add(self, key: str, ltp: Decimal, ts: datetime) -> None:
        last_ts, minute = self._last
        if ts is not last_ts:  # ticks of one time step share their datetime
            minute = int(ts.timestamp()) // 60 * 60
            self._last = (ts, minute)
        with self._lock:
            per_key = self._bars.get(key)
            if per_key is None:
                per_key = self._bars[key] = {}
            b = per_key.get(minute)
            if b is None:
                per_key[minute] = [ltp, ltp, ltp, ltp, 1]
            else:
                if ltp > b[1]:
                    b[1] = ltp
                elif ltp < b[2]:
                    b[2] = ltp
                b[3] = ltp
                b[4] += 1

    def bars(self, key: str, seconds: int, start: date, end: date) -> list[tuple]:
        if seconds < 60 or seconds % 60:
            raise ValueError(f"seconds: a multiple of 60, got {seconds}")
        with self._lock:
            minutes = sorted(self._bars.get(key, {}).items())
            minutes = [(m, list(b)) for m, b in minutes]
        out: dict[int, list] = {}
        for m, (o, h, lo, c, n) in minutes:
            # Session dates are IST dates; epochs are UTC seconds.
            d = datetime.fromtimestamp(m, UTC).astimezone(_IST).date()
            if not start <= d <= end:
                continue
            e = m // seconds * seconds
            b = out.get(e)
            if b is None:
                out[e] = [o, h, lo, c, n]
            else:
                b[1], b[2], b[3], b[4] = max(b[1], h), min(b[2], lo), c, b[4] + n
        return [(e, *b) for e, b in sorted(out.items())]
