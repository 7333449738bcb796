"""OpenAlgoBroker against the stub server over real sockets on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from datetime import UTC
from decimal import Decimal

import pytest

from live.broker import (
    Action,
    AmbiguousOrderError,
    Broker,
    BrokerError,
    BrokerTimeout,
    InvalidRequest,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    PriceType,
    RateLimited,
    TransientBrokerError,
)
from live.openalgo import AmbiguityPolicy, OpenAlgoBroker, RetryPolicy, Timeouts
from tests.wire.conftest import make_broker
from tests.wire.stub_rest import API_KEY, StubOpenAlgo

SL_SELL = OrderRequest(
    symbol="SBIN",
    exchange="NSE",
    action=Action.SELL,
    quantity=10,
    price_type=PriceType.SL_M,
    trigger_price=Decimal("511.95"),
)
LIMIT_BUY = OrderRequest(
    symbol="SBIN",
    exchange="NSE",
    action=Action.BUY,
    quantity=5,
    price_type=PriceType.LIMIT,
    price=Decimal("510.05"),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_is_a_broker(broker):
    assert isinstance(broker, Broker)


def test_place_order_sends_decimal_strings_tag_and_key(stub, broker):
    oid = broker.place_order(SL_SELL)
    assert oid in stub.orders
    (body,) = stub.calls("placeorder")
    assert body["apikey"] == API_KEY
    assert body["strategy"] == "live8020"
    assert body["trigger_price"] == "511.95"
    assert body["price"] == "0"
    assert body["quantity"] == "10"
    assert body["pricetype"] == "SL-M"
    assert broker.counters().calls == {"placeorder": 1}


def test_order_status_and_orderbook_round_trip(stub, broker):
    oid = broker.place_order(SL_SELL)
    u = broker.order_status(oid)
    assert (u.order_id, u.status, u.trigger_price) == (
        oid,
        OrderStatus.TRIGGER_PENDING,
        Decimal("511.95"),
    )
    broker.cancel_order(oid)
    (row,) = broker.orderbook()
    assert row.status is OrderStatus.CANCELLED


def test_orderbook_skips_malformed_rows(stub, broker):
    stub.add_order(
        symbol="SBIN",
        exchange="NSE",
        action="BUY",
        quantity="1",
        pricetype="MARKET",
        order_status="AMO REQ RECEIVED",
    )
    good = broker.place_order(LIMIT_BUY)
    assert [u.order_id for u in broker.orderbook()] == [good]
    assert broker.counters().rows_skipped == 1


def test_funds(broker):
    assert broker.funds().available_cash == Decimal("100000.00")


# --- error classification ---------------------------------------------------


@pytest.mark.parametrize(
    "status, body, read_error, order_error",
    [
        (400, {"status": "error", "message": "Missing symbol"}, InvalidRequest, OrderRejected),
        (
            403,
            {"status": "error", "message": "Invalid openalgo apikey"},
            InvalidRequest,
            InvalidRequest,
        ),
        (404, {"status": "error", "message": "Not found"}, InvalidRequest, InvalidRequest),
        (200, {"status": "error", "message": "RMS: margin exceeds"}, InvalidRequest, OrderRejected),
    ],
)
def test_permanent_errors(stub, broker, status, body, read_error, order_error):
    stub.script("funds", (status, body))
    with pytest.raises(read_error) as ei:
        broker.funds()
    assert ei.value.code == status and not ei.value.transient
    stub.script("placeorder", (status, body))
    with pytest.raises(order_error):
        broker.place_order(SL_SELL)
    assert len(stub.calls("funds")) == 1  # permanent: not retried
    assert len(stub.calls("placeorder")) == 1


def test_429_is_rate_limited_with_retry_after_and_counted(stub, broker, fake_time):
    body = {"status": "error", "message": "Rate limit exceeded", "retry_after": 60}
    stub.script("placeorder", (429, body))
    with pytest.raises(RateLimited) as ei:
        broker.place_order(SL_SELL)
    assert ei.value.retry_after == 60 and ei.value.transient
    assert broker.counters().rate_limited == 1
    assert len(stub.calls("placeorder")) == 1  # no blind retry, no lookup needed
    assert stub.calls("orderbook") == []
    # the whole order class now backs off (capped: the server always says 60)
    broker.place_order(SL_SELL)
    assert fake_time.sleeps and fake_time.sleeps[0] == pytest.approx(2.0)


def test_5xx_on_read_is_transient(stub, fake_time):
    b = make_broker(
        stub.url,
        fake_time,
        retry=RetryPolicy(attempts=1),
    )
    stub.script("funds", (500, {"status": "error", "message": "boom"}))
    with pytest.raises(TransientBrokerError) as ei:
        b.funds()
    assert ei.value.code == 500
    b.close()


def test_read_timeout(stub, fake_time):
    b = make_broker(stub.url, fake_time, timeouts=Timeouts(connect=1, read=0.2, order=0.2))
    stub.script("funds", ("delay", 1.0), ("delay", 1.0), ("delay", 1.0))
    with pytest.raises(BrokerTimeout):
        b.funds()
    assert len(stub.calls("funds")) == 3  # a read: retried up to the bound
    b.close()


def test_connection_refused_is_transient_and_not_ambiguous(fake_time):
    b = make_broker(f"http://127.0.0.1:{_free_port()}", fake_time)
    with pytest.raises(TransientBrokerError) as ei:
        b.place_order(SL_SELL)
    assert not isinstance(ei.value, AmbiguousOrderError)
    assert ei.value.request_sent is False
    with pytest.raises(TransientBrokerError):
        b.funds()
    assert b.counters().retries == 2
    b.close()


# --- read retries ---------------------------------------------------------------


def test_read_retries_with_exponential_backoff_then_succeeds(stub, broker, fake_time):
    stub.script("funds", (500, {"status": "error"}), (502, {"status": "error"}))
    assert broker.funds().available_cash == Decimal("100000.00")
    assert len(stub.calls("funds")) == 3
    assert broker.counters().retries == 2
    d0, d1 = fake_time.sleeps
    # base 0.1, jitter 50%: first in [0.05, 0.1], second in [0.1, 0.2]
    assert 0.05 <= d0 <= 0.1 and 0.1 <= d1 <= 0.2


def test_read_retries_are_bounded(stub, broker):
    stub.script("funds", *[(503, {"status": "error"})] * 5)
    with pytest.raises(TransientBrokerError):
        broker.funds()
    assert len(stub.calls("funds")) == 3


def test_read_retry_honours_429(stub, broker, fake_time):
    stub.script("funds", (429, {"status": "error", "message": "slow", "retry_after": 1}))
    assert broker.funds().available_cash == Decimal("100000.00")
    assert broker.counters().rate_limited == 1
    assert sum(fake_time.sleeps) >= 1.0 - 1e-9  # waited out retry_after before the retry


# --- placement is never retried blindly ------------------------------------------


def _ambiguous_broker(stub, fake_time, **kw):
    return make_broker(stub.url, fake_time, timeouts=Timeouts(connect=1, read=2, order=0.3), **kw)


def test_lost_reply_is_found_in_orderbook(stub, fake_time):
    b = _ambiguous_broker(stub, fake_time)
    stub.script("placeorder", ("delay", 1.5))  # accepted, reply after our read timeout
    oid = b.place_order(SL_SELL)
    assert list(stub.orders) == [oid]  # exactly one order exists
    assert len(stub.calls("placeorder")) == 1
    assert b.counters().ambiguous_recovered == 1
    b.close()


def test_connection_dropped_after_send_is_found(stub, fake_time):
    b = _ambiguous_broker(stub, fake_time)
    stub.script("placeorder", ("drop",))
    oid = b.place_order(LIMIT_BUY)
    assert list(stub.orders) == [oid]
    b.close()


def test_tag_overwritten_by_broker_still_found():
    stub = StubOpenAlgo(keep_tags=False)  # Zerodha-like: every tag is "openalgo"
    try:
        from tests.wire.conftest import FakeTime

        b = _ambiguous_broker(stub, FakeTime())
        stub.script("placeorder", ("delay", 1.5))
        oid = b.place_order(SL_SELL)
        assert list(stub.orders) == [oid]
        b.close()
    finally:
        stub.stop()


def test_5xx_and_no_order_raises_ambiguous(stub, broker):
    stub.script("placeorder", (500, {"status": "error", "message": "internal error"}))
    with pytest.raises(AmbiguousOrderError):
        broker.place_order(SL_SELL)
    assert len(stub.calls("placeorder")) == 1  # never placed again
    assert len(stub.calls("orderbook")) == 2  # looked (twice, the policy's bound)
    assert stub.orders == {}
    assert broker.counters().ambiguous_unresolved == 1


def test_known_or_foreign_or_old_orders_are_never_claimed(stub, broker):
    mine = stub.add_order(
        symbol="SBIN",
        exchange="NSE",
        action="SELL",
        quantity="10",
        pricetype="SL-M",
        trigger_price="511.95",
        strategy="live8020",
        order_status="trigger pending",
    )
    broker.remember_orders([mine])  # e.g. from the journal after a restart
    stub.add_order(
        symbol="SBIN",
        exchange="NSE",
        action="SELL",
        quantity="10",
        pricetype="SL-M",
        trigger_price="511.95",
        strategy="someone-else",
    )
    stub.add_order(
        symbol="SBIN",
        exchange="NSE",
        action="SELL",
        quantity="10",
        pricetype="SL-M",
        trigger_price="511.95",
        strategy="live8020",
        timestamp="20-Nov-2020 09:20:00",
    )
    stub.add_order(
        symbol="SBIN",
        exchange="NSE",
        action="SELL",
        quantity="10",
        pricetype="SL-M",
        trigger_price="512.00",
        strategy="live8020",
    )
    stub.script("placeorder", (500, {"status": "error", "message": "internal error"}))
    with pytest.raises(AmbiguousOrderError):
        broker.place_order(SL_SELL)


def test_two_candidates_is_ambiguous(stub, broker):
    for _ in range(2):
        stub.add_order(
            symbol="SBIN",
            exchange="NSE",
            action="SELL",
            quantity="10",
            pricetype="SL-M",
            trigger_price="511.95",
            strategy="live8020",
        )
    stub.script("placeorder", (500, {"status": "error"}))
    with pytest.raises(AmbiguousOrderError, match="2 matching"):
        broker.place_order(SL_SELL)


def test_success_without_orderid_is_resolved_from_orderbook(stub, broker):
    oid = stub.add_order(
        symbol="SBIN",
        exchange="NSE",
        action="BUY",
        quantity="5",
        pricetype="LIMIT",
        price="510.05",
        strategy="live8020",
    )
    stub.script("placeorder", (200, {"status": "success"}))
    assert broker.place_order(LIMIT_BUY) == oid


# --- prices and instruments ---------------------------------------------------------


def test_instrument_converts_paise_tick_and_guards_prices(stub, broker):
    stub.replies["symbol"] = (
        200,
        {
            "status": "success",
            "data": {
                "symbol": "SBIN",
                "exchange": "NSE",
                "name": "STATE BANK",
                "lotsize": "1",
                "tick_size": 5,
                "token": "3045",
            },
        },
    )
    stub.replies["quotes"] = (
        200,
        {
            "status": "success",
            "data": {"ltp": 812.35, "open": 800, "high": 815, "low": 799.5, "prev_close": 801.1},
        },
    )
    inst = broker.instrument("SBIN", "NSE")
    assert inst.tick_size == Decimal("0.05") and inst.lot_size == 1
    bad = OrderRequest(
        symbol="SBIN",
        exchange="NSE",
        action=Action.BUY,
        quantity=1,
        price_type=PriceType.LIMIT,
        price=Decimal("812.37"),
    )
    with pytest.raises(ValueError, match="tick 0.05"):
        broker.place_order(bad)
    assert stub.calls("placeorder") == []  # refused before anything was sent


def test_tick_override_wins(stub, fake_time):
    b = make_broker(stub.url, fake_time, tick_sizes={"NSE:SBIN": "0.10"})
    stub.replies["symbol"] = (
        200,
        {
            "status": "success",
            "data": {"symbol": "SBIN", "exchange": "NSE", "lotsize": 1, "tick_size": 5},
        },
    )
    assert b.instrument("SBIN", "NSE").tick_size == Decimal("0.10")
    assert stub.calls("quotes") == []
    b.close()


def test_unverifiable_paise_tick_is_an_error(stub, broker):
    stub.replies["symbol"] = (
        200,
        {
            "status": "success",
            "data": {"symbol": "SBIN", "exchange": "NSE", "lotsize": 1, "tick_size": 5},
        },
    )
    stub.replies["quotes"] = (500, {"status": "error"})
    with pytest.raises(InvalidRequest, match="override"):
        broker.instrument("SBIN", "NSE")


def test_daily_bars_over_the_wire(stub, broker):
    from datetime import date, datetime

    rows = [
        {
            "timestamp": int(datetime(2025, 4, d, tzinfo=UTC).timestamp()),
            "open": "100",
            "high": 102.5,
            "low": 99,
            "close": "101.05",
            "volume": 10,
        }
        for d in (2, 1)
    ]
    stub.replies["history"] = (200, {"status": "success", "data": rows})
    bars = broker.daily_bars("SBIN", "NSE", date(2025, 4, 1), date(2025, 4, 2))
    assert [b.day for b in bars] == [date(2025, 4, 1), date(2025, 4, 2)]
    assert bars[0].close == Decimal("101.05")
    (body,) = stub.calls("history")
    assert (body["interval"], body["start_date"]) == ("D", "2025-04-01")


def test_malformed_reply_is_a_broker_error_naming_the_field(stub, broker):
    stub.replies["funds"] = (200, {"status": "success", "data": {"availablecash": "lots"}})
    with pytest.raises(BrokerError, match="availablecash"):
        broker.funds()


# --- calendar, notify ------------------------------------------------------------------


def test_calendar_endpoints_missing_fall_back_to_none(broker):
    from datetime import date

    assert broker.holidays(2026) is None
    assert broker.timings(date(2026, 1, 5)) is None


def test_holidays_and_timings_parsed(stub, broker):
    from datetime import date

    stub.replies["market/holidays"] = (
        200,
        {
            "status": "success",
            "data": [
                {
                    "date": "2026-01-26",
                    "holiday_type": "TRADING_HOLIDAY",
                    "closed_exchanges": ["NSE", "BSE"],
                },
                {
                    "date": "2026-02-19",
                    "holiday_type": "SETTLEMENT_HOLIDAY",
                    "closed_exchanges": [],
                },
            ],
        },
    )
    assert broker.holidays(2026) == frozenset({date(2026, 1, 26)})
    stub.replies["market/timings"] = (
        200,
        {
            "status": "success",
            "data": [{"exchange": "NSE", "start_time": 1766115900000, "end_time": 1766138400000}],
        },
    )
    start, end = broker.timings(date(2025, 12, 19))
    assert (start.hour, start.minute, end.hour, end.minute) == (9, 15, 15, 30)


def test_notify_failure_never_raises(stub, broker):
    stub.script("telegram/notify", (500, {"status": "error", "message": "bot down"}))
    assert broker.notify("stop placed", username="me") is False
    assert broker.counters().notify_failures == 1
    stub.replies["telegram/notify"] = (200, {"status": "success"})
    assert broker.notify("stop placed", username="me") is True


# --- the key stays secret --------------------------------------------------------------


def test_api_key_never_in_logs_repr_or_errors(stub, fake_time, caplog):
    caplog.set_level(logging.DEBUG)
    b = _ambiguous_broker(stub, fake_time)
    errors = []
    stub.script("funds", (400, {"status": "error", "message": f"bad key {API_KEY}"}))
    stub.script(
        "placeorder",
        (500, {"status": "error", "message": API_KEY}),
        (429, {"status": "error", "message": API_KEY, "retry_after": 1}),
    )
    stub.script("telegram/notify", (500, {"status": "error", "message": API_KEY}))
    for call in (b.funds, lambda: b.place_order(SL_SELL), lambda: b.place_order(SL_SELL)):
        with pytest.raises(BrokerError) as ei:
            call()
        errors.append(ei.value)
    b.notify("x", username="u")
    assert API_KEY not in repr(b) and API_KEY not in str(vars(b))
    for e in errors:
        assert API_KEY not in str(e) and API_KEY not in repr(e)
    assert "bad key ***" in str(errors[0])  # scrubbed, and it did go through the scrubber
    assert caplog.records  # something was logged
    assert API_KEY not in caplog.text
    b.close()


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="host"):
        OpenAlgoBroker("127.0.0.1:5000", "k")
    with pytest.raises(ValueError, match="api_key"):
        OpenAlgoBroker("http://x", " ")
    with pytest.raises(ValueError, match="timeouts.read"):
        Timeouts(read=0)
    with pytest.raises(ValueError, match="lookups"):
        AmbiguityPolicy(lookups=0)


def test_margin_is_asked_once_per_symbol_and_never_waits_for_a_read_slot(stub, fake_time):
    """At scale every symbol enters at once: one margin call per symbol (its
    rate is reused for the other side and later entries), and no call at
    all when the read window is full (the caller uses the configured rate)
    - an entry never queues behind other symbols' reads."""
    from live.ratelimit import RateLimits

    stub.replies["margin"] = (200, {"status": "success", "data": {"total_margin_required": 1023.9}})
    b = make_broker(stub.url, fake_time, rate_limits=RateLimits(other=3))
    try:
        assert b.margin(SL_SELL) == Decimal("1023.9")  # 10 x 511.95 at 20%
        bigger = replace(SL_SELL, action=Action.BUY, quantity=20, trigger_price=Decimal("520"))
        assert b.margin(bigger) == Decimal("2080.00")
        assert len(stub.calls("margin")) == 1
        other = replace(SL_SELL, symbol="INFY")
        b.funds(), b.funds()  # the read window (3, 2 usable) is now full
        assert b.margin(other) is None and fake_time.sleeps == []
        assert len(stub.calls("margin")) == 1
    finally:
        b.close()


def test_day_ranges_in_one_multiquotes_call_skipping_what_it_cannot_read(stub, broker):
    with stub.lock:
        stub.replies["multiquotes"] = (200, {"status": "success", "results": [
            {"symbol": "NOPE", "exchange": "NSE", "error": "Symbol not found"},
            {"symbol": "SBIN", "exchange": "NSE",
             "data": {"ltp": 811.2, "high": "815.5", "low": 805, "open": 810}},
            {"symbol": "INFY", "exchange": "NSE", "data": {"ltp": 1500, "high": 1490, "low": 1510}},
            {"symbol": "TCS", "exchange": "NSE", "data": {"ltp": 4000, "high": "nan", "low": 3990}},
        ]})  # fmt: skip
    skipped = broker.counters().rows_skipped
    got = broker.day_ranges(["NSE:NOPE", "NSE:SBIN", "NSE:INFY", "NSE:TCS"])
    assert got == {"NSE:SBIN": (Decimal("815.5"), Decimal("805"))}
    assert broker.counters().rows_skipped - skipped == 3
    [call] = stub.calls("multiquotes")
    assert call["symbols"] == [{"symbol": s, "exchange": "NSE"} for s in
                               ("NOPE", "SBIN", "INFY", "TCS")]  # fmt: skip
    assert broker.day_ranges([]) == {} and len(stub.calls("multiquotes")) == 1
