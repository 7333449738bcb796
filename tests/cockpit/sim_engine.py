"""An in-process engine on the simulator (SimBroker, manual clock): the
cockpit's unit tests step a designed day tick by tick and look at it."""

from __future__ import annotations

from datetime import date, timedelta

from live.clock import ManualClock
from live.config import parse_config
from live.engine import Engine
from live.sim.broker import SimBroker
from live.sim.day import SimDay
from live.sim.simulator import Simulator
from strategies.reversal_8020 import Reversal8020

DAY = date(2026, 11, 20)


def sim_engine(mix: dict[str, str], seed: int = 5, **raw):
    sim_day = SimDay.generate(DAY, mix, seed=seed)
    clock = ManualClock(sim_day.open_at - timedelta(minutes=1))
    sim = Simulator(sim_day, clock=clock)
    broker = SimBroker(sim)
    cfg = parse_config({"symbols": list(mix), "strategy": {"quantity": 10}, **raw})
    engine = Engine(cfg, broker, clock, Reversal8020)
    engine.prepare(DAY)

    def route(u):
        state = engine.states.get(u.key)
        if state is not None:
            state.on_order_update(u, clock.now())

    broker.on_order_update(route)
    return engine, sim, clock


def step_until(engine, sim, done, limit: int = 200_000) -> bool:
    """Feed the simulator's ticks to the executors until ``done()``."""
    for _ in range(limit):
        if done():
            return True
        t = sim.step()
        if t is None:
            return done()
        state = engine.states.get(t.key)
        if state is not None:
            state.process_tick(t.ltp, t.ts)
    return done()
