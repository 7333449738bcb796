"""The ``live.broker.Broker`` protocol over OpenAlgo's REST endpoints.

The endpoints and what their replies mean; the HTTP exchange, error
classification and read retries are ``transport``'s, the JSON field reading
is ``convert``'s, and finding a placement whose reply was lost is
``recovery``'s.

A reply we cannot read is the broker's fault, not the caller's input: it
surfaces as a ``BrokerError`` naming the field. A list endpoint (orderbook,
positionbook, tradebook) never fails because of one bad row: the row is
skipped, counted (``rows_skipped``) and logged once with the field named.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests

from live.broker import (
    Bar,
    BrokerError,
    Funds,
    Instrument,
    InvalidRequest,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Position,
    Quote,
    RateLimited,
    TransientBrokerError,
    split_key,
)
from live.clock import Clock, WallClock
from live.journal import World
from live.ratelimit import RateLimiters, RateLimits
from live.ticks import is_tick_multiple

from .convert import (
    Candle,
    Trade,
    bar_from_dict,
    candle_from_dict,
    funds_from_dict,
    order_id_of,
    order_update_from_dict,
    parse_decimal,
    parse_int,
    parse_timestamp,
    position_from_dict,
    sane_tick_size,
    trade_from_dict,
)
from .recovery import AmbiguityPolicy, PlacementRecovery
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


class OpenAlgoBroker:
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
        self.transport = Transport(
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
        self._lock = threading.Lock()  # the tick caches; never held during I/O
        self._margin_unsupported = False
        self._margin_rates: dict[tuple, Decimal] = {}  # (key, product) -> margin per rupee
        self._margin_skipped = 0  # margin asks skipped for want of a free read slot
        self._ticks: dict[str, Decimal] = {}
        self._tick_overrides: dict[str, Decimal] = {}
        for key, tick in (tick_sizes or {}).items():
            t = parse_decimal(tick, key, ctx="tick_sizes")
            if t <= 0:
                raise ValueError(f"tick_sizes.{key}: must be > 0, got {t}")
            self._tick_overrides[key.strip().upper()] = t

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
        return _convert(
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
        return self._rows(_as_list(data, "tradebook.data"), "tradebook.data", trade_from_dict)

    def positions(self) -> list[Position]:
        data = self.transport.read("positionbook").get("data") or []
        return self._rows(
            _as_list(data, "positionbook.data"), "positionbook.data", position_from_dict
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
        return _convert(funds_from_dict, data, ctx="funds.data")

    def quote(self, symbol: str, exchange: str) -> Quote:
        reply = self.transport.read("quotes", {"symbol": symbol, "exchange": exchange})
        d = reply.get("data")
        if not isinstance(d, Mapping):
            raise BrokerError("quotes.data: expected an object")
        ltp = _convert(parse_decimal, d.get("ltp"), "ltp", ctx="quotes.data")
        extra = {}
        for k in ("open", "high", "low", "prev_close", "bid", "ask"):
            if d.get(k) not in (None, ""):
                extra[k] = _convert(parse_decimal, d.get(k), k, ctx="quotes.data")
        return Quote(symbol=symbol, exchange=exchange, ltp=ltp, extra=extra)

    def day_ranges(self, keys: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
        """Today's high and low so far for every ``EXCHANGE:SYMBOL``, in one
        ``multiquotes`` call. A symbol the reply leaves out or garbles is
        simply absent (counted in ``rows_skipped``)."""
        pairs = [split_key(k) for k in keys]
        if not pairs:
            return {}
        reply = self.transport.read(
            "multiquotes", {"symbols": [{"symbol": s, "exchange": e} for s, e in pairs]}
        )
        results = reply.get("results", (reply.get("data") or {}).get("results"))
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for i, row in enumerate(_as_list(results or [], "multiquotes.results")):
            ctx = f"multiquotes.results[{i}]"
            try:
                if not isinstance(row, Mapping) or not isinstance(row.get("data"), Mapping):
                    raise ValueError(f"{ctx}: no data ({_show_error(row)})")
                d = row["data"]
                key = f"{str(row.get('exchange', '')).upper()}:{str(row.get('symbol', '')).upper()}"
                high = parse_decimal(d.get("high"), "high", ctx=f"{ctx}.data")
                low = parse_decimal(d.get("low"), "low", ctx=f"{ctx}.data")
                if not 0 < low <= high:
                    raise ValueError(f"{ctx}.data: low {low} and high {high} are not a range")
            except ValueError as e:
                self.transport.count("rows_skipped")
                log.warning("ROW_SKIPPED %s", e)
                continue
            out[key] = (high, low)
        return out

    def _history(self, symbol: str, exchange: str, interval: str, start: date, end: date) -> list:
        if start > end:
            raise ValueError(f"start: {start} is after end {end}")
        reply = self.transport.read(
            "history",
            {
                "symbol": symbol,
                "exchange": exchange,
                "interval": interval,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
            },
        )
        return _as_list(reply.get("data") or [], "history.data")

    def daily_bars(self, symbol: str, exchange: str, start: date, end: date) -> list[Bar]:
        rows = self._history(symbol, exchange, "D", start, end)
        bars = [_convert(bar_from_dict, r, ctx=f"history.data[{i}]") for i, r in enumerate(rows)]
        return sorted({b.day: b for b in bars}.values(), key=lambda b: b.day)

    def intraday_bars(
        self, symbol: str, exchange: str, interval: str, start: date, end: date
    ) -> list[Candle]:
        rows = self._history(symbol, exchange, interval, start, end)
        return [_convert(candle_from_dict, r, ctx=f"history.data[{i}]") for i, r in enumerate(rows)]

    # --- instruments ------------------------------------------------------------

    def tick_size(self, symbol: str, exchange: str) -> Decimal | None:
        key = f"{exchange}:{symbol}".upper()
        with self._lock:
            return self._tick_overrides.get(key) or self._ticks.get(key)

    def instrument(
        self, symbol: str, exchange: str, *, reference_price: Decimal | None = None
    ) -> Instrument:
        """Instrument data with a sanity-checked tick (see ``sane_tick_size``).
        Without a ``reference_price`` the adapter asks ``quotes`` for one when
        the tick needs checking. The tick is remembered and every later order
        price for the symbol is checked against it."""
        reply = self.transport.read("symbol", {"symbol": symbol, "exchange": exchange})
        d = reply.get("data")
        if not isinstance(d, Mapping):
            raise BrokerError("symbol.data: expected an object")
        return self._instrument(d, symbol, exchange, reference_price, "symbol.data", ask=True)

    def remember_instrument(self, inst: Instrument) -> None:
        """An instrument read earlier today (the journal's day plan): order
        prices for it are checked against its tick as if just read."""
        with self._lock:
            self._ticks[inst.key.upper()] = inst.tick_size

    def instruments(self, exchange: str) -> dict[str, Instrument]:
        """The exchange's instrument master in one call (OpenAlgo's
        ``GET /api/v1/instruments?exchange=``), as EXCHANGE:SYMBOL ->
        Instrument. A row whose tick cannot be trusted without a price (a
        whole-number tick that may be paise) or cannot be read is left out,
        logged: the caller asks ``symbol`` for those. An older server
        without the endpoint raises InvalidRequest (HTTP 404)."""
        reply = self.transport.read("instruments", {"exchange": exchange}, method="GET")
        out: dict[str, Instrument] = {}
        skipped = 0
        for i, row in enumerate(_as_list(reply.get("data") or [], "instruments.data")):
            if not isinstance(row, Mapping):
                skipped += 1
                continue
            sym, ex = row.get("symbol"), row.get("exchange") or exchange
            if not isinstance(sym, str) or not sym or not isinstance(ex, str):
                skipped += 1
                continue
            try:
                inst = self._instrument(row, sym, ex, None, f"instruments.data[{i}]", ask=False)
            except BrokerError:
                skipped += 1
                continue
            out[inst.key.upper()] = inst
        if skipped:
            log.warning("INSTRUMENTS_SKIPPED %s: %d rows unreadable or with an unverifiable "
                        "tick (asked per symbol instead)", exchange, skipped)  # fmt: skip
        return out

    def _instrument(
        self,
        d: Mapping,
        symbol: str,
        exchange: str,
        reference_price: Decimal | None,
        ctx: str,
        *,
        ask: bool,
    ) -> Instrument:
        """One instrument row -> Instrument with a sanity-checked tick
        (``ask``: fetch a reference price from ``quotes`` when needed)."""
        key = f"{exchange}:{symbol}".upper()
        lot = d.get("lotsize", d.get("lot_size"))
        lot_size = 1
        if lot not in (None, ""):
            lot_size = _convert(parse_int, lot, "lotsize", ctx=ctx)
        if lot_size <= 0:
            raise BrokerError(f"{ctx}.lotsize: {lot_size} must be > 0")
        with self._lock:
            override = self._tick_overrides.get(key)
        if override is not None:
            tick = override
        else:
            raw = d.get("tick_size")
            raw_dec = _convert(parse_decimal, raw, "tick_size", ctx=ctx)
            ref = reference_price
            if ref is None and raw_dec >= 1 and ask:
                ref = self._reference_price(symbol, exchange)
            try:
                tick = sane_tick_size(raw, ref, exchange, ctx=f"{ctx}.tick_size ({key})")
            except ValueError as e:
                raise InvalidRequest(str(e)) from None
            if tick != raw_dec:
                log.warning(
                    "TICK_SIZE_PAISE %s broker gave %s, using ₹%s (price %s)", key, raw, tick, ref
                )
        with self._lock:
            self._ticks[key] = tick
        name = d.get("name")
        return Instrument(
            symbol=symbol,
            exchange=exchange,
            tick_size=tick,
            lot_size=lot_size,
            name=name if isinstance(name, str) else "",
        )

    def _reference_price(self, symbol: str, exchange: str) -> Decimal | None:
        try:
            q = self.quote(symbol, exchange)
        except BrokerError as e:
            log.warning("no reference price for %s:%s: %s", exchange, symbol, e)
            return None
        if q.ltp > 0:
            return q.ltp
        prev = q.extra.get("prev_close")
        return prev if prev and prev > 0 else None

    # --- calendar and notifications ----------------------------------------------

    def holidays(self, year: int, exchange: str = "NSE") -> frozenset[date] | None:
        """Trading holidays of ``exchange`` in ``year``; None when the server
        has no such endpoint (older servers: HTTP 404) so the caller falls
        back to its configured calendar."""
        try:
            reply = self.transport.read("market/holidays", {"year": int(year)})
        except InvalidRequest as e:
            if e.code == 404:
                return None
            raise
        days = set()
        for i, row in enumerate(_as_list(reply.get("data") or [], "market/holidays.data")):
            if not isinstance(row, Mapping):
                continue
            closed = row.get("closed_exchanges") or []
            if not isinstance(closed, list):
                raise BrokerError(f"market/holidays.data[{i}].closed_exchanges: expected a list")
            if exchange.upper() not in [str(x).upper() for x in closed if isinstance(x, str)]:
                continue
            try:
                days.add(date.fromisoformat(row.get("date")))
            except (TypeError, ValueError):
                raise BrokerError(
                    f"market/holidays.data[{i}].date: {row.get('date')!r:.40} is not YYYY-MM-DD"
                ) from None
        return frozenset(days)

    def timings(self, day: date, exchange: str = "NSE") -> tuple[datetime, datetime] | None:
        """(open, close) of ``exchange`` on ``day`` as aware IST datetimes;
        None when the endpoint is missing (404) or the exchange is closed."""
        try:
            reply = self.transport.read("market/timings", {"date": day.isoformat()})
        except InvalidRequest as e:
            if e.code == 404:
                return None
            raise
        for i, row in enumerate(_as_list(reply.get("data") or [], "market/timings.data")):
            if isinstance(row, Mapping) and str(row.get("exchange", "")).upper() == exchange:
                ctx = f"market/timings.data[{i}]"
                start = _convert(parse_timestamp, row.get("start_time"), "start_time", ctx=ctx)
                end = _convert(parse_timestamp, row.get("end_time"), "end_time", ctx=ctx)
                if start and end:
                    return start, end
        return None

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


def _show_error(row: Any) -> str:
    err = row.get("error") if isinstance(row, Mapping) else None
    return str(err)[:80] if err else type(row).__name__


def _as_list(data: Any, ctx: str) -> list:
    if not isinstance(data, list):
        raise BrokerError(f"{ctx}: expected a list, got {type(data).__name__}")
    return data


def _convert(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """A reply we cannot read is the broker's fault, not the caller's input:
    surface it as a BrokerError (message names the field)."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise BrokerError(f"malformed reply: {e}") from None
