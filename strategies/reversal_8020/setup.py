"""The 80-20 reversal setup, from the prior day's daily bar.

Source: Linda Bradford Raschke and Laurence A. Connors, *Street Smarts:
High Probability Short-Term Trading Strategies* (M. Gordon Publishing, 1995),
chapter "80-20's". The rules as implemented here:

Long (buy) setup
  1. Yesterday opened in the top ``open_pct`` (default 20%) of its range and
     closed in the bottom ``close_pct`` (default 20%) of its range.
  2. Today the market must trade *below* yesterday's low by a penetration
     (the book: 5-15 ticks; on NSE's ₹0.01-0.05 grid that is tiny, so the
     penetration may also be a percent of price or a fraction of yesterday's
     range). That print is the trigger.
  3. After the trigger, a buy stop is placed at yesterday's low: the entry
     fills only if price reverses back up through it.
  4. The initial protective stop goes at today's low so far, less a buffer.
     The book then trails the stop to lock in profits.

Short (sell) setup is the mirror: yesterday opened in the bottom ``open_pct``
and closed in the top ``close_pct``; today trades above yesterday's high by
the penetration; sell stop at yesterday's high; initial stop at today's high
so far plus a buffer.

All prices are tick-rounded Decimals: a buy stop rounds up, a sell stop down,
and the trigger rounds away from the prior extreme (so it is never shallower
than the configured penetration).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from live.broker import Action, Bar
from live.ticks import Rounding, TickTable, round_to_tick, stop_rounding, to_decimal


class PenetrationKind(str, Enum):
    TICKS = "ticks"
    PERCENT = "percent"  # percent of the prior extreme's price
    RANGE = "range"  # fraction of the prior day's range


@dataclass(frozen=True)
class Penetration:
    kind: PenetrationKind = PenetrationKind.TICKS
    value: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PenetrationKind(self.kind))
        v = to_decimal(self.value, "penetration.value")
        if v < 0:
            raise ValueError(f"penetration.value: must be >= 0, got {v}")
        object.__setattr__(self, "value", v)

    def distance(self, level: Decimal, prior_range: Decimal, tick: Decimal) -> Decimal:
        if self.kind is PenetrationKind.TICKS:
            return self.value * tick
        if self.kind is PenetrationKind.PERCENT:
            return level * self.value / Decimal(100)
        return prior_range * self.value


@dataclass(frozen=True)
class SetupRules:
    open_pct: Decimal = Decimal(20)
    close_pct: Decimal = Decimal(20)
    penetration: Penetration = Penetration()
    stop_buffer_ticks: int = 1

    def __post_init__(self) -> None:
        for name in ("open_pct", "close_pct"):
            v = to_decimal(getattr(self, name), name)
            if not 0 < v <= 50:
                raise ValueError(f"{name}: must be in (0, 50], got {v}")
            object.__setattr__(self, name, v)
        if self.stop_buffer_ticks < 0:
            raise ValueError(f"stop_buffer_ticks: must be >= 0, got {self.stop_buffer_ticks}")


@dataclass(frozen=True)
class Setup:
    """One symbol's 80-20 setup for one day. ``side`` is the entry action:
    BUY for the long setup, SELL for the short."""

    symbol: str  # EXCHANGE:SYMBOL
    side: Action
    prior: Bar
    trigger_price: Decimal
    entry_price: Decimal
    initial_stop: Decimal  # the stop if the day's extreme were exactly the trigger
    tick: Decimal
    stop_buffer: Decimal

    @property
    def is_long(self) -> bool:
        return self.side is Action.BUY

    def triggered_by(self, ltp: Decimal) -> bool:
        return ltp <= self.trigger_price if self.is_long else ltp >= self.trigger_price

    def entry_is_resting(self, ltp: Decimal) -> bool:
        """A stop entry can rest only on the far side of the market: for a
        long, price must be below the buy stop (else it would fill at once)."""
        return ltp < self.entry_price if self.is_long else ltp > self.entry_price

    def stop_for_extreme(self, extreme: Decimal) -> Decimal:
        """Initial stop from the day's low (long) or high (short) so far."""
        if self.is_long:
            raw = extreme - self.stop_buffer
        else:
            raw = extreme + self.stop_buffer
        return round_to_tick(raw, self.tick, stop_rounding(self.side.opposite.value))


def find_setup(
    symbol: str,
    prior: Bar,
    tick: Decimal | TickTable,
    rules: SetupRules = SetupRules(),
) -> Setup | None:
    """Return the day's setup from yesterday's bar, or None if it has none."""
    _validate_bar(symbol, prior)
    rng = prior.high - prior.low
    open_pos = (prior.open - prior.low) / rng * 100  # 0 = at the low, 100 = at the high
    close_pos = (prior.close - prior.low) / rng * 100
    if open_pos >= 100 - rules.open_pct and close_pos <= rules.close_pct:
        side, level = Action.BUY, prior.low
    elif open_pos <= rules.open_pct and close_pos >= 100 - rules.close_pct:
        side, level = Action.SELL, prior.high
    else:
        return None

    t = tick.tick_for(level) if isinstance(tick, TickTable) else to_decimal(tick, "tick")
    if t <= 0:
        raise ValueError(f"tick: must be > 0 for {symbol}, got {t}")
    pen = rules.penetration.distance(level, rng, t)
    pen = max(pen, t)  # at least one tick through the prior extreme
    buffer = t * rules.stop_buffer_ticks
    if side is Action.BUY:
        trigger = round_to_tick(level - pen, t, Rounding.DOWN)
        entry = round_to_tick(level, t, stop_rounding("BUY"))
        stop = round_to_tick(trigger - buffer, t, stop_rounding("SELL"))
    else:
        trigger = round_to_tick(level + pen, t, Rounding.UP)
        entry = round_to_tick(level, t, stop_rounding("SELL"))
        stop = round_to_tick(trigger + buffer, t, stop_rounding("BUY"))
    if trigger <= 0 or stop <= 0:
        raise ValueError(
            f"{symbol}: penetration {rules.penetration} pushes the trigger to {trigger}; "
            "use a smaller penetration"
        )
    return Setup(
        symbol=symbol,
        side=side,
        prior=prior,
        trigger_price=trigger,
        entry_price=entry,
        initial_stop=stop,
        tick=t,
        stop_buffer=buffer,
    )


def _validate_bar(symbol: str, bar: Bar) -> None:
    for name in ("open", "high", "low", "close"):
        v = getattr(bar, name)
        if not isinstance(v, Decimal) or not v.is_finite():
            raise ValueError(f"{symbol} bar {bar.day}: {name} must be a finite Decimal, got {v!r}")
        if v <= 0:
            raise ValueError(f"{symbol} bar {bar.day}: {name} must be > 0, got {v}")
    if bar.high < bar.low:
        raise ValueError(f"{symbol} bar {bar.day}: high {bar.high} is below low {bar.low}")
    if bar.high == bar.low:
        raise ValueError(
            f"{symbol} bar {bar.day}: zero range (high == low == {bar.high}); "
            "no 80-20 setup can be measured on it"
        )
    if not (bar.low <= bar.open <= bar.high and bar.low <= bar.close <= bar.high):
        raise ValueError(
            f"{symbol} bar {bar.day}: open {bar.open} / close {bar.close} outside "
            f"low..high {bar.low}..{bar.high}"
        )
