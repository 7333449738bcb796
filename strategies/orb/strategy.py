"""Two-sided opening-range breakout on the engine's strategy API.

The first ``range_minutes`` of the session set a high and a low. Then a buy
stop rests above the high and a sell stop below the low, both at once; the
executor cancels the other side as soon as one fills (OCO) and flattens a
position if both fill in a fast market. The stop goes to the other side of
the range (``stop: range``) or ``stop_r`` range-heights from the entry;
``target_r`` (optional) closes at that many range-heights of profit and
``trail_r`` (optional) trails the stop that far behind the best price once
the trade is that far in profit. The executor squares off at the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from live.broker import Action
from live.strategy import Context, Entry, Holding, Strategy, SymbolInfo, Tick


@dataclass(frozen=True)
class Settings:
    range_minutes: int = 15
    buffer_ticks: int = 1  # entries this many ticks beyond the range
    stop_r: Decimal | None = None  # None: stop at the other side of the range
    target_r: Decimal | None = None  # None: hold to the stop or the cutoff
    trail_r: Decimal | None = None  # trail this many range-heights behind the best price


class OpeningRangeBreakout(Strategy):
    name = "orb"

    def __init__(self, symbol: str, tick: Decimal, range_end: datetime, settings: Settings):
        self.symbol, self.tick, self.range_end, self.cfg = symbol, tick, range_end, settings
        self.high: Decimal | None = None
        self.low: Decimal | None = None

    Settings = Settings

    @classmethod
    def check_settings(cls, s: Settings) -> list[str]:
        problems = []
        if not 1 <= s.range_minutes <= 120:
            problems.append(f"strategy.range_minutes: must be 1..120, got {s.range_minutes}")
        if s.buffer_ticks < 0:
            problems.append(f"strategy.buffer_ticks: must be >= 0, got {s.buffer_ticks}")
        for key in ("stop_r", "target_r", "trail_r"):
            v = getattr(s, key)
            if v is not None and v <= 0:
                problems.append(f"strategy.{key}: must be > 0, got {v}")
        return problems

    @classmethod
    def for_symbol(cls, info: SymbolInfo, settings: Settings) -> Strategy:
        start = info.session.open_at(info.day)
        return cls(info.symbol, info.tick_size, start + timedelta(minutes=settings.range_minutes),
                   settings)  # fmt: skip

    @property
    def formed(self) -> bool:
        return self.high is not None and self.high > self.low

    def warm_up(self, ticks: list[Tick], session) -> None:
        for tick in ticks:
            self._measure(tick)

    def _measure(self, tick: Tick) -> bool:
        """Widen the range with a print inside its window; False after it."""
        if tick.ts >= self.range_end:
            return False
        self.high = tick.ltp if self.high is None else max(self.high, tick.ltp)
        self.low = tick.ltp if self.low is None else min(self.low, tick.ltp)
        return True

    def on_tick(self, tick: Tick, ctx: Context) -> list[Entry] | None:
        if self._measure(tick):
            return None
        if not self.formed or ctx.holding is not None:
            return None
        buffer = self.tick * self.cfg.buffer_ticks
        return [Entry(Action.BUY, self.high + buffer), Entry(Action.SELL, self.low - buffer)]

    def initial_stop(self, holding: Holding) -> Decimal:
        buffer = self.tick * self.cfg.buffer_ticks
        if self.cfg.stop_r is not None:
            distance = self.cfg.stop_r * self.height
            return holding.average_price - distance if holding.is_long else (
                holding.average_price + distance)  # fmt: skip
        return self.low - buffer if holding.is_long else self.high + buffer

    def trail(self, holding: Holding) -> Decimal | None:
        if self.cfg.trail_r is None:
            return None
        distance = self.cfg.trail_r * self.height
        if holding.gain_per_unit < distance:
            return None
        return holding.best_price - distance if holding.is_long else holding.best_price + distance

    def exit_now(self, holding: Holding, tick: Tick) -> bool:
        if self.cfg.target_r is None:
            return False
        return holding.gain_per_unit >= self.cfg.target_r * self.height

    @property
    def height(self) -> Decimal:
        return (self.high - self.low) if self.formed else self.tick

    def describe(self) -> str:
        if not self.formed:
            return f"orb {self.cfg.range_minutes}m range forming"
        return f"orb range {self.low}-{self.high}"

    def state(self) -> str:
        return "armed" if self.formed else "forming"
