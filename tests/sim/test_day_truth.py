"""Scenario days, CSV replay, and the ground-truth queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from live.broker import Action, OrderRequest, PriceType
from live.sim import SCENARIOS, SimBroker, SimDay, Simulator

from .conftest import DAY, at


@pytest.mark.parametrize("seed", range(6))
def test_every_setup_scenario_has_its_shape(seed):
    day = SimDay.generate(DAY, {f"NSE:S{i}": s for i, s in enumerate(SCENARIOS)}, seed=seed)
    for sd in day.symbols:
        bar = sd.prior_bars[-1]
        assert bar.day == DAY - timedelta(days=1)
        assert all(sd.instrument.on_grid(t.ltp) for t in sd.ticks)
        assert sd.ticks[0].ts == at("09:15") and sd.ticks[-1].ts < at("15:30")
        if sd.levels is None:
            continue
        r = bar.high - bar.low
        sign = 1 if sd.levels.side == "long" else -1
        lt = [t.ltp * sign for t in sd.ticks]
        top, bottom = bar.low + r * D("0.8"), bar.low + r * D("0.2")
        if sign > 0:
            assert bar.open >= top and bar.close <= bottom
            entry = bar.low
        else:
            assert bar.open <= bottom and bar.close >= top
            entry = bar.high
        assert sd.levels.entry == entry
        trig = sd.levels.trigger_extreme * sign
        first = lt.index(trig)
        assert trig < entry * sign and all(x > trig for x in lt[:first])  # first breach
        assert any(x > entry * sign for x in lt[first:])  # comes back: entry fills
        after = lt[first + 1 :]
        kind = sd.scenario.split("_", 1)[1]
        if kind == "win":
            assert min(after) > trig  # never stops out
        else:
            low2 = sd.levels.stopout_extreme * sign
            assert low2 < trig and min(lt) == low2
            tail = lt[lt.index(low2) :]
            if kind == "stopout":
                assert all(x < entry * sign for x in tail)
            else:
                assert any(x > entry * sign for x in tail)  # re-entry


def test_generation_is_deterministic_per_seed():
    a = SimDay.generate(DAY, ["NSE:SBIN", "NSE:INFY"], seed=5)
    b = SimDay.generate(DAY, ["NSE:SBIN", "NSE:INFY"], seed=5)
    c = SimDay.generate(DAY, ["NSE:SBIN", "NSE:INFY"], seed=6)
    assert a == b and a.ticks() != c.ticks()


def test_bad_scenario_and_holiday_rejected():
    with pytest.raises(ValueError, match="unknown"):
        SimDay.generate(DAY, {"NSE:SBIN": "moon"})
    with pytest.raises(ValueError, match="not a trading day"):
        SimDay.generate(DAY + timedelta(days=1), ["NSE:SBIN"])


def test_csv_replay(tmp_path, clock):
    p = tmp_path / "t.csv"
    p.write_text(
        "symbol,exchange,timestamp,ltp\n"
        "SBIN,NSE,2026-11-20T09:15:00,500.00\n"
        "SBIN,NSE,2026-11-20T09:15:05+05:30,500.50\n"
        f"SBIN,NSE,{int(at('09:15:10').timestamp() * 1000)},501.00\n"
    )
    day = SimDay.from_csv(p)
    sim = Simulator(day, clock=clock)
    assert sim.advance_to(at("09:15:07")) == 2
    assert sim.engine.ltp("NSE:SBIN") == D("500.50")
    assert sim.step().ltp == D("501.00") and sim.step() is None
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,exchange,timestamp,ltp\nSBIN,NSE,2026-11-20T09:15:00,abc\n")
    with pytest.raises(ValueError, match="bad.csv:2: ltp"):
        SimDay.from_csv(bad)


def test_history_includes_prior_bars_and_todays_forming_bar(scenario_day, clock):
    sim = Simulator(scenario_day, clock=clock)
    b = SimBroker(sim)
    bars = b.daily_bars("SBIN", "NSE", DAY - timedelta(days=40), DAY)
    assert len(bars) == 20 and bars[-1].day == DAY - timedelta(days=1)
    sim.advance_to(at("09:20"))
    bars = b.daily_bars("SBIN", "NSE", DAY - timedelta(days=40), DAY)
    assert bars[-1].day == DAY and len(bars) == 21


def _r(action, qty, pt, trigger=None, price=None):
    return OrderRequest(
        "SBIN",
        "NSE",
        Action(action),
        qty,
        PriceType(pt),
        price=D(price) if price else None,
        trigger_price=D(trigger) if trigger else None,
    )


def test_max_working_entries_counts_only_simultaneous_entries(make_sim):
    sim = make_sim()
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    b = SimBroker(sim)
    a = b.place_order(_r("BUY", 1, "SL-M", trigger="505.00"))
    assert sim.truth.max_working_entries("SBIN", "BUY") == 1
    b.cancel_order(a)
    b.place_order(_r("BUY", 1, "SL-M", trigger="505.00"))
    assert sim.truth.max_working_entries("SBIN", "BUY") == 1  # sequential: still 1
    b.place_order(_r("BUY", 1, "SL-M", trigger="506.00"))
    assert sim.truth.max_working_entries("NSE:SBIN", Action.BUY) == 2  # the race
    assert sim.truth.max_working_entries("SBIN", "SELL") == 0


def test_exit_stops_are_not_entries_and_protection_is_measured(make_sim, clock):
    sim = make_sim()
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    b = SimBroker(sim)
    b.place_order(_r("BUY", 10, "MARKET"))
    sim.advance_to(at("09:16"))  # a minute naked
    stop = b.place_order(_r("SELL", 10, "SL-M", trigger="495.00"))
    assert sim.truth.max_working_entries("SBIN", "SELL") == 0
    sim.advance_to(at("09:20"))
    b.modify_order(stop, _r("SELL", 4, "SL-M", trigger="495.00"))  # now under-covered
    sim.advance_to(at("09:23"))
    b.cancel_order(stop)
    b.place_order(_r("SELL", 10, "MARKET"))  # flat again
    spans = sim.truth.unprotected_intervals("SBIN")
    assert [(i.start, i.end) for i in spans] == [
        (at("09:15"), at("09:16")),
        (at("09:20"), at("09:23")),
    ]
    assert sim.truth.max_unprotected("SBIN") == timedelta(minutes=3)


def test_open_unprotected_interval_runs_to_now(make_sim, clock):
    sim = make_sim()
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    SimBroker(sim).place_order(_r("SELL", 10, "MARKET"))
    clock.set(at("09:45"))
    (span,) = sim.truth.unprotected_intervals("SBIN")
    assert span.end is None and sim.truth.max_unprotected("SBIN") == timedelta(minutes=30)


def test_requests_recorded_without_api_key(make_sim):
    sim = make_sim()
    sim.push_tick("NSE:SBIN", "500.00", at("09:15"))
    b = SimBroker(sim)
    b.place_order(_r("BUY", 1, "MARKET"))
    b.funds()
    (rec,) = sim.truth.requests(endpoint="placeorder", symbol="SBIN")
    assert rec.status == 200 and rec.payload["pricetype"] == "MARKET"
    assert "apikey" not in rec.payload and rec.ts == at("09:15")
    assert [r.endpoint for r in sim.truth.requests()] == ["placeorder", "funds"]
