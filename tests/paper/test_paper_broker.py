"""PaperBroker and PaperBook in-process: fills when the tick crosses our
price, at tick-rounded prices; paper funds; refusals naming the field;
only market data reaches the real broker; a dry run on paper places nothing.
The real broker here is a stand-in that answers the two market-data reads
the paper side asks (unit test: the socket test is test_paper_day)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

import pytest

from live.broker import (
    Action,
    Instrument,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    PriceType,
    Quote,
)
from live.clock import IST, ManualClock, MarketSession
from live.execution.dryrun import DryRunBroker
from live.paper import ID_PREFIX, PaperBook, PaperBroker

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=IST)


class RealStandIn:
    """Market data only; records every call so a test sees what was asked."""

    host = "http://127.0.0.1:5000"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def instrument(self, symbol, exchange):
        self.calls.append("instrument")
        return Instrument(symbol, exchange, D("0.05"), lot_size=1, name=symbol)

    def quote(self, symbol, exchange):
        self.calls.append("quote")
        return Quote(symbol, exchange, D("100.00"), extra={"prev_close": D("99.50")})

    def daily_bars(self, *a):
        self.calls.append("daily_bars")
        return []


@pytest.fixture
def paper():
    clock = ManualClock(NOW)
    book = PaperBook(clock=clock, funds=D("50000"), margin_rate=D("0.2"), session=MarketSession())
    broker = PaperBroker(RealStandIn(), book)
    broker.instrument("SBIN", "NSE")
    updates = []
    broker.on_order_update(updates.append)
    return broker, clock, updates


def req(action, pt, qty=10, price=None, trigger=None):
    return OrderRequest("SBIN", "NSE", Action(action), qty, PriceType(pt), price=price,
                        trigger_price=trigger)  # fmt: skip


def test_a_stop_fills_when_the_tick_crosses_it_at_a_tick_rounded_price(paper):
    broker, clock, updates = paper
    broker.on_tick("NSE:SBIN", D("100.00"), NOW)
    oid = broker.place_order(req("BUY", "SL-M", trigger=D("101.00")))
    assert oid.startswith(ID_PREFIX)
    assert broker.order_status(oid).status is OrderStatus.TRIGGER_PENDING
    broker.on_tick("NSE:SBIN", D("100.95"), NOW)
    assert broker.order_status(oid).status is OrderStatus.TRIGGER_PENDING  # not crossed yet
    broker.on_tick("NSE:SBIN", D("101.0700000001"), NOW)  # float noise from a feed
    done = broker.order_status(oid)
    assert (done.status, done.filled, done.average_price) == (
        OrderStatus.COMPLETE, 10, D("101.05")
    )  # fmt: skip
    assert [u.status for u in updates] == [
        OrderStatus.TRIGGER_PENDING, OrderStatus.OPEN, OrderStatus.COMPLETE
    ]  # fmt: skip
    assert all(u.source == "paper" for u in updates)
    (pos,) = broker.positions()
    assert (pos.quantity, pos.average_price) == (10, D("101.05"))


def test_a_resting_limit_fills_at_its_own_price_when_the_tick_trades_through(paper):
    broker, clock, _ = paper
    broker.on_tick("NSE:SBIN", D("100.00"), NOW)
    broker.place_order(req("BUY", "MARKET"))
    oid = broker.place_order(req("SELL", "LIMIT", price=D("102.00")))
    broker.on_tick("NSE:SBIN", D("101.95"), NOW)
    assert broker.order_status(oid).status is OrderStatus.OPEN
    broker.on_tick("NSE:SBIN", D("102.30"), NOW)
    assert broker.order_status(oid).average_price == D("102.00")
    assert broker.positions() == []
    funds = broker.funds()
    assert funds.realized_pnl == D("20.00") and funds.available_cash == D("50020.00")


def test_paper_funds_bound_the_orders(paper):
    broker, _, _ = paper
    broker.on_tick("NSE:SBIN", D("100.00"), NOW)
    assert broker.funds().available_cash == D("50000")
    # 3000 x 100 x 0.2 = 60000 of margin > 50000 of paper funds
    with pytest.raises(OrderRejected, match="Insufficient funds"):
        broker.place_order(req("BUY", "LIMIT", qty=3000, price=D("99.00")))
    assert broker.positions() == [] and broker.funds().utilised == 0


def test_an_off_grid_price_is_refused_naming_the_field_and_the_tick(paper):
    broker, _, _ = paper
    broker.on_tick("NSE:SBIN", D("100.00"), NOW)
    with pytest.raises(OrderRejected, match=r"price 99.03 is not a multiple of the tick size 0.05"):
        broker.place_order(req("BUY", "LIMIT", price=D("99.03")))
    assert broker.book.truth.working_orders("SBIN") == []


def test_ticks_of_symbols_the_book_does_not_trade_are_ignored(paper):
    broker, _, _ = paper
    broker.on_tick("NSE:INFY", D("1500.00"), NOW)
    assert broker.book.ticks_matched == 0 and broker.book.engine.ltp("NSE:SBIN") is None


def test_only_market_data_reaches_the_real_broker(paper):
    broker, _, _ = paper
    broker.daily_bars("SBIN", "NSE", NOW.date(), NOW.date())
    assert broker.real.calls == ["instrument", "quote", "daily_bars"]
    for name in ("placesmartorder", "closeposition", "tradebook", "margin", "cancelallorder"):
        with pytest.raises(AttributeError, match="only market data reaches the broker"):
            getattr(broker, name)
    world = broker.world()
    assert (world.kind, world.identity) == ("paper", broker.book.book_id)
    # The position is valued at the prior close until the first tick.
    assert broker.book.engine.instrument("NSE:SBIN").prior_close == D("99.50")


def test_a_dry_run_on_paper_places_nothing_even_on_paper(paper):
    broker, _, _ = paper
    broker.on_tick("NSE:SBIN", D("100.00"), NOW)
    dry = DryRunBroker(broker)
    oid = dry.place_order(req("BUY", "MARKET"))
    assert oid.startswith("DRY-")
    assert broker.book.engine.orders() == [] and broker.positions() == []


def test_paper_funds_must_be_a_positive_amount():
    with pytest.raises(ValueError, match="paper.funds: must be a Decimal > 0"):
        PaperBook(clock=ManualClock(NOW), funds=D(0), margin_rate=D("0.2"))
