"""The tick source: a seeded trading day of ticks (09:15-15:30 IST) per
symbol, shaped by a chosen scenario, plus the prior daily bars; or ticks
replayed from a CSV file.

Scenarios (per symbol):

* ``long_win`` - the prior day opened in the top 20% of its range and closed
  in the bottom 20%; today trades a few ticks below the prior low (the
  trigger), comes back above it (a buy stop at the prior low fills) and runs
  up without revisiting the day's low.
* ``long_stopout`` - as above, but after the entry it falls through the
  day's low (a stop at the low is hit) and stays below the prior low.
* ``long_stopout_reentry`` - stopped out, then back above the prior low
  (re-entry) and up into the close.
* ``short_win`` / ``short_stopout`` / ``short_stopout_reentry`` - mirror
  images (opened in the bottom 20%, closed in the top 20%; trigger above the
  prior high; sell-stop entry at the prior high).
* ``no_setup`` - the prior day opened and closed mid-range; today wanders.
* ``random`` - a random prior day and a random walk today.
* ``orb_up`` / ``orb_down`` / ``orb_whipsaw`` / ``orb_none`` - opening-range
  breakout days over a neutral prior day (no 80-20 setup); see live/sim/orb.py
  for what each promises and ``SimDay.symbol(key).orb`` (``OrbLevels``) for
  the range, breakout and reversal of the generated ticks.

Prices are built in whole ticks of one NSE price band (the base price is
chosen so the day never leaves its band), so every tick is on the grid and
the structural levels (prior low, trigger depth, stop-out) are exact.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path

from live.broker import Bar, split_key
from live.clock import IST, MarketSession
from live.ticks import TickTable, to_decimal

from .models import SimInstrument, SimTick
from .orb import DEFAULT_ORB_MINUTES, ORB_KINDS, OrbLevels, orb_path, orb_truth
from .paths import BANDS, bounded_path, nearest, noise
from .stream import ListStream, TickStream

__all__ = ["SCENARIOS", "SymbolDay", "SimDay", "SetupLevels", "OrbLevels"]

SCENARIOS = (
    "long_win",
    "long_stopout",
    "long_stopout_reentry",
    "short_win",
    "short_stopout",
    "short_stopout_reentry",
    "no_setup",
    "random",
    *ORB_KINDS,
)

_BANDS = BANDS


@dataclass(frozen=True)
class SetupLevels:
    """The designed levels of an 80-20 scenario, for tests to assert against.
    For shorts, ``prior_low``/``prior_high`` are still the bar's low/high and
    ``trigger_extreme`` is today's high before the entry."""

    side: str  # "long" or "short"
    prior_high: Decimal
    prior_low: Decimal
    entry: Decimal  # the buy-stop (prior low) or sell-stop (prior high)
    trigger_extreme: Decimal  # today's low (long) / high (short) before entry
    stopout_extreme: Decimal | None  # the later lower low / higher high, if any


@dataclass(frozen=True)
class SymbolDay:
    instrument: SimInstrument
    scenario: str
    prior_bars: tuple[Bar, ...]  # oldest first; the last is the prior trading day
    ticks: tuple[SimTick, ...]
    levels: SetupLevels | None = None
    orb: OrbLevels | None = None  # orb_* scenarios: the opening range and its breakouts

    @property
    def key(self) -> str:
        return self.instrument.key


@dataclass(frozen=True)
class SimDay:
    day: date
    symbols: tuple[SymbolDay, ...]
    session: MarketSession = field(default_factory=MarketSession)
    # A lazy day (``SimDay.synthetic``) makes its ticks as the clock reaches
    # them: its SymbolDays hold no ticks and each Simulator gets a fresh stream.
    stream_factory: Callable[[], TickStream] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = [s.key for s in self.symbols]
        if len(set(keys)) != len(keys):
            dup = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"symbols: duplicate keys {dup}")

    @cached_property
    def _by_key(self) -> dict[str, SymbolDay]:
        return {s.key: s for s in self.symbols}

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.symbols]

    @property
    def instruments(self) -> list[SimInstrument]:
        return [s.instrument for s in self.symbols]

    def symbol(self, key: str) -> SymbolDay:
        sd = self._by_key.get(key.upper())
        if sd is None:
            raise KeyError(f"{key} is not in this SimDay (have {self.keys[:20]}...)")
        return sd

    def tick_stream(self) -> TickStream:
        """A fresh replay of the day's ticks (lazy for synthetic days)."""
        if self.stream_factory is not None:
            return self.stream_factory()
        return ListStream(self.ticks())

    def ticks(self) -> list[SimTick]:
        """All symbols' ticks merged in time order (ties: symbol order).
        Empty for a lazy (synthetic) day: use ``tick_stream()``."""
        merged = []
        for i, s in enumerate(self.symbols):
            merged.extend((t.ts, i, n, t) for n, t in enumerate(s.ticks))
        merged.sort(key=lambda x: (x[0], x[1], x[2]))
        return [m[3] for m in merged]

    @property
    def open_at(self) -> datetime:
        return self.session.open_at(self.day)

    # --- generation ----------------------------------------------------------------

    @staticmethod
    def generate(
        day: date,
        symbols: Mapping[str, str] | Iterable[str],
        *,
        seed: int = 0,
        tick_seconds: float = 5.0,
        history_days: int = 20,
        session: MarketSession | None = None,
        default_scenario: str | None = None,
        orb_minutes: int = DEFAULT_ORB_MINUTES,
    ) -> SimDay:
        """Make a day for ``symbols``: a mapping {"NSE:SBIN": "long_win"} or a
        list of keys (scenarios then drawn from the seed, or
        ``default_scenario`` for all). ``orb_minutes`` is the opening range
        the orb_* scenarios are built around."""
        session = session or MarketSession()
        if not isinstance(orb_minutes, int) or not 1 <= orb_minutes <= 120:
            raise ValueError(
                f"orb_minutes: a whole number of minutes in 1..120, got {orb_minutes!r}"
            )
        if not session.is_trading_day(day):
            raise ValueError(f"day: {day} is not a trading day (weekend or holiday)")
        if tick_seconds <= 0:
            raise ValueError(f"tick_seconds: must be > 0, got {tick_seconds}")
        if isinstance(symbols, Mapping):
            chosen = dict(symbols)
        else:
            rng = random.Random(f"scenarios:{seed}")
            chosen = {}
            for k in symbols:
                chosen[k] = default_scenario or rng.choice(SCENARIOS)
        out = []
        for key, scenario in chosen.items():
            if scenario not in SCENARIOS:
                raise ValueError(f"scenario for {key}: {scenario!r} unknown; one of {SCENARIOS}")
            sym, exch = split_key(key)
            out.append(
                _generate_symbol(
                    sym, exch, scenario, day, seed, tick_seconds, history_days, session, orb_minutes
                )
            )
        return SimDay(day=day, symbols=tuple(out), session=session)

    @staticmethod
    def synthetic(day: date, count: int, tick_rate: float, **kw) -> SimDay:
        """``count`` synthetic symbols (SYM0001...) at ``tick_rate`` ticks per
        market second each, made lazily; see live/sim/synthetic.py."""
        from .synthetic import synthetic_day

        return synthetic_day(day, count, tick_rate, **kw)

    # --- CSV replay ----------------------------------------------------------------

    @staticmethod
    def from_csv(
        path: str | Path,
        *,
        prior_bars: Mapping[str, Iterable[Bar]] | None = None,
        instruments: Iterable[SimInstrument] | None = None,
        session: MarketSession | None = None,
    ) -> SimDay:
        """Replay ``symbol,exchange,timestamp,ltp`` rows. Timestamps: ISO 8601
        (naive means IST) or epoch seconds/milliseconds. Instruments default
        to NSE price-banded ticks with the prior close taken from the last
        prior bar, else the first tick."""
        session = session or MarketSession()
        rows: dict[str, list[SimTick]] = {}
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            need = {"symbol", "exchange", "timestamp", "ltp"}
            if reader.fieldnames is None or not need <= set(reader.fieldnames):
                raise ValueError(
                    f"{path}: header must contain {sorted(need)}, got {reader.fieldnames}"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    sym = row["symbol"].strip().upper()
                    exch = row["exchange"].strip().upper()
                    if not sym or not exch:
                        raise ValueError("symbol and exchange must be non-empty")
                    ltp = to_decimal(row["ltp"], "ltp")
                    if ltp <= 0:
                        raise ValueError(f"ltp must be > 0, got {ltp}")
                    ts = _parse_ts(row["timestamp"])
                except (ValueError, TypeError, AttributeError) as e:
                    raise ValueError(f"{path}:{line}: {e}") from None
                rows.setdefault(f"{exch}:{sym}", []).append(SimTick(sym, exch, ltp, ts))
        if not rows:
            raise ValueError(f"{path}: no tick rows")
        given = {i.key: i for i in (instruments or ())}
        bars = {k.upper(): tuple(v) for k, v in (prior_bars or {}).items()}
        days = {t.ts.date() for ticks in rows.values() for t in ticks}
        if len(days) != 1:
            raise ValueError(f"{path}: ticks span several days {sorted(days)}; one day per file")
        day = days.pop()
        out = []
        for key, ticks in rows.items():
            ticks.sort(key=lambda t: t.ts)
            b = bars.get(key, ())
            inst = given.get(key) or SimInstrument(
                symbol=ticks[0].symbol,
                exchange=ticks[0].exchange,
                prior_close=b[-1].close if b else ticks[0].ltp,
            )
            out.append(SymbolDay(inst, "csv", b, tuple(ticks)))
        return SimDay(day=day, symbols=tuple(out), session=session)


def _parse_ts(raw: str) -> datetime:
    raw = (raw or "").strip()
    if not raw:
        raise ValueError("timestamp is empty")
    try:
        num = float(raw)
    except ValueError:
        num = None
    if num is not None:
        if not math.isfinite(num):
            raise ValueError(f"timestamp {raw!r} is not finite")
        secs = num / 1000 if num > 1e11 else num
        return datetime.fromtimestamp(secs, IST)
    ts = datetime.fromisoformat(raw)
    return ts.replace(tzinfo=IST) if ts.tzinfo is None else ts.astimezone(IST)


# --- the generator ------------------------------------------------------------------


def _generate_symbol(
    sym: str,
    exch: str,
    scenario: str,
    day: date,
    seed: int,
    tick_seconds: float,
    history_days: int,
    session: MarketSession,
    orb_minutes: int = DEFAULT_ORB_MINUTES,
) -> SymbolDay:
    if scenario in ORB_KINDS:
        return _generate_orb(
            sym, exch, scenario, day, seed, tick_seconds, history_days, session, orb_minutes
        )
    rng = random.Random(f"{seed}:{exch}:{sym}:{scenario}")
    lo, hi, tick = rng.choice(_BANDS)
    base = int((lo + (hi - lo) * Decimal(str(rng.random()))) / tick)  # in ticks
    rng_ticks = max(60, int(base * rng.uniform(0.025, 0.04)))  # prior range, ticks
    short = scenario.startswith("short")
    kind = scenario.split("_", 1)[1] if scenario[:5] in ("long_", "short") else scenario

    low = base - rng_ticks // 2
    high = low + rng_ticks
    if kind in ("win", "stopout", "stopout_reentry"):
        o = low + round(rng_ticks * rng.uniform(0.83, 0.97))
        c = low + round(rng_ticks * rng.uniform(0.03, 0.17))
    elif kind == "no_setup":
        o = low + round(rng_ticks * rng.uniform(0.35, 0.65))
        c = low + round(rng_ticks * rng.uniform(0.35, 0.65))
    else:
        o = low + rng.randint(0, rng_ticks)
        c = low + rng.randint(0, rng_ticks)

    open_s = session.open_at(day)
    seconds = int((session.close_at(day) - open_s).total_seconds())
    n = int(seconds // tick_seconds)
    times = [i * tick_seconds for i in range(n)]
    levels = None
    if kind in ("win", "stopout", "stopout_reentry"):
        path, trig, stop2 = _setup_path(rng, kind, times, seconds, low, c, rng_ticks)
        levels = (trig, stop2)
    else:
        path = _random_path(rng, times, c, rng_ticks)

    def mirror(k: int) -> int:
        return 2 * base - k if short else k

    def price(k: int) -> Decimal:
        return (Decimal(mirror(k)) * tick).quantize(tick)

    p_high, p_low = (price(low), price(high)) if short else (price(high), price(low))
    instrument = SimInstrument(symbol=sym, exchange=exch, prior_close=price(c))
    bars = _history(rng, day, session, history_days, price(o), p_high, p_low, price(c), tick)
    ticks = tuple(
        SimTick(sym, exch, price(k), open_s + timedelta(seconds=t))
        for t, k in zip(times, path, strict=True)
    )
    setup = None
    if levels is not None:
        trig, stop2 = levels
        setup = SetupLevels(
            side="short" if short else "long",
            prior_high=p_high,
            prior_low=p_low,
            entry=price(low),
            trigger_extreme=price(trig),
            stopout_extreme=price(stop2) if stop2 is not None else None,
        )
    return SymbolDay(instrument, scenario, bars, ticks, setup)


def _setup_path(rng, kind, times, seconds, low, close, rt):
    """A long-side 80-20 day in ticks: returns (path, trigger_low, stopout_low)."""
    # The book's penetration guideline is 5-15 ticks below the prior low.
    depth = rng.randint(5, 12)  # ticks below the prior low: the trigger
    trig = low - depth
    amp = max(2, rt // 40)
    open_ = max(low + rt // 8, close - rng.randint(0, rt // 8))
    t1 = rng.uniform(0.05, 0.15) * seconds  # the trigger low
    t2 = t1 + rng.uniform(0.06, 0.12) * seconds  # back above the prior low
    pts = [(0, open_), (t1, trig), (t2, low + rt // 4)]
    # (from, to, lower bound, upper bound) constraints on the noisy path
    # Nothing trades below the prior low before t1, where the day flushes
    # through it to the designed trigger low (hit once, at t1).
    bounds = [(0, t1 - 1e-9, low, None)]
    stop2 = None
    if kind == "win":
        pts += [(t2 + 0.25 * seconds, low + rt), (seconds, low + rt + rng.randint(0, rt // 2))]
        bounds.append((t1 + 1e-9, seconds, trig + 2, None))
    else:
        t3 = t2 + rng.uniform(0.08, 0.15) * seconds  # the stop-out low
        stop2 = trig - rng.randint(3, 10)
        pts += [(t2 + 0.3 * (t3 - t2), low + rt // 5), (t3, stop2)]
        bounds.append((t1 + 1e-9, t3, stop2, None))
        if kind == "stopout":
            pts += [(seconds, stop2 + rt // 10)]
            bounds.append((t3 + 1e-9, seconds, None, low - amp - 2))
        else:
            t4 = t3 + rng.uniform(0.08, 0.15) * seconds  # re-entry above the prior low
            pts += [(t4, low + rt // 4), (seconds, low + rt)]
            bounds.append((t3 + 1e-9, seconds, stop2 + 2, None))
    path = bounded_path(rng, times, pts, bounds, amp)
    # The designed extremes are hit exactly once, at their waypoints.
    path[nearest(times, t1)] = trig
    if stop2 is not None:
        path[nearest(times, t3)] = stop2
    if stop2 is not None:
        # Report the true extreme after the entry: later noise may go lower.
        stop2 = min(v for t, v in zip(times, path, strict=True) if t >= t2)
    return path, trig, stop2


def _generate_orb(
    sym, exch, scenario, day, seed, tick_seconds, history_days, session, minutes
) -> SymbolDay:
    rng = random.Random(f"{seed}:{exch}:{sym}:{scenario}")
    lo, hi, tick = rng.choice(_BANDS)
    base = int((lo + (hi - lo) * Decimal(str(rng.random()))) / tick)  # in ticks
    # A neutral prior day (open and close mid-range): no 80-20 setup.
    prior_rt = max(60, int(base * rng.uniform(0.025, 0.04)))
    p_low = base - prior_rt // 2
    o = p_low + round(prior_rt * rng.uniform(0.35, 0.65))
    c = p_low + round(prior_rt * rng.uniform(0.35, 0.65))
    rt = max(20, int(base * rng.uniform(0.006, 0.012)))  # today's opening range, ticks
    open_s = session.open_at(day)
    seconds = int((session.close_at(day) - open_s).total_seconds())
    times = [i * tick_seconds for i in range(int(seconds // tick_seconds))]
    cutoff = datetime.combine(day, session.exit_cutoff, tzinfo=open_s.tzinfo)
    cutoff_s = (cutoff - open_s).total_seconds()
    kind = scenario.split("_", 1)[1]
    down = kind == "down" or (kind == "whipsaw" and rng.random() < 0.5)
    shape = "up" if kind in ("up", "down") else kind
    path, _, _ = orb_path(
        rng, shape, times, minutes * 60, cutoff_s, c + rng.randint(-rt // 4, rt // 4), rt
    )

    def price(k: int) -> Decimal:
        return (Decimal(2 * base - k if down else k) * tick).quantize(tick)

    p_hi, p_lo = price(p_low + prior_rt), price(p_low)
    if down:
        p_hi, p_lo = p_lo, p_hi
    instrument = SimInstrument(symbol=sym, exchange=exch, prior_close=price(c))
    bars = _history(rng, day, session, history_days, price(o), p_hi, p_lo, price(c), tick)
    ticks = tuple(
        SimTick(sym, exch, price(k), open_s + timedelta(seconds=t))
        for t, k in zip(times, path, strict=True)
    )
    levels = orb_truth(ticks, open_s, minutes=minutes, cutoff=session.exit_cutoff)
    return SymbolDay(instrument, scenario, bars, ticks, orb=levels)


def _random_path(rng, times, close, rt):
    amp = max(2, rt // 40)
    v, out = float(close), []
    step = max(1.0, rt / 60)
    for _ in times:
        v += rng.gauss(0, step)
        v = min(max(v, close - rt), close + rt)
        out.append(int(round(v)))
    wiggle = noise(rng, len(times), amp)
    return [a + b for a, b in zip(out, wiggle, strict=True)]


@lru_cache(maxsize=64)
def _prior_days(session: MarketSession, day: date, n: int) -> tuple[date, ...]:
    days = []
    for _ in range(n):
        day = session.previous_trading_day(day)
        days.append(day)
    return tuple(reversed(days))


def _history(rng, day, session, n, o, h, lo, c, tick) -> tuple[Bar, ...]:
    """``n`` prior daily bars ending with the designed bar (o, h, lo, c)."""
    days = _prior_days(session, day, max(1, n))
    bars = [Bar(days[-1], o, h, lo, c, rng.randint(100_000, 5_000_000))]
    prev_open = o
    for d in reversed(days[:-1]):
        close = prev_open + tick * rng.randint(-20, 20)
        rng_ticks = rng.randint(40, 200)
        lo_k = close - tick * rng.randint(5, rng_ticks - 5)
        hi_k = lo_k + tick * rng_ticks
        op = lo_k + tick * rng.randint(0, rng_ticks)
        bars.append(Bar(d, op, hi_k, lo_k, close, rng.randint(100_000, 5_000_000)))
        prev_open = op
    bars.reverse()
    return tuple(bars)


def market_time(day: date, hh_mm: str | time) -> datetime:
    """datetime(day, 'HH:MM[:SS]') in IST - a helper for tests."""
    t = hh_mm if isinstance(hh_mm, time) else time.fromisoformat(hh_mm)
    return datetime.combine(day, t, tzinfo=IST)


def tick_table_for(price: Decimal) -> TickTable:
    return TickTable.nse_equity()
