"""Every race of shared/seeds, explored: the real executor, with every
strategy the race applies to, must hold every property over every schedule
in the bound (exhaustive, preemption bound 2; 1 for the three-actor ledger
races, see ``Race.suite_bound``) and over 200 PCT schedules (500 in the
report; LIVE8020_FULL_BOUND=1 runs the report's numbers here);
the naive variants must be caught, with a failing schedule that replays
deterministically.

Numbers per race (schedules, time, shortest failing naive schedule) are in
RESULTS.md, written by ``python -m tests.interleavings.report``.
"""

from __future__ import annotations

import os

import pytest

from live.testing import FailureKind, exhaustive, explore, pct, replay
from tests.interleavings.catalogue import RACES

PCT_SEED = 20261120
SUITE_PCT_RUNS = 200
FULL = bool(os.environ.get("LIVE8020_FULL_BOUND"))
BOUND = 2


def _real(race, play):
    marks = [pytest.mark.xfail(strict=True, reason=race.real_bug)] if race.real_bug else []
    return pytest.param(race, play, id=f"{race.key}-{play}", marks=marks)


REAL = [_real(r, p) for r in RACES for p in r.plays]
ALL = [pytest.param(r, id=r.key) for r in RACES]


@pytest.mark.parametrize("race,play", REAL)
def test_real_holds_every_property_exhaustive(race, play):
    bound = BOUND if FULL else race.suite_bound
    result = explore(race.scenario(race.real, play), strategy=exhaustive(preemption_bound=bound))
    print(race.key, result.summary())
    result.assert_ok()
    assert result.exhausted, "the bounded space was not covered"
    assert result.max_preemptions_seen == bound  # the bound was really reached
    assert result.schedules_run > 2


@pytest.mark.parametrize("race,play", REAL)
def test_real_holds_every_property_pct(race, play):
    # The report runs race.pct_runs (500); the suite a share of them, beside
    # the exhaustive bound-2 search above (LIVE8020_FULL_BOUND=1: all of them).
    runs = race.pct_runs if FULL else min(race.pct_runs, SUITE_PCT_RUNS)
    strategy = pct(depth=race.pct_depth, runs=runs, seed=PCT_SEED)
    result = explore(race.scenario(race.real, play), strategy=strategy)
    print(race.key, result.summary())
    result.assert_ok()
    assert result.schedules_run == runs + 1  # + the calibration run


@pytest.mark.parametrize("race", ALL)
def test_naive_is_caught_exhaustive(race):
    result = explore(race.scenario(race.naive), strategy=exhaustive(preemption_bound=BOUND))
    print(race.key, result.summary())
    failure = result.first_failure
    assert failure is not None, f"{race.key}: the naive code survived: {result.summary()}"
    assert failure.kind in (FailureKind.CHECK, FailureKind.INVARIANT), failure.describe()
    if race.naive_needs_race:
        assert failure.preemptions >= 1, "fails without any thread switch: not a race"
    # The reported schedule is a regression test: it replays the same failure.
    again = explore(race.scenario(race.naive), strategy=replay(failure.schedule)).first_failure
    assert again is not None
    assert (again.kind, again.trace, again.message) == (
        failure.kind,
        failure.trace,
        failure.message,
    )
    # The same interleaving against the real code breaks nothing (its
    # scheduling points differ, so the schedule may simply not fit).
    if race.real_bug is None:
        fixed = explore(race.scenario(race.real), strategy=replay(failure.schedule))
        assert fixed.ok or fixed.first_failure.kind is FailureKind.DIVERGENCE, (
            fixed.first_failure.describe()
        )


@pytest.mark.parametrize("race", ALL)
def test_naive_is_caught_pct(race):
    strategy = pct(depth=race.pct_depth, runs=race.pct_runs, seed=PCT_SEED)
    result = explore(race.scenario(race.naive), strategy=strategy)
    print(race.key, result.summary())
    failure = result.first_failure
    assert failure is not None, f"{race.key}: PCT missed the naive race: {result.summary()}"
    if failure.seed is None:
        # Failed already in the non-preemptive calibration run (the naive
        # ledger use is wrong even alone): its schedule replays it.
        assert not race.naive_needs_race
        strategy = replay(failure.schedule)
    else:
        strategy = pct(depth=race.pct_depth, runs=1, seed=failure.seed)
    again = explore(race.scenario(race.naive), strategy=strategy).first_failure
    assert again is not None and again.trace == failure.trace
