"""One symbol's position of ours: signed quantity, average, realized P&L, stop level.

The quantity is signed (long > 0, short < 0) and moved only by fills of our
own orders, so one rule covers entries, stops, exits and the cases nobody
plans for: an entry of the other side filling while its cancel was in flight
(OCO) reduces or reverses the position like any other fill. Guarded by the
executor's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from live.broker import Action
from live.orders import PRICE_QUANTUM


@dataclass(frozen=True)
class FillEffect:
    opened: bool  # the position went from flat to open
    closed: int  # units of an existing position this fill closed
    realized: Decimal  # P&L those units realized
    flat: bool  # the position is flat after it
    reversed: bool  # the fill went through zero: a position of the other side


def signed(action: Action, qty: int) -> int:
    return qty if action is Action.BUY else -qty


@dataclass
class Position:
    qty: int = 0  # signed
    average: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    best: Decimal | None = None  # most favourable price since it opened
    stop: Decimal | None = None  # the level our working stop holds
    initial_stop: Decimal | None = None
    risk_per_unit: Decimal | None = None  # 1R

    @property
    def size(self) -> int:
        return abs(self.qty)

    @property
    def side(self) -> Action | None:
        """The side that opened it (BUY = long); None when flat."""
        if self.qty == 0:
            return None
        return Action.BUY if self.qty > 0 else Action.SELL

    @property
    def exit_action(self) -> Action | None:
        side = self.side
        return side.opposite if side is not None else None

    def apply(self, action: Action, qty: int, price: Decimal) -> FillEffect:
        """A fill of ``qty`` units on ``action`` at ``price``."""
        if qty <= 0:
            return FillEffect(False, 0, Decimal(0), self.qty == 0, False)
        delta = signed(action, qty)
        before = self.qty
        if before == 0 or (before > 0) == (delta > 0):
            total = self.average * abs(before) + price * qty
            self.qty = before + delta
            self.average = (total / abs(self.qty)).quantize(PRICE_QUANTUM)
            return FillEffect(before == 0, 0, Decimal(0), False, False)
        closed = min(qty, abs(before))
        direction = 1 if before > 0 else -1
        pnl = (price - self.average) * closed * direction
        self.realized += pnl
        self.qty = before + delta
        reversed_ = self.qty != 0 and (self.qty > 0) != (before > 0)
        if self.qty == 0 or reversed_:
            self._reset(price if reversed_ else None)
        return FillEffect(False, closed, pnl, self.qty == 0, reversed_)

    def reprice(self, action: Action, opening: bool, units: int, delta: Decimal) -> Decimal:
        """``units`` filled on ``action`` were booked at a provisional price
        and cost ``delta`` more each. Returns the change to realized P&L."""
        if units <= 0 or delta == 0:
            return Decimal(0)
        if opening and self.side is action:
            self.average = (self.average + delta * units / self.size).quantize(PRICE_QUANTUM)
            return Decimal(0)
        # Paid more on a buy, or received more on a sell: a buy's extra cost
        # lowers P&L, a sell's raises it (whether it opened or closed).
        change = delta * units * (1 if action is Action.SELL else -1)
        self.realized += change
        return change

    def track(self, price: Decimal) -> None:
        if self.qty == 0:
            return
        if self.best is None:
            self.best = price
        elif self.qty > 0:
            self.best = max(self.best, price)
        else:
            self.best = min(self.best, price)

    def unrealized(self, price: Decimal | None) -> Decimal:
        if self.qty == 0 or price is None:
            return Decimal(0)
        return (price - self.average) * self.qty

    def tighter(self, candidate: Decimal, current: Decimal | None) -> bool:
        """Is ``candidate`` a tighter stop than ``current`` for this position?"""
        if current is None:
            return True
        return candidate > current if self.qty > 0 else candidate < current

    def _reset(self, reopen_at: Decimal | None) -> None:
        self.best = reopen_at
        self.stop = None
        self.initial_stop = None
        self.risk_per_unit = None
        if reopen_at is not None:
            self.average = reopen_at
        else:
            self.average = Decimal(0)
