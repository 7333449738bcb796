"""An in-memory broker for unit tests, with gates that hold a call mid-flight.

A gate makes a broker call stop *inside* the broker (after the request is
known, before the reply) until the test opens it, so a test can hold one
thread mid-call while another thread acts: the shape of every race in
shared/seeds/003.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from live.broker import (
    Bar,
    BrokerError,
    Funds,
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Product,
)
from live.clock import IST

WAIT = 5.0  # seconds; a gate that is never reached fails the test instead of hanging it


@dataclass
class Gate:
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def wait_entered(self) -> None:
        if not self.entered.wait(WAIT):
            raise AssertionError("the gated broker call was never made")

    def open(self) -> None:
        self.release.set()


@dataclass
class FakeOrder:
    order_id: str
    request: OrderRequest
    status: OrderStatus
    filled: int = 0
    average_price: Decimal = Decimal(0)


class FakeBroker:
    """Records every call; orders rest until the test fills or cancels them."""

    def __init__(self, cash: Decimal = Decimal("1000000")):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.orders: dict[str, FakeOrder] = {}
        self.calls: list[tuple[str, tuple]] = []
        self.gates: dict[str, Gate] = {}
        self.fail: dict[str, list[BrokerError]] = {}
        self.cash = cash
        self.outbox: list[OrderUpdate] = []  # updates the broker would push (cancels)
        self.history: dict[str, list[OrderRequest]] = {}  # every version of each order

    # --- test controls ---------------------------------------------------

    def gate(self, method: str) -> Gate:
        """Hold the next call of ``method`` until ``gate.open()``."""
        g = Gate()
        self.gates[method] = g
        return g

    def fail_next(self, method: str, error: BrokerError) -> None:
        self.fail.setdefault(method, []).append(error)

    def _enter(self, method: str, *args, before=None) -> None:
        """Record the call; raise a queued failure (nothing happens at the
        broker then); run ``before`` (the call's effect at the broker); then
        hold at the gate, if any, before the reply goes back."""
        with self._lock:
            self.calls.append((method, args))
            errors = self.fail.get(method)
            error = errors.pop(0) if errors else None
            gate = self.gates.pop(method, None)
        if error is not None:
            raise error
        if before is not None:
            before()
        if gate is not None:
            gate.calls += 1
            gate.entered.set()
            if not gate.release.wait(WAIT):
                raise AssertionError(f"gate on {method} was never opened")

    def fill(
        self, order_id: str, qty: int | None = None, price: Decimal | None = None
    ) -> OrderUpdate:
        with self._lock:
            o = self.orders[order_id]
            o.filled = o.request.quantity if qty is None else qty
            o.average_price = price or o.request.trigger_price or o.request.price or Decimal(100)
            o.status = (
                OrderStatus.COMPLETE if o.filled == o.request.quantity else OrderStatus.PARTIAL
            )
            return self._update(o)

    def set_status(self, order_id: str, status: OrderStatus, reason: str = "") -> OrderUpdate:
        with self._lock:
            o = self.orders[order_id]
            o.status = status
            return self._update(o, reason)

    def working(self, action: str | None = None, symbol: str | None = None) -> list[FakeOrder]:
        with self._lock:
            return [
                o
                for o in self.orders.values()
                if o.status.is_working
                and (action is None or o.request.action.value == action)
                and (symbol is None or o.request.symbol == symbol)
            ]

    def count(self, method: str) -> int:
        with self._lock:
            return sum(1 for m, _ in self.calls if m == method)

    def _update(self, o: FakeOrder, reason: str = "") -> OrderUpdate:
        r = o.request
        return OrderUpdate(
            order_id=o.order_id,
            symbol=r.symbol,
            exchange=r.exchange,
            action=r.action,
            status=o.status,
            quantity=r.quantity,
            filled_quantity=o.filled,
            average_price=o.average_price,
            price=r.price or Decimal(0),
            trigger_price=r.trigger_price or Decimal(0),
            price_type=r.price_type,
            rejection_reason=reason,
            timestamp=datetime.now(IST),
            source="fake",
        )

    # --- the Broker protocol ----------------------------------------------

    def place_order(self, request: OrderRequest) -> str:
        order_id = f"OID{next(self._ids)}"

        def accept():
            status = (
                OrderStatus.TRIGGER_PENDING
                if request.trigger_price is not None
                else OrderStatus.OPEN
            )
            with self._lock:
                # The order exists at the broker before the reply reaches us.
                self.orders[order_id] = FakeOrder(order_id, request, status)
                self.history[order_id] = [request]

        self._enter("place_order", request, before=accept)
        return order_id

    def modify_order(self, order_id: str, request: OrderRequest) -> None:
        self._enter("modify_order", order_id, request)
        with self._lock:
            o = self.orders[order_id]
            if o.status.is_terminal:
                raise BrokerError(f"order {order_id} is {o.status.value}")
            o.request = request
            self.history[order_id].append(request)

    def cancel_order(self, order_id: str) -> None:
        self._enter("cancel_order", order_id)
        with self._lock:
            o = self.orders[order_id]
            if o.status.is_terminal:
                raise BrokerError(f"order {order_id} is already {o.status.value}")
            o.status = OrderStatus.CANCELLED
            self.outbox.append(self._update(o))

    def drain(self) -> list[OrderUpdate]:
        with self._lock:
            out, self.outbox = self.outbox, []
            return out

    def order_status(self, order_id: str) -> OrderUpdate:
        self._enter("order_status", order_id)
        with self._lock:
            return self._update(self.orders[order_id])

    def orderbook(self) -> list[OrderUpdate]:
        self._enter("orderbook")
        with self._lock:
            return [self._update(o) for o in self.orders.values()]

    def positions(self) -> list[Position]:
        """Net filled quantity per symbol, as a positionbook shows it."""
        self._enter("positions")
        with self._lock:
            net: dict[tuple[str, str], int] = {}
            for o in self.orders.values():
                k = (o.request.symbol, o.request.exchange)
                sign = 1 if o.request.action.value == "BUY" else -1
                net[k] = net.get(k, 0) + sign * o.filled
        return [Position(sym, ex, Product.MIS, q) for (sym, ex), q in net.items() if q]

    def funds(self) -> Funds:
        self._enter("funds")
        return Funds(available_cash=self.cash)

    def instrument(self, symbol: str, exchange: str) -> Instrument:
        return Instrument(symbol=symbol, exchange=exchange, tick_size=Decimal("0.05"))

    def daily_bars(self, symbol: str, exchange: str, start: date, end: date) -> list[Bar]:
        return []


def long_bar(day: date) -> Bar:
    """A prior-day bar with a long 80-20 setup: opened near the high, closed near the low."""
    return Bar(
        day=day,
        open=Decimal("108.00"),
        high=Decimal("110.00"),
        low=Decimal("100.00"),
        close=Decimal("101.00"),
        volume=1000,
    )


def short_bar(day: date) -> Bar:
    return Bar(
        day=day,
        open=Decimal("101.00"),
        high=Decimal("110.00"),
        low=Decimal("100.00"),
        close=Decimal("109.00"),
        volume=1000,
    )


PRODUCT = Product.MIS
