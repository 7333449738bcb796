"""Who runs next: replay(schedule), exhaustive(preemption_bound), pct(depth, runs, seed)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from live.testing.results import Failure


@dataclass(frozen=True)
class Decision:
    """What a strategy sees at one scheduling point."""

    step: int  # 0-based index of the step about to be chosen
    enabled: tuple[str, ...]  # runnable threads, declaration order
    prev: str | None  # thread that ran the previous step
    labels: Mapping[str, str]  # where each unfinished thread is parked

    @property
    def default(self) -> str:
        # Non-preemptive choice: keep running the previous thread if it can.
        return self.prev if self.prev in self.enabled else self.enabled[0]


class _Divergence(Exception):
    pass


class _Strategy:
    name = "strategy"

    def begin(self) -> bool:  # start the next schedule; False when done
        raise NotImplementedError

    def choose(self, d: Decision) -> str:
        raise NotImplementedError

    def end(self, steps: int) -> None:
        pass

    def seed(self) -> int | None:
        return None

    @property
    def exhausted(self) -> bool:
        return False


@dataclass(frozen=True)
class _Segment:
    thread: str
    label: str | None
    count: int = 1


def _parse_segment(entry: object) -> _Segment:
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(
            f"schedule entry {entry!r} must be 'thread', 'thread@label' or 'thread@label#n'"
        )
    thread, sep, label = entry.strip().partition("@")
    if not sep:
        return _Segment(thread, None)
    if not label:
        raise ValueError(f"schedule entry {entry!r} has an empty label after '@'")
    count = 1
    base, hsep, num = label.rpartition("#")
    if hsep and num.isdigit():
        label, count = base, int(num)
        if count < 1:
            raise ValueError(f"schedule entry {entry!r}: '#n' must be >= 1")
    return _Segment(thread, label, count)


@dataclass(frozen=True)
class _ReplaySpec:
    segments: tuple[_Segment, ...]
    text: tuple[str, ...]

    def make(self) -> _Strategy:
        return _Replay(self)


class _Replay(_Strategy):
    def __init__(self, spec: _ReplaySpec) -> None:
        self.spec = spec
        self.name = f"replay({list(spec.text)!r})"
        self._started = False

    def begin(self) -> bool:
        if self._started:
            return False
        self._started = True
        self._i = 0
        self._steps = 0  # steps taken in the current segment
        self._hits = 0
        return True

    def choose(self, d: Decision) -> str:
        segs = self.spec.segments
        while self._i < len(segs):
            seg = segs[self._i]
            if self._steps == 0:
                if seg.thread not in d.labels:
                    known = ", ".join(sorted(d.labels)) or "none left"
                    raise _Divergence(
                        f"segment {self._i + 1} {self.spec.text[self._i]!r}: thread "
                        f"{seg.thread!r} is finished or unknown (unfinished: {known})"
                    )
                if seg.thread not in d.enabled:
                    raise _Divergence(
                        f"segment {self._i + 1} {self.spec.text[self._i]!r}: thread "
                        f"{seg.thread!r} cannot run (parked at {d.labels.get(seg.thread)!r}, "
                        f"blocked); runnable: {list(d.enabled)}"
                    )
                self._steps = 1
                return seg.thread
            # The segment's thread just ran a step and is now parked (or done).
            if seg.label is None:
                if seg.thread in d.enabled:
                    self._steps += 1
                    return seg.thread
                self._advance()
                continue
            here = d.labels.get(seg.thread)
            if here == seg.label:
                self._hits += 1
                if self._hits == seg.count:
                    self._advance()
                    continue
            if seg.thread not in d.enabled:
                state = f"parked at {here!r} and blocked" if here else "finished"
                raise _Divergence(
                    f"segment {self._i + 1} {self.spec.text[self._i]!r}: thread "
                    f"{seg.thread!r} {state} before reaching {seg.label!r}"
                )
            self._steps += 1
            return seg.thread
        return d.default

    def _advance(self) -> None:
        self._i += 1
        self._steps = 0
        self._hits = 0

    @property
    def exhausted(self) -> bool:
        return True


@dataclass(frozen=True)
class _ExhaustiveSpec:
    preemption_bound: int
    max_schedules: int

    def make(self) -> _Strategy:
        return _Exhaustive(self)


@dataclass
class _Node:
    alternatives: tuple[str, ...]  # default choice first
    prev_enabled: str | None  # prev thread if it could have continued
    preemptions_before: int
    index: int = 0

    def cost(self, i: int) -> int:
        alt = self.alternatives[i]
        return 1 if self.prev_enabled is not None and alt != self.prev_enabled else 0


class _Exhaustive(_Strategy):
    """Stateless depth-first search over schedules (CHESS, bounded preemptions)."""

    def __init__(self, spec: _ExhaustiveSpec) -> None:
        self.spec = spec
        self.name = (
            f"exhaustive(preemption_bound={spec.preemption_bound}, "
            f"max_schedules={spec.max_schedules})"
        )
        self._stack: list[_Node] = []
        self._runs = 0
        self._done = False

    def begin(self) -> bool:
        if self._runs >= self.spec.max_schedules:
            return False
        if self._runs > 0 and not self._backtrack():
            self._done = True
            return False
        self._runs += 1
        self._pos = 0
        self._preemptions = 0
        return True

    def _backtrack(self) -> bool:
        bound = self.spec.preemption_bound
        while self._stack:
            node = self._stack[-1]
            for i in range(node.index + 1, len(node.alternatives)):
                if node.preemptions_before + node.cost(i) <= bound:
                    node.index = i
                    return True
            self._stack.pop()
        return False

    def choose(self, d: Decision) -> str:
        prev_enabled = d.prev if d.prev in d.enabled else None
        alts = (d.default,) + tuple(t for t in d.enabled if t != d.default)
        if self._pos < len(self._stack):
            node = self._stack[self._pos]
            if node.alternatives != alts or node.prev_enabled != prev_enabled:
                raise _Divergence(
                    f"scenario is not deterministic: at step {d.step} the runnable threads "
                    f"were {list(node.alternatives)} in an earlier schedule, now {list(alts)}; "
                    "make scenario() build fresh state and avoid wall-clock/random decisions"
                )
        else:
            node = _Node(alts, prev_enabled, self._preemptions)
            self._stack.append(node)
        self._pos += 1
        self._preemptions += node.cost(node.index)
        return node.alternatives[node.index]

    def end(self, steps: int) -> None:
        # A schedule that stopped early (failure) leaves deeper nodes stale.
        del self._stack[self._pos :]

    @property
    def exhausted(self) -> bool:
        return self._done


@dataclass(frozen=True)
class _PCTSpec:
    depth: int
    runs: int
    seed: int

    def make(self) -> _Strategy:
        return _PCT(self)


class _PCT(_Strategy):
    """PCT (Burckhardt et al. 2010): random priorities, depth-1 change points.

    A first, non-preemptive calibration schedule measures k (steps per run), so
    a run's seed alone reproduces it: pct(depth=d, runs=1, seed=<reported>).
    """

    def __init__(self, spec: _PCTSpec) -> None:
        self.spec = spec
        self.name = f"pct(depth={spec.depth}, runs={spec.runs}, seed={spec.seed})"
        self._run = -1  # -1 = calibration
        self._k: int | None = None

    def begin(self) -> bool:
        if self._run >= self.spec.runs:
            return False
        self._prio: dict[str, int] | None = None
        self._changes: dict[int, int] = {}
        if self._run >= 0:
            rng = random.Random(self.spec.seed + self._run)
            self._rng = rng
            k = max(self._k or 1, 1)
            n_changes = min(self.spec.depth - 1, k)
            points = rng.sample(range(1, k + 1), n_changes)
            # Change point i lowers the running thread below every initial priority.
            self._changes = {p: self.spec.depth - 2 - i for i, p in enumerate(points)}
        return True

    def choose(self, d: Decision) -> str:
        if self._run < 0:
            return d.default
        if self._prio is None:
            names = sorted(d.labels)  # every thread is parked at "start" on step 0
            values = list(range(self.spec.depth, self.spec.depth + len(names)))
            self._rng.shuffle(values)
            self._prio = dict(zip(names, values, strict=True))
        if d.step in self._changes and d.prev is not None:
            self._prio[d.prev] = self._changes[d.step]
        return max(d.enabled, key=lambda t: self._prio.get(t, -1))

    def end(self, steps: int) -> None:
        if self._run < 0:
            self._k = steps
        self._run += 1

    def seed(self) -> int | None:
        return None if self._run < 0 else self.spec.seed + self._run

    @property
    def exhausted(self) -> bool:
        return self._run >= self.spec.runs


def replay(schedule: Iterable[str] | Failure) -> _ReplaySpec:
    """One schedule: ``["poller@broker.place_order", "feed", "poller"]``."""
    if isinstance(schedule, Failure):
        schedule = schedule.schedule
    if isinstance(schedule, str):
        raise ValueError(
            "replay() takes a list of segments, e.g. ['feed@lock.acquire:L1', 'poller']"
        )
    text = tuple(schedule)
    return _ReplaySpec(tuple(_parse_segment(s) for s in text), tuple(s.strip() for s in text))


def exhaustive(preemption_bound: int = 2, max_schedules: int = 100_000) -> _ExhaustiveSpec:
    """Every schedule with at most ``preemption_bound`` preemptions (depth-first)."""
    if not isinstance(preemption_bound, int) or preemption_bound < 0:
        raise ValueError(f"preemption_bound must be an int >= 0, got {preemption_bound!r}")
    if not isinstance(max_schedules, int) or max_schedules < 1:
        raise ValueError(f"max_schedules must be an int >= 1, got {max_schedules!r}")
    return _ExhaustiveSpec(preemption_bound, max_schedules)


def pct(depth: int = 2, runs: int = 100, seed: int = 0) -> _PCTSpec:
    """``runs`` PCT schedules (plus one calibration run) with seeds seed..seed+runs-1."""
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"pct depth must be an int >= 1 (bug depth), got {depth!r}")
    if not isinstance(runs, int) or runs < 1:
        raise ValueError(f"pct runs must be an int >= 1, got {runs!r}")
    if not isinstance(seed, int):
        raise ValueError(f"pct seed must be an int, got {seed!r}")
    return _PCTSpec(depth, runs, seed)
