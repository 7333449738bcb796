"""Broker truth vs the journal: what the orderbook, tradebook and positionbook say.

The broker is the truth for what exists; the journal is the truth for what
is ours. This module turns the broker's three books into what the executors
need, at start (``Engine.recover``) and in every poll cycle (``Poller``):

* ``enrich`` - live orderbook rows carry no filled quantity (OpenAlgo:
  partial fills show only in the tradebook): each row gets its order's
  filled quantity and average from the tradebook, so a fill that happened
  while the engine was down or disconnected is learnt with its price;
* ``bind_unbound`` - an intent the journal recorded before a placement
  whose reply never got written (the engine died in between) is bound to
  the broker order of its shape, or proven absent, before anything new is
  placed: no second entry for an attempt that reached the broker;
* ``held_by_key`` - the broker's position per symbol in our product only
  (a manual CNC buy of the same symbol is not ours to protect or sell).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from live.broker import Action, OrderRequest, OrderUpdate, Position, PriceType, Product, split_key
from live.execution import Role
from live.logs import log_event

ROLE_OF_INTENT = {"entry": Role.ENTRY, "entry_retry": Role.ENTRY, "stop": Role.STOP,
                  "emergency_stop": Role.STOP, "exit": Role.EXIT}  # fmt: skip
# A broker's order timestamp may be a second or two behind our own clock.
CLOCK_SLACK = timedelta(seconds=5)


def enrich(book: Iterable[OrderUpdate], trades: Iterable[Any]) -> list[OrderUpdate]:
    """Orderbook rows with their filled quantity and average from the tradebook."""
    filled: dict[str, tuple[int, Decimal]] = {}
    for t in trades:
        qty, value = filled.get(t.order_id, (0, Decimal(0)))
        filled[t.order_id] = (qty + t.quantity, value + t.average_price * t.quantity)
    out = []
    for u in book:
        got = filled.get(u.order_id)
        if got is not None and u.filled_quantity is None and got[0] > 0:
            qty = min(got[0], u.quantity) if u.quantity else got[0]
            avg = (got[1] / got[0]).quantize(Decimal("0.0001"))
            u = replace(u, filled_quantity=qty, average_price=avg, source=u.source or "tradebook")
        out.append(u)
    return out


def held_by_key(positions: Iterable[Position], product: Product) -> dict[str, int]:
    held: dict[str, int] = {}
    for p in positions:
        if p.product is product:
            held[p.key] = held.get(p.key, 0) + p.quantity
    return held


def bind_unbound(
    journal: Any, key: str, day: date, book: list[OrderUpdate], ts: datetime
) -> list[str]:
    """Bind each of ``key``'s pending intents of ``day`` to the broker order
    of its shape that the journal does not know yet, or record it failed
    (the order never reached the broker). Returns the ids bound."""
    known = {o.order_id for o in journal.orders(key=key, day=day, include_unbound=False)}
    bound: list[str] = []
    for intent in journal.unbound_intents(key, day):
        role = ROLE_OF_INTENT.get(intent.role)
        shape = intent.detail or {}
        match = None
        if role is not None and shape.get("action"):
            match = next(
                (u for u in book if u.key == key and u.order_id not in known
                 and u.order_id not in bound and _fits(u, shape, intent.created_at)),
                None,
            )  # fmt: skip
        if match is None:
            journal.record_failure(intent.id, key, intent.role,
                                   "no broker order of its shape at restart", ts)  # fmt: skip
            continue
        journal.record_order(intent.id, key, role.value, match.order_id, _request(key, shape), ts)
        bound.append(match.order_id)
        log_event("INTENT_BOUND", symbol=key, level=logging.WARNING, intent=intent.id,
                  order_id=match.order_id, role=role.value)  # fmt: skip
    return bound


def _fits(u: OrderUpdate, shape: dict, created_at: datetime) -> bool:
    if u.action.value != shape.get("action") or u.quantity != shape.get("quantity"):
        return False
    if (
        u.price_type is not None
        and shape.get("price_type")
        and u.price_type.value != shape["price_type"]
    ):
        return False
    trigger = shape.get("trigger")
    if trigger is not None and u.trigger_price and u.trigger_price != Decimal(trigger):
        return False
    return u.timestamp is None or u.timestamp >= created_at - CLOCK_SLACK


def _request(key: str, shape: dict) -> OrderRequest:
    symbol, exchange = split_key(key)
    price_type = PriceType(shape.get("price_type") or "MARKET")
    trigger = shape.get("trigger")
    price = shape.get("price")
    return OrderRequest(
        symbol=symbol,
        exchange=exchange,
        action=Action(shape["action"]),
        quantity=int(shape["quantity"]),
        price_type=price_type,
        price=Decimal(price) if price is not None else None,
        trigger_price=Decimal(trigger) if trigger is not None else None,
    )
