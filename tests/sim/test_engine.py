"""Matching rules, margin, rejections - in-process through SimBroker."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from live.broker import (
    Action,
    InvalidRequest,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    PriceType,
    Product,
)
from live.sim import EngineConfig, RejectionReply, SimBroker, StopThroughMarket

from .conftest import at, flat_day


def req(action, qty, pt, price=None, trigger=None, product=Product.MIS):
    return OrderRequest(
        "SBIN",
        "NSE",
        Action(action),
        qty,
        PriceType(pt),
        product,
        D(price) if price else None,
        D(trigger) if trigger else None,
    )


@pytest.fixture
def sim(make_sim):
    s = make_sim()
    s.push_tick("NSE:SBIN", "500.00", at("09:15"))
    return s


@pytest.fixture
def broker(sim):
    return SimBroker(sim)


def test_market_fills_at_ltp_and_updates_position_and_funds(sim, broker):
    oid = broker.place_order(req("BUY", 10, "MARKET"))
    st = broker.order_status(oid)
    assert st.status is OrderStatus.COMPLETE and st.average_price == D("500.00")
    (pos,) = broker.positions()
    assert pos.quantity == 10 and pos.average_price == D("500.00")
    f = broker.funds()
    assert f.utilised == D("1000.0")  # 0.2 * 10 * 500
    assert f.available_cash == D("1000000") - D("1000.0")


@pytest.mark.parametrize(
    "action,trigger,ticks,fill",
    [
        ("BUY", "505.00", ["504.95", "505.00"], "505.00"),  # touch
        ("BUY", "505.00", ["504.00", "507.50"], "507.50"),  # gap up through the trigger
        ("SELL", "495.00", ["495.05", "495.00"], "495.00"),
        ("SELL", "495.00", ["496.00", "491.20"], "491.20"),  # gap down
    ],
)
def test_slm_triggers_and_fills_at_gapped_price(sim, broker, action, trigger, ticks, fill):
    oid = broker.place_order(req(action, 5, "SL-M", trigger=trigger))
    assert broker.order_status(oid).status is OrderStatus.TRIGGER_PENDING
    sim.push_tick("NSE:SBIN", ticks[0])
    assert broker.order_status(oid).status is OrderStatus.TRIGGER_PENDING
    sim.push_tick("NSE:SBIN", ticks[1])
    st = broker.order_status(oid)
    assert st.status is OrderStatus.COMPLETE and st.average_price == D(fill)


def test_sl_limit_gap_beyond_limit_rests_open_then_fills_at_limit(sim, broker):
    oid = broker.place_order(req("BUY", 5, "SL", price="506.00", trigger="505.00"))
    sim.push_tick("NSE:SBIN", "508.00")  # triggered, but beyond the limit
    assert broker.order_status(oid).status is OrderStatus.OPEN
    sim.push_tick("NSE:SBIN", "505.50")  # back within the limit: resting -> our limit
    st = broker.order_status(oid)
    assert st.status is OrderStatus.COMPLETE and st.average_price == D("506.00")


def test_sl_sell_gap_within_limit_fills_at_ltp(sim, broker):
    oid = broker.place_order(req("SELL", 5, "SL", price="494.00", trigger="495.00"))
    sim.push_tick("NSE:SBIN", "494.50")
    st = broker.order_status(oid)
    assert st.status is OrderStatus.COMPLETE and st.average_price == D("494.50")


def test_limit_marketable_fills_at_ltp_resting_fills_at_limit(sim, broker):
    a = broker.place_order(req("BUY", 1, "LIMIT", price="502.00"))
    assert broker.order_status(a).average_price == D("500.00")
    b = broker.place_order(req("BUY", 1, "LIMIT", price="498.00"))
    assert broker.order_status(b).status is OrderStatus.OPEN
    sim.push_tick("NSE:SBIN", "497.00")  # trades through: resting order gets its limit
    assert broker.order_status(b).average_price == D("498.00")


def test_partial_fills_per_tick(make_sim):
    sim = make_sim(config=EngineConfig(max_fill_qty_per_tick=4))
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    b = SimBroker(sim)
    seen = []
    b.on_order_update(seen.append)
    oid = b.place_order(req("BUY", 10, "MARKET"))
    st = b.order_status(oid)
    assert st.status is OrderStatus.PARTIAL and st.filled_quantity == 4
    sim.push_tick("NSE:SBIN", "501.00")
    sim.push_tick("NSE:SBIN", "502.00")
    st = b.order_status(oid)
    assert st.status is OrderStatus.COMPLETE and st.filled_quantity == 10
    assert st.average_price == (4 * D(500) + 4 * D(501) + 2 * D(502)) / 10
    assert [u.filled_quantity for u in seen if u.order_id == oid] == [0, 4, 8, 10]
    assert len(sim.truth.trades()) == 3


def test_insufficient_funds_rejected_with_reason_and_nothing_blocked(make_sim):
    sim = make_sim(config=EngineConfig(opening_cash=D("10000")))
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    b = SimBroker(sim)
    with pytest.raises(OrderRejected, match="Insufficient funds"):
        b.place_order(req("BUY", 101, "MARKET"))  # 0.2*101*500 = 10100 > 10000
    (o,) = sim.truth.orders()
    assert o.status is OrderStatus.REJECTED and "Required margin is 10100.00" in o.rejection_reason
    assert b.funds().available_cash == D("10000")
    assert b.place_order(req("BUY", 100, "MARKET"))  # exactly fits


def test_margin_blocked_while_working_released_on_cancel_and_exit_needs_none(sim, broker):
    oid = broker.place_order(req("BUY", 10, "LIMIT", price="490.00"))
    assert broker.funds().utilised == D("980.0")
    broker.cancel_order(oid)
    assert broker.funds().utilised == 0
    broker.place_order(req("BUY", 10, "MARKET"))
    used = broker.funds().utilised
    broker.place_order(req("SELL", 10, "SL-M", trigger="495.00"))  # the protective stop
    assert broker.funds().utilised == used
    sim.push_tick("NSE:SBIN", "494.00")
    f = broker.funds()
    assert f.utilised == 0 and f.realized_pnl == D("-60.00")  # (494 - 500) * 10
    assert broker.positions() == []


def test_off_grid_price_and_trigger_rejected(sim, broker):
    with pytest.raises(OrderRejected, match="not a multiple of the tick size 0.05"):
        broker.place_order(req("BUY", 1, "LIMIT", price="499.97"))
    with pytest.raises(OrderRejected, match="trigger_price 505.03"):
        broker.place_order(req("BUY", 1, "SL-M", trigger="505.03"))
    assert [o.status for o in sim.truth.orders()] == [OrderStatus.REJECTED] * 2
    assert len(sim.truth.off_grid_prices()) == 2


def test_price_band_rejects_outside_circuit(sim, broker):
    # prior close 500, band 20%: 400.00 .. 600.00
    broker.place_order(req("BUY", 1, "LIMIT", price="400.00"))
    with pytest.raises(OrderRejected, match="circuit limits 400.00-600.00"):
        broker.place_order(req("BUY", 1, "LIMIT", price="399.95"))
    with pytest.raises(OrderRejected, match="circuit"):
        broker.place_order(req("BUY", 1, "SL-M", trigger="600.05"))


def test_stop_already_through_market_rejected_or_triggered(make_sim):
    sim = make_sim()
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    with pytest.raises(OrderRejected, match="must be higher than the last traded price"):
        SimBroker(sim).place_order(req("BUY", 1, "SL-M", trigger="499.00"))
    sim2 = make_sim(config=EngineConfig(stop_through_market=StopThroughMarket.TRIGGER))
    sim2.push_tick("NSE:SBIN", "500.00")
    oid = SimBroker(sim2).place_order(req("BUY", 1, "SL-M", trigger="499.00"))
    assert sim2.engine.order(oid).status is OrderStatus.COMPLETE


def test_rejection_reply_order_id_mode_returns_id(make_sim):
    sim = make_sim(config=EngineConfig(rejection_reply=RejectionReply.ORDER_ID))
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    oid = SimBroker(sim).place_order(req("BUY", 1, "LIMIT", price="499.97"))
    assert SimBroker(sim).order_status(oid).status is OrderStatus.REJECTED


def test_lot_size_and_band_free_instrument(make_sim):
    sim = make_sim(flat_day(lot_size=25, band_pct=None))
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    b = SimBroker(sim)
    with pytest.raises(OrderRejected, match="lot size 25"):
        b.place_order(req("BUY", 10, "MARKET"))
    b.place_order(req("BUY", 25, "LIMIT", price="100.00"))  # no band: accepted
    assert b.instrument("SBIN", "NSE").lot_size == 25


def test_modify_and_cancel_rules(sim, broker):
    oid = broker.place_order(req("SELL", 5, "SL-M", trigger="495.00"))
    broker.modify_order(oid, req("SELL", 5, "SL-M", trigger="496.00"))
    assert broker.order_status(oid).trigger_price == D("496.00")
    with pytest.raises(InvalidRequest, match="modification rejected"):
        broker.modify_order(oid, req("SELL", 5, "SL-M", trigger="496.03"))
    assert broker.order_status(oid).trigger_price == D("496.00")  # unchanged
    broker.cancel_order(oid)
    with pytest.raises(InvalidRequest, match="cannot be cancelled: it is cancelled"):
        broker.cancel_order(oid)
    with pytest.raises(InvalidRequest, match="not found"):
        broker.order_status("nope")


def test_orders_after_close_rejected(sim, broker, clock):
    clock.set(at("15:30"))
    with pytest.raises(OrderRejected, match="Markets are closed"):
        broker.place_order(req("BUY", 1, "MARKET"))


def test_short_position_pnl_and_flip(sim, broker):
    broker.place_order(req("SELL", 10, "MARKET"))
    sim.push_tick("NSE:SBIN", "490.00")
    broker.place_order(req("BUY", 15, "MARKET"))  # cover 10 (+100), go long 5 @490
    (p,) = broker.positions()
    assert p.quantity == 5 and p.average_price == D("490.00")
    assert broker.funds().realized_pnl == D("100.00")


def test_update_listener_may_call_back_into_broker(sim, broker):
    """A fill callback placing the stop-loss must not deadlock and sees order."""
    placed = []

    def on_update(u):
        if u.status is OrderStatus.COMPLETE and u.action is Action.BUY:
            placed.append(broker.place_order(req("SELL", u.quantity, "SL-M", trigger="495.00")))

    broker.on_order_update(on_update)
    broker.place_order(req("BUY", 3, "MARKET"))
    assert len(placed) == 1
    assert sim.truth.max_unprotected("SBIN").total_seconds() == 0
