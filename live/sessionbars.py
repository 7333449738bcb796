"""The session's 1-minute bars, built from the engine's own ticks and kept
in the journal, so a restart the same day warms each strategy up without a
``history`` call per symbol.

``on_tick`` (executor workers, any symbol; the feed thread while the
engine starts) updates the symbol's current
bar: a comparison or two per tick. ``take`` (the poller's cycle) returns
the bars touched since the last take - finished ones and the current,
still-forming one - for one journal transaction; a killed engine loses at
most the ticks since the last cycle.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from decimal import Decimal

from live.journal import MinuteBar

_MINUTE = timedelta(minutes=1)


class SessionBars:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> [minute start, minute end, open, high, low, close]
        self._cur: dict[str, list] = {}
        self._dirty: set[str] = set()
        self._done: list[MinuteBar] = []

    def on_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        with self._lock:
            bar = self._cur.get(key)
            if bar is None or ts >= bar[1] or ts < bar[0]:
                if bar is not None and key in self._dirty:
                    self._done.append(_bar(key, bar))
                start = ts.replace(second=0, microsecond=0)
                self._cur[key] = [start, start + _MINUTE, ltp, ltp, ltp, ltp]
            else:
                if ltp > bar[3]:
                    bar[3] = ltp
                elif ltp < bar[4]:
                    bar[4] = ltp
                bar[5] = ltp
            self._dirty.add(key)

    def take(self) -> list[MinuteBar]:
        with self._lock:
            out = self._done
            out += [_bar(k, self._cur[k]) for k in self._dirty]
            self._done, self._dirty = [], set()
        return out

    def so_far(self) -> dict[str, list[MinuteBar]]:
        """Every bar not yet taken, by symbol, without taking them: at start
        the warm-up reads what the feed streamed while the day's plan was
        read; the first poll cycle still journals them."""
        with self._lock:
            bars = self._done + [_bar(k, self._cur[k]) for k in self._dirty]
        out: dict[str, list[MinuteBar]] = {}
        for b in bars:
            out.setdefault(b.key, []).append(b)
        return out


def _bar(key: str, b: list) -> MinuteBar:
    return MinuteBar(key, b[0], b[2], b[3], b[4], b[5])
