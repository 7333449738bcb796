"""The shape a scenario() may return, normalised to a Scenario."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    """What ``scenario()`` may return: fresh state and the thread bodies.

    ``check`` / ``invariant`` here are used when ``explore`` is not given them.
    """

    threads: Mapping[str, Callable[[], object]]
    state: object = None
    check: Callable[[Any], object] | None = None
    invariant: Callable[[Any], object] | None = None


def _normalize_scenario(built: object) -> Scenario:
    if isinstance(built, Scenario):
        sc = built
    elif isinstance(built, tuple) and len(built) == 2 and isinstance(built[1], Mapping):
        sc = Scenario(threads=built[1], state=built[0])
    elif isinstance(built, Mapping):
        sc = Scenario(threads=built)
    else:
        raise TypeError(
            "scenario() must return a Scenario, a dict of thread name -> callable, "
            f"or a (state, dict) tuple; got {type(built).__name__}"
        )
    if not sc.threads:
        raise ValueError("scenario() returned no threads; give at least one name -> callable")
    for name, fn in sc.threads.items():
        if not isinstance(name, str) or not name or "@" in name or "#" in name:
            raise ValueError(f"thread name {name!r} must be a non-empty str without '@' or '#'")
        if not callable(fn):
            raise TypeError(f"thread {name!r} body must be callable, got {type(fn).__name__}")
    return sc
