"""explore(): the one call a test makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from live.testing.results import ExploreResult
from live.testing.scheduler import Scheduler


def explore(
    scenario: Callable[[], object],
    check: Callable[[Any], object] | None = None,
    *,
    strategy: Any = None,
    invariant: Callable[[Any], object] | None = None,
    stop_on_first: bool = True,
    max_steps: int = 10_000,
    step_timeout: float = 5.0,
) -> ExploreResult:
    """Run ``scenario`` under every schedule the strategy yields.

    ``scenario()`` builds fresh state and returns a ``Scenario``, a
    ``(state, {name: body})`` tuple or a ``{name: body}`` dict; it runs with
    the scheduler installed, so ``Lock()``/``RLock()``/``Event()`` made there
    are controllable. ``check(state)`` runs after each complete schedule and
    ``invariant(state)`` at every scheduling point; either fails by raising
    or returning False. Default strategy: ``exhaustive(preemption_bound=2)``.
    """
    sched = Scheduler(max_steps=max_steps, step_timeout=step_timeout)
    return sched.run(
        scenario, check, strategy=strategy, invariant=invariant, stop_on_first=stop_on_first
    )
