"""OpenAlgo JSON -> ``live.broker`` types: the one place that reads OpenAlgo's field names.

Replies differ by broker and by mode (live vs sandbox/"analyze"): numbers come
as strings or floats, ``pricetype`` or ``price_type``, timestamps as
``DD-Mon-YYYY HH:MM:SS`` IST, ISO or epoch, filled quantity present or not.
The REST adapter and the WebSocket feed both read orders through
``order_update_from_dict`` so the two paths can never disagree.

Every parser here is total: given any JSON-ish value (wrong types, missing
keys, huge numbers, NaN, far-away timestamps) it returns a value that keeps
its type's invariants or raises ``ValueError`` whose message starts with the
path of the offending field. Nothing else escapes: callers rely on that to
skip one bad row instead of losing a whole orderbook, and to keep a feed
thread alive. ``tests/wire/test_hostile_input.py`` holds them to it.

The bounds below are far outside anything a real market produces; they
exist so that arithmetic on a parsed value can never blow up (``int()`` of
``1e9999999`` takes minutes; ``fromtimestamp(1e300)`` raises OverflowError).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from live.broker import Action, Bar, Funds, OrderStatus, OrderUpdate, Position, PriceType, Product
from live.clock import IST
from live.ticks import TickTable

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_AMOUNT",
    "MAX_QUANTITY",
    "MAX_VOLUME",
    "Candle",
    "Trade",
    "bar_from_dict",
    "candle_from_dict",
    "epoch_to_ist",
    "funds_from_dict",
    "order_id_of",
    "order_update_from_dict",
    "parse_action",
    "parse_decimal",
    "parse_int",
    "parse_price_type",
    "parse_status",
    "parse_timestamp",
    "position_from_dict",
    "sane_tick_size",
    "trade_from_dict",
]

MAX_AMOUNT = Decimal(10) ** 15  # rupees (funds, prices, P&L) and epoch milliseconds
MAX_QUANTITY = 10**9  # units in one order or position
MAX_VOLUME = 10**15  # a bar's traded volume
EARLIEST = datetime(1980, 1, 1, tzinfo=IST)
LATEST = datetime(2100, 1, 1, tzinfo=IST)
_MAX_TEXT = 64  # characters in a number or timestamp string
_MAX_NAME = 100  # characters in an id, symbol or exchange


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


def _where(ctx: str, name: str) -> str:
    return f"{ctx}.{name}" if ctx else name


def _show(value: Any) -> str:
    """A value for an error message: hostile input can be megabytes."""
    text = repr(value) if isinstance(value, str | int | float | Decimal) else type(value).__name__
    return text if len(text) <= 60 else f"{text[:57]}..."


def _object(d: Any, ctx: str) -> Mapping:
    if not isinstance(d, Mapping):
        raise ValueError(f"{ctx}: expected an object, got {type(d).__name__}")
    return d


# --- scalars ----------------------------------------------------------------------


def parse_decimal(value: Any, name: str, *, ctx: str = "", limit: Decimal = MAX_AMOUNT) -> Decimal:
    """A number that arrived as str/int/float -> Decimal via its decimal text
    (``Decimal(str(511.95))`` is ``511.95``, never binary noise); finite and
    below ``limit`` in magnitude."""
    where = _where(ctx, name)
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{where}: missing or empty, expected a number")
    if isinstance(value, int) and not -limit < value < limit:
        raise ValueError(f"{where}: {_show(value)} is out of range (magnitude < {limit})")
    if isinstance(value, Decimal | int | float | str):
        text = str(value).strip()
        if len(text) > _MAX_TEXT:
            raise ValueError(f"{where}: {_show(value)} is too long for a number")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{where}: {_show(value)} is not a number") from None
    else:
        raise ValueError(f"{where}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{where}: {_show(value)} is not a finite number")
    if not -limit < result < limit:
        raise ValueError(f"{where}: {_show(value)} is out of range (magnitude < {limit})")
    return result


def _opt_decimal(d: Mapping, name: str, ctx: str, *, signed: bool = True) -> Decimal:
    v = d.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        return Decimal(0)
    result = parse_decimal(v, name, ctx=ctx)
    if not signed and result < 0:
        raise ValueError(f"{_where(ctx, name)}: {_show(v)} must be >= 0")
    return result


def parse_int(
    value: Any, name: str, *, ctx: str = "", lo: int = -MAX_QUANTITY, hi: int = MAX_QUANTITY
) -> int:
    """Quantities: "10", 10, 10.0 and "10.0" are 10; 10.5 is an error, and so
    is anything outside ``lo..hi``."""
    limit = Decimal(max(abs(lo), abs(hi)) + 1)
    d = parse_decimal(value, name, ctx=ctx, limit=limit)
    if d != d.to_integral_value():
        raise ValueError(f"{_where(ctx, name)}: {_show(value)} is not a whole number")
    n = int(d)
    if not lo <= n <= hi:
        raise ValueError(f"{_where(ctx, name)}: {n} is outside {lo}..{hi}")
    return n


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
        raise ValueError(f"{where}: missing or not a string ({_show(raw)})")
    status = _STATUS_WORDS.get(_norm(raw))
    if status is None:
        raise ValueError(
            f"{where}: unknown status {_show(raw)}; expected one of open, trigger pending, "
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
    raise ValueError(f"{_where(ctx, 'action')}: {_show(raw)} is not BUY or SELL")


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


def _text(d: Mapping, name: str, ctx: str, *alts: str, numbers: bool = False) -> str:
    """A non-empty string field (ids may arrive as JSON numbers: ``numbers``)."""
    for key in (name, *alts):
        v = d.get(key)
        if v is None:
            continue
        if numbers and isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            raise ValueError(f"{_where(ctx, key)}: expected text, got {type(v).__name__}")
        s = v.strip()
        if len(s) > _MAX_NAME:
            raise ValueError(f"{_where(ctx, key)}: {_show(s)} is longer than {_MAX_NAME}")
        if s:
            return s
    raise ValueError(f"{_where(ctx, name)}: missing or empty")


def order_id_of(value: Any, name: str = "orderid", *, ctx: str = "") -> str:
    """A broker order id from a reply (text or a JSON number)."""
    return _text({name: value}, name, ctx, numbers=True)


# --- timestamps -------------------------------------------------------------------

_EARLIEST_S = Decimal(int(EARLIEST.timestamp()))
_LATEST_S = Decimal(int(LATEST.timestamp()))
_MS_ABOVE = Decimal(10) ** 11  # epoch seconds reach 1e11 only in the year 5138


def epoch_to_ist(value: Any, name: str = "timestamp", *, ctx: str = "") -> datetime:
    """Epoch seconds or milliseconds (told apart by size) -> aware IST."""
    secs = parse_decimal(value, name, ctx=ctx)
    if secs > _MS_ABOVE:
        secs = secs / 1000
    if not _EARLIEST_S <= secs < _LATEST_S:
        raise ValueError(
            f"{_where(ctx, name)}: {_show(value)} is not an epoch time within "
            f"{EARLIEST.year}..{LATEST.year - 1} (seconds or milliseconds)"
        )
    return datetime.fromtimestamp(float(secs), IST)


_TS_FORMATS = ("%d-%b-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S")


def parse_timestamp(value: Any, name: str = "timestamp", *, ctx: str = "") -> datetime | None:
    """OpenAlgo timestamps -> aware IST datetime; None when absent (or 0,
    which some brokers send for "not yet").

    Live replies use ``DD-Mon-YYYY HH:MM:SS`` in IST, the sandbox
    ``YYYY-MM-DD HH:MM:SS`` (IST), some ISO with an offset, some epoch
    seconds or milliseconds. Naive text is IST (the server's local time).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    where = _where(ctx, name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None if value == 0 else epoch_to_ist(value, name, ctx=ctx)
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a timestamp string, got {type(value).__name__}")
    text = value.strip()
    if len(text) > _MAX_TEXT:
        raise ValueError(f"{where}: {_show(value)} is too long for a timestamp")
    if text.isascii() and text.isdigit():  # epoch seconds or milliseconds sent as a string
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
                f"{where}: {_show(value)} is neither 'DD-Mon-YYYY HH:MM:SS' nor ISO 8601"
            ) from None
    # Checked before converting: astimezone() overflows at the calendar's ends.
    if not EARLIEST.year <= ts.year < LATEST.year:
        raise ValueError(f"{where}: {_show(value)} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return ts.replace(tzinfo=IST) if ts.tzinfo is None else ts.astimezone(IST)


# --- rows ---------------------------------------------------------------------------


def order_update_from_dict(d: Any, *, source: str, ctx: str = "") -> OrderUpdate:
    """One order as OpenAlgo describes it (orderstatus ``data``, an orderbook
    row, or a WebSocket ``order_update``) -> OrderUpdate.

    ``filled_quantity`` stays None when the reply does not carry it (live
    orderstatus): it is never derived from ``pending_quantity``, because some
    brokers report pending 0 for a cancelled order, which would read as filled.
    """
    ctx = ctx or source
    d = _object(d, ctx)
    order_id = _text(d, "orderid", ctx, "order_id", numbers=True)
    quantity = parse_int(d.get("quantity"), "quantity", ctx=ctx, lo=0)
    fq_raw = d.get("filled_quantity")
    filled = None
    if fq_raw is not None and not (isinstance(fq_raw, str) and not fq_raw.strip()):
        filled = parse_int(fq_raw, "filled_quantity", ctx=ctx, lo=0)
        if filled > quantity:
            raise ValueError(
                f"{_where(ctx, 'filled_quantity')}: {filled} outside 0..quantity ({quantity})"
            )
    raw_status = d.get("order_status", d.get("status"))
    status = parse_status(raw_status, quantity, filled, ctx=ctx)
    reason = d.get("rejection_reason")
    return OrderUpdate(
        order_id=order_id,
        symbol=_text(d, "symbol", ctx),
        exchange=_text(d, "exchange", ctx).upper(),
        action=parse_action(d.get("action"), ctx=ctx),
        status=status,
        quantity=quantity,
        filled_quantity=filled,
        average_price=_opt_decimal(d, "average_price", ctx, signed=False),
        price=_opt_decimal(d, "price", ctx, signed=False),
        trigger_price=_opt_decimal(d, "trigger_price", ctx, signed=False),
        price_type=parse_price_type(d.get("pricetype", d.get("price_type"))),
        # Informative only: any shape is kept as text rather than refusing the update.
        rejection_reason=reason if isinstance(reason, str) else "" if not reason else _show(reason),
        timestamp=parse_timestamp(d.get("timestamp"), ctx=ctx),
        source=source,
    )


def _parse_product(raw: Any, ctx: str) -> Product:
    s = raw.strip().upper() if isinstance(raw, str) else ""
    try:
        return Product(s)
    except ValueError:
        raise ValueError(
            f"{_where(ctx, 'product')}: {_show(raw)} is not MIS, CNC or NRML"
        ) from None


def position_from_dict(d: Any, *, ctx: str = "positionbook") -> Position:
    d = _object(d, ctx)
    return Position(
        symbol=_text(d, "symbol", ctx),
        exchange=_text(d, "exchange", ctx).upper(),
        product=_parse_product(d.get("product"), ctx),
        quantity=parse_int(d.get("quantity"), "quantity", ctx=ctx),
        average_price=_opt_decimal(d, "average_price", ctx),
        ltp=_opt_decimal(d, "ltp", ctx),
        pnl=_opt_decimal(d, "pnl", ctx),
    )


def funds_from_dict(d: Any, *, ctx: str = "funds.data") -> Funds:
    d = _object(d, ctx)
    return Funds(
        available_cash=parse_decimal(d.get("availablecash"), "availablecash", ctx=ctx),
        collateral=_opt_decimal(d, "collateral", ctx),
        realized_pnl=_opt_decimal(d, "m2mrealized", ctx),
        unrealized_pnl=_opt_decimal(d, "m2munrealized", ctx),
        utilised=_opt_decimal(d, "utiliseddebits", ctx),
    )


def trade_from_dict(d: Any, *, ctx: str = "tradebook") -> Trade:
    d = _object(d, ctx)
    return Trade(
        order_id=_text(d, "orderid", ctx, "order_id", numbers=True),
        symbol=_text(d, "symbol", ctx),
        exchange=_text(d, "exchange", ctx).upper(),
        action=parse_action(d.get("action"), ctx=ctx),
        quantity=parse_int(d.get("quantity"), "quantity", ctx=ctx, lo=0),
        average_price=_opt_decimal(d, "average_price", ctx, signed=False),
        timestamp=parse_timestamp(d.get("timestamp"), ctx=ctx),
    )


def _bar_values(d: Any, ctx: str) -> tuple[Decimal, Decimal, Decimal, Decimal, int]:
    d = _object(d, ctx)
    o, h, lo, c = (parse_decimal(d.get(k), k, ctx=ctx) for k in ("open", "high", "low", "close"))
    if not lo <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"{ctx}: inconsistent OHLC (open {o}, high {h}, low {lo}, close {c})")
    vol = d.get("volume")
    volume = 0 if vol in (None, "") else parse_int(vol, "volume", ctx=ctx, lo=0, hi=MAX_VOLUME)
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


# --- instruments ----------------------------------------------------------------------

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
