"""The one rule for order updates: which broker state is newer, and what a fill slice cost.

OpenAlgo has no sequence numbers: the WebSocket repeats and reorders order
updates, the orderbook lags the stream, and live orderbook rows carry no
filled quantity. Every component that keeps an order's state (the feed's
de-duplication, the per-symbol executor, the journal) decides "is this
update news?" and "what did the new fill cost?" with the functions here, so
they can never disagree.

Progress of an order is ``(terminal?, filled quantity, status rank)``: fills
only grow, whatever a broker calls the state that carries them ("open" with
6 filled is newer than "partial" with 4). An update is *older* than what is
known when it has less progress, or when the known state is terminal and the
update says otherwise (a terminal state is final).

Filled quantity may be unknown (``filled_quantity is None``): a live
orderbook row. COMPLETE without a count means fully filled; any other state
without a count says nothing about fills, so it keeps the count already
known instead of reading as 0 (a stop partly filled and then cancelled,
seen only in the orderbook, is a cancel, not a step backwards).

Brokers report each order's *cumulative* average price, and 0 until they
know it (OpenAlgo: until complete). A slice's price is what moved the
cumulative value ``average * filled`` since the last point where the average
was known; a slice seen with average 0 is *unpriced* and is priced (together
with any earlier unpriced units) by the next update that carries an average.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from live.broker import OrderStatus, OrderUpdate

PRICE_QUANTUM = Decimal("0.0001")


def filled_of(update: OrderUpdate, known_filled: int = 0) -> int:
    """The update's filled quantity; when the broker did not say, what is
    already known (COMPLETE without a count: the whole quantity)."""
    if update.filled_quantity is not None:
        return update.filled_quantity
    if update.status is OrderStatus.COMPLETE:
        return max(update.quantity, known_filled)
    return known_filled


def effective_status(update: OrderUpdate, filled: int) -> OrderStatus:
    """PARTIAL is ours, derived from the count (brokers say 'open')."""
    if update.status.is_working and 0 < filled < update.quantity:
        return OrderStatus.PARTIAL
    return update.status


def progress(status: OrderStatus, filled: int) -> tuple[bool, int, int]:
    return (status.is_terminal, filled, status.rank)


@dataclass(frozen=True)
class Known:
    """What has been applied for one order so far."""

    status: OrderStatus
    filled: int = 0


def is_older(update: OrderUpdate, known: Known) -> bool:
    """Would applying ``update`` move the order backwards?"""
    filled = filled_of(update, known.filled)
    if filled < known.filled:
        return True
    if known.status.is_terminal and update.status is not known.status:
        return True
    return progress(update.status, filled) < progress(known.status, known.filled)


def is_news(update: OrderUpdate, known: Known | None) -> bool:
    """Neither a repeat of the known state nor an older one."""
    if known is None:
        return True
    if is_older(update, known):
        return False
    filled = filled_of(update, known.filled)
    return (update.status, filled) != (known.status, known.filled)


def advance(update: OrderUpdate, known: Known | None) -> Known:
    """The known state after applying ``update`` (call only when it is news)."""
    filled = filled_of(update, known.filled if known else 0)
    return Known(update.status, filled)


# --- fill slices ----------------------------------------------------------------


@dataclass(frozen=True)
class FillPoint:
    """An order's fill history reduced to what slice pricing needs: the
    count applied, and the last point at which the cumulative average was
    known (``priced_filled`` units at ``priced_average``)."""

    filled: int = 0
    priced_filled: int = 0
    priced_average: Decimal = Decimal(0)

    @property
    def unpriced(self) -> int:
        return self.filled - self.priced_filled


@dataclass(frozen=True)
class FillSlice:
    """Units newly filled, and their price (None: the broker has not said).

    ``repriced`` earlier units, booked while unpriced, turn out to have cost
    ``price`` too: the broker's average cannot tell them apart from this slice.
    """

    quantity: int
    price: Decimal | None
    repriced: int = 0


def fill_slice(point: FillPoint, filled: int, average: Decimal) -> tuple[FillPoint, FillSlice]:
    """Apply a cumulative ``(filled, average)`` report to ``point``.

    Returns the new point and the slice it revealed (quantity 0 when the count
    did not grow; it may still price earlier unpriced units)."""
    if filled < point.filled:
        raise ValueError(f"filled: {filled} is below the {point.filled} already applied")
    delta = filled - point.filled
    if average <= 0 or filled == point.priced_filled:
        return FillPoint(filled, point.priced_filled, point.priced_average), FillSlice(delta, None)
    span = filled - point.priced_filled
    value = average * filled - point.priced_average * point.priced_filled
    price = (value / span).quantize(PRICE_QUANTUM)
    if price <= 0:
        # A report inconsistent with the ones before (a broker's rounding of a
        # tiny slice): fall back to the cumulative average rather than book a
        # negative price.
        price = average
    repriced = point.filled - point.priced_filled
    return FillPoint(filled, filled, average), FillSlice(delta, price, repriced)
