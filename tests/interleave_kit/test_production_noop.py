"""With no scheduler installed the hooks must behave exactly like before."""

from __future__ import annotations

import threading

import pytest

from live import interleave
from live.interleave import Event, Lock, RLock, Scenario, checkpoint, exhaustive, explore

PLAIN_LOCK = type(threading.Lock())
PLAIN_RLOCK = type(threading.RLock())


def test_no_scheduler_installed_by_default():
    assert interleave._scheduler is None


def test_checkpoint_is_noop_without_scheduler():
    # Returns None and touches nothing, from any thread, any number of times.
    assert checkpoint("broker.place_order") is None
    results = []

    def worker():
        for _ in range(1000):
            checkpoint("x")
        results.append(threading.current_thread().name)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    assert len(results) == 4


def test_checkpoint_delegates_when_a_scheduler_is_installed(monkeypatch):
    # Proves the no-op test above could fail: the hook does reach a scheduler.
    seen = []

    class Spy:
        def checkpoint(self, name):
            seen.append(name)

    monkeypatch.setattr(interleave, "_scheduler", Spy())
    checkpoint("journal.claim_entry")
    assert seen == ["journal.claim_entry"]


def test_factories_return_plain_threading_objects():
    assert type(Lock()) is PLAIN_LOCK
    assert type(Lock("SBIN")) is PLAIN_LOCK
    assert type(RLock()) is PLAIN_RLOCK
    assert isinstance(Event(), threading.Event)


def test_scheduler_is_uninstalled_after_explore_even_when_it_fails():
    inside = {}

    def scenario():
        inside["lock"] = Lock()
        inside["installed"] = interleave._scheduler is not None

        def boom():
            raise ValueError("scenario thread failure")

        return {"a": boom}

    result = explore(scenario, strategy=exhaustive(1))
    assert inside["installed"] is True
    assert type(inside["lock"]) is not PLAIN_LOCK  # controllable inside explore
    assert result.first_failure is not None
    assert interleave._scheduler is None
    assert type(Lock()) is PLAIN_LOCK  # and plain again afterwards


def test_threads_outside_the_scenario_are_not_scheduled():
    # A library daemon thread keeps hitting checkpoints while a schedule runs:
    # it must neither block nor be counted in the trace.
    stop = threading.Event()
    hits = []

    def library_daemon():
        while not stop.is_set():
            checkpoint("library.tick")
            hits.append(1)
            stop.wait(0.001)

    daemon = threading.Thread(target=library_daemon, daemon=True)
    daemon.start()
    try:

        def scenario():
            box = {"n": 0}

            def body():
                for _ in range(3):
                    checkpoint("body")
                    box["n"] += 1

            return Scenario(threads={"a": body, "b": body}, state=box)

        result = explore(scenario, lambda box: box["n"] == 6, strategy=exhaustive(2))
    finally:
        stop.set()
        daemon.join(5)
    result.assert_ok()
    assert hits  # the daemon kept running freely
    assert result.exhausted


def test_nested_explore_is_refused():
    def scenario():
        return {"a": lambda: explore(lambda: {"b": lambda: None})}

    result = explore(scenario, strategy=exhaustive(0))
    assert result.first_failure is not None
    assert "already installed" in result.first_failure.message


@pytest.mark.parametrize("bad", [None, 42, "feed"])
def test_bad_scenario_return_value_is_a_clear_type_error(bad):
    with pytest.raises(TypeError, match="scenario\\(\\) must return"):
        explore(lambda: bad, strategy=exhaustive(0))
    assert interleave._scheduler is None
