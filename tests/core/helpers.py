"""Builders shared by the SymbolState tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from live.clock import IST, MarketSession
from live.ledger import BuyingPowerLedger
from strategies.strat80_20.setup import Penetration, SetupRules, find_setup
from strategies.strat80_20.symbol_state import StrategyConfig, SymbolState
from tests.fakes import FakeBroker, long_bar, short_bar

TODAY = date(2026, 11, 20)  # a Friday
SESSION = MarketSession()
D = Decimal


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 20, hh, mm, ss, tzinfo=IST)


T0 = at(9, 30)


def make_state(
    cls=SymbolState,
    *,
    side: str = "long",
    broker: FakeBroker | None = None,
    ledger: BuyingPowerLedger | None = None,
    **config,
) -> tuple[SymbolState, FakeBroker]:
    broker = broker or FakeBroker()
    bar = (
        long_bar(TODAY - timedelta(days=1))
        if side == "long"
        else short_bar(TODAY - timedelta(days=1))
    )
    rules = SetupRules(penetration=Penetration("ticks", D(5)))
    setup = find_setup("NSE:SBIN", bar, D("0.05"), rules)
    assert setup is not None
    base = {"quantity": 10, "max_attempts": 2, "trail_start_r": D(1), "trail_distance_r": D(1)}
    cfg = StrategyConfig(**{**base, **config})
    return cls(setup, broker, cfg, SESSION, ledger=ledger), broker


def trigger_and_enter(state, broker, ts=T0) -> str:
    """Drive a long setup to a working entry order; return its id."""
    state.process_tick(D("99.70"), ts)  # through the trigger (100 - 5 ticks = 99.75)
    working = broker.working("BUY" if state.setup.is_long else "SELL")
    assert len(working) == 1, working
    return working[0].order_id
