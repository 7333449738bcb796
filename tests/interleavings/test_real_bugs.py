"""Real bugs the explorer found, pinned: each as the failing schedule it
reported (a replay) and as a plain sequential reproduction (no scheduler) of
the same order of events. All are fixed; these pin the fixes.

See RESULTS.md ("Real bugs found") for the diagnosis.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from live.broker import Action
from live.execution import SymbolExecutor
from live.ledger import BuyingPowerLedger
from live.testing import FailureKind, explore, replay
from tests.core.helpers import T0, D, make_state, trigger_and_enter
from tests.interleavings.catalogue import (
    BY_KEY,
)
from tests.races.properties import violations

S = timedelta(seconds=1)

PINNED = {
    # race key: the shortest failing schedule the explorer reported
    "race4b": ["feed@lock.acquire:L1", "poller"],
    "bp-refresh": ["feed-SBIN@lock.acquire:L1#2", "poller"],
    "bp-exit": ["feed-SBIN@lock.acquire:L1", "poller"],
}


@pytest.mark.parametrize(
    "key",
    [pytest.param(k, id=k) for k in PINNED],
)
def test_reported_schedule_holds_every_property(key):
    race = BY_KEY[key]
    result = explore(race.scenario(race.real), strategy=replay(PINNED[key]))
    failure = result.first_failure
    # A fix may change the code's scheduling points so the schedule no longer
    # fits (divergence): that is not a property failure.
    assert failure is None or failure.kind is FailureKind.DIVERGENCE, failure.describe()


def test_positionbook_ahead_of_fill_counts_the_fill_once():
    state, broker = make_state(SymbolExecutor)
    entry = trigger_and_enter(state, broker)
    fill = broker.fill(entry, price=D("100.00"))  # filled; the feed is slow to say so
    state.sync_position(10, T0 + 5 * S)  # the positionbook already shows it...
    state.sync_position(10, T0 + 10 * S)  # ...for two polls: adopted, stop placed
    state.on_order_update(fill, T0 + 10 * S)  # the order stream catches up
    assert state.view().position_qty == 10
    assert violations(broker, state) == []


def test_funds_reply_after_fill_applied_before_consume():
    ledger = BuyingPowerLedger(D("300"))
    state, broker = make_state(SymbolExecutor, ledger=ledger)
    entry = trigger_and_enter(state, broker)  # reserves 100.00 x 10 x 0.2 = 200
    fill = broker.fill(entry, price=D("100.00"))
    epoch = ledger.epoch
    ledger.refresh(D("100"), epoch=epoch)  # broker: 300 less the 200 the position holds
    state.on_order_update(fill, T0)  # consume 200
    assert ledger.available() == D("100")


def test_funds_reply_after_exit_applied_before_credit():
    ledger = BuyingPowerLedger(D("400"))
    state, broker = make_state(SymbolExecutor, ledger=ledger)
    entry = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry, price=D("100.00")), T0)  # 200 consumed
    [stop] = broker.working(Action.SELL.value)
    exit_fill = broker.fill(stop.order_id, price=D("100.00"))
    epoch = ledger.epoch
    ledger.refresh(D("400"), epoch=epoch)  # broker: the exit freed the margin
    state.on_order_update(exit_fill, T0 + S)  # credit 200
    assert ledger.available() <= D("400"), "the freed margin was counted twice"


def test_refresh_while_an_entry_works():
    ledger = BuyingPowerLedger(D("300"))
    state, broker = make_state(SymbolExecutor, ledger=ledger)
    trigger_and_enter(state, broker)  # reserves 200; the broker blocks 200 for it
    ledger.refresh(D("100"), epoch=ledger.epoch)  # the simulator's figure: 300 - 200
    assert ledger.available() == D("100")
