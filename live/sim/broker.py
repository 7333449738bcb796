"""``SimBroker``: the live.broker.Broker protocol straight onto the matching
engine - no sockets, unit-test speed. It applies the fault plan where that
makes sense in-process (HTTP errors become typed exceptions, a timeout
applies the request and then raises, rejections, partial fills, shaped order
updates) and records every call like the REST server does, so the same
ground-truth queries work in both modes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from live.broker import (
    AmbiguousOrderError,
    Bar,
    BrokerTimeout,
    Funds,
    Instrument,
    InvalidRequest,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Position,
    RateLimited,
    TransientBrokerError,
)

from .engine import Modification
from .models import OrderEvent, RejectionReply, SimTick
from .ratelimit import RateLimiter, RateLimits
from .simulator import Simulator
from .wire import request_payload

__all__ = ["SimBroker"]


class SimBroker:
    def __init__(
        self,
        sim: Simulator,
        *,
        rate_limits: RateLimits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sim = sim
        # Off by default in-process: a test at one frozen market instant would
        # otherwise hit 429s it never asked for. When on, windows use sim time.
        self._limiter = (
            RateLimiter(rate_limits, monotonic=lambda: sim.clock.now().timestamp())
            if rate_limits
            else None
        )
        self._sleep = sleep

    # --- plumbing -----------------------------------------------------------------

    def _begin(self, endpoint: str, payload: dict):
        if self._limiter is not None and not self._limiter.allow(endpoint):
            self.sim.record_request(endpoint, payload, 429, fault="rate_limit")
            raise RateLimited(
                "Rate limit exceeded. Please slow down your requests.",
                retry_after=self._limiter.limits.retry_after,
            )
        index, rf = self.sim.faults.on_request(endpoint)
        if rf.latency:
            self._sleep(rf.latency)
        if rf.http_status == 429:
            self.sim.record_request(endpoint, payload, 429, fault=rf.label)
            raise RateLimited(rf.http_message or "Rate limit exceeded (fault plan)", retry_after=60)
        if rf.http_status:
            self.sim.record_request(endpoint, payload, rf.http_status, fault=rf.label)
            raise TransientBrokerError(
                rf.http_message or f"HTTP {rf.http_status} (fault plan)", code=rf.http_status
            )
        return index, rf

    def _timed_out(self, endpoint: str, rf) -> None:
        if rf.timeout_delay is not None:
            if endpoint == "placeorder":
                raise AmbiguousOrderError(
                    "placeorder timed out after the request was sent (fault plan): the order "
                    "may exist; reconcile from the orderbook before placing again"
                )
            raise BrokerTimeout(f"{endpoint} timed out (fault plan)")

    # --- Broker protocol ------------------------------------------------------------

    def place_order(self, request: OrderRequest) -> str:
        payload = request_payload(request)
        index, rf = self._begin("placeorder", payload)
        forced = self.sim.faults.rejection(payload, index)
        view = self.sim.engine.place(request, forced_rejection=forced)
        rejected = view.status.value == "rejected"
        reply_error = rejected and self.sim.engine.config.rejection_reply is RejectionReply.ERROR
        status = 400 if reply_error else 200
        self.sim.record_request(
            "placeorder", payload, status, {"orderid": view.order_id}, fault=rf.label
        )
        self._timed_out("placeorder", rf)
        if reply_error:
            raise OrderRejected(
                f"order {view.order_id} rejected: {view.rejection_reason}", code=400
            )
        return view.order_id

    def modify_order(self, order_id: str, request: OrderRequest) -> None:
        payload = request_payload(request, orderid=str(order_id), disclosed_quantity="0")
        payload.setdefault("price", "0")
        payload.setdefault("trigger_price", "0")
        _, rf = self._begin("modifyorder", payload)
        mod = Modification(
            quantity=request.quantity,
            price_type=request.price_type,
            price=request.price or 0,
            trigger_price=request.trigger_price or 0,
        )
        try:
            self.sim.engine.modify(order_id, mod)
        except InvalidRequest as e:
            self.sim.record_request("modifyorder", payload, e.code or 400, fault=rf.label)
            raise
        self.sim.record_request("modifyorder", payload, 200, fault=rf.label)
        self._timed_out("modifyorder", rf)

    def cancel_order(self, order_id: str) -> None:
        payload = {"orderid": str(order_id), "strategy": "live8020"}
        _, rf = self._begin("cancelorder", payload)
        try:
            self.sim.engine.cancel(order_id)
        except InvalidRequest as e:
            self.sim.record_request("cancelorder", payload, e.code or 400, fault=rf.label)
            raise
        self.sim.record_request("cancelorder", payload, 200, fault=rf.label)
        self._timed_out("cancelorder", rf)

    def _read(self, endpoint: str, payload: dict, fn):
        _, rf = self._begin(endpoint, payload)
        try:
            result = fn()
        except InvalidRequest as e:
            self.sim.record_request(endpoint, payload, e.code or 400, fault=rf.label)
            raise
        self.sim.record_request(endpoint, payload, 200, fault=rf.label)
        self._timed_out(endpoint, rf)
        return result

    def order_status(self, order_id: str) -> OrderUpdate:
        return self._read(
            "orderstatus",
            {"orderid": str(order_id)},
            lambda: self.sim.engine.order(order_id).to_update(source="orderstatus"),
        )

    def orderbook(self) -> list[OrderUpdate]:
        return self._read(
            "orderbook", {}, lambda: [o.to_update("orderbook") for o in self.sim.engine.orders()]
        )

    def positions(self) -> list[Position]:
        return self._read(
            "positionbook",
            {},
            lambda: [p.to_position() for p in self.sim.engine.positions() if p.quantity],
        )

    def funds(self) -> Funds:
        return self._read("funds", {}, lambda: self.sim.engine.funds().to_funds())

    def instrument(self, symbol: str, exchange: str) -> Instrument:
        return self._read(
            "symbol",
            {"symbol": symbol, "exchange": exchange},
            lambda: self.sim.engine.instrument(f"{exchange}:{symbol}").to_instrument(),
        )

    def daily_bars(self, symbol: str, exchange: str, start: date, end: date) -> list[Bar]:
        payload = {
            "symbol": symbol,
            "exchange": exchange,
            "interval": "D",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        }
        return self._read(
            "history", payload, lambda: self.sim.daily_bars(f"{exchange}:{symbol}", start, end)
        )

    def day_ranges(self, keys: list[str]) -> dict[str, tuple[Decimal, Decimal]]:
        """Today's high and low per symbol, as OpenAlgo's ``multiquotes`` gives them."""

        def ranges() -> dict[str, tuple[Decimal, Decimal]]:
            out = {}
            for key in keys:
                q = self.sim.quote(key)
                if q["low"] > 0:
                    out[key] = (q["high"], q["low"])
            return out

        return self._read("multiquotes", {"symbols": list(keys)}, ranges)

    # --- beyond the Broker protocol ---------------------------------------------------

    @property
    def session_id(self) -> str:
        """The simulated broker world's identity (what ``ping`` serves)."""
        return self.sim.session_id

    def notify(self, message: str, *, username: str, priority: int = 5) -> None:
        """``telegram/notify`` in-process (the OpenAlgo adapter's signature):
        recorded in ``sim.notifications``. Raises InvalidRequest (400/404/409)
        as the endpoint would answer."""
        payload = {"username": username, "message": message, "priority": priority}
        self._read("telegram/notify", payload, lambda: self.sim.notify(username, message, priority))

    # --- in-process streams and time -------------------------------------------------

    def on_tick(self, cb: Callable[[SimTick], None]) -> None:
        self.sim.on_tick(cb)

    def on_order_update(self, cb: Callable[[OrderUpdate], None]) -> None:
        def relay(ev: OrderEvent) -> None:
            cb(ev.order.to_update(source="push"))

        self.sim.on_order_event(relay)

    def step(self):
        return self.sim.step()

    def advance_to(self, ts) -> int:
        return self.sim.advance_to(ts)

    def push_tick(self, key: str, ltp, ts=None) -> SimTick:
        return self.sim.push_tick(key, ltp, ts)

    @property
    def truth(self):
        return self.sim.truth
