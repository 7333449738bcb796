"""The kit finds the incident-report races in naive code and proves the fixed
code clean over every schedule in the bound.

Scenarios live in scenarios.py: duplicate entry while the poller marks the
fill (003 RACE #4/#5), two threads placing the same entry (003 RACE #7/#9),
and two symbols spending the same buying power (000, 001).
"""

from __future__ import annotations

import pytest

from live.testing import FailureKind, exhaustive, explore, pct, replay
from tests.interleave_kit.scenarios import (
    NaiveFunds,
    NaivePlacer,
    NaiveSymbol,
    ReservingFunds,
    SafePlacer,
    SafeSymbol,
    entry_scenario,
    funds_scenario,
    placer_scenario,
)

NAIVE = {
    "duplicate-entry": lambda: entry_scenario(NaiveSymbol),
    "two-placers": lambda: placer_scenario(NaivePlacer),
    "buying-power": lambda: funds_scenario(NaiveFunds),
}
SAFE = {
    "duplicate-entry": lambda: entry_scenario(SafeSymbol),
    "two-placers": lambda: placer_scenario(SafePlacer),
    "buying-power": lambda: funds_scenario(ReservingFunds),
}
STRATEGIES = {
    "exhaustive-1": exhaustive(preemption_bound=1),
    "exhaustive-2": exhaustive(preemption_bound=2),
    "pct-d2": pct(depth=2, runs=200, seed=1),
}


@pytest.mark.parametrize("strategy", STRATEGIES.values(), ids=STRATEGIES.keys())
@pytest.mark.parametrize("scenario", NAIVE.values(), ids=NAIVE.keys())
def test_naive_version_is_caught(scenario, strategy):
    result = explore(scenario, strategy=strategy)
    print(result.summary())
    failure = result.first_failure
    assert failure is not None, result.summary()
    assert failure.kind is FailureKind.CHECK
    assert failure.preemptions >= 1  # no race without a context switch
    assert not result.exhausted
    with pytest.raises(
        AssertionError, match="reproduce: explore\\(scenario, check, strategy=replay"
    ):
        result.assert_ok()


@pytest.mark.parametrize("strategy", STRATEGIES.values(), ids=STRATEGIES.keys())
@pytest.mark.parametrize("scenario", SAFE.values(), ids=SAFE.keys())
def test_correct_version_passes_every_schedule(scenario, strategy):
    result = explore(scenario, strategy=strategy)
    print(result.summary())
    result.assert_ok()
    assert result.exhausted
    assert result.schedules_run > 2  # the locks really added scheduling points


@pytest.mark.parametrize("scenario", SAFE.values(), ids=SAFE.keys())
def test_correct_version_passes_a_deeper_bound(scenario):
    result = explore(scenario, strategy=exhaustive(preemption_bound=3))
    print(result.summary())
    result.assert_ok()
    assert result.exhausted and result.max_preemptions_seen == 3


@pytest.mark.parametrize("scenario", NAIVE.values(), ids=NAIVE.keys())
def test_reported_schedule_replays_deterministically(scenario):
    found = explore(scenario, strategy=exhaustive(preemption_bound=2)).first_failure
    assert found is not None
    for _ in range(5):
        again = explore(scenario, strategy=replay(found.schedule)).first_failure
        assert again is not None
        assert again.kind is found.kind
        assert again.trace == found.trace
        assert str(again.error) == str(found.error)
    # The same schedule against the fixed code: no failure.
    fixed = SAFE[next(k for k, v in NAIVE.items() if v is scenario)]
    explore(fixed, strategy=replay(found.schedule)).assert_ok()


def test_incident_report_schedule_written_by_hand():
    # 003 RACE #5: the poller cleared entry_id and is calling the broker for
    # the stop-loss; the feed's tick runs in between and re-enters.
    schedule = ["poller@broker.place_order", "feed", "poller"]
    naive = explore(lambda: entry_scenario(NaiveSymbol), strategy=replay(schedule))
    assert naive.first_failure is not None
    assert "duplicate entry" in naive.first_failure.message
    explore(lambda: entry_scenario(SafeSymbol), strategy=replay(schedule)).assert_ok()


def test_shortest_failure_over_all_schedules():
    result = explore(
        lambda: entry_scenario(NaiveSymbol), strategy=exhaustive(3), stop_on_first=False
    )
    print(result.summary())
    assert len(result.failures) >= 2
    shortest = result.shortest_failure
    assert shortest is not None
    assert all(len(shortest.schedule) <= len(f.schedule) for f in result.failures)
    assert shortest.preemptions == 1
    assert len(shortest.schedule) == 2  # poller up to the window, then feed


def test_pct_failure_reports_a_seed_that_reproduces_it():
    result = explore(lambda: entry_scenario(NaiveSymbol), strategy=pct(depth=2, runs=300, seed=7))
    failure = result.first_failure
    assert failure is not None and failure.seed is not None
    again = explore(
        lambda: entry_scenario(NaiveSymbol), strategy=pct(depth=2, runs=1, seed=failure.seed)
    ).first_failure
    assert again is not None
    assert again.trace == failure.trace
    assert again.seed == failure.seed
