"""The whole engine over a simulated day, in process (no sockets): same
matching engine as the socket runs, unit speed, deterministic."""

from __future__ import annotations

from datetime import date, timedelta

from live.broker import Action
from live.clock import ManualClock
from live.config import parse_config
from live.engine import Engine
from live.execution import Phase
from live.journal import Journal
from live.sim.broker import SimBroker
from live.sim.day import SimDay
from live.sim.simulator import Simulator
from strategies.reversal_8020 import Reversal8020

DAY = date(2026, 11, 20)


def run_day(scenarios: dict[str, str], *, seed=7, journal=None, **cfg):
    sim_day = SimDay.generate(DAY, scenarios, seed=seed)
    clock = ManualClock(sim_day.open_at - timedelta(minutes=1))
    sim = Simulator(sim_day, clock=clock)
    broker = SimBroker(sim)
    config = parse_config({"symbols": list(scenarios), "strategy": {"quantity": 10, **cfg}})
    engine = Engine(config, broker, clock, Reversal8020, journal=journal)
    engine.prepare(DAY)
    engine.dispatcher.start()
    sim.on_tick(lambda t: engine.on_tick(t.key, t.ltp, t.ts))
    broker.on_order_update(engine.on_order_update)
    next_poll = clock.now()
    while sim.step() is not None:
        engine.dispatcher.drain()
        if clock.now() >= next_poll:
            engine.poller.run_once()
            engine.dispatcher.drain()
            next_poll = clock.now() + timedelta(seconds=5)
    clock.set(sim_day.session.close_at(DAY))
    for _ in range(3):
        engine.poller.run_once()
        engine.dispatcher.drain()
    engine.dispatcher.stop()
    return engine, sim


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
