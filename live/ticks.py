"""Decimal tick arithmetic: every price that reaches a broker passes through here.

Exchanges reject prices that are not a multiple of the instrument's tick, and a
float such as ``511.95000000000005`` is exactly such a price. So prices are
``Decimal`` end to end, and the rounding direction is chosen by what the price
is for, never by "nearest" alone:

* a SELL stop rounds DOWN (a protective stop for a long must not sit above
  the level the strategy chose),
* a BUY stop rounds UP (mirror image),
* a LIMIT rounds toward the passive side (a buy limit down, a sell limit up),
  so rounding never makes an order more aggressive than asked,
* anything else rounds to the nearest tick (half away from zero).

NSE tick sizes depend on the price band (revised 2025: ₹0.01 below ₹250, ₹0.05
up to ₹1,000, ₹0.10 up to ₹5,000, ...), so never assume 0.05: use
``TickTable.nse_equity()`` or the tick the broker's instrument data gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum

__all__ = [
    "Rounding",
    "TickTable",
    "is_tick_multiple",
    "round_to_tick",
    "stop_rounding",
    "limit_rounding",
    "to_decimal",
]


class Rounding(Enum):
    UP = "up"
    DOWN = "down"
    NEAREST = "nearest"


def stop_rounding(action: str) -> Rounding:
    """Rounding for a stop trigger: BUY stops round up, SELL stops round down."""
    return {"BUY": Rounding.UP, "SELL": Rounding.DOWN}[_action(action)]


def limit_rounding(action: str) -> Rounding:
    """Rounding for a limit price: toward the passive side of the book."""
    return {"BUY": Rounding.DOWN, "SELL": Rounding.UP}[_action(action)]


def _action(action: str) -> str:
    value = getattr(action, "value", action)
    if value not in ("BUY", "SELL"):
        raise ValueError(f"action must be 'BUY' or 'SELL', got {action!r}")
    return value


def to_decimal(value: object, field: str = "price") -> Decimal:
    """Convert str/int/Decimal (or an exactly representable float) to a finite Decimal.

    A float such as 0.1 is *not* exactly representable; accepting it silently
    would smuggle binary noise into an order. Callers holding a float they
    trust must say so with ``Decimal(str(x))``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got a bool ({value!r})")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{field}: {value!r} is not a number") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field}: {value!r} is not a finite number")
        exact = Decimal(value)
        if Decimal(repr(value)) != exact:
            raise ValueError(
                f"{field}: float {value!r} is not exactly representable "
                f"(it is {exact}); pass Decimal(str(x)) if you mean {value!r}"
            )
        result = exact
    else:
        raise ValueError(f"{field}: expected str, int or Decimal, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def _tick(tick: object) -> Decimal:
    t = to_decimal(tick, "tick")
    if t <= 0:
        raise ValueError(f"tick: must be > 0, got {t}")
    return t


_MODES = {Rounding.UP: ROUND_CEILING, Rounding.DOWN: ROUND_FLOOR, Rounding.NEAREST: ROUND_HALF_UP}


def round_to_tick(price: object, tick: object, side: Rounding | str = Rounding.NEAREST) -> Decimal:
    """Round ``price`` to a multiple of ``tick`` in the direction ``side``.

    ``side`` is a :class:`Rounding` or its value (``"up"``, ``"down"``,
    ``"nearest"``). The result carries the tick's exponent, so ``str()`` shows
    ``511.95`` and never ``511.9500000`` or binary noise.
    """
    p = to_decimal(price)
    t = _tick(tick)
    mode = _MODES[Rounding(side) if not isinstance(side, Rounding) else side]
    steps = (p / t).quantize(Decimal(1), rounding=mode)
    result = steps * t
    # Present with the tick's own number of decimals (0.05 -> 2 places).
    exponent = min(t.normalize().as_tuple().exponent, 0)
    return result.quantize(Decimal(1).scaleb(exponent))


def is_tick_multiple(price: object, tick: object) -> bool:
    p = to_decimal(price)
    t = _tick(tick)
    return (p % t) == 0


@dataclass(frozen=True)
class TickTable:
    """Price-banded tick sizes: ``bands`` is ((upper_bound_inclusive, tick), ...)
    in ascending order; prices above the last bound use ``above``."""

    bands: tuple[tuple[Decimal, Decimal], ...]
    above: Decimal

    @staticmethod
    def flat(tick: object) -> TickTable:
        return TickTable(bands=(), above=_tick(tick))

    @staticmethod
    def nse_equity() -> TickTable:
        # NSE cash-market tick sizes by price band, effective 2025.
        d = Decimal
        return TickTable(
            bands=(
                (d("250"), d("0.01")),
                (d("1000"), d("0.05")),
                (d("5000"), d("0.10")),
                (d("10000"), d("0.50")),
                (d("20000"), d("1.00")),
            ),
            above=d("5.00"),
        )

    def tick_for(self, price: object) -> Decimal:
        p = to_decimal(price)
        if p <= 0:
            raise ValueError(f"price: must be > 0 to pick a tick size, got {p}")
        for bound, tick in self.bands:
            if p <= bound:
                return tick
        return self.above

    def round(self, price: object, side: Rounding | str = Rounding.NEAREST) -> Decimal:
        """Round with the tick of the price's own band; if rounding moves the
        price into another band, round again with that band's tick (in the same
        direction), which always converges because ticks grow with price."""
        p = to_decimal(price)
        result = round_to_tick(p, self.tick_for(p), side)
        for _ in range(len(self.bands) + 1):
            tick = self.tick_for(result)
            if is_tick_multiple(result, tick):
                return result
            result = round_to_tick(result, tick, side)
        return result
