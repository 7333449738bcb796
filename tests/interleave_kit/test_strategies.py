"""Strategy mechanics: DFS counts match brute force, caps, PCT seeds, parsing."""

from __future__ import annotations

import itertools

import pytest

from live.testing import (
    Decision,
    Scenario,
    checkpoint,
    exhaustive,
    explore,
    pct,
    replay,
)


def steps_scenario(counts: dict[str, int]):
    """Threads that each pass `n` checkpoints: n+1 steps including start."""

    def scenario():
        log: list[str] = []

        def body(name: str, n: int):
            def run():
                for i in range(n):
                    log.append(f"{name}{i}")
                    checkpoint(f"{name}.{i}")
                log.append(f"{name}{n}")

            return run

        return Scenario(threads={k: body(k, n) for k, n in counts.items()}, state=log)

    return scenario


def brute_force_count(counts: dict[str, int], bound: int) -> int:
    """Count interleavings of the threads' steps with <= bound preemptions.

    A preemption is switching away from a thread that still has steps left.
    """
    names = list(counts)
    seq = [name for name in names for _ in range(counts[name] + 1)]
    total = 0
    for order in set(itertools.permutations(seq)):
        left = {n: counts[n] + 1 for n in names}
        pre = 0
        prev = None
        for t in order:
            if prev is not None and t != prev and left[prev] > 0:
                pre += 1
            left[t] -= 1
            prev = t
        total += pre <= bound
    return total


@pytest.mark.parametrize(
    "counts,bound",
    [
        ({"a": 2, "b": 2}, 0),
        ({"a": 2, "b": 2}, 1),
        ({"a": 2, "b": 2}, 2),
        ({"a": 2, "b": 2}, 9),
        ({"a": 1, "b": 2, "c": 1}, 1),
        ({"a": 1, "b": 2, "c": 1}, 2),
        ({"a": 3, "b": 1}, 9),
    ],
)
def test_exhaustive_runs_exactly_the_bounded_interleavings(counts, bound):
    traces = set()

    def record(log):
        traces.add(tuple(log))

    result = explore(steps_scenario(counts), record, strategy=exhaustive(bound))
    result.assert_ok()
    assert result.exhausted
    expected = brute_force_count(counts, bound)
    assert result.schedules_run == expected
    assert len(traces) == expected  # every schedule ran a different interleaving


def test_max_schedules_caps_exploration_and_reports_not_exhausted():
    result = explore(steps_scenario({"a": 3, "b": 3}), strategy=exhaustive(9, max_schedules=5))
    assert result.schedules_run == 5
    assert not result.exhausted


def test_pct_is_deterministic_for_a_seed_and_varies_across_seeds():
    def traces(seed):
        seen = []
        explore(
            steps_scenario({"a": 3, "b": 3, "c": 2}),
            lambda log: seen.append(tuple(log)),
            strategy=pct(depth=3, runs=20, seed=seed),
        ).assert_ok()
        return seen

    assert traces(11) == traces(11)
    assert len(set(traces(11))) > 3
    assert traces(11) != traces(12)


def test_pct_runs_count_plus_calibration():
    result = explore(steps_scenario({"a": 1, "b": 1}), strategy=pct(depth=2, runs=7, seed=0))
    assert result.schedules_run == 8
    assert result.exhausted


def test_replay_accepts_nth_occurrence():
    seen = []
    explore(
        steps_scenario({"a": 0, "b": 0}),
        lambda log: seen.append(log),
        strategy=replay(["b", "a"]),
    ).assert_ok()
    assert seen == [["b0", "a0"]]

    def loop_scenario():
        log: list[str] = []

        def a():
            for i in range(3):
                checkpoint("tick")
                log.append(f"a{i}")

        def b():
            log.append("b")

        return Scenario(threads={"a": a, "b": b}, state=log)

    seen.clear()
    explore(loop_scenario, lambda log: seen.append(log), strategy=replay(["a@tick#2", "b"]))
    assert seen == [["a0", "b", "a1", "a2"]]


@pytest.mark.parametrize("bad", ["feed", [""], [3], ["feed@"], ["feed@x#0"]])
def test_replay_rejects_malformed_schedules(bad):
    with pytest.raises(ValueError, match="schedule|segment|replay|#n"):
        replay(bad)


@pytest.mark.parametrize(
    "factory,kwargs,field",
    [
        (exhaustive, {"preemption_bound": -1}, "preemption_bound"),
        (exhaustive, {"max_schedules": 0}, "max_schedules"),
        (pct, {"depth": 0}, "depth"),
        (pct, {"runs": 0}, "runs"),
        (pct, {"seed": "x"}, "seed"),
    ],
)
def test_strategy_arguments_are_validated(factory, kwargs, field):
    with pytest.raises(ValueError, match=field):
        factory(**kwargs)


def test_explore_rejects_unknown_strategy_and_bad_limits():
    with pytest.raises(TypeError, match="strategy must come from"):
        explore(steps_scenario({"a": 0}), strategy="dfs")
    with pytest.raises(ValueError, match="max_steps"):
        explore(steps_scenario({"a": 0}), max_steps=0)
    with pytest.raises(ValueError, match="step_timeout"):
        explore(steps_scenario({"a": 0}), step_timeout=0)


def test_decision_default_is_non_preemptive():
    d = Decision(step=3, enabled=("a", "b"), prev="b", labels={"a": "x", "b": "y"})
    assert d.default == "b"
    d = Decision(step=3, enabled=("a", "c"), prev="b", labels={"a": "x", "c": "y"})
    assert d.default == "a"
