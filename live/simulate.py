"""Try a strategy on a simulated day, in one call, in a few seconds.

    from live.simulate import simulate_day
    result = simulate_day(MyStrategy, {"NSE:SBIN": "orb_up"})
    print(result.report())

The same engine and executor as a live run trade against the embedded
simulator's matching engine, in process (no sockets) and as fast as the CPU
allows, with the simulator's order stream and a poller cycle every 5 market
seconds. ``python live_8020.py`` runs the same over real HTTP and WebSocket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from live.clock import ManualClock
from live.config import parse_config
from live.engine import Engine
from live.sim.broker import SimBroker
from live.sim.day import SimDay
from live.sim.simulator import Simulator
from live.strategy import Registry, Strategy
from live.summary import Summary, render, summarize

DAY = date(2026, 11, 20)
POLL = timedelta(seconds=5)


@dataclass
class DayResult:
    engine: Engine
    sim: Simulator
    summary: Summary

    def report(self) -> str:
        return render(self.summary)


def simulate_day(
    strategy: type[Strategy],
    scenarios: Mapping[str, str],
    *,
    day: date = DAY,
    seed: int = 7,
    settings: Mapping[str, Any] | None = None,
    journal: Any = None,
) -> DayResult:
    """Run ``strategy`` on the simulated day ``scenarios`` describes
    (EXCHANGE:SYMBOL -> a scenario kind of ``live.sim.day``). ``settings``
    is the config's ``strategy:`` section (the executor's keys and the
    strategy's own)."""
    raw = {"symbols": list(scenarios), "strategy": {"name": strategy.name, **(settings or {})}}
    cfg = parse_config(raw, Registry({strategy.name: strategy}))
    sim_day = SimDay.generate(day, dict(scenarios), seed=seed)
    clock = ManualClock(sim_day.open_at - timedelta(minutes=1))
    sim = Simulator(sim_day, clock=clock)
    broker = SimBroker(sim)
    engine = Engine(cfg, broker, clock, strategy, journal=journal)
    engine.prepare(day)
    engine.dispatcher.start()
    sim.on_tick(lambda t: engine.on_tick(t.key, t.ltp, t.ts))
    broker.on_order_update(engine.on_order_update)
    try:
        next_poll = clock.now()
        while sim.step() is not None:
            engine.dispatcher.drain()
            if clock.now() >= next_poll:
                engine.poller.run_once()
                engine.dispatcher.drain()
                next_poll = clock.now() + POLL
        clock.set(sim_day.session.close_at(day))
        for _ in range(3):
            engine.poller.run_once()
            engine.dispatcher.drain()
    finally:
        engine.dispatcher.stop()
    return DayResult(engine, sim, summarize(engine))
