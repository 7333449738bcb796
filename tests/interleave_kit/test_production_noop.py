"""With no scheduler installed the hooks must behave exactly like before."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from live import interleave
from live.testing import Event, Lock, RLock, Scenario, checkpoint, exhaustive, explore

PLAIN_LOCK = type(threading.Lock())
PLAIN_RLOCK = type(threading.RLock())


ROOT = Path(__file__).resolve().parents[2]

# Imports every production module (live.* except the test kit and the simulator) in a
# fresh interpreter, then reports whether the test kit came along.
_IMPORT_PRODUCTION = """
import importlib, pathlib, sys, threading
# Found on disk: pkgutil.walk_packages would import live.testing itself to recurse into it.
names = sorted(
    ".".join(f.with_suffix("").parts).removesuffix(".__init__")
    for f in pathlib.Path("live").rglob("*.py")
    if f.parts[1] not in ("testing", "sim")
)
for name in names:
    importlib.import_module(name)
from live import interleave
assert interleave._scheduler is None
assert type(interleave.Lock()) is type(threading.Lock())
assert type(interleave.RLock()) is type(threading.RLock())
assert type(interleave.Event()) is threading.Event
kit = sorted(m for m in sys.modules if m == "live.testing" or m.startswith("live.testing."))
print(len(names), kit)
"""


def test_production_modules_do_not_import_the_test_kit():
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_PRODUCTION],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split(maxsplit=1)
    imported, kit = int(out[0]), out[1].strip()
    assert imported >= 10  # the walk found the engine's modules, not an empty package
    assert kit == "[]", f"production modules import the test kit: {kit}"


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
