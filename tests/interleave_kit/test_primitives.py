"""Controlled Lock / RLock / Event: threading semantics, scheduler-visible."""

from __future__ import annotations

import pytest

from live.testing import (
    Event,
    FailureKind,
    Lock,
    RLock,
    Scenario,
    checkpoint,
    exhaustive,
    explore,
    replay,
)


def run_one(body_by_name, strategy=None, check=None, state=None):
    def scenario():
        threads, st = body_by_name()
        return Scenario(threads=threads, state=st)

    return explore(scenario, check, strategy=strategy or exhaustive(2))


def test_lock_mutual_exclusion_holds_in_every_schedule():
    def build():
        lock = Lock("L")
        box = {"inside": 0, "max": 0}

        def body():
            for _ in range(2):
                with lock:
                    box["inside"] += 1
                    box["max"] = max(box["max"], box["inside"])
                    checkpoint("critical")
                    box["inside"] -= 1

        return {"a": body, "b": body, "c": body}, box

    result = run_one(build, check=lambda box: box["max"] == 1)
    result.assert_ok()
    assert result.exhausted


def test_without_the_lock_the_same_check_fails():
    def build():
        box = {"inside": 0, "max": 0}

        def body():
            box["inside"] += 1
            box["max"] = max(box["max"], box["inside"])
            checkpoint("critical")
            box["inside"] -= 1

        return {"a": body, "b": body}, box

    result = run_one(build, check=lambda box: box["max"] == 1)
    assert result.first_failure is not None


def test_acquire_and_release_are_scheduling_points_with_lock_names():
    def build():
        lock = Lock("SBIN")

        def body():
            with lock:
                pass

        return {"a": body}, None

    result = run_one(build, strategy=replay([]), check=lambda _: False)
    trace = result.first_failure.trace
    assert trace == ("a@start", "a@lock.acquire:SBIN", "a@lock.release:SBIN")


def test_unnamed_locks_get_stable_per_schedule_names():
    def build():
        first, second = Lock(), RLock()

        def body():
            with first, second:
                pass

        return {"a": body}, None

    traces = set()
    for _ in range(3):
        result = run_one(build, strategy=replay([]), check=lambda _: False)
        traces.add(result.first_failure.trace)
    assert traces == {
        (
            "a@start",
            "a@lock.acquire:L1",
            "a@lock.acquire:R1",
            "a@lock.release:R1",
            "a@lock.release:L1",
        )
    }


def test_non_blocking_acquire_fails_when_held_and_never_blocks():
    def build():
        lock = Lock("L")
        got = {}

        def holder():
            with lock:
                checkpoint("holding")

        def tryer():
            got["ok"] = lock.acquire(blocking=False)
            if got["ok"]:
                lock.release()

        return {"holder": holder, "tryer": tryer}, got

    held = run_one(
        build, strategy=replay(["holder@holding", "tryer", "holder"]), check=lambda g: g["ok"]
    )
    assert held.first_failure is not None  # lock was held: acquire returned False
    free = run_one(build, strategy=replay(["tryer", "holder"]), check=lambda g: g["ok"])
    free.assert_ok()


def test_timed_acquire_times_out_only_when_nothing_else_can_run():
    def build():
        lock = Lock("L")
        gate = Event("gate")
        got = {}

        def holder():  # holds the lock until an event that never comes
            with lock:
                gate.wait()

        def waiter():
            got["ok"] = lock.acquire(timeout=2.0)

        return {"holder": holder, "waiter": waiter}, got

    result = run_one(build, strategy=exhaustive(1), check=lambda g: g["ok"] in (True, False))
    # The holder never releases when it got the lock first; the waiter's timeout
    # then fires (virtual time) and the holder stays blocked: a deadlock report.
    assert result.first_failure is not None
    assert result.first_failure.kind is FailureKind.DEADLOCK
    assert "event gate never set" in result.first_failure.message


def test_timed_acquire_returns_false_then_thread_continues():
    def build():
        lock = Lock("L")
        release = Event("release")
        got = {}

        def holder():
            with lock:
                release.wait(timeout=5)  # timed: may expire when nothing else runs

        def waiter():
            got["ok"] = lock.acquire(timeout=1)
            if got["ok"]:
                lock.release()

        return {"holder": holder, "waiter": waiter}, got

    # Both wait with timeouts on a virtual clock: the waiter's 1 s expires before
    # the holder's 5 s, so acquire returns False, then the holder's wait expires.
    result = run_one(
        build,
        strategy=replay(["holder@event.wait:release", "waiter"]),
        check=lambda g: g["ok"] is False,
    )
    result.assert_ok()
    assert result.first_failure is None
    # If the holder releases first (it is not stuck), the waiter gets the lock.
    result = run_one(build, strategy=replay(["waiter", "holder"]), check=lambda g: g["ok"])
    result.assert_ok()


def test_rlock_is_reentrant_and_owner_checked():
    def build():
        rl = RLock("R")
        out = {}

        def body():
            with rl:
                with rl:
                    out["nested"] = True
            try:
                rl.release()
            except RuntimeError as e:
                out["error"] = str(e)

        return {"a": body}, out

    result = run_one(build, check=lambda o: o["nested"] and "release" in o["error"])
    result.assert_ok()


def test_plain_lock_release_when_unlocked_raises_like_threading():
    def build():
        lock = Lock()
        out = {}

        def body():
            try:
                lock.release()
            except RuntimeError as e:
                out["error"] = str(e)

        return {"a": body}, out

    run_one(build, check=lambda o: o["error"] == "release unlocked lock").assert_ok()


def test_acquire_argument_errors_match_threading():
    def build():
        lock = Lock()
        out = {}

        def body():
            for kwargs in ({"blocking": False, "timeout": 1}, {"timeout": -5}):
                with pytest.raises(ValueError):
                    lock.acquire(**kwargs)
            out["ok"] = True

        return {"a": body}, out

    run_one(build, check=lambda o: o["ok"]).assert_ok()


def test_locked_reports_state():
    def build():
        lock = Lock()
        out = []

        def body():
            out.append(lock.locked())
            with lock:
                out.append(lock.locked())
            out.append(lock.locked())

        return {"a": body}, out

    run_one(build, check=lambda o: o == [False, True, False]).assert_ok()


def test_event_wait_blocks_until_set_in_every_schedule():
    def build():
        ready = Event("ready")
        box = {"value": None, "seen": None}

        def producer():
            box["value"] = 42
            ready.set()

        def consumer():
            ready.wait()
            box["seen"] = box["value"]

        return {"consumer": consumer, "producer": producer}, box

    result = run_one(build, strategy=exhaustive(3), check=lambda b: b["seen"] == 42)
    result.assert_ok()
    assert result.exhausted


def test_check_may_take_the_scenario_locks_after_the_run():
    class Account:
        def __init__(self):
            self.lock = Lock()
            self.cash = 10

        def snapshot(self):
            with self.lock:
                return self.cash

    def scenario():
        acct = Account()

        def spend():
            with acct.lock:
                acct.cash -= 1

        return Scenario(threads={"a": spend, "b": spend}, state=acct)

    explore(scenario, lambda a: a.snapshot() == 8, strategy=exhaustive(2)).assert_ok()


def test_invariant_that_waits_for_a_held_lock_gets_a_clear_error():
    class Account:
        def __init__(self):
            self.lock = Lock()
            self.cash = 10

    def scenario():
        acct = Account()

        def spend():
            with acct.lock:
                checkpoint("inside")
                acct.cash -= 1

        return Scenario(threads={"a": spend}, state=acct)

    def invariant(acct):
        with acct.lock:
            assert acct.cash >= 0

    result = explore(scenario, strategy=exhaustive(0), invariant=invariant)
    failure = result.first_failure
    assert failure is not None and failure.kind is FailureKind.INVARIANT
    assert "must not wait for locks" in str(failure.error)
