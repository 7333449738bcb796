"""Every way a schedule can go wrong is stopped, reported and replayable,
and none of them hangs pytest."""

from __future__ import annotations

import itertools
import threading

from live.testing import (
    FailureKind,
    Lock,
    Scenario,
    checkpoint,
    exhaustive,
    explore,
    pct,
    replay,
)


def opposite_order_scenario():
    a, b = Lock("A"), Lock("B")

    def first():
        with a:
            with b:
                pass

    def second():
        with b:
            with a:
                pass

    return {"first": first, "second": second}


def test_deadlock_of_two_locks_in_opposite_order_is_found():
    result = explore(opposite_order_scenario, strategy=exhaustive(1))
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.DEADLOCK
    assert "lock.acquire:B" in failure.message and "lock.acquire:A" in failure.message
    assert "held by" in failure.message
    print(result.summary())
    again = explore(opposite_order_scenario, strategy=replay(failure.schedule)).first_failure
    assert again is not None and again.kind is FailureKind.DEADLOCK
    assert again.trace == failure.trace


def test_same_order_locking_has_no_deadlock():
    def scenario():
        a, b = Lock("A"), Lock("B")

        def both():
            with a:
                with b:
                    pass

        return {"first": both, "second": both}

    result = explore(scenario, strategy=exhaustive(3))
    result.assert_ok()
    assert result.exhausted


def test_deadlock_found_by_pct_too():
    result = explore(opposite_order_scenario, strategy=pct(depth=2, runs=100, seed=3))
    assert result.first_failure is not None
    assert result.first_failure.kind is FailureKind.DEADLOCK


def test_exception_in_a_thread_is_reported_with_thread_and_traceback():
    def scenario():
        box = {"orders": 0}

        def placer():
            checkpoint("broker.place_order")
            box["orders"] += 1

        def validator():
            checkpoint("validate")
            if box["orders"]:
                raise ValueError("quantity must be > 0 (field 'quantity')")

        return Scenario(threads={"placer": placer, "validator": validator}, state=box)

    result = explore(scenario, strategy=exhaustive(1))
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.EXCEPTION
    assert failure.thread == "validator"
    assert isinstance(failure.error, ValueError)
    assert "ValueError: quantity must be > 0" in failure.error_traceback
    assert "in validator" in failure.error_traceback
    with_text = failure.describe()
    assert "in thread: validator" in with_text


def test_livelock_budget_stops_a_spinning_schedule():
    def scenario():
        flag = {"go": False}

        def spinner():  # waits for a flag nobody sets, politely
            while not flag["go"]:
                checkpoint("spin")

        return Scenario(threads={"spinner": spinner}, state=flag)

    result = explore(scenario, strategy=exhaustive(0), max_steps=200)
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.LIVELOCK
    assert "200 steps" in failure.message
    assert len(failure.trace) == 200


def test_thread_blocked_outside_the_kit_is_a_hang_not_a_hung_pytest():
    gate = threading.Event()  # a plain Event: the scheduler cannot see it

    def scenario():
        def stuck():
            checkpoint("before")
            gate.wait(10)

        return {"stuck": stuck, "other": lambda: checkpoint("x")}

    try:
        result = explore(scenario, strategy=exhaustive(1), step_timeout=0.3)
    finally:
        gate.set()
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.HANG
    assert "stuck" in failure.message and "outside the kit's control" in failure.message
    assert result.schedules_run == 1  # exploration stops: the thread is still out there


def test_invariant_is_checked_at_every_scheduling_point():
    def scenario():
        acct = {"cash": 100, "reserved": 0}

        def spend():
            acct["reserved"] += 60  # two fields updated non-atomically
            checkpoint("between")
            acct["cash"] -= 60
            acct["reserved"] -= 60

        return Scenario(threads={"a": spend}, state=acct)

    def never_negative_free_cash(acct):
        assert acct["cash"] - acct["reserved"] >= 0, f"free cash negative: {acct}"

    result = explore(scenario, strategy=exhaustive(0), invariant=never_negative_free_cash)
    result.assert_ok()  # one thread: 100 - 60 >= 0 at every point

    def two_spenders():
        sc = scenario()
        return Scenario(threads={"a": sc.threads["a"], "b": sc.threads["a"]}, state=sc.state)

    result = explore(two_spenders, strategy=exhaustive(1), invariant=never_negative_free_cash)
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.INVARIANT
    assert "free cash negative" in failure.message
    # An invariant returning False also counts.
    result = explore(two_spenders, strategy=exhaustive(1), invariant=lambda a: a["reserved"] < 100)
    assert result.first_failure is not None


def test_nondeterministic_scenario_is_reported_as_divergence():
    counter = itertools.count()

    def scenario():
        n = next(counter)

        def a():
            checkpoint("a")

        def b():
            checkpoint("b")

        # Declaration order changes between builds, as iterating a set might.
        return {"a": a, "b": b} if n % 2 == 0 else {"b": b, "a": a}

    result = explore(scenario, strategy=exhaustive(2))
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.DIVERGENCE
    assert "not deterministic" in failure.message


def test_replay_that_does_not_fit_is_reported_as_divergence():
    result = explore(opposite_order_scenario, strategy=replay(["first@no.such.label"]))
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.DIVERGENCE
    assert "before reaching 'no.such.label'" in failure.message
    result = explore(opposite_order_scenario, strategy=replay(["ghost"]))
    assert "unknown" in result.first_failure.message


def test_check_returning_false_or_raising_is_a_check_failure():
    def scenario():
        return Scenario(threads={"a": lambda: None}, state={"x": 1})

    r1 = explore(scenario, lambda s: False, strategy=exhaustive(0))
    assert r1.first_failure.kind is FailureKind.CHECK
    r2 = explore(scenario, lambda s: s["missing"], strategy=exhaustive(0))
    assert r2.first_failure.kind is FailureKind.CHECK
    assert isinstance(r2.first_failure.error, KeyError)
    explore(scenario, lambda s: s["x"] == 1, strategy=exhaustive(0)).assert_ok()


def test_no_scenario_threads_leak_between_schedules():
    before = threading.active_count()
    explore(opposite_order_scenario, strategy=exhaustive(2), stop_on_first=False)
    assert threading.active_count() == before
