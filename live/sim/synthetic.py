"""A synthetic market for scale runs: ``count`` symbols (SYM0001, ...) each
ticking ``tick_rate`` times per market second, made lazily one time step at
a time (a day of 2,000 symbols at 3 ticks/s is 135 million ticks).

Most symbols random-walk on their tick grid (a step of -1/0/+1 tick per
tick, held within +-3% of the prior close, inside one NSE price band); a
``setup_share`` of them replay designed scenario days (the 80-20 and ORB
kinds, cycled) generated on a coarse grid (``coarse_seconds``: 15 s, or the
tick interval if longer). A fine tick shows the coarse price in force at its
time, so the scenario's ground truth (``SymbolDay.levels`` / ``.orb``) holds,
with times on the coarse grid: a designed event shows on the first fine tick
at or after its coarse time.

Symbols are spread over the interval: step ``k`` (every ``interval / G``
market seconds, G about one step per 20 ms) ticks the symbols whose index is
``k mod G``, so the feed is a steady stream rather than one burst a tick.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from live.clock import MarketSession

from .day import SimDay, SymbolDay, _generate_symbol, _history
from .models import SimInstrument, SimTick
from .paths import BANDS
from .stream import LazyStream

__all__ = ["synthetic_day", "SETUP_KINDS"]

SETUP_KINDS = (
    "long_win",
    "orb_up",
    "short_win",
    "orb_down",
    "long_stopout",
    "orb_whipsaw",
    "short_stopout",
    "orb_none",
    "long_stopout_reentry",
    "short_stopout_reentry",
)
_STEP_SECONDS = 0.02  # target spacing of the staggered steps (market seconds)


class _Walk:
    __slots__ = ("symbol", "exchange", "k", "lo", "hi", "tick", "price")

    def __init__(self, symbol: str, exchange: str, k0: int, tick: Decimal) -> None:
        self.symbol, self.exchange, self.k, self.tick = symbol, exchange, k0, tick
        span = max(10, k0 * 3 // 100)
        self.lo, self.hi = k0 - span, k0 + span
        self.price = Decimal(k0) * tick

    def next(self, t_s: float, rnd: Callable[[], float]) -> Decimal:
        r = rnd()
        if r >= 0.6:
            return self.price
        k = self.k + 1 if r < 0.3 else self.k - 1
        if k > self.hi:
            k = self.hi - 1
        elif k < self.lo:
            k = self.lo + 1
        self.k = k
        self.price = Decimal(k) * self.tick
        return self.price


class _Replay:
    __slots__ = ("symbol", "exchange", "path", "coarse", "tick", "i", "price")

    def __init__(self, symbol: str, exchange: str, path: array, coarse: float, tick: Decimal):
        self.symbol, self.exchange, self.path = symbol, exchange, path
        self.coarse, self.tick = coarse, tick
        self.i = -1
        self.price = Decimal(0)

    def next(self, t_s: float, rnd: Callable[[], float]) -> Decimal:
        i = min(int(t_s / self.coarse), len(self.path) - 1)
        if i != self.i:
            self.i = i
            self.price = Decimal(self.path[i]) * self.tick
        return self.price


class _Steps:
    """The StepSource: step k at open + k * dt ticks group k mod G."""

    def __init__(self, open_at: datetime, close_at: datetime, interval: float, gens, seed):
        self._open, self._close = open_at, close_at
        n = len(gens)
        self._groups_n = max(1, min(n, int(interval / _STEP_SECONDS)))
        self._dt = interval / self._groups_n
        self._groups = [gens[g :: self._groups_n] for g in range(self._groups_n)]
        self._rnd = random.Random(f"walk:{seed}").random
        self._last: tuple[int, datetime | None] = (-1, None)

    def step_time(self, k: int) -> datetime | None:
        if self._last[0] != k:
            t = self._open + timedelta(seconds=k * self._dt)
            self._last = (k, t if t < self._close else None)
        return self._last[1]

    def step(self, k: int) -> list[SimTick]:
        ts = self.step_time(k)
        t_s = k * self._dt
        rnd = self._rnd
        return [
            SimTick(g.symbol, g.exchange, g.next(t_s, rnd), ts)
            for g in self._groups[k % self._groups_n]
        ]


def synthetic_day(
    day: date,
    count: int,
    tick_rate: float,
    *,
    seed: int = 0,
    setup_share: float = 0.05,
    session: MarketSession | None = None,
    exchange: str = "NSE",
    prefix: str = "SYM",
    history_days: int = 20,
    coarse_seconds: float = 15.0,
) -> SimDay:
    """``count`` symbols ticking ``tick_rate`` times per market second each
    (at replay speed 1 that is also per wall second)."""
    session = session or MarketSession()
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 99_999:
        raise ValueError(f"symbols_count: a whole number in 1..99999, got {count!r}")
    if not isinstance(tick_rate, int | float) or not math.isfinite(tick_rate) or tick_rate <= 0:
        raise ValueError(f"tick_rate: ticks per symbol per second, > 0, got {tick_rate!r}")
    if not 0.0 <= setup_share <= 1.0:
        raise ValueError(f"setup_share: a fraction in 0..1, got {setup_share!r}")
    if not session.is_trading_day(day):
        raise ValueError(f"day: {day} is not a trading day (weekend or holiday)")
    interval = 1.0 / tick_rate
    coarse = max(interval, coarse_seconds)
    width = max(4, len(str(count)))
    names = [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]
    rng = random.Random(f"synthetic:{seed}")
    setups = sorted(rng.sample(range(count), round(count * setup_share)))
    kind_of = {i: SETUP_KINDS[j % len(SETUP_KINDS)] for j, i in enumerate(setups)}
    symbols: list[SymbolDay] = []
    plans: list[tuple] = []
    for i, name in enumerate(names):
        kind = kind_of.get(i)
        if kind is not None:
            sd = _generate_symbol(name, exchange, kind, day, seed, coarse, history_days, session)
            tick = sd.instrument.tick_for(sd.ticks[0].ltp)
            path = array("l", (int(t.ltp / tick) for t in sd.ticks))
            plans.append(("replay", name, path, tick))
            symbols.append(replace(sd, ticks=()))
            continue
        lo, hi, tick = rng.choice(BANDS)
        k0 = int((lo + (hi - lo) * Decimal(str(rng.random()))) / tick)
        r = max(40, k0 * rng.randint(20, 40) // 1000)
        low = k0 - r // 2
        o = low + rng.randint(r // 3, 2 * r // 3)
        bars = _history(
            rng, day, session, history_days, o * tick, (low + r) * tick, low * tick, k0 * tick, tick
        )
        inst = SimInstrument(symbol=name, exchange=exchange, prior_close=Decimal(k0) * tick)
        symbols.append(SymbolDay(inst, "walk", bars, ()))
        plans.append(("walk", name, k0, tick))
    open_at, close_at = session.open_at(day), session.close_at(day)

    def stream() -> LazyStream:
        gens = [
            _Replay(name, exchange, a, coarse, tick)
            if kind == "replay"
            else _Walk(name, exchange, a, tick)
            for kind, name, a, tick in plans
        ]
        return LazyStream(_Steps(open_at, close_at, interval, gens, seed))

    return SimDay(day=day, symbols=tuple(symbols), session=session, stream_factory=stream)
