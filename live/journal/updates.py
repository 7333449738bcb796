"""Merging observed order states into the journal, by the project's one
update-ordering rule (``live.orders``).

An update the rule calls *older* changes nothing. Otherwise its status
(PARTIAL derived from the count) and count are applied, each growth of the
count is a row in ``fills`` priced by ``fill_slice``, and its prices (a
trailed stop's new trigger) replace the stored ones while the order works.
Broker timestamps take no part: orderbook rows and stream updates stamp
different events, so progress is the only order there is.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from live.broker import Action, OrderStatus, OrderUpdate
from live.clock import IST
from live.orders import FillPoint, Known, effective_status, fill_slice, filled_of, is_older

from . import checks
from .store import Store

# An order seen in an update before ``record_order`` bound it (the WebSocket
# can beat the REST reply). Not reported as ours until bound.
UNBOUND_ROLE = "unbound"


@dataclass(frozen=True)
class _Stored:
    key: str
    known: Known
    point: FillPoint
    action: Action
    quantity: int
    price: str | None
    trigger_price: str | None
    rejection_reason: str


class Updates:
    def __init__(self, store: Store):
        self._store = store

    def record_update(self, update: OrderUpdate, ts: datetime) -> bool:
        if not isinstance(update, OrderUpdate):
            raise ValueError(f"update: must be an OrderUpdate, got {type(update).__name__}")
        t = checks.ts(ts)
        k = checks.key(update.key)
        price = checks.reported_price(update.price, "price")
        trigger = checks.reported_price(update.trigger_price, "trigger_price")
        checks.dec_text(update.average_price, "average_price")
        with self._store.write(f"record_update({k}, {update.order_id})") as c:
            stored = _load(c, update.order_id)
            if stored is None:
                stored = _insert_unbound(c, update, k, t, price, trigger)
                _merge(c, update, stored, t, price, trigger)
                return True
            if stored.key != k:
                raise ValueError(
                    f"update: order {update.order_id} is journaled for {stored.key}, not {k}"
                )
            return _merge(c, update, stored, t, price, trigger)


def _load(c: sqlite3.Connection, order_id: str) -> _Stored | None:
    row = c.execute(
        """SELECT key, status, filled_quantity, priced_filled, average_price, action, quantity,
                  price, trigger_price, rejection_reason FROM orders WHERE order_id=?""",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    return _Stored(
        key=row[0],
        known=Known(OrderStatus(row[1]), int(row[2])),
        point=FillPoint(int(row[2]), int(row[3]), Decimal(row[4])),
        action=Action(row[5]),
        quantity=int(row[6]),
        price=row[7],
        trigger_price=row[8],
        rejection_reason=row[9],
    )


def _insert_unbound(
    c: sqlite3.Connection,
    u: OrderUpdate,
    key: str,
    t: datetime,
    price: str | None,
    trigger: str | None,
) -> _Stored:
    """First sight of an order, before its ``record_order``: the lowest state
    it can be in, so that the update itself is then merged like any other."""
    c.execute(
        """INSERT INTO orders (order_id, intent_id, key, day, role, action, price_type,
               quantity, price, trigger_price, status, placed_at, updated_at)
           VALUES (?,NULL,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            u.order_id, key, t.date().isoformat(), UNBOUND_ROLE, u.action.value,
            u.price_type.value if u.price_type else None, u.quantity, price, trigger,
            OrderStatus.TRIGGER_PENDING.value, t.isoformat(), t.isoformat(),
        ),
    )  # fmt: skip
    return _Stored(
        key,
        Known(OrderStatus.TRIGGER_PENDING),
        FillPoint(),
        u.action,
        u.quantity,
        price,
        trigger,
        "",
    )


def _merge(
    c: sqlite3.Connection,
    u: OrderUpdate,
    old: _Stored,
    t: datetime,
    price: str | None,
    trigger: str | None,
) -> bool:
    known = old.known
    filled = filled_of(u, known.filled)
    # The journal stores PARTIAL, derived from a count; compare like with
    # like, or an "open" reporting more fills would read as older than it.
    # Only from the update's own count: a row without one ("trigger
    # pending", count unknown) says nothing about fills, and dressing it up
    # as PARTIAL from what is known would let a stale row pass for news.
    status = effective_status(u, filled) if u.filled_quantity is not None else u.status
    seen = u
    if (status, filled) != (u.status, u.filled_quantity):
        seen = replace(u, status=status, filled_quantity=filled, quantity=max(u.quantity, filled))
    if is_older(seen, known):
        return False
    cols: dict[str, object] = {}
    if filled > known.filled or (u.average_price > 0 and old.point.unpriced):
        cols.update(_apply_fills(c, u, old, filled, t))
    if status is not known.status:
        cols["status"] = status.value
    if cols:
        cols["updated_at"] = t.isoformat()
    if u.rejection_reason and u.rejection_reason != old.rejection_reason:
        cols["rejection_reason"] = u.rejection_reason
    if not known.status.is_terminal:
        cols.update(_terms(u, old, filled, price, trigger))
    if not cols:
        return False
    if u.timestamp is not None:
        # Kept for the record only: never used to order updates.
        cols["broker_ts"] = u.timestamp.astimezone(IST).isoformat()
    c.execute(
        f"UPDATE orders SET {', '.join(f'{col}=?' for col in cols)} WHERE order_id=?",
        (*cols.values(), u.order_id),
    )
    return True


def _apply_fills(
    c: sqlite3.Connection, u: OrderUpdate, old: _Stored, filled: int, t: datetime
) -> dict[str, object]:
    """Write the fill rows a cumulative report reveals; returns the order
    columns that change with them."""
    point, piece = fill_slice(old.point, filled, u.average_price)
    if piece.repriced:
        # Units booked unpriced cost what this report says: the broker's
        # cumulative average cannot tell them apart from this slice.
        c.execute(
            "UPDATE fills SET price=? WHERE order_id=? AND price IS NULL",
            (str(piece.price), u.order_id),
        )
    if piece.quantity:
        c.execute(
            """INSERT INTO fills (order_id, key, day, action, quantity, price, average_price,
                   cumulative_quantity, ts) VALUES (?,?,?,?,?,?,?,?,?)""",
            (
                u.order_id, old.key, t.date().isoformat(), old.action.value, piece.quantity,
                None if piece.price is None else str(piece.price),
                str(u.average_price) if u.average_price > 0 else None, filled, t.isoformat(),
            ),
        )  # fmt: skip
    if point == old.point:
        return {}
    return {
        "filled_quantity": point.filled,
        "priced_filled": point.priced_filled,
        "average_price": str(point.priced_average),
    }


def _terms(
    u: OrderUpdate, old: _Stored, filled: int, price: str | None, trigger: str | None
) -> dict[str, object]:
    """A modification (a trailed stop's trigger, a changed quantity) comes
    with any update that is not older; 0 or None means "not reported"."""
    wanted: dict[str, object] = {}
    if price is not None and price != old.price:
        wanted["price"] = price
    if trigger is not None and trigger != old.trigger_price:
        wanted["trigger_price"] = trigger
    if u.quantity and u.quantity >= filled and u.quantity != old.quantity:
        wanted["quantity"] = u.quantity
    return wanted
