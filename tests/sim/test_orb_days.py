"""Opening-range-breakout scenario days: each kind keeps its promises, the
ground truth (``SymbolDay.orb``) agrees with an independent reading of the
ticks, and the matching engine really triggers what the truth says."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal as D

import pytest

from live.broker import Action, OrderRequest, PriceType
from live.sim import SCENARIOS, SimBroker, SimDay, SimTick, Simulator
from live.sim.orb import ORB_KINDS, orb_truth

from .conftest import DAY, at

CUTOFF = at("15:15")


def _day(seed, minutes=15, **kw):
    return SimDay.generate(
        DAY, {f"NSE:O{i}": k for i, k in enumerate(ORB_KINDS)}, seed=seed, orb_minutes=minutes, **kw
    )


def test_orb_kinds_are_scenarios():
    assert set(ORB_KINDS) <= set(SCENARIOS)
    assert ORB_KINDS == ("orb_up", "orb_down", "orb_whipsaw", "orb_none")


@pytest.mark.parametrize("seed", range(8))
def test_every_orb_kind_keeps_its_promises(seed):
    for sd in _day(seed).symbols:
        ticks = sd.ticks
        o = sd.orb
        assert o is not None and sd.levels is None
        assert all(sd.instrument.on_grid(t.ltp) for t in ticks)
        assert all(isinstance(t.ltp, D) for t in ticks)
        # the range, read independently of orb_truth
        window = [t.ltp for t in ticks if t.ts < at("09:30")]
        after = [t for t in ticks if t.ts >= at("09:30")]
        assert (o.high, o.low) == (max(window), min(window)) and o.high > o.low
        assert o.range_end == at("09:30") and o.cutoff == CUTOFF
        # nothing prints exactly on a boundary after the window
        assert all(t.ltp not in (o.high, o.low) for t in after)
        beyond_up = [t for t in after if t.ltp > o.high]
        beyond_dn = [t for t in after if t.ltp < o.low]
        close = [t.ltp for t in ticks if t.ts <= CUTOFF][-1]
        assert o.close_at_cutoff == close
        kind = sd.scenario
        if kind == "orb_none":
            assert not beyond_up and not beyond_dn and o.breakout is None
            continue
        first = min(beyond_up + beyond_dn, key=lambda t: t.ts)
        assert (o.breakout_at, o.breakout_price) == (first.ts, first.ltp)
        if kind == "orb_up":
            assert o.breakout == "up" and not beyond_dn and o.reversal_at is None
            assert all(t.ltp > o.high for t in after if t.ts >= o.breakout_at)  # clean
            assert close > o.high + o.width  # it ran
        elif kind == "orb_down":
            assert o.breakout == "down" and not beyond_up and o.reversal_at is None
            assert all(t.ltp < o.low for t in after if t.ts >= o.breakout_at)
            assert close < o.low - o.width
        else:  # whipsaw
            other = beyond_dn if o.breakout == "up" else beyond_up
            rev = min(other, key=lambda t: t.ts)
            assert (o.reversal_at, o.reversal_price) == (rev.ts, rev.ltp)
            assert rev.ts > o.breakout_at
            # fast: at most 5 ticks (25 s at 5 s ticks) from breakout to reversal
            assert rev.ts - o.breakout_at <= timedelta(seconds=25)
            far = max(abs(t.ltp - (o.high if o.breakout == "up" else o.low)) for t in after)
            tick = sd.instrument.tick_size
            assert far >= 5 * tick
            # ... and back inside the range for the rest of the day
            last_out = max(t.ts for t in beyond_up + beyond_dn)
            assert last_out < rev.ts + timedelta(minutes=2)
            assert o.low < close < o.high


def test_whipsaw_draws_both_sides_across_seeds():
    days = [SimDay.generate(DAY, {"NSE:O2": "orb_whipsaw"}, seed=s) for s in range(12)]
    assert days[0].symbol("NSE:O2") == _day(0).symbol("NSE:O2")  # per-symbol seeding
    sides = {d.symbol("NSE:O2").orb.breakout for d in days}
    assert sides == {"up", "down"}


def test_orb_minutes_moves_the_range():
    d = _day(3, minutes=30)
    for sd in d.symbols:
        assert sd.orb.minutes == 30 and sd.orb.range_end == at("09:45")
        window = [t.ltp for t in sd.ticks if t.ts < at("09:45")]
        assert sd.orb.high == max(window)
    with pytest.raises(ValueError, match="orb_minutes"):
        _day(3, minutes=0)
    with pytest.raises(ValueError, match="tick_seconds"):
        _day(3, minutes=5, tick_seconds=60.0)


def test_orb_prior_day_is_not_an_8020_setup():
    for sd in _day(5).symbols:
        bar = sd.prior_bars[-1]
        r = bar.high - bar.low
        assert bar.low + r * D("0.2") < bar.open < bar.low + r * D("0.8")
        assert bar.low + r * D("0.2") < bar.close < bar.low + r * D("0.8")
        assert sd.instrument.prior_close == bar.close


def test_orb_truth_on_handmade_ticks():
    def tk(hhmmss, ltp):
        return SimTick("X", "NSE", D(ltp), at(hhmmss))

    ticks = [
        tk("09:15", "100.00"),
        tk("09:20", "101.00"),
        tk("09:29:59", "99.50"),
        tk("09:30", "101.00"),  # at the high: not a breakout
        tk("09:31", "101.05"),  # breakout up
        tk("09:32", "99.45"),  # reversal through the low
        tk("15:15", "100.20"),
        tk("15:20", "90.00"),  # after the cutoff
    ]
    o = orb_truth(reversed(ticks), at("09:15"))
    assert (o.high, o.low, o.breakout, o.breakout_price) == (
        D("101.00"),
        D("99.50"),
        "up",
        D("101.05"),
    )
    assert (o.reversal_at, o.reversal_price, o.close_at_cutoff) == (
        at("09:32"),
        D("99.45"),
        D("100.20"),
    )
    assert orb_truth(ticks[:4], at("09:15"), cutoff=time(9, 20)).breakout is None
    with pytest.raises(ValueError, match="no tick"):
        orb_truth(ticks[3:], at("09:15"))


def _stop(action, trigger, qty=1):
    return OrderRequest("O2", "NSE", Action(action), qty, PriceType.SL_M, trigger_price=trigger)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whipsaw_triggers_both_entries_and_the_stop_in_the_engine(seed, clock):
    """The race the scenario exists for: an OCO pair whose cancel never
    arrives ends with both entries and the first side's stop filled."""
    day = _day(seed)
    o = day.symbol("NSE:O2").orb
    sim = Simulator(day, clock=clock)
    b = SimBroker(sim)
    sim.advance_to(o.range_end)
    tick = day.symbol("NSE:O2").instrument.tick_size
    buy = b.place_order(_stop("BUY", o.high + tick))
    sell = b.place_order(_stop("SELL", o.low - tick))
    first = buy if o.breakout == "up" else sell
    sim.advance_to(o.breakout_at)
    assert sim.engine.order(first).status.value == "complete"
    # the first side's protective stop, at the other side of the range
    stop = b.place_order(_stop("SELL", o.low, 1) if o.breakout == "up" else _stop("BUY", o.high, 1))
    sim.advance_to(o.reversal_at)
    done = {oid: sim.engine.order(oid).status.value for oid in (buy, sell, stop)}
    assert done == {buy: "complete", sell: "complete", stop: "complete"}
    assert sim.truth.net_position("O2") == (-1 if o.breakout == "up" else 1)  # the unwanted flip


def test_orb_up_never_triggers_the_sell_side(clock):
    day = _day(4)
    o = day.symbol("NSE:O0").orb
    sim = Simulator(day, clock=clock)
    b = SimBroker(sim)
    sim.advance_to(o.range_end)
    sell = b.place_order(
        OrderRequest("O0", "NSE", Action.SELL, 1, PriceType.SL_M, trigger_price=o.low)
    )
    sim.run_to_end()
    assert sim.engine.order(sell).status.value == "trigger pending"
