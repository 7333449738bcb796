"""How the race tests play each strategy: the prices that make it enter, hold and exit.

The race scenarios (tests/races, tests/interleavings, tests/stress) are
written once against a ``Play`` and run for every strategy the engine ships,
so the executor's safety properties are proved for each of them:

* ``reversal_8020`` - a long 80-20 on yesterday's low 100.00: trigger 99.70
  (5 ticks through), buy stop at 100.00, initial stop 99.65;
* ``orb`` - the opening range 100.00-101.00 formed by ticks before 09:30:
  a buy stop at 101.05 and a sell stop at 99.95 placed together (OCO); the
  tests fill the buy side, whose stop sits at 99.95.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal

from live.broker import Action
from live.clock import MarketSession
from live.execution import ExecConfig, SymbolExecutor
from live.ledger import BuyingPowerLedger
from strategies.orb import OpeningRangeBreakout
from strategies.orb import Settings as OrbSettings
from strategies.reversal_8020 import Penetration, Reversal8020, SetupRules, find_setup
from strategies.reversal_8020 import Settings as Settings8020
from tests.core.helpers import SESSION, T0, TODAY, at
from tests.fakes import FakeBroker, long_bar

D = Decimal
EXEC_KEYS = {f.name for f in fields(ExecConfig)}


@dataclass(frozen=True)
class Play:
    name: str
    entry_side: Action  # the side the scenarios fill
    trigger: Decimal  # a print that makes the flat strategy place its entry
    rest: Decimal  # another print at which a flat, armed strategy enters again
    rest2: Decimal
    hold: Decimal  # a print between the stop and the entry while holding
    entry_fill: Decimal
    stop_fill: Decimal  # where the protective stop fills
    trail: Decimal  # a print that trails the stop
    tick: Decimal
    two_sided: bool
    _build: Callable[..., SymbolExecutor]

    def build(self, cls, name: str = "SBIN", broker=None, *, ledger=None, **config):
        """The strategy on ``cls`` (the executor, or a naive variant of it)
        for NSE:<name>, fed whatever ticks precede T0. Call inside
        ``scenario()`` when exploring: locks must be made under the scheduler."""
        broker = broker or FakeBroker()
        return self._build(cls, name, broker, ledger, config), broker

    @property
    def exit_side(self) -> Action:
        return self.entry_side.opposite

    def __str__(self) -> str:
        return self.name


def _exec_config(config: dict) -> tuple[ExecConfig, dict]:
    base = {"quantity": 10, "max_attempts": 2}
    merged = {**base, **config}
    exec_cfg = ExecConfig(**{k: v for k, v in merged.items() if k in EXEC_KEYS})
    return exec_cfg, {k: v for k, v in merged.items() if k not in EXEC_KEYS}


def _build_8020(cls, name, broker, ledger, config):
    rules = SetupRules(penetration=Penetration("ticks", D(5)))
    setup = find_setup(f"NSE:{name}", long_bar(TODAY - timedelta(days=1)), D("0.05"), rules)
    exec_cfg, rest = _exec_config(config)
    settings = Settings8020(**{"trail_start_r": D(1), "trail_distance_r": D(1), **rest})
    if not (isinstance(cls, type) and issubclass(cls, SymbolExecutor)):
        return cls(setup, broker, exec_cfg, SESSION, ledger=ledger, settings=settings)
    return cls(Reversal8020(setup, settings), broker, exec_cfg, SESSION, symbol=setup.symbol,
               tick=setup.tick, ledger=ledger)  # fmt: skip


ORB_RANGE = [(at(9, 15), D("100.00")), (at(9, 20), D("101.00")), (at(9, 25), D("100.50"))]


def _build_orb(cls, name, broker, ledger, config):
    exec_cfg, rest = _exec_config({"entry_timeout": timedelta(hours=6), **config})
    settings = OrbSettings(**{"range_minutes": 15, "trail_r": D("0.5"), **rest})
    key = f"NSE:{name}"
    strategy = OpeningRangeBreakout(key, D("0.05"), at(9, 30), settings)
    state = cls(strategy, broker, exec_cfg, SESSION, symbol=key, tick=D("0.05"), ledger=ledger)
    for ts, ltp in ORB_RANGE:
        state.process_tick(ltp, ts)
    return state


PLAY_8020 = Play(
    "reversal_8020",
    Action.BUY,
    trigger=D("99.70"),
    rest=D("99.80"),
    rest2=D("99.85"),
    hold=D("99.90"),
    entry_fill=D("100.00"),
    stop_fill=D("99.65"),
    trail=D("100.80"),
    tick=D("0.05"),
    two_sided=False,
    _build=_build_8020,
)

PLAY_ORB = Play(
    "orb",
    Action.BUY,
    trigger=D("100.50"),
    rest=D("100.40"),
    rest2=D("100.45"),
    hold=D("100.80"),
    entry_fill=D("101.05"),
    stop_fill=D("99.95"),
    trail=D("101.80"),
    tick=D("0.05"),
    two_sided=True,
    _build=_build_orb,
)

PLAYS = [PLAY_8020, PLAY_ORB]

__all__ = ["PLAYS", "PLAY_8020", "PLAY_ORB", "Play", "T0", "MarketSession", "BuyingPowerLedger",
           "datetime"]  # fmt: skip
