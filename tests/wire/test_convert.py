"""JSON -> dataclass conversion for every reply shape variant we know of."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from live.broker import Action, OrderStatus, PriceType, Product
from live.clock import IST
from live.openalgo.convert import (
    bar_from_dict,
    candle_from_dict,
    funds_from_dict,
    order_update_from_dict,
    parse_status,
    parse_timestamp,
    position_from_dict,
    sane_tick_size,
)

LIVE_ORDERSTATUS = {  # live broker: strings, DD-Mon-YYYY, no filled quantity
    "action": "SELL",
    "exchange": "NSE",
    "order_status": "trigger pending",
    "orderid": "250408000989443",
    "price": "0",
    "pricetype": "SL-M",
    "product": "MIS",
    "quantity": "10",
    "symbol": "SBIN",
    "timestamp": "08-Apr-2025 13:58:03",
    "trigger_price": "511.95",
    "average_price": 0,
}

SANDBOX_ORDERSTATUS = {  # analyze mode: floats, price_type, filled/pending, ISO-ish time
    "orderid": "25112000001",
    "symbol": "INFY",
    "exchange": "NSE",
    "action": "BUY",
    "quantity": 10,
    "price": 1520.1,
    "trigger_price": 1520.05,
    "price_type": "SL",
    "product": "MIS",
    "order_status": "open",
    "average_price": 1520.1,
    "filled_quantity": 4,
    "pending_quantity": 6,
    "timestamp": "2025-11-20 09:31:02",
    "strategy": "live8020",
}


def test_live_orderstatus_shape():
    u = order_update_from_dict(LIVE_ORDERSTATUS, source="orderstatus")
    assert u.order_id == "250408000989443"
    assert u.action is Action.SELL
    assert u.status is OrderStatus.TRIGGER_PENDING
    assert u.quantity == 10
    assert u.filled_quantity is None  # live replies carry none: never invented
    assert u.trigger_price == Decimal("511.95")
    assert u.price_type is PriceType.SL_M
    assert u.timestamp == datetime(2025, 4, 8, 13, 58, 3, tzinfo=IST)
    assert u.source == "orderstatus"


def test_sandbox_orderstatus_shape_partial_fill_and_floats():
    u = order_update_from_dict(SANDBOX_ORDERSTATUS, source="orderstatus")
    assert u.status is OrderStatus.PARTIAL  # open with 0 < filled < quantity
    assert u.filled_quantity == 4
    assert u.price == Decimal("1520.1")  # via str(float): no binary noise
    assert u.trigger_price == Decimal("1520.05")
    assert str(u.trigger_price) == "1520.05"
    assert u.price_type is PriceType.SL
    assert u.timestamp == datetime(2025, 11, 20, 9, 31, 2, tzinfo=IST)


def test_filled_quantity_not_derived_from_pending():
    # A cancelled order with pending 0 must not read as filled.
    d = dict(SANDBOX_ORDERSTATUS, order_status="cancelled", pending_quantity=0)
    del d["filled_quantity"]
    u = order_update_from_dict(d, source="orderbook")
    assert u.status is OrderStatus.CANCELLED
    assert u.filled_quantity is None and u.filled == 0


def test_iso_timestamp_with_offset_converted_to_ist():
    ts = parse_timestamp("2025-11-20T04:00:00+00:00")
    assert ts == datetime(2025, 11, 20, 9, 30, tzinfo=IST)
    assert ts.tzinfo is IST
    assert parse_timestamp(1763611200000) == datetime(2025, 11, 20, 4, 0, tzinfo=UTC)
    assert parse_timestamp("1763611200") == datetime(2025, 11, 20, 4, 0, tzinfo=UTC)
    assert parse_timestamp("") is None


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("open", OrderStatus.OPEN),
        ("OPEN", OrderStatus.OPEN),
        ("trigger pending", OrderStatus.TRIGGER_PENDING),
        ("Trigger Pending", OrderStatus.TRIGGER_PENDING),
        ("TRIGGER_PENDING", OrderStatus.TRIGGER_PENDING),
        ("  trigger   pending ", OrderStatus.TRIGGER_PENDING),
        ("complete", OrderStatus.COMPLETE),
        ("COMPLETE", OrderStatus.COMPLETE),
        ("rejected", OrderStatus.REJECTED),
        ("cancelled", OrderStatus.CANCELLED),
        ("Canceled", OrderStatus.CANCELLED),
    ],
)
def test_status_mapping(raw, expected):
    assert parse_status(raw) is expected


def test_partial_derived_only_for_working_orders():
    assert parse_status("open", 10, 3) is OrderStatus.PARTIAL
    assert parse_status("open", 10, 0) is OrderStatus.OPEN
    assert parse_status("open", 10, 10) is OrderStatus.OPEN  # the complete update follows
    assert parse_status("cancelled", 10, 3) is OrderStatus.CANCELLED  # keeps its fills


@pytest.mark.parametrize(
    "change, field",
    [
        ({"orderid": ""}, "orderid"),
        ({"quantity": "ten"}, "quantity"),
        ({"quantity": "10.5"}, "quantity"),
        ({"order_status": "exploded"}, "order_status"),
        ({"order_status": None}, "order_status"),
        ({"action": "HOLD"}, "action"),
        ({"trigger_price": "abc"}, "trigger_price"),
        ({"filled_quantity": 11}, "filled_quantity"),
        ({"symbol": None}, "symbol"),
        ({"timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_bad_order_reply_names_the_field(change, field):
    d = dict(SANDBOX_ORDERSTATUS, **change)
    with pytest.raises(ValueError, match=field):
        order_update_from_dict(d, source="orderstatus")


def test_order_reply_not_an_object():
    with pytest.raises(ValueError, match="expected an object"):
        order_update_from_dict(["x"], source="orderbook")


def test_position_and_funds():
    p = position_from_dict(
        {
            "symbol": "SBIN",
            "exchange": "NSE",
            "product": "MIS",
            "quantity": "-10",
            "average_price": "512.40",
            "ltp": 511.95,
            "pnl": "4.50",
        }
    )
    assert (p.quantity, p.product, p.average_price, p.ltp) == (
        -10,
        Product.MIS,
        Decimal("512.40"),
        Decimal("511.95"),
    )
    f = funds_from_dict(
        {
            "availablecash": "100000.50",
            "collateral": "0.00",
            "m2mrealized": "-12.5",
            "m2munrealized": "3",
            "utiliseddebits": "20",
        }
    )
    assert f.available_cash == Decimal("100000.50")
    assert f.realized_pnl == Decimal("-12.5")
    with pytest.raises(ValueError, match="availablecash"):
        funds_from_dict({"collateral": "0"})
    with pytest.raises(ValueError, match="product"):
        position_from_dict({"symbol": "SBIN", "exchange": "NSE", "product": "XYZ", "quantity": 1})


def test_daily_bar_dates_are_ist_dates_for_every_stamping():
    ohlc = {"open": 100, "high": "101.5", "low": 99.05, "close": "100.2", "volume": 1234}
    # Zerodha: UTC midnight of the IST date (IST midnight + 5:30 then epoch).
    utc_midnight = int(datetime(2025, 4, 1, tzinfo=UTC).timestamp())
    ist_midnight = int(datetime(2025, 4, 1, tzinfo=IST).timestamp())
    session_time = int(datetime(2025, 4, 1, 9, 15, tzinfo=IST).timestamp())
    for ts in (utc_midnight, ist_midnight, session_time, "2025-04-01 00:00:00+05:30"):
        bar = bar_from_dict(dict(ohlc, timestamp=ts))
        assert bar.day == date(2025, 4, 1), ts
    assert bar.low == Decimal("99.05") and bar.volume == 1234


def test_intraday_candle_is_utc_epoch_shown_in_ist():
    ts = int(datetime(2025, 4, 1, 3, 45, tzinfo=UTC).timestamp())
    c = candle_from_dict({"timestamp": ts, "open": 1, "high": 2, "low": 1, "close": 2})
    assert c.ts == datetime(2025, 4, 1, 9, 15, tzinfo=IST)


def test_bad_bar_is_refused():
    with pytest.raises(ValueError, match="inconsistent OHLC"):
        bar_from_dict({"timestamp": 1743465600, "open": 10, "high": 9, "low": 8, "close": 9})
    with pytest.raises(ValueError, match="close"):
        bar_from_dict({"timestamp": 1743465600, "open": 10, "high": 11, "low": 8})


@pytest.mark.parametrize(
    "raw, price, exchange, expected",
    [
        ("0.05", "1412.35", "NSE", "0.05"),  # ordinary rupee tick untouched
        (0.05, None, "NSE", "0.05"),  # fractional tick needs no price
        (5, "1412.35", "NSE", "0.05"),  # paise: price off the ₹5 grid
        (5, "1410.00", "NSE", "0.05"),  # on both grids: the band table decides
        (1, "212.37", "NSE", "0.01"),
        (5, "25000.00", "NSE", "5"),  # a real ₹5 tick above ₹20,000
        (10, "25012.30", "NFO", "0.10"),  # futures tick in paise
        (10, "25010.00", "NFO", "0.10"),  # implausibly large as rupees
        (1, "6012", "MCX", "1"),  # MCX crude: a real ₹1 tick
    ],
)
def test_tick_size_sanity(raw, price, exchange, expected):
    ref = Decimal(price) if price else None
    assert sane_tick_size(raw, ref, exchange) == Decimal(expected)


def test_tick_size_unverifiable_or_absurd_is_refused():
    with pytest.raises(ValueError, match="override"):
        sane_tick_size(5, None, "NSE")
    with pytest.raises(ValueError, match="override"):
        sane_tick_size("0.5", Decimal("0.40"), "NSE")
    with pytest.raises(ValueError, match="> 0"):
        sane_tick_size("0", Decimal("100"), "NSE")
