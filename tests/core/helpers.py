"""Builders shared by the executor tests (the 80-20 strategy on ``SymbolExecutor``)."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime, timedelta
from decimal import Decimal

from live.clock import IST, MarketSession
from live.execution import ExecConfig, SymbolExecutor
from live.ledger import BuyingPowerLedger
from strategies.reversal_8020 import Penetration, Reversal8020, Settings, SetupRules, find_setup
from tests.fakes import FakeBroker, long_bar, short_bar

EXEC_KEYS = {f.name for f in fields(ExecConfig)}
SETTINGS_KEYS = {f.name for f in fields(Settings)}

TODAY = date(2026, 11, 20)  # a Friday
SESSION = MarketSession()
D = Decimal


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, 20, hh, mm, ss, tzinfo=IST)


T0 = at(9, 30)


def split_config(config: dict) -> tuple[ExecConfig, Settings]:
    """Test keyword arguments -> the executor's settings and the 80-20's."""
    unknown = set(config) - EXEC_KEYS - SETTINGS_KEYS
    assert not unknown, f"unknown config keys {unknown}"
    exec_cfg = ExecConfig(**{k: v for k, v in config.items() if k in EXEC_KEYS})
    settings = Settings(**{k: v for k, v in config.items() if k in SETTINGS_KEYS})
    return exec_cfg, settings


def build(cls, setup, broker, session=None, *, ledger=None, **config):
    """``cls`` on ``setup``: the real executor runs the 80-20 strategy; a
    naive variant (tests/races) takes the setup and the config directly."""
    exec_cfg, settings = split_config(config)
    session = session or SESSION
    if isinstance(cls, type) and issubclass(cls, SymbolExecutor):
        return cls(
            Reversal8020(setup, settings),
            broker,
            exec_cfg,
            session,
            symbol=setup.symbol,
            tick=setup.tick,
            ledger=ledger,
        )
    return cls(setup, broker, exec_cfg, session, ledger=ledger, settings=settings)


def make_state(
    cls=SymbolExecutor,
    *,
    side: str = "long",
    broker: FakeBroker | None = None,
    ledger: BuyingPowerLedger | None = None,
    **config,
) -> tuple[SymbolExecutor, FakeBroker]:
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
    return build(cls, setup, broker, ledger=ledger, **{**base, **config}), broker


def setup_of(state):
    """The 80-20 setup behind a state (a naive variant carries it directly)."""
    return state.setup if hasattr(state, "setup") else state.strategy.setup


def trigger_and_enter(state, broker, ts=T0) -> str:
    """Drive a long setup to a working entry order; return its id."""
    state.process_tick(D("99.70"), ts)  # through the trigger (100 - 5 ticks = 99.75)
    working = broker.working("BUY" if setup_of(state).is_long else "SELL")
    assert len(working) == 1, working
    return working[0].order_id
