"""OpenAlgo's JSON, as the simulator speaks it: request validation (the
server's marshmallow schemas, reproduced) and reply shapes (the live,
non-sandbox shapes: numbers as floats rounded to 2 places, quantities as
ints, funds as "%.2f" strings, order timestamps "DD-Mon-YYYY HH:MM:SS")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation

from live.broker import Action, OrderRequest, PriceType, Product

from .engine import Modification
from .models import FundsView, OrderEvent, OrderView, PositionView, SimInstrument, Trade

__all__ = ["SchemaError", "parse_place", "parse_modify", "order_json", "update_json"]

VALID_EXCHANGES = (
    "NSE",
    "BSE",
    "NFO",
    "BFO",
    "CDS",
    "BCD",
    "MCX",
    "NCDEX",
    "NSE_INDEX",
    "BSE_INDEX",
)


class SchemaError(ValueError):
    """A request failed validation; ``messages`` maps field -> [problems],
    rendered like marshmallow's ``str(err.messages)`` in the 400 reply."""

    def __init__(self, messages: dict[str, list[str]]):
        super().__init__(str(messages))
        self.messages = messages


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


def update_json(ev: OrderEvent) -> dict:
    o = ev.order
    return {
        "type": "order_update",
        "mode": "live",
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
    return {k: (v if k == "volume" else _num(v)) for k, v in q.items()}
