"""The Broker protocol over OpenAlgo's REST API — the only module that knows its JSON.

Every call is ``POST {host}/api/v1/<endpoint>`` with a JSON body carrying the
API key as ``"apikey"``. The official SDK opens a fresh connection per call,
waits up to 120 s and folds every failure into a dict; a live engine needs
connection reuse, short per-call timeouts and typed errors, so this adapter
uses one pooled ``requests.Session`` with explicit (connect, read) timeouts
and raises the ``live.broker`` error types:

* transient (``TransientBrokerError``/``BrokerTimeout``/``RateLimited``):
  timeout, connection failure, HTTP 5xx, 429;
* permanent: ``OrderRejected`` (an order endpoint said no: HTTP 400 or
  ``"status":"error"`` with HTTP 200) and ``InvalidRequest`` (400/403/404 on
  other endpoints, bad API key, unknown symbol).

Reads retry with bounded exponential backoff and jitter. Order placement is
never retried blindly: OpenAlgo has no client order id, so after a failure
that may have reached the broker (read timeout, connection reset after
sending, 5xx, success without an id) the adapter looks in the orderbook for an
order it did not know that matches the request and was placed after the
attempt began; found -> its id, not found -> ``AmbiguousOrderError``.

Replies differ by broker and by mode (live vs sandbox/"analyze"): numbers come
as strings or floats, ``pricetype`` or ``price_type``, timestamps as
``DD-Mon-YYYY HH:MM:SS`` IST or ISO, filled quantity present or not. The
``*_from_dict`` functions below absorb that; ``order_update_from_dict`` is
shared with ``live.feed`` so the WebSocket and REST paths agree.

The API key never appears in logs, exceptions or ``repr``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from live.broker import (
    Action,
    AmbiguousOrderError,
    Bar,
    BrokerError,
    BrokerTimeout,
    Funds,
    Instrument,
    InvalidRequest,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    PriceType,
    Product,
    Quote,
    RateLimited,
    TransientBrokerError,
)
from live.clock import IST, Clock, WallClock
from live.ratelimit import RateLimiters, RateLimitExceeded, RateLimits
from live.ticks import TickTable, is_tick_multiple

__all__ = [
    "AmbiguityPolicy",
    "BrokerCounters",
    "Candle",
    "OpenAlgoBroker",
    "RetryPolicy",
    "Timeouts",
    "Trade",
    "bar_from_dict",
    "candle_from_dict",
    "funds_from_dict",
    "trade_from_dict",
    "order_update_from_dict",
    "parse_action",
    "parse_decimal",
    "parse_int",
    "parse_price_type",
    "parse_status",
    "parse_timestamp",
    "position_from_dict",
    "sane_tick_size",
]

log = logging.getLogger("live.openalgo_broker")


# --- configuration ------------------------------------------------------------


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``order`` is the read timeout for placeorder/modify/cancel: a
    short one means an ambiguous outcome sooner (then the orderbook tells)."""

    connect: float = 3.05
    read: float = 10.0
    order: float = 8.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "order"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"timeouts.{name}: must be > 0 seconds, got {v!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, for reads only."""

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 2.0
    jitter: float = 0.5  # fraction of the delay that is randomised

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"retry.attempts: must be an int >= 1, got {self.attempts!r}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry.base_delay/max_delay: must be >= 0 seconds")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry.jitter: must be within 0..1, got {self.jitter!r}")

    def delay(self, attempt: int, rnd: float) -> float:
        raw = min(self.max_delay, self.base_delay * (2**attempt))
        return raw * (1 - self.jitter + self.jitter * rnd)


@dataclass(frozen=True)
class AmbiguityPolicy:
    """How hard to look for an order whose placement reply was lost: the
    order may reach the orderbook after our first look (slow broker)."""

    lookups: int = 3
    delay: float = 0.5
    clock_skew: float = 5.0  # seconds of skew tolerated between us and the broker

    def __post_init__(self) -> None:
        if not isinstance(self.lookups, int) or self.lookups < 1:
            raise ValueError(f"ambiguity.lookups: must be an int >= 1, got {self.lookups!r}")
        if self.delay < 0 or self.clock_skew < 0:
            raise ValueError("ambiguity.delay/clock_skew: must be >= 0 seconds")


@dataclass(frozen=True)
class BrokerCounters:
    calls: Mapping[str, int]
    rate_limited: int  # 429 replies
    retries: int  # read retries
    ambiguous_recovered: int  # placements resolved from the orderbook
    ambiguous_unresolved: int  # AmbiguousOrderError raised
    notify_failures: int
    rows_skipped: int  # malformed rows dropped from orderbook/positionbook


@dataclass(frozen=True)
class Trade:
    order_id: str
    symbol: str
    exchange: str
    action: Action
    quantity: int
    average_price: Decimal
    timestamp: datetime | None = None


@dataclass(frozen=True)
class Candle:
    ts: datetime  # bar start, aware IST
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0


# --- parsing: OpenAlgo JSON -> live.broker types ------------------------------


def _where(ctx: str, name: str) -> str:
    return f"{ctx}.{name}" if ctx else name


def parse_decimal(value: Any, name: str, *, ctx: str = "") -> Decimal:
    """A number that arrived as str/int/float -> Decimal via its decimal text
    (``Decimal(str(511.95))`` is ``511.95``, never binary noise)."""
    where = _where(ctx, name)
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{where}: missing or empty, expected a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{where}: {value!r} is not a number") from None
    else:
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{where}: {value!r} is not a finite number")
    return result


def _opt_decimal(d: Mapping, name: str, ctx: str) -> Decimal:
    v = d.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        return Decimal(0)
    return parse_decimal(v, name, ctx=ctx)


def parse_int(value: Any, name: str, *, ctx: str = "") -> int:
    """Quantities: "10", 10, 10.0 and "10.0" are 10; 10.5 is an error."""
    d = parse_decimal(value, name, ctx=ctx)
    if d != d.to_integral_value():
        raise ValueError(f"{_where(ctx, name)}: {value!r} is not a whole number")
    return int(d)


def _norm(s: str) -> str:
    return " ".join(s.strip().lower().replace("_", " ").replace("-", " ").split())


_STATUS_WORDS = {
    "open": OrderStatus.OPEN,
    "pending": OrderStatus.OPEN,
    "trigger pending": OrderStatus.TRIGGER_PENDING,
    "triggerpending": OrderStatus.TRIGGER_PENDING,
    "partial": OrderStatus.PARTIAL,
    "partially filled": OrderStatus.PARTIAL,
    "complete": OrderStatus.COMPLETE,
    "completed": OrderStatus.COMPLETE,
    "filled": OrderStatus.COMPLETE,
    "traded": OrderStatus.COMPLETE,
    "rejected": OrderStatus.REJECTED,
    "cancelled": OrderStatus.CANCELLED,
    "canceled": OrderStatus.CANCELLED,
}


def parse_status(
    raw: Any, quantity: int | None = None, filled: int | None = None, *, ctx: str = ""
) -> OrderStatus:
    """OpenAlgo status string -> OrderStatus; a working order with some but
    not all quantity filled is PARTIAL (OpenAlgo has no such status)."""
    where = _where(ctx, "order_status")
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where}: missing or not a string ({raw!r})")
    status = _STATUS_WORDS.get(_norm(raw))
    if status is None:
        raise ValueError(
            f"{where}: unknown status {raw!r}; expected one of open, trigger pending, "
            "complete, rejected, cancelled"
        )
    if (
        status in (OrderStatus.OPEN, OrderStatus.PARTIAL)
        and quantity is not None
        and filled is not None
    ):
        if 0 < filled < quantity:
            return OrderStatus.PARTIAL
        if status is OrderStatus.PARTIAL and filled == 0:
            return OrderStatus.OPEN
    return status


def parse_action(raw: Any, *, ctx: str = "") -> Action:
    s = _norm(raw) if isinstance(raw, str) else ""
    if s in ("buy", "b"):
        return Action.BUY
    if s in ("sell", "s"):
        return Action.SELL
    raise ValueError(f"{_where(ctx, 'action')}: {raw!r} is not BUY or SELL")


_PRICE_TYPES = {
    "market": PriceType.MARKET,
    "mkt": PriceType.MARKET,
    "limit": PriceType.LIMIT,
    "lmt": PriceType.LIMIT,
    "sl": PriceType.SL,
    "sl l": PriceType.SL,
    "stoploss limit": PriceType.SL,
    "sl m": PriceType.SL_M,
    "slm": PriceType.SL_M,
    "stoploss market": PriceType.SL_M,
}


def parse_price_type(raw: Any) -> PriceType | None:
    """None for anything unrecognised: the type is informative, not required."""
    return _PRICE_TYPES.get(_norm(raw)) if isinstance(raw, str) else None


_TS_FORMATS = ("%d-%b-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S")


def parse_timestamp(value: Any, name: str = "timestamp", *, ctx: str = "") -> datetime | None:
    """OpenAlgo timestamps -> aware IST datetime; None when absent.

    Live replies use ``DD-Mon-YYYY HH:MM:SS`` in IST, the sandbox
    ``YYYY-MM-DD HH:MM:SS`` (IST), some ISO with an offset, some epoch
    seconds or milliseconds. Naive text is IST (the server's local time).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    where = _where(ctx, name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        secs = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(secs, IST)
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a timestamp string, got {type(value).__name__}")
    text = value.strip()
    if text.isdigit():  # epoch seconds or milliseconds sent as a string
        return parse_timestamp(int(text), name, ctx=ctx)
    ts: datetime | None = None
    for fmt in _TS_FORMATS:
        try:
            ts = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if ts is None:
        try:
            ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{where}: {value!r} is neither 'DD-Mon-YYYY HH:MM:SS' nor ISO 8601"
            ) from None
    if ts.tzinfo is None:
        return ts.replace(tzinfo=IST)
    return ts.astimezone(IST)


def _str_field(d: Mapping, name: str, ctx: str, *alts: str) -> str:
    for key in (name, *alts):
        v = d.get(key)
        if v is not None and str(v).strip():
            return str(v).strip()
    raise ValueError(f"{_where(ctx, name)}: missing or empty")


def order_update_from_dict(d: Any, *, source: str, ctx: str = "") -> OrderUpdate:
    """One order as OpenAlgo describes it (orderstatus ``data``, an orderbook
    row, or a WebSocket ``order_update``) -> OrderUpdate.

    ``filled_quantity`` stays None when the reply does not carry it (live
    orderstatus): it is never derived from ``pending_quantity``, because some
    brokers report pending 0 for a cancelled order, which would read as filled.
    """
    ctx = ctx or source
    if not isinstance(d, Mapping):
        raise ValueError(f"{ctx}: expected an object, got {type(d).__name__}")
    order_id = _str_field(d, "orderid", ctx, "order_id")
    quantity = parse_int(d.get("quantity"), "quantity", ctx=ctx)
    fq_raw = d.get("filled_quantity")
    filled = None
    if fq_raw is not None and not (isinstance(fq_raw, str) and not fq_raw.strip()):
        filled = parse_int(fq_raw, "filled_quantity", ctx=ctx)
        if not 0 <= filled <= quantity:
            raise ValueError(
                f"{_where(ctx, 'filled_quantity')}: {filled} outside 0..quantity ({quantity})"
            )
    raw_status = d.get("order_status", d.get("status"))
    status = parse_status(raw_status, quantity, filled, ctx=ctx)
    reason = d.get("rejection_reason") or ""
    return OrderUpdate(
        order_id=order_id,
        symbol=_str_field(d, "symbol", ctx),
        exchange=_str_field(d, "exchange", ctx).upper(),
        action=parse_action(d.get("action"), ctx=ctx),
        status=status,
        quantity=quantity,
        filled_quantity=filled,
        average_price=_opt_decimal(d, "average_price", ctx),
        price=_opt_decimal(d, "price", ctx),
        trigger_price=_opt_decimal(d, "trigger_price", ctx),
        price_type=parse_price_type(d.get("pricetype", d.get("price_type"))),
        rejection_reason=str(reason),
        timestamp=parse_timestamp(d.get("timestamp"), ctx=ctx),
        source=source,
    )


def _parse_product(raw: Any, ctx: str) -> Product:
    s = str(raw or "").strip().upper()
    try:
        return Product(s)
    except ValueError:
        raise ValueError(f"{_where(ctx, 'product')}: {raw!r} is not MIS, CNC or NRML") from None


def position_from_dict(d: Any, *, ctx: str = "positionbook") -> Position:
    if not isinstance(d, Mapping):
        raise ValueError(f"{ctx}: expected an object, got {type(d).__name__}")
    return Position(
        symbol=_str_field(d, "symbol", ctx),
        exchange=_str_field(d, "exchange", ctx).upper(),
        product=_parse_product(d.get("product"), ctx),
        quantity=parse_int(d.get("quantity"), "quantity", ctx=ctx),
        average_price=_opt_decimal(d, "average_price", ctx),
        ltp=_opt_decimal(d, "ltp", ctx),
        pnl=_opt_decimal(d, "pnl", ctx),
    )


def funds_from_dict(d: Any, *, ctx: str = "funds.data") -> Funds:
    if not isinstance(d, Mapping):
        raise ValueError(f"{ctx}: expected an object, got {type(d).__name__}")
    return Funds(
        available_cash=parse_decimal(d.get("availablecash"), "availablecash", ctx=ctx),
        collateral=_opt_decimal(d, "collateral", ctx),
        realized_pnl=_opt_decimal(d, "m2mrealized", ctx),
        unrealized_pnl=_opt_decimal(d, "m2munrealized", ctx),
        utilised=_opt_decimal(d, "utiliseddebits", ctx),
    )


def trade_from_dict(d: Any, *, ctx: str = "tradebook") -> Trade:
    if not isinstance(d, Mapping):
        raise ValueError(f"{ctx}: expected an object, got {type(d).__name__}")
    return Trade(
        order_id=_str_field(d, "orderid", ctx, "order_id"),
        symbol=_str_field(d, "symbol", ctx),
        exchange=_str_field(d, "exchange", ctx).upper(),
        action=parse_action(d.get("action"), ctx=ctx),
        quantity=parse_int(d.get("quantity"), "quantity", ctx=ctx),
        average_price=_opt_decimal(d, "average_price", ctx),
        timestamp=parse_timestamp(d.get("timestamp"), ctx=ctx),
    )


def _bar_values(d: Any, ctx: str) -> tuple[Decimal, Decimal, Decimal, Decimal, int]:
    if not isinstance(d, Mapping):
        raise ValueError(f"{ctx}: expected an object, got {type(d).__name__}")
    o, h, lo, c = (parse_decimal(d.get(k), k, ctx=ctx) for k in ("open", "high", "low", "close"))
    if not lo <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"{ctx}: inconsistent OHLC (open {o}, high {h}, low {lo}, close {c})")
    vol = d.get("volume")
    volume = 0 if vol in (None, "") else parse_int(vol, "volume", ctx=ctx)
    return o, h, lo, c, volume


def _history_ts(value: Any, ctx: str) -> datetime:
    ts = parse_timestamp(value, ctx=ctx)
    if ts is None:
        raise ValueError(f"{_where(ctx, 'timestamp')}: missing")
    return ts


def bar_from_dict(d: Any, *, ctx: str = "history") -> Bar:
    """A daily candle. Brokers stamp daily bars variously: UTC midnight of the
    IST date (Zerodha adds 5:30 before converting to epoch), IST midnight, or
    a time during the session. Read in IST, all of those land on the right
    date (05:30, 00:00, 09:15 ...), whereas a UTC reading of IST midnight
    would give the previous day. So the date is the IST date."""
    o, h, lo, c, v = _bar_values(d, ctx)
    return Bar(
        day=_history_ts(d.get("timestamp"), ctx).date(), open=o, high=h, low=lo, close=c, volume=v
    )


def candle_from_dict(d: Any, *, ctx: str = "history") -> Candle:
    """An intraday candle: epoch seconds are UTC instants, shown in IST."""
    o, h, lo, c, v = _bar_values(d, ctx)
    return Candle(
        ts=_history_ts(d.get("timestamp"), ctx), open=o, high=h, low=lo, close=c, volume=v
    )


# NSE/BSE cash-market ticks are known from the price; other segments are not.
_EQUITY_EXCHANGES = frozenset({"NSE", "BSE"})
# A rupee tick above this fraction of the price is implausible (the coarsest
# real ones, e.g. ₹5 above ₹20,000 or ₹1 on MCX crude, stay below it).
_MAX_TICK_FRACTION = Decimal("0.00025")


def sane_tick_size(
    raw: Any, reference_price: Decimal | None, exchange: str, *, ctx: str = "symbol.tick_size"
) -> Decimal:
    """The broker's ``tick_size`` in rupees, converting paise when the
    evidence says so. Some brokers' masters give ``5`` meaning ₹0.05.

    Evidence, strongest first: the reference price lies on the paise grid but
    not the rupee grid; for NSE/BSE equities, the exchange's band tick for
    the price; a rupee tick implausibly large relative to the price. With no
    reference price a whole-number tick cannot be verified: that raises, and
    the fix is a per-symbol override.
    """
    tick = parse_decimal(raw, ctx)
    if tick <= 0:
        raise ValueError(f"{ctx}: {tick} must be > 0")
    looks_like_paise = tick >= 1 and tick == tick.to_integral_value()
    if not looks_like_paise:
        if reference_price is not None and tick >= reference_price:
            raise ValueError(
                f"{ctx}: {tick} is not below the price {reference_price}; "
                "pass a tick_sizes override for this symbol"
            )
        return tick
    if reference_price is None or reference_price <= 0:
        raise ValueError(
            f"{ctx}: {tick} may be in paise (₹{tick / 100}) and no price is known to check it; "
            "pass a tick_sizes override for this symbol"
        )
    paise = tick / 100
    on_rupee = reference_price % tick == 0
    on_paise = reference_price % paise == 0
    if on_paise and not on_rupee:
        return paise
    if exchange.upper() in _EQUITY_EXCHANGES:
        expected = TickTable.nse_equity().tick_for(reference_price)
        if paise == expected:
            return paise
        if tick == expected:
            return tick
    if tick / reference_price > _MAX_TICK_FRACTION:
        return paise
    return tick


# --- the adapter ----------------------------------------------------------------


class _ApiKey:
    """Holds the key so that no repr, log line or traceback can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<api key hidden>"

    __str__ = __repr__


class _Kind:
    READ = "read"
    ORDER = "order"
    NOTIFY = "notify"


# An order endpoint said "no": that is a rejection, not a malformed request.
_REJECT_CODES = frozenset({400, 200, 409, 422})


class OpenAlgoBroker:
    """``live.broker.Broker`` over OpenAlgo REST. Thread-safe: the session's
    connection pool, the limiters and the counters are shared by the feed,
    poller and strategy threads; nothing here holds a lock during I/O."""

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
        if not isinstance(host, str) or not host.startswith(("http://", "https://")):
            raise ValueError(f"host: {host!r} must be an http(s) URL, e.g. http://127.0.0.1:5000")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key: empty; set it in the environment (broker.api_key_env)")
        if not isinstance(strategy, str) or not strategy.strip():
            raise ValueError("strategy: must be a non-empty tag for our orders")
        self.host = host.rstrip("/")
        self._key = _ApiKey(api_key.strip())
        self.strategy = strategy
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.ambiguity = ambiguity or AmbiguityPolicy()
        self.clock: Clock = clock or WallClock()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limits = rate_limits or RateLimits()
        self.limiters = RateLimiters(self._limits, monotonic=monotonic, sleep=sleep)
        if session is None:
            session = requests.Session()
            # max_retries=0: urllib3 must never resend a POST on its own.
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self._lock = threading.Lock()  # counters, caches, in-flight set; never held during I/O
        self._calls: Counter[str] = Counter()
        self._n = Counter()
        self._known_ids: set[str] = set()
        self._inflight: Counter[tuple] = Counter()
        self._ticks: dict[str, Decimal] = {}
        self._tick_overrides: dict[str, Decimal] = {}
        for key, tick in (tick_sizes or {}).items():
            t = parse_decimal(tick, key, ctx="tick_sizes")
            if t <= 0:
                raise ValueError(f"tick_sizes.{key}: must be > 0, got {t}")
            self._tick_overrides[key.strip().upper()] = t

    def __repr__(self) -> str:
        return f"OpenAlgoBroker(host={self.host!r}, strategy={self.strategy!r})"

    def close(self) -> None:
        self.session.close()

    # --- counters -------------------------------------------------------------

    def counters(self) -> BrokerCounters:
        with self._lock:
            return BrokerCounters(
                calls=dict(self._calls),
                rate_limited=self._n["rate_limited"],
                retries=self._n["retries"],
                ambiguous_recovered=self._n["ambiguous_recovered"],
                ambiguous_unresolved=self._n["ambiguous_unresolved"],
                notify_failures=self._n["notify_failures"],
                rows_skipped=self._n["rows_skipped"],
            )

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._n[name] += n

    # --- transport ------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, "***") if key else text

    def _post(self, endpoint: str, payload: Mapping[str, Any], kind: str) -> dict:
        """One HTTP exchange, classified. Transient errors carry
        ``request_sent``: False only when the request provably never left
        (connection refused / connect timeout / local rate limit)."""
        limiter = self.limiters.for_endpoint(endpoint)
        try:
            limiter.acquire()
        except RateLimitExceeded as e:
            err = RateLimited(f"{endpoint}: client-side {e}", retry_after=e.wait, code=None)
            err.request_sent = False
            raise err from None
        with self._lock:
            self._calls[endpoint] += 1
        read = self.timeouts.order if kind == _Kind.ORDER else self.timeouts.read
        body = {"apikey": self._key.reveal(), **payload}
        url = f"{self.host}/api/v1/{endpoint}"
        try:
            resp = self.session.post(url, json=body, timeout=(self.timeouts.connect, read))
        except requests.ConnectTimeout:
            err = BrokerTimeout(f"{endpoint}: connect timeout after {self.timeouts.connect}s")
            err.request_sent = False
            raise err from None
        except requests.ReadTimeout:
            err = BrokerTimeout(f"{endpoint}: no reply within {read}s (request was sent)")
            err.request_sent = True
            raise err from None
        except requests.ConnectionError as e:
            sent = not _never_connected(e)
            what = "connection lost after sending" if sent else "cannot connect"
            err = TransientBrokerError(f"{endpoint}: {what}: {type(e).__name__}")
            err.request_sent = sent
            raise err from None
        except requests.RequestException as e:
            err = TransientBrokerError(f"{endpoint}: HTTP failure {type(e).__name__}")
            err.request_sent = True
            raise err from None
        return self._classify(endpoint, resp, kind)

    def _classify(self, endpoint: str, resp: requests.Response, kind: str) -> dict:
        code = resp.status_code
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = None
        message = self._scrub(str((data or {}).get("message") or resp.reason or "").strip())[:300]
        if code == 429:
            retry_after = _retry_after(data, resp.headers)
            self._count("rate_limited")
            penalty = min(retry_after, self._limits.retry_after_cap) if retry_after else 1.0
            self.limiters.for_endpoint(endpoint).penalize(penalty)
            log.warning(
                "RATE_LIMITED endpoint=%s retry_after=%s backing_off=%.2fs",
                endpoint,
                retry_after,
                penalty,
            )
            err = RateLimited(f"{endpoint}: HTTP 429 {message}", retry_after=retry_after)
            err.request_sent = False  # the limiter answers before the handler runs
            raise err
        if code >= 500:
            err = TransientBrokerError(f"{endpoint}: HTTP {code} {message}", code=code)
            err.request_sent = True
            raise err
        if data is None:
            if code == 200:
                err = TransientBrokerError(f"{endpoint}: reply is not a JSON object", code=code)
                err.request_sent = True
                raise err
            raise InvalidRequest(f"{endpoint}: HTTP {code} {message}", code=code)
        status = str(data.get("status", "")).lower()
        if code == 200 and status == "success":
            return data
        if code == 200 and status not in ("error", "failed", "failure"):
            err = TransientBrokerError(
                f"{endpoint}: HTTP 200 with status {data.get('status')!r}", code=code
            )
            err.request_sent = True
            raise err
        if kind == _Kind.ORDER and code in _REJECT_CODES:
            raise OrderRejected(f"{endpoint}: {message or 'rejected'}", code=code)
        raise InvalidRequest(f"{endpoint}: HTTP {code} {message}", code=code)

    def _read(self, endpoint: str, payload: Mapping[str, Any] | None = None) -> dict:
        """A call with no side effect: retried on transient failure with
        bounded exponential backoff and jitter; a 429's retry_after is
        honoured by the class limiter, which the next attempt waits on."""
        payload = payload or {}
        for attempt in range(self.retry.attempts):
            try:
                return self._post(endpoint, payload, _Kind.READ)
            except TransientBrokerError as e:
                client_side = isinstance(e, RateLimited) and e.code is None
                if client_side or attempt + 1 >= self.retry.attempts:
                    raise
                self._count("retries")
                delay = self.retry.delay(attempt, self._rng.random())
                log.info(
                    "RETRY endpoint=%s attempt=%d in=%.3fs: %s", endpoint, attempt + 1, delay, e
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

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

    @staticmethod
    def _shape(request: OrderRequest) -> tuple:
        return (
            request.exchange,
            request.symbol,
            request.action,
            request.quantity,
            request.price_type,
            request.price,
            request.trigger_price,
        )

    def remember_orders(self, order_ids: Iterable[str]) -> None:
        """Tell the adapter about order ids it did not place in this process
        (from the journal after a restart), so an ambiguous-placement lookup
        can never claim one of them."""
        with self._lock:
            self._known_ids.update(str(i) for i in order_ids)

    def place_order(self, request: OrderRequest) -> str:
        payload = self._order_payload(request)
        shape = self._shape(request)
        started = self.clock.now()
        with self._lock:
            self._inflight[shape] += 1
        try:
            try:
                reply = self._post("placeorder", payload, _Kind.ORDER)
                order_id = str(reply.get("orderid") or "").strip()
                if not order_id:
                    err = TransientBrokerError("placeorder: success reply without an orderid")
                    err.request_sent = True
                    raise err
            except TransientBrokerError as e:
                if not getattr(e, "request_sent", True):
                    raise  # provably never reached the server: nothing to look for
                order_id = self._find_placed(request, started, e)
            with self._lock:
                self._known_ids.add(order_id)
            log.info(
                "ORDER_PLACED id=%s %s %s %s x%d",
                order_id,
                request.key,
                request.action.value,
                request.price_type.value,
                request.quantity,
            )
            return order_id
        finally:
            with self._lock:
                self._inflight[shape] -= 1
                if not self._inflight[shape]:
                    del self._inflight[shape]

    def _find_placed(self, request: OrderRequest, started: datetime, cause: BrokerError) -> str:
        """After an ambiguous placement: look for the order in the orderbook.
        Never guesses: several candidates, a concurrent identical placement or
        an unreadable orderbook all end in AmbiguousOrderError."""
        log.warning("ORDER_AMBIGUOUS %s: %s; looking in the orderbook", request.key, cause)
        since = started - timedelta(seconds=self.ambiguity.clock_skew)
        shape = self._shape(request)
        last_problem = "no matching order"
        for attempt in range(self.ambiguity.lookups):
            if attempt:
                self._sleep(self.ambiguity.delay)
            try:
                rows = self._orderbook_rows()
            except BrokerError as e:
                last_problem = f"orderbook unreadable: {e}"
                continue
            with self._lock:
                known = set(self._known_ids)
                concurrent = self._inflight[shape] > 1
            found = _matching_orders(rows, request, self.strategy, since, known)
            if concurrent and found:
                # Another thread is placing the same order right now: the
                # match may be theirs. Let it finish (its id becomes known).
                last_problem = "an identical placement is in flight"
                continue
            if len(found) == 1:
                self._count("ambiguous_recovered")
                log.warning(
                    "ORDER_RECOVERED id=%s %s found in the orderbook", found[0], request.key
                )
                return found[0]
            if len(found) > 1:
                last_problem = f"{len(found)} matching orders {found}"
                break
        self._count("ambiguous_unresolved")
        raise AmbiguousOrderError(
            f"placeorder {request.key} {request.action.value} x{request.quantity}: outcome "
            f"unknown ({cause}); {last_problem}; reconcile before placing again",
            code=cause.code,
        ) from cause

    def modify_order(self, order_id: str, request: OrderRequest) -> None:
        """Not retried: on a transient error the caller reconciles (the
        modification may or may not have reached the broker)."""
        payload = self._order_payload(request)
        self._post("modifyorder", {"orderid": _order_id(order_id), **payload}, _Kind.ORDER)

    def cancel_order(self, order_id: str) -> None:
        self._post(
            "cancelorder", {"orderid": _order_id(order_id), "strategy": self.strategy}, _Kind.ORDER
        )

    # --- reads ----------------------------------------------------------------

    def order_status(self, order_id: str) -> OrderUpdate:
        reply = self._read(
            "orderstatus", {"orderid": _order_id(order_id), "strategy": self.strategy}
        )
        return _convert(
            order_update_from_dict, reply.get("data"), source="orderstatus", ctx="orderstatus.data"
        )

    def _orderbook_rows(self) -> list:
        data = self._read("orderbook").get("data")
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
        """Every parseable order. A malformed row (often another app's order
        in a state we do not model) is logged, counted and skipped rather than
        failing the whole book."""
        return self._rows(
            self._orderbook_rows(),
            "orderbook.data.orders",
            lambda d, ctx: order_update_from_dict(d, source="orderbook", ctx=ctx),
        )

    def tradebook(self) -> list[Trade]:
        data = self._read("tradebook").get("data") or []
        return self._rows(
            _as_list(data, "tradebook.data"),
            "tradebook.data",
            lambda d, ctx: trade_from_dict(d, ctx=ctx),
        )

    def positions(self) -> list[Position]:
        data = self._read("positionbook").get("data") or []
        return self._rows(
            _as_list(data, "positionbook.data"),
            "positionbook.data",
            lambda d, ctx: position_from_dict(d, ctx=ctx),
        )

    def _rows(self, rows: list, ctx: str, convert: Callable[[Any, str], Any]) -> list:
        out = []
        for i, row in enumerate(rows):
            try:
                out.append(convert(row, f"{ctx}[{i}]"))
            except ValueError as e:
                self._count("rows_skipped")
                log.warning("ROW_SKIPPED %s", e)
        return out

    def funds(self) -> Funds:
        return _convert(funds_from_dict, self._read("funds").get("data"), ctx="funds.data")

    def quote(self, symbol: str, exchange: str) -> Quote:
        reply = self._read("quotes", {"symbol": symbol, "exchange": exchange})
        d = reply.get("data")
        if not isinstance(d, Mapping):
            raise BrokerError("quotes.data: expected an object")
        ltp = _convert(parse_decimal, d.get("ltp"), "ltp", ctx="quotes.data")
        extra = {}
        for k in ("open", "high", "low", "prev_close", "bid", "ask"):
            if d.get(k) not in (None, ""):
                extra[k] = _convert(parse_decimal, d.get(k), k, ctx="quotes.data")
        return Quote(symbol=symbol, exchange=exchange, ltp=ltp, extra=extra)

    def _history(self, symbol: str, exchange: str, interval: str, start: date, end: date) -> list:
        if start > end:
            raise ValueError(f"start: {start} is after end {end}")
        reply = self._read(
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
        reply = self._read("symbol", {"symbol": symbol, "exchange": exchange})
        d = reply.get("data")
        if not isinstance(d, Mapping):
            raise BrokerError("symbol.data: expected an object")
        key = f"{exchange}:{symbol}".upper()
        lot = d.get("lotsize", d.get("lot_size"))
        lot_size = 1
        if lot not in (None, ""):
            lot_size = _convert(parse_int, lot, "lotsize", ctx="symbol.data")
        if lot_size <= 0:
            raise BrokerError(f"symbol.data.lotsize: {lot_size} must be > 0")
        with self._lock:
            override = self._tick_overrides.get(key)
        if override is not None:
            tick = override
        else:
            raw = d.get("tick_size")
            raw_dec = _convert(parse_decimal, raw, "tick_size", ctx="symbol.data")
            ref = reference_price
            if ref is None and raw_dec >= 1:
                ref = self._reference_price(symbol, exchange)
            try:
                tick = sane_tick_size(raw, ref, exchange, ctx=f"symbol.data.tick_size ({key})")
            except ValueError as e:
                raise InvalidRequest(str(e)) from None
            if tick != raw_dec:
                log.warning(
                    "TICK_SIZE_PAISE %s broker gave %s, using ₹%s (price %s)", key, raw, tick, ref
                )
        with self._lock:
            self._ticks[key] = tick
        return Instrument(
            symbol=symbol,
            exchange=exchange,
            tick_size=tick,
            lot_size=lot_size,
            name=str(d.get("name") or ""),
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
            reply = self._read("market/holidays", {"year": int(year)})
        except InvalidRequest as e:
            if e.code == 404:
                return None
            raise
        days = set()
        for i, row in enumerate(_as_list(reply.get("data") or [], "market/holidays.data")):
            if not isinstance(row, Mapping):
                continue
            closed = [str(x).upper() for x in (row.get("closed_exchanges") or [])]
            if exchange.upper() not in closed:
                continue
            try:
                days.add(date.fromisoformat(str(row.get("date"))))
            except ValueError:
                raise BrokerError(
                    f"market/holidays.data[{i}].date: {row.get('date')!r} is not YYYY-MM-DD"
                ) from None
        return frozenset(days)

    def timings(self, day: date, exchange: str = "NSE") -> tuple[datetime, datetime] | None:
        """(open, close) of ``exchange`` on ``day`` as aware IST datetimes;
        None when the endpoint is missing (404) or the exchange is closed."""
        try:
            reply = self._read("market/timings", {"date": day.isoformat()})
        except InvalidRequest as e:
            if e.code == 404:
                return None
            raise
        for row in _as_list(reply.get("data") or [], "market/timings.data"):
            if isinstance(row, Mapping) and str(row.get("exchange", "")).upper() == exchange:
                start = parse_timestamp(row.get("start_time"), "start_time", ctx="market/timings")
                end = parse_timestamp(row.get("end_time"), "end_time", ctx="market/timings")
                if start and end:
                    return start, end
        return None

    def notify(self, message: str, *, username: str, priority: int = 5) -> bool:
        """Best effort Telegram alert: failures are logged and counted, never
        raised into trading code. Not retried."""
        try:
            self._post(
                "telegram/notify",
                {"username": username, "message": str(message), "priority": int(priority)},
                _Kind.NOTIFY,
            )
            return True
        except Exception as e:  # noqa: BLE001 - an alert must never break trading
            self._count("notify_failures")
            log.warning("NOTIFY_FAILED %s", self._scrub(str(e)))
            return False


# --- helpers ----------------------------------------------------------------------


def _order_id(order_id: Any) -> str:
    s = str(order_id or "").strip()
    if not s:
        raise ValueError("order_id: empty; pass the broker's order id")
    return s


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


def _retry_after(data: Mapping | None, headers: Mapping) -> float | None:
    for raw in ((data or {}).get("retry_after"), headers.get("Retry-After")):
        try:
            if raw is not None:
                return max(float(raw), 0.0)
        except (TypeError, ValueError):
            continue
    return None


def _never_connected(e: requests.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused, DNS, connect
    timeout): then the request cannot have reached the server."""
    import urllib3.exceptions as u3

    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, u3.NewConnectionError | u3.ConnectTimeoutError | ConnectionRefusedError):
            return True
        if isinstance(cur, u3.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False


def _matching_orders(
    rows: list, request: OrderRequest, strategy: str, since: datetime, known: set[str]
) -> list[str]:
    """Ids of orderbook rows that could be the lost placement."""
    # Brokers that keep the tag show it on our other orders; brokers that
    # overwrite it (Zerodha: "openalgo") show it on none, and then it says nothing.
    keeps_tags = any(isinstance(r, Mapping) and r.get("strategy") == strategy for r in rows)
    found = []
    for i, row in enumerate(rows):
        try:
            u = order_update_from_dict(row, source="orderbook", ctx=f"orderbook[{i}]")
        except ValueError:
            continue
        if u.order_id in known:
            continue
        if keeps_tags and row.get("strategy") != strategy:
            continue
        if (u.symbol.upper(), u.exchange) != (request.symbol.upper(), request.exchange.upper()):
            continue
        if u.action is not request.action or u.quantity != request.quantity:
            continue
        if u.price_type is not request.price_type:
            continue
        if request.price is not None and u.price != request.price:
            continue
        if request.trigger_price is not None and u.trigger_price != request.trigger_price:
            continue
        if u.timestamp is not None and u.timestamp < since:
            continue
        found.append(u.order_id)
    return found
