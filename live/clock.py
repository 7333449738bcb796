"""Clocks and the NSE session calendar.

Every component asks an injected ``Clock`` for the time instead of calling
``datetime.now()``: live trading uses ``WallClock``, the default simulated run
uses ``ReplayClock`` (a trading day at 60x or faster), and tests use
``ManualClock`` or freezegun. All times are timezone-aware, Asia/Kolkata.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")

PRE_OPEN = time(9, 0)
MARKET_OPEN = time(9, 15)
MARKET_CLOSE = time(15, 30)
DEFAULT_EXIT_CUTOFF = time(15, 15)


def require_aware(ts: datetime, field_name: str = "timestamp") -> datetime:
    if ts.tzinfo is IST:  # the common case on the tick path: nothing to convert
        return ts
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise ValueError(f"{field_name}: {ts!r} has no timezone; give an aware datetime (IST)")
    return ts.astimezone(IST)


@dataclass(frozen=True)
class _DayBounds:
    trading: bool
    open: datetime
    close: datetime
    entry_start: datetime
    entry_end: datetime
    cutoff: datetime


def _day_bounds(session: MarketSession, day: date) -> _DayBounds:
    cached = session._bounds.get(day)
    if cached is not None:
        return cached

    def at(t: time) -> datetime:
        return datetime.combine(day, t, tzinfo=IST)

    bounds = session._bounds[day] = _DayBounds(
        session.is_trading_day(day),
        at(session.open),
        at(session.close),
        at(session.entry_start),
        at(session.entry_end),
        at(session.exit_cutoff),
    )
    return bounds


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of *clock* time (market seconds for a replay)."""


class WallClock:
    """Real time in IST."""

    def now(self) -> datetime:
        return datetime.now(IST)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)


class ReplayClock:
    """Market time that starts at ``start`` and runs ``speed`` times faster
    than the wall (speed=60: one market minute per wall second).

    ``held=True`` stops it at ``start`` until ``release()``: a replayed day
    waits for the engine to finish starting (at 400x one second of start-up
    would be almost seven market minutes of ticks nobody saw)."""

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        *,
        monotonic=_time.monotonic,
        held=False,
        anchor: float | None = None,
    ):
        if speed <= 0:
            raise ValueError(f"clock.speed: must be > 0, got {speed}")
        self._start = require_aware(start, "clock.start")
        self.speed = float(speed)
        if anchor is not None:
            # Market time equals ``start`` at the Unix time ``anchor``: two
            # processes (a simulator and an engine) then share one replayed day.
            monotonic, held = _time.time, False
        self._monotonic = monotonic
        self._t0: float | None = None if held else (anchor if anchor is not None else monotonic())

    def release(self) -> None:
        """Let a held clock run from ``start`` (no effect on a running one)."""
        if self._t0 is None:
            self._t0 = self._monotonic()

    def now(self) -> datetime:
        t0 = self._t0
        if t0 is None:
            return self._start
        elapsed = (self._monotonic() - t0) * self.speed
        return self._start + timedelta(seconds=elapsed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds / self.speed)


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it. For tests."""

    def __init__(self, start: datetime):
        self._now = require_aware(start, "start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now

    def set(self, ts: datetime) -> None:
        with self._lock:
            self._now = require_aware(ts)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


@dataclass(frozen=True)
class MarketSession:
    """One exchange's trading day: open/close, the strategy's entry window and
    exit cutoff, and the holidays on which nothing trades."""

    open: time = MARKET_OPEN
    close: time = MARKET_CLOSE
    pre_open: time = PRE_OPEN
    entry_start: time = MARKET_OPEN
    entry_end: time = time(15, 0)
    exit_cutoff: time = DEFAULT_EXIT_CUTOFF
    holidays: frozenset[date] = field(default_factory=frozenset)
    # Per-day boundaries, filled on first use (a dict write is atomic under
    # the GIL; two threads computing the same day store equal values).
    _bounds: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.pre_open <= self.open < self.close):
            raise ValueError("session: need pre_open <= open < close")
        if not (self.open <= self.entry_start <= self.entry_end <= self.close):
            raise ValueError("session: entry window must lie inside open..close")
        if not (self.open < self.exit_cutoff <= self.close):
            raise ValueError("session: exit_cutoff must lie inside (open, close]")

    @staticmethod
    def with_holidays(holidays: Iterable[date | str], **kwargs) -> MarketSession:
        days = frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays)
        return MarketSession(holidays=days, **kwargs)

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def _day(self, ts: datetime) -> _DayBounds:
        """The day's boundaries as aware datetimes, computed once per day
        (these checks run on every tick)."""
        ts = require_aware(ts)
        return _day_bounds(self, ts.date())

    def is_open(self, ts: datetime) -> bool:
        ts = require_aware(ts)
        b = self._day(ts)
        return b.trading and b.open <= ts < b.close

    def in_entry_window(self, ts: datetime) -> bool:
        ts = require_aware(ts)
        b = self._day(ts)
        return b.trading and b.entry_start <= ts < b.entry_end and ts < b.cutoff

    def past_exit_cutoff(self, ts: datetime) -> bool:
        ts = require_aware(ts)
        return ts >= self._day(ts).cutoff

    def cutoff_at(self, day: date) -> datetime:
        return datetime.combine(day, self.exit_cutoff, tzinfo=IST)

    def open_at(self, day: date) -> datetime:
        return datetime.combine(day, self.open, tzinfo=IST)

    def close_at(self, day: date) -> datetime:
        return datetime.combine(day, self.close, tzinfo=IST)

    def previous_trading_day(self, day: date) -> date:
        d = day - timedelta(days=1)
        while not self.is_trading_day(d):
            d -= timedelta(days=1)
        return d

    def next_trading_day(self, day: date) -> date:
        d = day + timedelta(days=1)
        while not self.is_trading_day(d):
            d += timedelta(days=1)
        return d
