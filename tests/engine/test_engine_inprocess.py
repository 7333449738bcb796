"""The whole engine over a simulated day, in process (no sockets): same
matching engine as the socket runs, unit speed, deterministic."""

from __future__ import annotations

from datetime import date, timedelta

from live.broker import Action
from live.execution import Phase
from live.journal import Journal
from live.simulate import simulate_day
from strategies.reversal_8020 import Reversal8020

DAY = date(2026, 11, 20)


def run_day(scenarios: dict[str, str], *, seed=7, journal=None, **cfg):
    r = simulate_day(Reversal8020, scenarios, seed=seed, journal=journal,
                     settings={"quantity": 10, **cfg})  # fmt: skip
    return r.engine, r.sim


def assert_day_safe(engine, sim):
    truth = sim.truth
    for key in engine.states:
        sym = key.split(":")[1]
        for side in (Action.BUY, Action.SELL):
            assert truth.max_working_entries(sym, side) <= 1, key
        assert truth.net_position(sym) == 0, f"{key} not flat at the close"
        assert not truth.working_orders(sym), f"{key} left orders working"
    assert truth.off_grid_prices() == []


def test_long_win_enters_protects_and_squares_off():
    engine, sim = run_day({"NSE:SBIN": "long_win"})
    v = engine.states["NSE:SBIN"].view()
    assert v.entries_today == 1 and v.fills >= 1 and v.phase is Phase.DONE
    assert_day_safe(engine, sim)
    assert sim.truth.max_unprotected(sim.day.symbol("NSE:SBIN").instrument.symbol) <= timedelta(
        seconds=5
    )


def test_stopout_then_reentry_and_short_and_no_setup():
    engine, sim = run_day(
        {"NSE:INFY": "long_stopout_reentry", "NSE:TCS": "short_win", "NSE:RELIANCE": "no_setup"}
    )
    assert "NSE:RELIANCE" not in engine.states
    assert not engine.plans["NSE:RELIANCE"].traded
    infy = engine.states["NSE:INFY"].view()
    assert infy.entries_today == 2, infy
    tcs = engine.states["NSE:TCS"].view()
    assert tcs.entries_today >= 1 and tcs.fills >= 1
    assert_day_safe(engine, sim)


def test_restart_does_not_exceed_max_attempts(tmp_path):
    path = tmp_path / "journal.db"
    with Journal(path) as j:
        engine, _ = run_day({"NSE:INFY": "long_stopout_reentry"}, journal=j)
        assert engine.states["NSE:INFY"].view().entries_today == 2
    with Journal(path) as j:
        engine, sim = run_day({"NSE:INFY": "long_stopout_reentry"}, journal=j)
        # The journal says both attempts are used today: no entry at all.
        assert engine.states["NSE:INFY"].view().entries_today == 2
        assert not [o for o in sim.truth.orders() if o.action.value == "BUY"]
