"""Fault plans in-process: typed errors, applied-then-timeout, rejections,
partial fills and disturbed order-update streams."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from live.broker import (
    Action,
    AmbiguousOrderError,
    BrokerTimeout,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    PriceType,
    RateLimited,
    TransientBrokerError,
)
from live.sim import (
    FaultPlan,
    HttpError,
    PartialFill,
    RateLimits,
    Reject,
    SimBroker,
    Timeout,
    UpdateFault,
)

from .conftest import at


def mkt(qty=1):
    return OrderRequest("SBIN", "NSE", Action.BUY, qty, PriceType.MARKET)


def sl(trigger):
    return OrderRequest(
        "SBIN", "NSE", Action.BUY, 1, PriceType.SL, price=D(trigger), trigger_price=D(trigger)
    )


def setup(make_sim, *faults, seed=0, **kw):
    sim = make_sim(faults=FaultPlan(faults, seed=seed))
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    return sim, SimBroker(sim, **kw)


def test_http_500_on_chosen_call_applies_nothing(make_sim):
    sim, b = setup(make_sim, HttpError(endpoint="placeorder", calls=(2,), status=500))
    b.place_order(mkt())
    with pytest.raises(TransientBrokerError) as e:
        b.place_order(mkt())
    assert e.value.code == 500
    b.place_order(mkt())
    assert len(sim.truth.orders()) == 2
    assert [r.status for r in sim.truth.requests("placeorder")] == [200, 500, 200]


def test_429_fault_and_rate_limit(make_sim):
    sim, b = setup(make_sim, HttpError(endpoint="funds", calls=(1,), status=429))
    with pytest.raises(RateLimited):
        b.funds()
    b.funds()
    sim2, b2 = setup(make_sim, rate_limits=RateLimits(orders_per_window=3))
    for _ in range(3):
        b2.place_order(mkt())
    with pytest.raises(RateLimited) as e:
        b2.place_order(mkt())  # same market instant: 4th order in the window
    assert e.value.retry_after == 60
    sim2.advance(1)
    b2.place_order(mkt())


def test_placeorder_timeout_after_accept_is_ambiguous_and_order_exists(make_sim):
    sim, b = setup(make_sim, Timeout(endpoint="placeorder", calls=(1,)))
    with pytest.raises(AmbiguousOrderError):
        b.place_order(mkt(7))
    (o,) = sim.truth.orders()
    assert o.quantity == 7 and o.status is OrderStatus.COMPLETE
    assert sim.truth.net_position("SBIN") == 7
    sim2, b2 = setup(make_sim, Timeout(endpoint="orderbook"))
    with pytest.raises(BrokerTimeout):
        b2.orderbook()


def test_reject_nth_placeorder_and_every_sl_for_symbol(make_sim):
    sim, b = setup(
        make_sim,
        Reject(calls=(2,), reason="RMS: nope"),
        Reject(symbol="SBIN", price_type="SL", reason="RMS: no SL"),
    )
    b.place_order(mkt())
    with pytest.raises(OrderRejected, match="RMS: nope"):
        b.place_order(mkt())
    with pytest.raises(OrderRejected, match="no SL"):
        b.place_order(sl("505.00"))
    slm = OrderRequest("SBIN", "NSE", Action.BUY, 1, PriceType.SL_M, trigger_price=D("505"))
    assert b.place_order(slm)


def test_partial_fill_fault(make_sim):
    sim, b = setup(make_sim, PartialFill(max_qty_per_tick=3))
    oid = b.place_order(mkt(7))
    assert b.order_status(oid).filled_quantity == 3
    sim.push_tick("NSE:SBIN", "500.05")
    sim.push_tick("NSE:SBIN", "500.10")
    assert b.order_status(oid).status is OrderStatus.COMPLETE


def _stream(b):
    seen = []
    b.on_order_update(lambda u: seen.append((u.order_id, u.status.value, u.filled)))
    return seen


def test_duplicated_updates(make_sim):
    sim, b = setup(make_sim, UpdateFault("duplicate", calls=(2,)))
    seen = _stream(b)
    oid = b.place_order(mkt())
    assert seen == [(oid, "open", 0), (oid, "complete", 1), (oid, "complete", 1)]


def test_reordered_updates(make_sim):
    sim, b = setup(make_sim, UpdateFault("reorder", calls=(1,)))
    seen = _stream(b)
    oid = b.place_order(mkt())
    assert seen == [(oid, "complete", 1), (oid, "open", 0)]  # older state arrives last


def test_delayed_updates_release_on_market_time(make_sim):
    sim, b = setup(make_sim, UpdateFault("delay", calls=(2,), delay=30))
    seen = _stream(b)
    oid = b.place_order(mkt())
    assert seen == [(oid, "open", 0)]
    sim.advance(29)
    assert len(seen) == 1
    sim.advance(1)
    assert seen[-1] == (oid, "complete", 1)


def test_probabilistic_faults_are_seeded():
    def run(seed):
        plan = FaultPlan((HttpError(endpoint="funds", probability=0.5),), seed=seed)
        from live.sim.faults import FaultInjector

        inj = FaultInjector(plan)
        return [inj.on_request("funds")[1].http_status for _ in range(30)]

    assert run(1) == run(1) and run(1) != run(2) and 500 in run(1) and None in run(1)


def test_yaml_plan_loads_and_bad_plans_name_the_field(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text(
        "seed: 3\nfaults:\n"
        "  - {kind: latency, endpoint: orderbook, seconds: 0.2}\n"
        "  - {kind: http_error, endpoint: placeorder, status: 500, calls: [2]}\n"
        "  - {kind: timeout, endpoint: placeorder, calls: [1], delay: 3}\n"
        "  - {kind: reject, symbol: SBIN, price_type: SL}\n"
        "  - {kind: partial_fill, max_qty_per_tick: 10}\n"
        "  - {kind: order_update, action: reorder, calls: [4]}\n"
        "  - {kind: ws_drop, after_messages: 100}\n"
        "  - {kind: ws_stall, at: '10:00:00', seconds: 60}\n"
    )
    plan = FaultPlan.from_yaml(p)
    assert plan.seed == 3 and len(plan.faults) == 8
    assert plan.faults[1] == HttpError(endpoint="placeorder", status=500, calls=(2,))
    with pytest.raises(ValueError, match=r"faults\[0\].kind: 'boom' unknown"):
        FaultPlan.from_dict({"faults": [{"kind": "boom"}]})
    with pytest.raises(ValueError, match=r"faults\[0\] \(http_error\): unknown keys \['code'\]"):
        FaultPlan.from_dict({"faults": [{"kind": "http_error", "code": 500}]})
    with pytest.raises(ValueError, match="probability"):
        FaultPlan.from_dict({"faults": [{"kind": "reject", "probability": 2}]})
