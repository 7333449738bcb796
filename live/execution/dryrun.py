"""Dry run as a broker that places nothing: decide and log, send no order.

``DryRunBroker`` wraps the real broker. Everything that only reads (funds,
instruments, bars, positions, the calendar) goes to the real one, so the
engine decides on real data; orders stay here, with ``DRY-n`` ids, never
fill, and are listed in this broker's own orderbook (merged into the real
one), so a cancel completes through the same path as live and no order of
ours is ever looked up at the real broker. The executor has no dry-run
branch at all.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from live.broker import BrokerError, OrderRequest, OrderStatus, OrderUpdate
from live.clock import IST

PREFIX = "DRY-"


class DryRunBroker:
    def __init__(self, real: Any):
        self.real = real
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._orders: dict[str, OrderUpdate] = {}
        self.placed: list[OrderRequest] = []  # what a live run would have sent

    def __getattr__(self, name: str) -> Any:
        # Reads (funds, instrument, daily_bars, positions, holidays, ...).
        return getattr(self.real, name)

    def place_order(self, request: OrderRequest) -> str:
        with self._lock:
            order_id = f"{PREFIX}{next(self._ids)}"
            status = (
                OrderStatus.OPEN if request.trigger_price is None else OrderStatus.TRIGGER_PENDING
            )
            self._orders[order_id] = _update(order_id, request, status)
            self.placed.append(request)
            return order_id

    def modify_order(self, order_id: str, request: OrderRequest) -> None:
        with self._lock:
            u = self._working(order_id)
            self._orders[order_id] = _update(order_id, request, u.status)

    def cancel_order(self, order_id: str) -> None:
        with self._lock:
            u = self._working(order_id)
            self._orders[order_id] = replace(u, status=OrderStatus.CANCELLED,
                                             timestamp=datetime.now(IST))  # fmt: skip

    def order_status(self, order_id: str) -> OrderUpdate:
        if order_id.startswith(PREFIX):
            with self._lock:
                return self._known(order_id)
        return self.real.order_status(order_id)

    def orderbook(self) -> list[OrderUpdate]:
        real = self.real.orderbook()
        with self._lock:
            return real + list(self._orders.values())

    def remember_orders(self, order_ids) -> None:
        remember = getattr(self.real, "remember_orders", None)
        if remember is not None:
            remember([i for i in order_ids if not i.startswith(PREFIX)])

    def _known(self, order_id: str) -> OrderUpdate:
        u = self._orders.get(order_id)
        if u is None:
            raise BrokerError(f"dry run: no order {order_id}", code=404)
        return u

    def _working(self, order_id: str) -> OrderUpdate:
        u = self._known(order_id)
        if u.status.is_terminal:
            raise BrokerError(f"dry run: order {order_id} is {u.status.value}", code=400)
        return u


def _update(order_id: str, r: OrderRequest, status: OrderStatus) -> OrderUpdate:
    return OrderUpdate(
        order_id=order_id,
        symbol=r.symbol,
        exchange=r.exchange,
        action=r.action,
        status=status,
        quantity=r.quantity,
        filled_quantity=0,
        average_price=Decimal(0),
        price=r.price or Decimal(0),
        trigger_price=r.trigger_price or Decimal(0),
        price_type=r.price_type,
        timestamp=datetime.now(IST),
        source="dry-run",
    )
