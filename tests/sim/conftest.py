from __future__ import annotations

import time as _time
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from live.clock import IST, ManualClock
from live.sim import SimDay, SimInstrument, SimServer, Simulator, SymbolDay

DAY = date(2026, 11, 20)  # a Friday
KEY = "test-key-123"


def at(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), tzinfo=IST)


def flat_day(prior_close: str = "500.00", **inst_kw) -> SimDay:
    """A day with one instrument (NSE:SBIN) and no scheduled ticks: tests push them."""
    inst = SimInstrument("SBIN", "NSE", Decimal(prior_close), **inst_kw)
    return SimDay(DAY, (SymbolDay(inst, "manual", (), ()),))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at("09:15"))


@pytest.fixture
def make_sim(clock):
    def make(day: SimDay | None = None, **kw) -> Simulator:
        return Simulator(day or flat_day(), clock=clock, **kw)

    return make


@pytest.fixture
def scenario_day() -> SimDay:
    return SimDay.generate(
        DAY,
        {"NSE:SBIN": "long_win", "NSE:INFY": "short_stopout_reentry", "NSE:TCS": "no_setup"},
        seed=11,
    )


def wait_for(pred, timeout=5.0):
    end = _time.monotonic() + timeout
    while _time.monotonic() < end:
        if pred():
            return True
        _time.sleep(0.01)
    return pred()


@pytest.fixture
def serve(scenario_day, clock):
    """Start SimServers over ``scenario_day`` (or ``day=``) on ephemeral
    loopback ports; all stopped at teardown."""
    servers = []
    clock.set(at("09:14"))  # nothing due until a test moves time

    def start(faults=None, *, day=None, sim_kw=None, **kw) -> SimServer:
        # Tests that move time by hand turn the pump off, so the pump never
        # applies a tick between two of their steps.
        kw.setdefault("pump", False)
        sim = Simulator(day or scenario_day, clock=clock, faults=faults, **(sim_kw or {}))
        srv = SimServer(sim, api_key=KEY, **kw).start()
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.stop()
