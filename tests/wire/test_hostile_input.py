"""Hostile input at every parser: anything a broker or a feed can send is
either read into a value that keeps its type's invariants or refused with a
``ValueError`` naming the field; nothing else escapes, and what was refused
leaves no trace in the state kept from the messages around it.

The parsers under test are the ones every reply and message goes through
(``live.openalgo.convert`` and ``live.openalgo.messages``). Each gets at
least 1,000 generated inputs: arbitrary JSON values, and rows that start from
a valid one with some fields replaced by hostile values (the inputs that reach
past the first check). The orderbook, positionbook and tradebook are also
read over a real socket from a stub server replying with generated rows.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.broker import Action, Bar, BrokerError, Funds, OrderStatus, OrderUpdate, Position
from live.clock import IST
from live.openalgo.convert import (
    EARLIEST,
    LATEST,
    MAX_AMOUNT,
    MAX_QUANTITY,
    Candle,
    Trade,
    bar_from_dict,
    candle_from_dict,
    funds_from_dict,
    order_update_from_dict,
    position_from_dict,
    trade_from_dict,
)
from live.openalgo.messages import Inbox, Tick, parse_tick
from tests.wire.conftest import FakeTime, make_broker
from tests.wire.stub_rest import StubOpenAlgo

MANY = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=IST)
KNOWN = frozenset({"NSE:SBIN", "NSE:INFY"})

# --- what a hostile peer can send -------------------------------------------------

# Values that broke parsers somewhere once: drawn often, on purpose.
edges = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "-inf",
        "1e9999999",
        "0x10",
        "١٢٣",  # Arabic-Indic digits: Decimal() reads them
        "10.5",
        "-1",
        "03-Dec-2026 10:00:00",
        "31-Feb-2026 10:00:00",
        "9999-12-31T23:59:59",
        "0001-01-01 00:00:00",
        "2026-12-03T10:00:00Z",
        "1764736200000",
        "complete",
        "CANCELLED",
        "trigger_pending",
        "BUY",
        "s",
        "MIS",
        "cnc",
        "x" * 5000,
        float("nan"),
        float("inf"),
        float("-inf"),
        1e308,
        5e-324,
        2**63,
        -(10**30),
        "1e-30",
        True,
        [],
        {},
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    edges,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)


_MISSING = object()


def near(valid: dict) -> st.SearchStrategy[dict]:
    """``valid`` with one to three fields replaced by hostile values or
    dropped, the rest intact: inputs that get past the first check and reach
    the later fields' parsing."""

    def corrupt(keys: list) -> st.SearchStrategy[dict]:
        bad = st.one_of(edges, scalars, st.just(_MISSING), json_values)
        return st.fixed_dictionaries({k: bad for k in keys}).map(
            lambda repl: {
                k: repl.get(k, v)
                for k, v in {**valid, **repl}.items()
                if repl.get(k) is not _MISSING
            }
        )

    return st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=3, unique=True).flatmap(
        corrupt
    )


ORDER_ROW = {
    "orderid": "26120300000001",
    "symbol": "SBIN",
    "exchange": "NSE",
    "action": "BUY",
    "quantity": 10,
    "filled_quantity": 4,
    "order_status": "open",
    "average_price": 811.25,
    "price": 811.3,
    "trigger_price": 811.2,
    "pricetype": "SL",
    "product": "MIS",
    "timestamp": "03-Dec-2026 10:00:00",
}
POSITION_ROW = {
    "symbol": "SBIN",
    "exchange": "NSE",
    "product": "MIS",
    "quantity": "-10",
    "average_price": "811.25",
    "ltp": 812.0,
    "pnl": -7.5,
}
TRADE_ROW = {
    "orderid": 26120300000001,
    "symbol": "SBIN",
    "exchange": "NSE",
    "action": "SELL",
    "quantity": "10",
    "average_price": "811.25",
    "timestamp": "2026-12-03 10:00:00",
}
FUNDS_ROW = {
    "availablecash": "100000.00",
    "collateral": "0",
    "m2mrealized": "-12.5",
    "m2munrealized": 3,
    "utiliseddebits": "5000",
}
BAR_ROW = {
    "open": 810,
    "high": 815.5,
    "low": 805,
    "close": "812.4",
    "volume": 1200,
    "timestamp": 1764700200,
}
TICK_MSG = {
    "type": "market_data",
    "symbol": "SBIN",
    "exchange": "NSE",
    "mode": 1,
    "data": {"ltp": 811.25, "timestamp": 1764736200000},
}


def rows(valid: dict) -> st.SearchStrategy:
    return st.one_of(json_values, near(valid))


# --- invariants of what a parser may return ---------------------------------------


def check_amount(d: Decimal, *, signed: bool = True) -> None:
    assert isinstance(d, Decimal) and d.is_finite()
    assert -MAX_AMOUNT < d < MAX_AMOUNT
    if not signed:
        assert d >= 0


def check_time(ts: datetime | None, *, optional: bool = True) -> None:
    if ts is None:
        assert optional
        return
    assert ts.tzinfo is not None and ts.utcoffset() is not None
    assert EARLIEST <= ts < LATEST


def check_name(s: str) -> None:
    assert isinstance(s, str) and s == s.strip() and 0 < len(s) <= 100


def refused_by_name(err: ValueError, ctx: str) -> None:
    """A refusal names where: the message starts with the row's path."""
    assert str(err).startswith(ctx), str(err)


def check_order(u: OrderUpdate) -> None:
    check_name(u.order_id)
    check_name(u.symbol)
    check_name(u.exchange)
    assert u.exchange == u.exchange.upper()
    assert isinstance(u.action, Action) and isinstance(u.status, OrderStatus)
    assert 0 <= u.quantity <= MAX_QUANTITY
    assert u.filled_quantity is None or 0 <= u.filled_quantity <= u.quantity
    assert 0 <= u.filled <= u.quantity
    for p in (u.average_price, u.price, u.trigger_price):
        check_amount(p, signed=False)
    check_time(u.timestamp)
    if u.status is OrderStatus.PARTIAL and u.filled_quantity is not None:
        assert 0 < u.filled_quantity < u.quantity


# --- the row parsers ----------------------------------------------------------------


@MANY
@given(rows(ORDER_ROW))
def test_order_update_rows(row):
    try:
        u = order_update_from_dict(row, source="orderbook", ctx="orderbook.data.orders[0]")
    except ValueError as e:
        return refused_by_name(e, "orderbook.data.orders[0]")
    assert isinstance(u, OrderUpdate) and u.source == "orderbook"
    check_order(u)


@MANY
@given(rows(POSITION_ROW))
def test_positionbook_rows(row):
    try:
        p = position_from_dict(row, ctx="positionbook.data[3]")
    except ValueError as e:
        return refused_by_name(e, "positionbook.data[3]")
    assert isinstance(p, Position)
    check_name(p.symbol)
    check_name(p.exchange)
    assert -MAX_QUANTITY <= p.quantity <= MAX_QUANTITY
    for v in (p.average_price, p.ltp, p.pnl):
        check_amount(v)


@MANY
@given(rows(TRADE_ROW))
def test_tradebook_rows(row):
    try:
        t = trade_from_dict(row, ctx="tradebook.data[0]")
    except ValueError as e:
        return refused_by_name(e, "tradebook.data[0]")
    assert isinstance(t, Trade)
    check_name(t.order_id)
    check_name(t.symbol)
    assert isinstance(t.action, Action)
    assert 0 <= t.quantity <= MAX_QUANTITY
    check_amount(t.average_price, signed=False)
    check_time(t.timestamp)


@MANY
@given(rows(FUNDS_ROW))
def test_funds_replies(row):
    try:
        f = funds_from_dict(row)
    except ValueError as e:
        return refused_by_name(e, "funds.data")
    assert isinstance(f, Funds)
    for v in (f.available_cash, f.collateral, f.realized_pnl, f.unrealized_pnl, f.utilised):
        check_amount(v)


@MANY
@given(rows(BAR_ROW))
def test_history_candles(row):
    for parse, kind in ((bar_from_dict, Bar), (candle_from_dict, Candle)):
        try:
            bar = parse(row, ctx="history.data[0]")
        except ValueError as e:
            refused_by_name(e, "history.data[0]")
            continue
        assert isinstance(bar, kind)
        for v in (bar.open, bar.high, bar.low, bar.close):
            check_amount(v)
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume >= 0
        if kind is Candle:
            check_time(bar.ts, optional=False)


def tick_messages() -> st.SearchStrategy:
    data = near(TICK_MSG["data"])
    msg = near({**TICK_MSG, "data": None}).flatmap(
        lambda m: data.map(lambda d: {**m, "data": d} if "data" in m else m)
    )
    return st.one_of(json_values, msg)


@MANY
@given(tick_messages())
def test_feed_ticks(msg):
    try:
        tick = parse_tick(msg, KNOWN, NOW)
    except ValueError as e:
        return refused_by_name(e, "market_data")
    assert isinstance(tick, Tick)
    assert tick.key in KNOWN
    check_amount(tick.ltp, signed=False)
    assert tick.ltp > 0
    check_time(tick.ts, optional=False)


# --- the feed's inbox: hostile messages among real ones ------------------------------


def _update_msg(status: str, filled: int, avg: float) -> dict:
    return {
        "type": "order_update",
        **ORDER_ROW,
        "order_status": status,
        "filled_quantity": filled,
        "average_price": avg,
    }


# A stop's life as the server repeats and reorders it.
REAL = [
    _update_msg("trigger pending", 0, 0),
    _update_msg("open", 4, 0),
    _update_msg("open", 4, 0),
    _update_msg("trigger pending", 0, 0),
    _update_msg("open", 7, 811.1),
    _update_msg("complete", 10, 811.2),
    _update_msg("open", 7, 811.1),
]


EXPECTED = [
    (u.status, u.filled_quantity, u.average_price)
    for u in (order_update_from_dict(m, source="ws") for m in REAL[:2] + REAL[4:6])
]


def hostile_messages() -> st.SearchStrategy:
    """Messages an attacker or a broken adapter sends; none of them names a
    known order with a readable update (those would be news, not hostility)."""
    other = {**ORDER_ROW, "type": "order_update"}
    return st.one_of(
        json_values,
        tick_messages(),
        near(other).filter(lambda m: m.get("orderid") != ORDER_ROW["orderid"]),
        near(other).map(lambda m: {**m, "quantity": "ten"}),
    )


@pytest.fixture(autouse=True, scope="module")
def quiet_drops():
    """Every refusal is logged; thousands of them would only slow the run."""
    log = logging.getLogger("live.openalgo")
    level = log.level
    log.setLevel(logging.ERROR)
    yield
    log.setLevel(level)


def deliver(inbox: Inbox, msgs: list) -> list:
    out = []
    for m in msgs:
        item = inbox.read(m, NOW)
        if item is not None:
            out.append(item)
    return out


@MANY
@given(st.lists(st.tuples(st.integers(0, len(REAL)), hostile_messages()), min_size=1, max_size=4))
def test_inbox_never_raises_and_hostile_messages_leave_no_trace(inserts):
    counts: dict[str, int] = {}

    def count(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    mixed: list = list(REAL)
    for pos, msg in sorted(inserts, key=lambda x: -x[0]):
        mixed.insert(pos, msg)
    got = deliver(Inbox(KNOWN, count), mixed)
    ours = [u for u in got if isinstance(u, OrderUpdate) and u.order_id == ORDER_ROW["orderid"]]
    assert [(u.status, u.filled_quantity, u.average_price) for u in ours] == EXPECTED
    for item in got:
        if isinstance(item, Tick):
            assert item.key in KNOWN and item.ltp > 0
        else:
            check_order(item)
    assert counts.get("order_updates", 0) >= len(EXPECTED)


# --- the books over a real socket ------------------------------------------------------


@pytest.fixture(scope="module")
def book_server():
    stub = StubOpenAlgo()
    broker = make_broker(stub.url, FakeTime())
    yield stub, broker
    broker.close()
    stub.stop()


def _parses(parse, row) -> bool:
    try:
        parse(row)
    except ValueError:
        return False
    return True


BOOKS = [
    ("orderbook", ORDER_ROW, lambda r: order_update_from_dict(r, source="orderbook")),
    ("positionbook", POSITION_ROW, position_from_dict),
    ("tradebook", TRADE_ROW, trade_from_dict),
]


@pytest.mark.parametrize("endpoint,valid,parse", BOOKS, ids=[b[0] for b in BOOKS])
def test_books_over_a_socket_keep_every_good_row_and_count_every_bad_one(
    book_server, endpoint, valid, parse
):
    stub, broker = book_server
    read = {"orderbook": broker.orderbook, "positionbook": broker.positions}.get(
        endpoint, broker.tradebook
    )

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.just(valid), rows(valid)), max_size=6), st.booleans())
    def check(book, wrapped):
        data = {"orders": book} if endpoint == "orderbook" and wrapped else book
        with stub.lock:
            stub.replies[endpoint] = (200, {"status": "success", "data": data})
        before = broker.counters().rows_skipped
        got = read()
        good = [r for r in book if _parses(parse, r)]
        assert len(got) == len(good)
        assert broker.counters().rows_skipped - before == len(book) - len(good)

    check()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_a_hostile_book_container_is_a_broker_error_never_a_crash(book_server, data):
    stub, broker = book_server
    for endpoint, read in (
        ("orderbook", broker.orderbook),
        ("positionbook", broker.positions),
        ("tradebook", broker.tradebook),
        ("funds", broker.funds),
    ):
        with stub.lock:
            stub.replies[endpoint] = (200, {"status": "success", "data": data})
        try:
            result = read()
        except BrokerError as e:
            assert endpoint in str(e)
            continue
        assert isinstance(result, list | Funds)


def test_generated_floats_include_the_ones_that_break_naive_parsers():
    """The strategies above reach NaN, infinities and huge integers (a guard
    against a refactor that narrows them and makes the tests vacuous)."""
    seen = set()

    @settings(max_examples=400, deadline=None)
    @given(scalars)
    def probe(v):
        if isinstance(v, float) and math.isnan(v):
            seen.add("nan")
        elif isinstance(v, float) and math.isinf(v):
            seen.add("inf")
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_QUANTITY:
            seen.add("huge")

    probe()
    assert seen == {"nan", "inf", "huge"}
