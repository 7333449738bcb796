from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from live.clock import IST, ManualClock
from live.sim import SimDay, SimInstrument, Simulator, SymbolDay

DAY = date(2026, 11, 20)  # a Friday


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
