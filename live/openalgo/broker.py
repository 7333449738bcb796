"""The ``live.broker.Broker`` protocol over OpenAlgo's REST endpoints.

The order, book, funds, margin and notification endpoints and what their
replies mean. Market data, instruments and the calendar are ``marketdata``'s
(the base class); the HTTP exchange, error classification and read retries
are ``transport``'s, the JSON field reading is ``convert``'s, and finding a
placement whose reply was lost is ``recovery``'s.

A reply we cannot read is the broker's fault, not the caller's input: it
surfaces as a ``BrokerError`` naming the field. A list endpoint (orderbook,
positionbook, tradebook) never fails because of one bad row: the row is
skipped, counted (``rows_skipped``) and logged once with the field named.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from live.broker import (
    BrokerError,
    Funds,
    InvalidRequest,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Position,
    RateLimited,
    TransientBrokerError,
)
from live.clock import Clock, WallClock
from live.journal import World
from live.ratelimit import RateLimiters, RateLimits
from live.ticks import is_tick_multiple

from .convert import (
    Trade,
    funds_from_dict,
    order_id_of,
    order_update_from_dict,
    parse_decimal,
    position_from_dict,
    trade_from_dict,
)
from .marketdata import MarketData
from .recovery import AmbiguityPolicy, PlacementRecovery
from .replies import as_list, convert
from .transport import Kind, RetryPolicy, Timeouts, Transport

__all__ = ["BrokerCounters", "OpenAlgoBroker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerCounters:
    calls: Mapping[str, int]
    rate_limited: int  # 429 replies
    retries: int  # read retries
    ambiguous_recovered: int  # placements resolved from the orderbook
    ambiguous_unresolved: int  # AmbiguousOrderError raised
    notify_failures: int
    rows_skipped: int  # malformed rows dropped from orderbook/positionbook/tradebook


class OpenAlgoBroker(MarketData):
    """``live.broker.Broker`` over OpenAlgo REST. Thread-safe: the feed,
    poller and strategy threads share one instance; nothing here holds a
    lock during I/O."""

    def __init__(
        self,
        host: str,
        api_key: str,
        *,
        strategy: str = "live8020",
        timeouts: Timeouts | None = None,
        rate_limits: RateLimits | None = None,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        ambiguity: AmbiguityPolicy | None = None,
        tick_sizes: Mapping[str, Decimal | str] | None = None,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        pool_size: int = 16,
    ):
        transport = Transport(
            host,
            api_key,
            timeouts=timeouts,
            retry=retry,
            rate_limits=rate_limits,
            session=session,
            sleep=sleep,
            rng=rng,
            monotonic=monotonic,
            pool_size=pool_size,
        )
        overrides: dict[str, Decimal] = {}
        for key, tick in (tick_sizes or {}).items():
            t = parse_decimal(tick, key, ctx="tick_sizes")
            if t <= 0:
                raise ValueError(f"tick_sizes.{key}: must be > 0, got {t}")
            overrides[key.strip().upper()] = t
        super().__init__(transport, overrides)
        if not isinstance(strategy, str) or not strategy.strip():
            raise ValueError("strategy: must be a non-empty tag for our orders")
        self.strategy = strategy
        self.clock: Clock = clock or WallClock()
        self.placements = PlacementRecovery(
            ambiguity or AmbiguityPolicy(),
            strategy=strategy,
            orderbook_rows=self._orderbook_rows,
            sleep=sleep,
            count=self.transport.count,
        )
        self._margin_unsupported = False
        self._margin_rates: dict[tuple, Decimal] = {}  # (key, product) -> margin per rupee
        self._margin_skipped = 0  # margin asks skipped for want of a free read slot

    def __repr__(self) -> str:
        return f"OpenAlgoBroker(host={self.host!r}, strategy={self.strategy!r})"

    @property
    def host(self) -> str:
        return self.transport.host

    @property
    def limiters(self) -> RateLimiters:
        return self.transport.limiters

    @property
    def session(self) -> requests.Session:
        return self.transport.session

    def close(self) -> None:
        self.transport.close()

    def counters(self) -> BrokerCounters:
        calls, n = self.transport.snapshot()
        return BrokerCounters(
            calls=calls,
            rate_limited=n["rate_limited"],
            retries=n["retries"],
            ambiguous_recovered=n["ambiguous_recovered"],
            ambiguous_unresolved=n["ambiguous_unresolved"],
            notify_failures=n["notify_failures"],
            rows_skipped=n["rows_skipped"],
        )

    # --- orders ---------------------------------------------------------------

    def _check_prices(self, request: OrderRequest) -> None:
        tick = self.tick_size(request.symbol, request.exchange)
        for name in ("price", "trigger_price"):
            v = getattr(request, name)
            if v is None:
                continue
            if not isinstance(v, Decimal):
                raise ValueError(f"{name}: must be a Decimal, got {type(v).__name__}")
            if v <= 0:
                raise ValueError(f"{name}: must be > 0, got {v}")
            if tick is not None and not is_tick_multiple(v, tick):
                raise ValueError(
                    f"{name}: {v} is not a multiple of the tick {tick} for {request.key}; "
                    "round it with live.ticks.round_to_tick before placing"
                )

    def _order_payload(self, request: OrderRequest) -> dict[str, str]:
        if not isinstance(request, OrderRequest):
            raise ValueError(f"request: expected an OrderRequest, got {type(request).__name__}")
        self._check_prices(request)
        return {
            "strategy": self.strategy,
            "symbol": request.symbol,
            "exchange": request.exchange,
            "action": request.action.value,
            "pricetype": request.price_type.value,
            "product": request.product.value,
            "quantity": str(request.quantity),
            "price": str(request.price) if request.price is not None else "0",
            "trigger_price": str(request.trigger_price)
            if request.trigger_price is not None
            else "0",
            "disclosed_quantity": "0",
        }

    def remember_orders(self, order_ids: Iterable[str]) -> None:
        """Tell the adapter about order ids it did not place in this process
        (from the journal after a restart), so an ambiguous-placement lookup
        can never claim one of them."""
        self.placements.remember(order_ids)

    def place_order(self, request: OrderRequest) -> str:
        payload = self._order_payload(request)
        started = self.clock.now()
        with self.placements.in_flight(request):
            try:
                reply = self.transport.post("placeorder", payload, Kind.ORDER)
                try:
                    order_id = order_id_of(reply.get("orderid"), ctx="placeorder")
                except ValueError as e:
                    err = TransientBrokerError(f"placeorder: success reply without an id: {e}")
                    err.request_sent = True
                    raise err from None
            except TransientBrokerError as e:
                if not getattr(e, "request_sent", True):
                    raise  # provably never reached the server: nothing to look for
                order_id = self.placements.find(request, started, e)
            self.placements.remember([order_id])
            log.info(
                "ORDER_PLACED id=%s %s %s %s x%d",
                order_id,
                request.key,
                request.action.value,
                request.price_type.value,
                request.quantity,
            )
            return order_id

    def modify_order(self, order_id: str, request: OrderRequest) -> None:
        """Not retried: on a transient error the caller reconciles (the
        modification may or may not have reached the broker)."""
        payload = self._order_payload(request)
        self.transport.post("modifyorder", {"orderid": _order_id(order_id), **payload}, Kind.ORDER)

    def cancel_order(self, order_id: str) -> None:
        self.transport.post(
            "cancelorder", {"orderid": _order_id(order_id), "strategy": self.strategy}, Kind.ORDER
        )

    # --- reads ----------------------------------------------------------------

    def order_status(self, order_id: str) -> OrderUpdate:
        reply = self.transport.read(
            "orderstatus", {"orderid": _order_id(order_id), "strategy": self.strategy}
        )
        return convert(
            order_update_from_dict, reply.get("data"), source="orderstatus", ctx="orderstatus.data"
        )

    def _orderbook_rows(self) -> list:
        data = self.transport.read("orderbook").get("data")
        if data is None:
            return []
        if isinstance(data, list):  # some brokers: data is the list itself
            return data
        if not isinstance(data, Mapping):
            raise BrokerError(f"orderbook.data: expected an object, got {type(data).__name__}")
        orders = data.get("orders") or []
        if not isinstance(orders, list):
            raise BrokerError("orderbook.data.orders: expected a list")
        return orders

    def orderbook(self) -> list[OrderUpdate]:
        """Every parseable order (a malformed row is often another app's order
        in a state we do not model)."""
        return self._rows(
            self._orderbook_rows(),
            "orderbook.data.orders",
            lambda d, ctx: order_update_from_dict(d, source="orderbook", ctx=ctx),
        )

    def tradebook(self) -> list[Trade]:
        data = self.transport.read("tradebook").get("data") or []
        return self._rows(as_list(data, "tradebook.data"), "tradebook.data", trade_from_dict)

    def positions(self) -> list[Position]:
        data = self.transport.read("positionbook").get("data") or []
        return self._rows(
            as_list(data, "positionbook.data"), "positionbook.data", position_from_dict
        )

    def _rows(self, rows: list, ctx: str, convert: Callable[..., Any]) -> list:
        out = []
        for i, row in enumerate(rows):
            try:
                out.append(convert(row, ctx=f"{ctx}[{i}]"))
            except ValueError as e:
                self.transport.count("rows_skipped")
                log.warning("ROW_SKIPPED %s", e)
        return out

    def funds(self) -> Funds:
        data = self.transport.read("funds").get("data")
        return convert(funds_from_dict, data, ctx="funds.data")

    # --- notifications and margin ------------------------------------------------

    def margin(self, request: OrderRequest) -> Decimal | None:
        """The margin the broker would block for ``request`` (OpenAlgo's
        ``margin`` endpoint), or None when this server or broker cannot say
        (then the configured rate is used; asked once, not on every entry)."""
        if self._margin_unsupported:
            return None
        value_of = (request.trigger_price or request.price or Decimal(0)) * request.quantity
        rate_key = (request.key.upper(), request.product)
        with self._lock:
            rate = self._margin_rates.get(rate_key)
        if rate is not None and value_of > 0:
            # The symbol's margin rate is known from an earlier answer today:
            # at scale (every symbol entering at once) one call per symbol,
            # not per order, within the 50/s shared by all reads.
            return (rate * value_of).quantize(Decimal("0.01"))
        row = {k: v for k, v in self._order_payload(request).items() if k != "strategy"}
        try:
            # Never wait for a slot: an entry would stall behind a burst of
            # other symbols' reads; the caller falls back to the configured rate.
            reply = self.transport.read("margin", {"positions": [row]}, wait=False)
            data = reply.get("data") or {}
        except RateLimited:
            with self._lock:
                self._margin_skipped += 1
            return None
        except (InvalidRequest, OrderRejected) as e:
            if getattr(e, "code", None) in (404, 405, 501):
                self._margin_unsupported = True
            return None
        value = data.get("total_margin_required") if isinstance(data, Mapping) else None
        try:
            margin = parse_decimal(value, "total_margin_required", ctx="margin.data")
        except ValueError:
            return None
        if margin <= 0:
            return None
        if value_of > 0:
            with self._lock:
                self._margin_rates[rate_key] = margin / value_of
        return margin

    def world(self) -> World:
        """Which broker world this host is (``ping``): a journal written
        against another world is never applied to this one. The embedded
        simulator names its session; an OpenAlgo server its broker."""
        data = self.transport.read("ping").get("data") or {}
        if not isinstance(data, Mapping):
            raise BrokerError(f"ping.data: expected an object, got {type(data).__name__}")
        session = str(data.get("session") or "").strip()
        if session:
            return World.sim(self.host, session)
        return World.openalgo(self.host, broker=str(data.get("broker") or "") or None)

    def notify(self, message: str, *, username: str, priority: int = 5) -> bool:
        """Best effort Telegram alert: failures are logged and counted, never
        raised into trading code. Not retried."""
        try:
            self.transport.post(
                "telegram/notify",
                {"username": username, "message": str(message), "priority": int(priority)},
                Kind.NOTIFY,
            )
            return True
        except Exception as e:  # noqa: BLE001 - an alert must never break trading
            self.transport.count("notify_failures")
            log.warning("NOTIFY_FAILED %s", self.transport.scrub(str(e)))
            return False


# --- helpers ----------------------------------------------------------------------


def _order_id(order_id: Any) -> str:
    s = str(order_id or "").strip()
    if not s:
        raise ValueError("order_id: empty; pass the broker's order id")
    return s
