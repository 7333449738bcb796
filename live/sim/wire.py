"""OpenAlgo's JSON, as the simulator speaks it: request validation (the
server's marshmallow schemas, reproduced) and reply shapes (the live,
non-sandbox shapes: numbers as floats rounded to 2 places, quantities as
ints, funds as "%.2f" strings, order timestamps "DD-Mon-YYYY HH:MM:SS")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation

from live.broker import Action, OrderRequest, PriceType, Product

from .engine import Modification
from .models import (
    FundsView,
    OrderEvent,
    OrderView,
    PositionView,
    SimHolding,
    SimInstrument,
    Trade,
)

__all__ = [
    "SchemaError",
    "SmartOrder",
    "parse_place",
    "parse_modify",
    "parse_smart",
    "parse_bool",
    "order_json",
    "update_json",
]

# utils/constants.py VALID_EXCHANGES, in its order (the order of the
# "Must be one of: ..." messages); checked against the server mid-2026.
VALID_EXCHANGES = (
    "NSE",
    "NFO",
    "CDS",
    "BSE",
    "BFO",
    "BCD",
    "MCX",
    "NCDEX",
    "NCO",
    "NSE_INDEX",
    "BSE_INDEX",
    "MCX_INDEX",
    "GLOBAL_INDEX",
    "CRYPTO",
)


class SchemaError(ValueError):
    """A request failed validation; ``messages`` maps field -> [problems].
    Order endpoints render it like marshmallow's ``str(err.messages)``; the
    data endpoints (``raw=True``) send the mapping itself, as the server's
    restx resources do."""

    def __init__(self, messages: dict[str, list[str]], *, raw: bool = False):
        super().__init__(str(messages))
        self.messages = messages
        self.raw = raw

    @property
    def reply_message(self):
        return self.messages if self.raw else str(self.messages)


def _num(v) -> float:
    return round(float(v), 2)


def ts_str(dt: datetime) -> str:
    return dt.strftime("%d-%b-%Y %H:%M:%S")


def _decimal(payload: Mapping, name: str, errors: dict, *, required: bool) -> Decimal:
    if name not in payload or payload[name] in (None, ""):
        if required:
            errors[name] = ["Missing data for required field."]
        return Decimal(0)
    raw = payload[name]
    try:
        if isinstance(raw, bool):
            raise InvalidOperation
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        errors[name] = ["Not a valid number."]
        return Decimal(0)
    if not value.is_finite() or value < 0:
        errors[name] = [f"{name.replace('_', ' ').capitalize()} must be a non-negative number."]
        return Decimal(0)
    return value


def _quantity(payload: Mapping, errors: dict) -> int:
    q = _decimal(payload, "quantity", errors, required=True)
    if "quantity" in errors:
        return 0
    if q <= 0:
        errors["quantity"] = ["Quantity must be a positive number."]
    elif q != q.to_integral_value():
        errors["quantity"] = [f"Fractional quantity ({q}) is not allowed for non-crypto exchanges."]
    return int(q)


def _choice(payload, name, options, errors, default=None, upper=False):
    v = payload.get(name, default)
    if v is None:
        errors[name] = ["Missing data for required field."]
        return None
    v = str(v)
    if upper:
        v = v.upper()
    if v not in options:
        errors[name] = [f"Must be one of: {', '.join(options)}."]
        return None
    return v


def _common(payload: Mapping, errors: dict, *, modify: bool):
    for name in ("strategy", "symbol"):
        if not isinstance(payload.get(name), str) or not payload.get(name):
            errors[name] = ["Missing data for required field."]
    exchange = _choice(payload, "exchange", VALID_EXCHANGES, errors)
    action = _choice(payload, "action", ("BUY", "SELL"), errors, upper=True)
    ptype = _choice(
        payload,
        "pricetype",
        ("MARKET", "LIMIT", "SL", "SL-M"),
        errors,
        default=None if modify else "MARKET",
    )
    product = _choice(
        payload, "product", ("MIS", "NRML", "CNC"), errors, default=None if modify else "MIS"
    )
    qty = _quantity(payload, errors)
    price = _decimal(payload, "price", errors, required=modify)
    trigger = _decimal(payload, "trigger_price", errors, required=modify)
    return exchange, action, ptype, product, qty, price, trigger


def _to_request(payload, exchange, action, ptype, product, qty, price, trigger) -> OrderRequest:
    pt = PriceType(ptype)
    errors: dict[str, list[str]] = {}
    if pt in (PriceType.LIMIT, PriceType.SL) and price <= 0:
        errors["price"] = [f"Price is required (> 0) for a {ptype} order."]
    if pt in (PriceType.SL, PriceType.SL_M) and trigger <= 0:
        errors["trigger_price"] = [f"Trigger price is required (> 0) for a {ptype} order."]
    if errors:
        raise SchemaError(errors)
    return OrderRequest(
        symbol=str(payload["symbol"]).upper(),
        exchange=exchange,
        action=Action(action),
        quantity=qty,
        price_type=pt,
        product=Product(product),
        price=price if pt in (PriceType.LIMIT, PriceType.SL) else None,
        trigger_price=trigger if pt in (PriceType.SL, PriceType.SL_M) else None,
        strategy=str(payload["strategy"]),
    )


def parse_place(payload: Mapping) -> OrderRequest:
    errors: dict[str, list[str]] = {}
    parts = _common(payload, errors, modify=False)
    if errors:
        raise SchemaError(errors)
    return _to_request(payload, *parts)


def parse_modify(payload: Mapping) -> tuple[str, Modification]:
    errors: dict[str, list[str]] = {}
    if not payload.get("orderid"):
        errors["orderid"] = ["Missing data for required field."]
    exchange, action, ptype, product, qty, price, trigger = _common(payload, errors, modify=True)
    if "disclosed_quantity" not in payload:
        errors["disclosed_quantity"] = ["Missing data for required field."]
    if errors:
        raise SchemaError(errors)
    req = _to_request(payload, exchange, action, ptype, product, qty, price, trigger)
    return str(payload["orderid"]), Modification(
        quantity=req.quantity,
        price_type=req.price_type,
        price=req.price or Decimal(0),
        trigger_price=req.trigger_price or Decimal(0),
    )


@dataclass(frozen=True)
class SmartOrder:
    """A placesmartorder request: the order's shape plus the position the
    caller wants to end with (``position_size``, signed)."""

    payload: Mapping
    exchange: str
    action: str
    price_type: str
    product: str
    quantity: int  # >= 0: used only when both position_size and the position are 0
    position_size: int
    price: Decimal
    trigger_price: Decimal

    @property
    def key(self) -> str:
        return f"{self.exchange}:{str(self.payload['symbol']).upper()}"

    def request(self, action: str, quantity: int) -> OrderRequest:
        return _to_request(
            self.payload,
            self.exchange,
            action,
            self.price_type,
            self.product,
            quantity,
            self.price,
            self.trigger_price,
        )


def _whole(payload: Mapping, name: str, errors: dict, *, signed: bool) -> int:
    raw = payload.get(name)
    if raw is None or raw == "":
        errors[name] = ["Missing data for required field."]
        return 0
    try:
        if isinstance(raw, bool):
            raise InvalidOperation
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        errors[name] = ["Not a valid number."]
        return 0
    if not value.is_finite():
        errors[name] = ["Not a valid number."]
    elif not signed and value < 0:
        errors[name] = ["Quantity must be a non-negative number."]
    elif value != value.to_integral_value():
        errors[name] = [f"Fractional {name} ({value}) is not allowed for non-crypto exchanges."]
    else:
        return int(value)
    return 0


def parse_smart(payload: Mapping) -> SmartOrder:
    errors: dict[str, list[str]] = {}
    for name in ("strategy", "symbol"):
        if not isinstance(payload.get(name), str) or not payload.get(name):
            errors[name] = ["Missing data for required field."]
    exchange = _choice(payload, "exchange", VALID_EXCHANGES, errors)
    action = _choice(payload, "action", ("BUY", "SELL"), errors, upper=True)
    ptype = _choice(payload, "pricetype", ("MARKET", "LIMIT", "SL", "SL-M"), errors, "MARKET")
    product = _choice(payload, "product", ("MIS", "NRML", "CNC"), errors, "MIS")
    qty = _whole(payload, "quantity", errors, signed=False)
    size = _whole(payload, "position_size", errors, signed=True)
    price = _decimal(payload, "price", errors, required=False)
    trigger = _decimal(payload, "trigger_price", errors, required=False)
    if errors:
        raise SchemaError(errors)
    return SmartOrder(payload, exchange, action, ptype, product, qty, size, price, trigger)


_TRUE = {"true", "t", "1", "on", "yes", "y"}
_FALSE = {"false", "f", "0", "off", "no", "n"}


def pair_errors(pair: object) -> dict[str, list[str]]:
    """marshmallow's errors for a symbol/exchange pair (restx_api/data_schemas.py
    QuotesSchema, DepthSchema, MultiQuotesSchema's SymbolExchangePair):
    ``symbol`` a required string, ``exchange`` one of VALID_EXCHANGES."""
    if not isinstance(pair, Mapping):
        return {"_schema": ["Invalid input type."]}
    errors: dict[str, list[str]] = {}
    sym = pair.get("symbol")
    if sym is None:
        errors["symbol"] = ["Missing data for required field."]
    elif not isinstance(sym, str):
        errors["symbol"] = ["Not a valid string."]
    exch = pair.get("exchange")
    if exch is None:
        errors["exchange"] = ["Missing data for required field."]
    elif exch not in VALID_EXCHANGES:
        errors["exchange"] = ["Must be one of: " + ", ".join(VALID_EXCHANGES) + "."]
    return errors


def parse_bool(payload: Mapping, name: str) -> bool:
    """marshmallow's ``fields.Bool(required=True)``."""
    raw = payload.get(name)
    if raw is None:
        raise SchemaError({name: ["Missing data for required field."]})
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SchemaError({name: ["Not a valid boolean."]})


def request_payload(req: OrderRequest, **extra) -> dict:
    """What the openalgo SDK would send for ``req`` (for in-process records)."""
    p = {
        "strategy": req.strategy,
        "symbol": req.symbol,
        "action": req.action.value,
        "exchange": req.exchange,
        "pricetype": req.price_type.value,
        "product": req.product.value,
        "quantity": str(req.quantity),
    }
    if req.price is not None:
        p["price"] = str(req.price)
    if req.trigger_price is not None:
        p["trigger_price"] = str(req.trigger_price)
    p.update(extra)
    return p


# --- replies -------------------------------------------------------------------------


def order_json(o: OrderView) -> dict:
    return {
        "action": o.action.value,
        "exchange": o.exchange,
        "order_status": o.status.value,
        "orderid": o.order_id,
        "price": 0.0 if o.price_type is PriceType.MARKET else _num(o.price),
        "pricetype": o.price_type.value,
        "product": o.product.value,
        "quantity": o.quantity,
        "symbol": o.symbol,
        "timestamp": ts_str(o.updated_at),
        "trigger_price": _num(o.trigger_price),
        # The live server fills this in from the tradebook only once complete.
        "average_price": _num(o.average_price) if o.status.value == "complete" else 0.0,
    }


def orderbook_json(orders: list[OrderView]) -> dict:
    stats = {
        "total_buy_orders": sum(o.action is Action.BUY for o in orders),
        "total_sell_orders": sum(o.action is Action.SELL for o in orders),
        "total_completed_orders": sum(o.status.value == "complete" for o in orders),
        "total_open_orders": sum(o.status.value in ("open", "trigger pending") for o in orders),
        "total_rejected_orders": sum(o.status.value == "rejected" for o in orders),
    }
    return {"orders": [order_json(o) for o in orders], "statistics": stats}


def update_json(ev: OrderEvent, mode: str = "live") -> dict:
    o = ev.order
    return {
        "type": "order_update",
        "mode": mode,
        "broker": "sim",
        "orderid": o.order_id,
        "symbol": o.symbol,
        "exchange": o.exchange,
        "action": o.action.value,
        "quantity": o.quantity,
        "price": _num(o.price),
        "trigger_price": _num(o.trigger_price),
        "pricetype": o.price_type.value,
        "product": o.product.value,
        "order_status": o.status.value,
        "filled_quantity": o.filled_quantity,
        "pending_quantity": o.pending_quantity,
        "average_price": _num(o.average_price),
        "rejection_reason": o.rejection_reason,
    }


def trade_json(t: Trade) -> dict:
    return {
        "symbol": t.symbol,
        "exchange": t.exchange,
        "product": t.product.value,
        "action": t.action.value,
        "quantity": t.quantity,
        "average_price": _num(t.price),
        "trade_value": _num(t.price * t.quantity),
        "orderid": t.order_id,
        "timestamp": ts_str(t.ts),
    }


def position_json(p: PositionView) -> dict:
    return {
        "symbol": p.symbol,
        "exchange": p.exchange,
        "product": p.product.value,
        "quantity": str(p.quantity),
        "average_price": f"{p.average_price:.2f}",
        "ltp": _num(p.ltp),
        "pnl": _num(p.pnl),
    }


def funds_json(f: FundsView) -> dict:
    return {
        "availablecash": f"{f.available_cash:.2f}",
        "collateral": f"{f.collateral:.2f}",
        "m2mrealized": f"{f.realized_pnl:.2f}",
        "m2munrealized": f"{f.unrealized_pnl:.2f}",
        "utiliseddebits": f"{f.utilised:.2f}",
    }


def symbol_json(inst: SimInstrument, index: int) -> dict:
    tick = inst.tick_size
    return {
        "id": index,
        "symbol": inst.symbol,
        "brsymbol": f"{inst.symbol}-EQ",
        "name": inst.name or inst.symbol,
        "exchange": inst.exchange,
        "brexchange": inst.exchange,
        "token": inst.token or str(1000 + index),
        "expiry": "",
        "strike": -1.0,
        "lotsize": inst.lot_size,
        "instrumenttype": "EQ",
        "tick_size": float(tick * 100) if inst.tick_size_in_paise else float(tick),
        "freeze_qty": 1,
    }


def daily_bar_json(bar) -> dict:
    # Daily bars are stamped so that the naive (UTC) reading gives the IST date.
    midnight = datetime.combine(bar.day, time(0), tzinfo=UTC)
    return {
        "timestamp": int(midnight.timestamp()),
        "open": _num(bar.open),
        "high": _num(bar.high),
        "low": _num(bar.low),
        "close": _num(bar.close),
        "volume": bar.volume,
        "oi": 0,
    }


def quote_json(q: dict) -> dict:
    out = {k: (v if k == "volume" else _num(v)) for k, v in q.items()}
    out["oi"] = 0
    return out


def depth_json(q: dict, tick: Decimal, levels: int = 5) -> dict:
    """Five synthetic levels a tick apart around the LTP (the best level is
    the quote's bid/ask); sizes grow away from the touch."""
    ltp = q["ltp"]
    asks = [{"price": _num(ltp + tick * (i + 1)), "quantity": 100 * (i + 1)} for i in range(levels)]
    bids = [
        {"price": _num(max(ltp - tick * (i + 1), Decimal(0))), "quantity": 100 * (i + 1)}
        for i in range(levels)
    ]
    return {
        "asks": asks,
        "bids": bids,
        "high": _num(q["high"]),
        "low": _num(q["low"]),
        "ltp": _num(ltp),
        "ltq": 1 if q["volume"] else 0,
        "oi": 0,
        "open": _num(q["open"]),
        "prev_close": _num(q["prev_close"]),
        "totalbuyqty": sum(b["quantity"] for b in bids),
        "totalsellqty": sum(a["quantity"] for a in asks),
        "volume": q["volume"],
    }


def instrument_json(inst: SimInstrument, index: int) -> dict:
    """One row of the instrument master (``instruments`` / ``search``)."""
    row = symbol_json(inst, index)
    del row["id"], row["freeze_qty"]
    return row


def holdings_json(rows: list[tuple[SimHolding, Decimal]]) -> dict:
    """``rows``: (holding, ltp). Numbers rounded to 2 places, as the server does."""
    out, value, invested, pnl_total = [], Decimal(0), Decimal(0), Decimal(0)
    for h, ltp in rows:
        pnl = (ltp - h.average_price) * h.quantity
        pct = (ltp - h.average_price) / h.average_price * 100 if h.average_price else Decimal(0)
        out.append(
            {
                "symbol": h.symbol,
                "exchange": h.exchange,
                "quantity": h.quantity,
                "product": "CNC",
                "average_price": _num(h.average_price),
                "pnl": _num(pnl),
                "pnlpercent": _num(pct),
            }
        )
        value += ltp * h.quantity
        invested += h.average_price * h.quantity
        pnl_total += pnl
    stats = {
        "totalholdingvalue": _num(value),
        "totalinvvalue": _num(invested),
        "totalprofitandloss": _num(pnl_total),
        "totalpnlpercentage": _num(pnl_total / invested * 100 if invested else 0),
    }
    return {"holdings": out, "statistics": stats}
