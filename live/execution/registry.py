"""Our orders and what the broker has told us of each, under the one update rule.

Every order the executor placed (or adopted) has a record: its role, its
slot's tag, the last state applied and its fill history. ``apply`` decides
with ``live.orders`` whether an update is news and what its fill slice cost,
so the executor, the feed and the journal agree on both. Guarded by the
executor's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from live.broker import Action, OrderStatus, OrderUpdate
from live.orders import FillPoint, FillSlice, Known, advance, fill_slice, is_news

from .slots import Role


@dataclass
class OrderRecord:
    order_id: str
    role: Role
    tag: str
    action: Action
    quantity: int
    known: Known
    fills: FillPoint = field(default_factory=FillPoint)
    ref: str = ""  # an entry's buying-power reservation
    tied: Decimal = Decimal(0)  # margin its fills tie up (entries)
    provisional: Decimal = Decimal(0)  # the price booked for its unpriced units
    reference_price: Decimal = Decimal(0)  # its trigger or limit: a first guess at a fill price

    @property
    def filled(self) -> int:
        return self.fills.filled

    @property
    def working(self) -> bool:
        return self.known.status.is_working


@dataclass(frozen=True)
class Applied:
    record: OrderRecord
    update: OrderUpdate
    fill: FillSlice
    became_terminal: bool


class OrderRegistry:
    def __init__(self) -> None:
        self._records: dict[str, OrderRecord] = {}

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, order_id: str) -> OrderRecord | None:
        return self._records.get(order_id)

    def add(
        self,
        order_id: str,
        role: Role,
        tag: str,
        action: Action,
        quantity: int,
        *,
        ref: str = "",
        reference_price: Decimal = Decimal(0),
        status: OrderStatus | None = None,
    ) -> OrderRecord:
        """Know ``order_id`` as ours, once. A stop rests as "trigger pending":
        start there, so the broker's first echo of it is not a step backwards."""
        rec = self._records.get(order_id)
        if rec is not None:
            return rec
        if status is None:
            status = OrderStatus.OPEN if role is Role.EXIT else OrderStatus.TRIGGER_PENDING
        rec = OrderRecord(
            order_id,
            role,
            tag,
            action,
            quantity,
            Known(status),
            ref=ref,
            reference_price=reference_price,
        )
        self._records[order_id] = rec
        return rec

    def apply(self, update: OrderUpdate) -> Applied | None:
        """Apply ``update`` to its record. None when it is not news (a repeat,
        an older state) or the order is not ours."""
        rec = self._records.get(update.order_id)
        if rec is None or not is_news(update, rec.known):
            return None
        was_terminal = rec.known.status.is_terminal
        rec.known = advance(update, rec.known)
        rec.fills, piece = fill_slice(rec.fills, rec.known.filled, update.average_price)
        if update.quantity:
            rec.quantity = update.quantity
        became_terminal = rec.known.status.is_terminal and not was_terminal
        return Applied(rec, update, piece, became_terminal)

    def working(self) -> list[OrderRecord]:
        return [r for r in self._records.values() if r.working]

    def records(self) -> list[OrderRecord]:
        return list(self._records.values())
