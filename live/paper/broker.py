"""``PaperBroker``: the Broker protocol for paper trading on live prices.

Two halves, split by what a call does, not by a fallback:

* market data - instrument data, daily and intraday bars, quotes, the
  exchange calendar, Telegram alerts - goes to the real OpenAlgo server
  (``READS``, forwarded by name; nothing else is);
* everything about orders, positions and funds is answered by the paper
  book (``live.paper.book``): placements, modifications, cancels, order
  status, the orderbook, positions and funds never leave the process.

So the real broker's order endpoints (placeorder, modifyorder, cancelorder,
placesmartorder, closeposition, orderbook, ...) are never called: there is no
code path to them from here (tests/paper asserts it against a server that
records every path). Paper order ids start with ``PAPER-``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from live.broker import (
    BrokerError,
    Funds,
    Instrument,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Position,
)
from live.journal import World
from live.sim.engine import Modification
from live.sim.models import OrderEvent, OrderView, SimInstrument
from live.sim.wire import request_payload
from live.ticks import TickTable

from .book import PaperBook

__all__ = ["PaperBroker", "READS"]

# The real broker's methods paper trading uses: market data and alerts only.
READS = frozenset({"daily_bars", "intraday_bars", "quote", "day_ranges", "holidays", "timings",
                   "tick_size", "notify", "close"})  # fmt: skip


class PaperBroker:
    def __init__(self, real: Any, book: PaperBook) -> None:
        self.real = real
        self.book = book

    def __getattr__(self, name: str) -> Any:
        if name in READS:
            return getattr(self.real, name)
        raise AttributeError(f"paper trading has no {name!r}: only market data reaches the broker")

    def world(self) -> World:
        return World.paper(self.real.host, self.book.book_id)

    # --- instruments: the real master, registered with the book ------------------------

    def instrument(self, symbol: str, exchange: str) -> Instrument:
        inst = self.real.instrument(symbol, exchange)
        self.book.add_instrument(
            SimInstrument(
                inst.symbol,
                inst.exchange,
                self._reference_price(symbol, exchange),
                tick_table=TickTable.flat(inst.tick_size),
                lot_size=inst.lot_size,
                band_pct=None,  # the exchange enforces circuits on the live prices
                name=inst.name,
            )
        )
        return inst

    def _reference_price(self, symbol: str, exchange: str) -> Decimal:
        # The book values a position before its first tick (and margins a
        # MARKET order) at the prior close.
        q = self.real.quote(symbol, exchange)
        ref = q.extra.get("prev_close") or q.ltp
        if not ref or ref <= 0:
            raise BrokerError(f"paper: quotes gave no price for {exchange}:{symbol}")
        return ref

    # --- orders: the paper book only -------------------------------------------------

    def place_order(self, request: OrderRequest) -> str:
        view = self.book.engine.place(request)
        rejected = view.status.value == "rejected"
        self.book.record_request("placeorder", request_payload(request), 400 if rejected else 200,
                                 {"orderid": view.order_id})  # fmt: skip
        if rejected:
            raise OrderRejected(
                f"paper order {view.order_id} rejected: {view.rejection_reason}", code=400
            )
        return view.order_id

    def modify_order(self, order_id: str, request: OrderRequest) -> None:
        payload = request_payload(request, orderid=str(order_id))
        mod = Modification(
            quantity=request.quantity,
            price_type=request.price_type,
            price=request.price or Decimal(0),
            trigger_price=request.trigger_price or Decimal(0),
        )
        try:
            self.book.engine.modify(str(order_id), mod)
        except BrokerError as e:
            self.book.record_request("modifyorder", payload, e.code or 400)
            raise
        self.book.record_request("modifyorder", payload, 200)

    def cancel_order(self, order_id: str) -> None:
        payload = {"orderid": str(order_id)}
        try:
            self.book.engine.cancel(str(order_id))
        except BrokerError as e:
            self.book.record_request("cancelorder", payload, e.code or 400)
            raise
        self.book.record_request("cancelorder", payload, 200)

    def order_status(self, order_id: str) -> OrderUpdate:
        return self.book.engine.order(str(order_id)).to_update(source="orderstatus")

    def orderbook(self) -> list[OrderUpdate]:
        return [o.to_update(source="orderbook") for o in self.book.engine.orders()]

    def positions(self) -> list[Position]:
        return [p.to_position() for p in self.book.engine.positions() if p.quantity]

    def funds(self) -> Funds:
        return self.book.engine.funds().to_funds()

    # --- streams -----------------------------------------------------------------------

    def on_tick(self, key: str, ltp: Decimal, ts) -> None:
        """A live tick from the feed: it meets the paper book first."""
        self.book.on_tick(key, ltp, ts)

    def on_order_update(self, cb) -> None:
        """Every paper order change, as the engine takes updates from a feed."""

        def relay(ev: OrderEvent) -> None:
            cb(_update(ev.order))

        self.book.on_order_event(relay)


def _update(order: OrderView) -> OrderUpdate:
    return order.to_update(source="paper")
