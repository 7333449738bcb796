"""Scheduling points and a controlled scheduler for interleaving tests.

Production side: ``checkpoint(name)`` marks a place where another thread may
run; engine code creates every lock through ``Lock()`` / ``RLock()`` (and
events through ``Event()``). With no scheduler installed a checkpoint is one
global read and the factories return plain ``threading`` objects, so
production behaviour and cost are unchanged.

Test side (Coyote / CHESS style): ``explore(scenario, check, strategy=...)``
installs a ``Scheduler`` that runs the scenario's real threads one at a time.
Every checkpoint, lock acquire/release, event set/wait and (through
``CheckpointedBroker``) every broker call is a point where the scheduler picks
who runs next, by strategy:

* ``replay(schedule)``: one human-readable schedule, e.g.
  ``["poller@broker.place_order", "feed", "poller"]``;
* ``exhaustive(preemption_bound=k)``: every schedule with at most k
  preemptions, depth-first;
* ``pct(depth=d, runs=n, seed=s)``: PCT random priorities with d-1 change
  points; every run's seed is reported.

A schedule is a list of *segments*. ``"T@L"`` runs thread T until it is parked
at the scheduling point labelled L (after at least one step); ``"T@L#n"`` until
the n-th time it gets there in this segment; ``"T"`` runs T until it finishes
or blocks. When the list is used up the scheduler continues without
preemption (the running thread keeps running; when it finishes or blocks the
first runnable thread in declaration order takes over). Failures are reported
in exactly this form, so what ``explore`` prints is what ``replay`` accepts.

Only threads declared by the scenario are controlled. Checkpoints and lock
calls from any other thread (library daemons, the test's main thread, threads
a scenario thread starts) are not scheduled. A scenario thread that blocks
outside the kit's control (a plain ``threading.Lock``, ``time.sleep``, a
socket) is reported as a HANG after ``step_timeout`` seconds instead of
hanging pytest.
"""

from __future__ import annotations

import enum
import functools
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CheckpointedBroker",
    "Decision",
    "Event",
    "ExploreResult",
    "Failure",
    "FailureKind",
    "Lock",
    "RLock",
    "Scenario",
    "Scheduler",
    "checkpoint",
    "exhaustive",
    "explore",
    "pct",
    "replay",
]

_scheduler = None  # the active controlled scheduler, if any


# ---------------------------------------------------------------------------
# Production hooks: keep these tiny, they run on every tick in production.
# ---------------------------------------------------------------------------


def checkpoint(name: str) -> None:
    s = _scheduler
    if s is not None:
        s.checkpoint(name)


def Lock(name: str | None = None):  # noqa: N802 - mirrors threading.Lock
    s = _scheduler
    return threading.Lock() if s is None else s.make_lock(name)


def RLock(name: str | None = None):  # noqa: N802 - mirrors threading.RLock
    s = _scheduler
    return threading.RLock() if s is None else s.make_rlock(name)


def Event(name: str | None = None):  # noqa: N802 - mirrors threading.Event
    s = _scheduler
    return threading.Event() if s is None else s.make_event(name)


class CheckpointedBroker:
    """Wrap any object so each public method call is bracketed by checkpoints.

    ``wrapped.place_order(req)`` runs ``checkpoint("broker.place_order")``,
    the call, then ``checkpoint("broker.place_order:done")`` (or
    ``":error"`` when the call raised, before re-raising). Attributes that are
    not callables, and names starting with ``_``, pass through unchanged.
    """

    def __init__(self, broker: object, prefix: str = "broker") -> None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("CheckpointedBroker prefix must be a non-empty str, e.g. 'broker'")
        object.__setattr__(self, "_inner", broker)
        object.__setattr__(self, "_prefix", prefix)

    @property
    def wrapped(self) -> object:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        before = f"{self._prefix}.{name}"
        done, error = before + ":done", before + ":error"

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            checkpoint(before)
            try:
                result = attr(*args, **kwargs)
            except Exception:
                checkpoint(error)
                raise
            checkpoint(done)
            return result

        # Cache so later lookups skip __getattr__ (cheap in production too).
        self.__dict__[name] = call
        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __repr__(self) -> str:
        return f"CheckpointedBroker({self._inner!r})"


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


class FailureKind(enum.Enum):
    CHECK = "check"  # check(state) failed after a complete schedule
    INVARIANT = "invariant"  # invariant(state) failed at a scheduling point
    EXCEPTION = "exception"  # a scenario thread raised
    DEADLOCK = "deadlock"  # unfinished threads, none can run
    LIVELOCK = "livelock"  # step budget (max_steps) exceeded
    HANG = "hang"  # a thread blocked outside the kit's control
    DIVERGENCE = "divergence"  # replay does not fit / scenario not deterministic


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    schedule: tuple[str, ...]  # replay() form
    trace: tuple[str, ...]  # every step as "thread@label-it-ran-from"
    preemptions: int
    schedule_index: int  # 1-based: which schedule of the exploration
    strategy: str
    seed: int | None = None  # PCT run seed; pct(runs=1, seed=seed) re-runs it
    thread: str | None = None
    error: BaseException | None = None
    error_traceback: str = ""

    def replay_call(self) -> str:
        return f"replay({list(self.schedule)!r})"

    def describe(self) -> str:
        lines = [f"{self.kind.value.upper()}: {self.message}"]
        if self.thread:
            lines.append(f"  in thread: {self.thread}")
        lines.append(
            f"  schedule #{self.schedule_index} of {self.strategy}, "
            f"{self.preemptions} preemption(s), {len(self.trace)} steps:"
        )
        lines.extend(f"    {seg}" for seg in self.schedule)
        if self.seed is not None:
            lines.append(f"  seed: {self.seed}")
        lines.append(f"  reproduce: explore(scenario, check, strategy={self.replay_call()})")
        shown = self.trace[-40:]
        prefix = "... " if len(self.trace) > len(shown) else ""
        lines.append("  trace: " + prefix + " -> ".join(shown))
        if self.error_traceback:
            lines.append("  traceback:")
            lines.extend("    " + ln for ln in self.error_traceback.rstrip().splitlines())
        return "\n".join(lines)


@dataclass(frozen=True)
class ExploreResult:
    strategy: str
    schedules_run: int
    failures: tuple[Failure, ...]
    elapsed: float
    exhausted: bool  # True when the strategy's whole space was covered
    max_preemptions_seen: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def first_failure(self) -> Failure | None:
        return self.failures[0] if self.failures else None

    @property
    def shortest_failure(self) -> Failure | None:
        if not self.failures:
            return None
        return min(self.failures, key=lambda f: (len(f.schedule), f.preemptions, len(f.trace)))

    def assert_ok(self) -> None:
        f = self.shortest_failure
        if f is None:
            return
        raise AssertionError(
            f"interleaving failure after {self.schedules_run} schedule(s) "
            f"({self.strategy}, {len(self.failures)} failing):\n{f.describe()}"
        )

    def summary(self) -> str:
        f = self.shortest_failure
        tail = f", shortest failing schedule {list(f.schedule)}" if f else ""
        return (
            f"{self.strategy}: {self.schedules_run} schedules in {self.elapsed:.3f}s, "
            f"{len(self.failures)} failing, exhausted={self.exhausted}{tail}"
        )


# ---------------------------------------------------------------------------
# Scenario shape
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# The scheduler
# ---------------------------------------------------------------------------


class _Abort(BaseException):
    """Unwinds a scenario thread when its schedule is abandoned."""


class _TState(enum.Enum):
    NEW = "new"
    PARKED = "parked"
    RUNNING = "running"
    DONE = "done"


class _Wait(enum.Enum):
    NONE = "none"  # plain checkpoint: always runnable
    LOCK = "lock"  # runnable when the lock is free for it
    EVENT = "event"  # runnable when the event is set


class _LThread:
    def __init__(self, run: _Run, index: int, name: str, fn: Callable[[], object]) -> None:
        self.run = run
        self.index = index
        self.name = name
        self.fn = fn
        self.ident: int | None = None
        self.state = _TState.NEW
        self.label = "start"
        self.wait = _Wait.NONE
        self.obj: Any = None
        self.deadline: float | None = None  # virtual time a timed wait expires
        self.timed_out = False
        self.in_hook = False
        self.thread: threading.Thread | None = None


@dataclass
class _RunFailure:
    kind: FailureKind
    message: str
    thread: str | None = None
    error: BaseException | None = None
    tb: str = ""


class _Run:
    def __init__(self, sched: Scheduler, strategy: _Strategy, index: int) -> None:
        self.sched = sched
        self.cv = sched._cv
        self.strategy = strategy
        self.index = index
        self.threads: list[_LThread] = []
        self.by_name: dict[str, _LThread] = {}
        self.current: _LThread | None = None
        self.steps: list[tuple[str, str]] = []
        self.defaults: list[bool] = []  # was step k the non-preemptive choice?
        self.preemptions = 0
        self.failure: _RunFailure | None = None
        self.final_labels: dict[str, str | None] | None = None
        self.vnow = 0.0  # virtual clock for timed waits; only moves when all are blocked
        self.finished = False
        self.aborted = False
        self.registered = 0
        self.names: dict[str, int] = {}
        self.last_progress = time.monotonic()
        self.invariant: Callable[[Any], object] | None = None
        self.state: object = None
        self.main_ident = threading.get_ident()

    def auto_name(self, kind: str) -> str:
        n = self.names.get(kind, 0) + 1
        self.names[kind] = n
        return f"{kind[0].upper()}{n}"


class Scheduler:
    """Runs a scenario's threads one at a time; see module docstring."""

    replay = staticmethod(replay)
    exhaustive = staticmethod(exhaustive)
    pct = staticmethod(pct)

    def __init__(self, *, max_steps: int = 10_000, step_timeout: float = 5.0) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
        if not (isinstance(step_timeout, int | float) and step_timeout > 0):
            raise ValueError(f"step_timeout must be seconds > 0, got {step_timeout!r}")
        self.max_steps = max_steps
        self.step_timeout = float(step_timeout)
        self._cv = threading.Condition(threading.Lock())
        self._run: _Run | None = None
        self._threads: dict[int, _LThread] = {}  # ident -> logical thread, all runs

    # -- hooks called by the module-level functions -------------------------

    def _managed(self) -> _LThread | None:
        lt = self._threads.get(threading.get_ident())
        if lt is None or lt.in_hook:
            return None
        return lt

    def checkpoint(self, name: str) -> None:
        lt = self._managed()
        if lt is not None:
            self._park(lt, name)

    def make_lock(self, name: str | None = None) -> _ControlledLock:
        return _ControlledLock(self, self._name_for("lock", name), reentrant=False)

    def make_rlock(self, name: str | None = None) -> _ControlledLock:
        return _ControlledLock(self, self._name_for("rlock", name), reentrant=True)

    def make_event(self, name: str | None = None) -> _ControlledEvent:
        return _ControlledEvent(self, self._name_for("event", name))

    def _name_for(self, kind: str, name: str | None) -> str:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"{kind} name must be a non-empty str, got {name!r}")
            return name
        run = self._run
        with self._cv:
            if run is None:
                self._loose = getattr(self, "_loose", 0) + 1
                return f"{kind[0].upper()}{self._loose}"
            return run.auto_name(kind)

    # -- parking: the only place a scenario thread waits ----------------------

    def _park(
        self,
        lt: _LThread,
        label: str,
        wait: _Wait = _Wait.NONE,
        obj: Any = None,
        timeout: float | None = None,
    ) -> bool:
        """Park at a scheduling point; return False if a timed wait timed out."""
        run = lt.run
        if run.aborted:
            raise _Abort()
        if run.invariant is not None:
            self._check_invariant(lt)
        cv = self._cv
        with cv:
            if run.aborted:
                raise _Abort()
            lt.label, lt.wait, lt.obj = label, wait, obj
            lt.deadline = None if timeout is None else run.vnow + timeout
            lt.state = _TState.PARKED
            self._decide(run, lt)
            while not (run.current is lt and lt.state is _TState.RUNNING):
                if run.aborted:
                    raise _Abort()
                cv.wait(0.5)
            timed_out, lt.timed_out = lt.timed_out, False
            lt.wait, lt.obj, lt.deadline = _Wait.NONE, None, None
            if wait is _Wait.LOCK and not timed_out:
                obj._take(lt.ident)
            return not timed_out

    def _check_invariant(self, lt: _LThread) -> None:
        run = lt.run
        lt.in_hook = True
        try:
            ok = run.invariant(run.state)
        except BaseException as e:  # noqa: BLE001 - report anything the invariant raises
            with self._cv:
                self._fail(
                    run, FailureKind.INVARIANT, f"invariant raised {e!r} at {lt.name}", lt.name, e
                )
            raise _Abort() from None
        finally:
            lt.in_hook = False
        if ok is False:
            with self._cv:
                self._fail(
                    run, FailureKind.INVARIANT, f"invariant returned False at {lt.name}", lt.name
                )
            raise _Abort()

    def _enabled(self, t: _LThread) -> bool:
        if t.wait is _Wait.NONE:
            return True
        if t.wait is _Wait.LOCK:
            return t.obj._free_for(t.ident)
        return t.obj._flag

    def _decide(self, run: _Run, prev: _LThread | None) -> None:
        """Pick who runs next. Caller holds the condition."""
        if run.aborted or run.finished:
            return
        run.last_progress = time.monotonic()
        if len(run.steps) >= self.max_steps:
            self._fail(
                run,
                FailureKind.LIVELOCK,
                f"no end after {self.max_steps} steps (max_steps); "
                "a thread keeps looping through scheduling points",
            )
            return
        parked = [t for t in run.threads if t.state is _TState.PARKED]
        enabled = [t for t in parked if self._enabled(t)]
        timeouts = False
        if not enabled:
            # Virtual time jumps to the earliest deadline: those timed waits expire.
            timed = [t for t in parked if t.deadline is not None]
            if timed:
                run.vnow = min(t.deadline for t in timed)
                enabled = [t for t in timed if t.deadline == run.vnow]
            timeouts = bool(enabled)
        if not enabled:
            if not parked:
                run.finished = True
                self._cv.notify_all()
                return
            waits = "; ".join(f"{t.name} waits at {t.label} ({self._holder(t)})" for t in parked)
            self._fail(run, FailureKind.DEADLOCK, f"no thread can run: {waits}")
            return
        d = Decision(
            step=len(run.steps),
            enabled=tuple(t.name for t in enabled),
            prev=prev.name if prev is not None else None,
            labels={t.name: t.label for t in parked},
        )
        try:
            name = run.strategy.choose(d)
        except _Divergence as e:
            self._fail(run, FailureKind.DIVERGENCE, str(e))
            return
        chosen = run.by_name.get(name)
        if chosen is None or chosen not in enabled:
            self._fail(
                run,
                FailureKind.DIVERGENCE,
                f"strategy chose {name!r}, not runnable; runnable: {list(d.enabled)}",
            )
            return
        if prev is not None and prev in enabled and chosen is not prev and not timeouts:
            run.preemptions += 1
        chosen.timed_out = timeouts
        run.steps.append((name, chosen.label))
        run.defaults.append(name == d.default)
        chosen.state = _TState.RUNNING
        run.current = chosen
        self._cv.notify_all()

    def _holder(self, t: _LThread) -> str:
        if t.wait is _Wait.LOCK:
            owner = self._threads.get(t.obj._owner)
            who = owner.name if owner is not None and owner.run is t.run else "another thread"
            return f"{t.obj.name} held by {who}"
        if t.wait is _Wait.EVENT:
            return f"event {t.obj.name} never set"
        return "runnable"

    def _fail(
        self,
        run: _Run,
        kind: FailureKind,
        message: str,
        thread: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        if run.failure is None:
            # Snapshot where everyone is parked before the threads unwind.
            run.final_labels = {
                t.name: (t.label if t.state is _TState.PARKED else None) for t in run.threads
            }
            tb = ""
            if error is not None:
                tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            run.failure = _RunFailure(kind, message, thread, error, tb)
        run.aborted = True
        self._cv.notify_all()

    # -- thread bodies --------------------------------------------------------

    def _thread_main(self, run: _Run, lt: _LThread) -> None:
        cv = self._cv
        with cv:
            lt.ident = threading.get_ident()
            self._threads[lt.ident] = lt
            lt.state = _TState.PARKED
            run.registered += 1
            cv.notify_all()
            while not (run.current is lt and lt.state is _TState.RUNNING):
                if run.aborted:
                    lt.state = _TState.DONE
                    self._threads.pop(lt.ident, None)
                    return
                cv.wait(0.5)
        error: BaseException | None = None
        try:
            lt.fn()
        except _Abort:
            pass
        except BaseException as e:  # noqa: BLE001 - a scenario thread's failure is a finding
            error = e
        with cv:
            lt.state = _TState.DONE
            self._threads.pop(lt.ident, None)
            if error is not None:
                self._fail(
                    run,
                    FailureKind.EXCEPTION,
                    f"thread {lt.name!r} raised {error!r}",
                    lt.name,
                    error,
                )
            elif not run.aborted:
                self._decide(run, lt)
            else:
                cv.notify_all()

    # -- one schedule -----------------------------------------------------------

    def _run_one(
        self,
        scenario: Callable[[], object],
        strategy: _Strategy,
        index: int,
        check: Callable[[Any], object] | None,
        invariant: Callable[[Any], object] | None,
    ) -> tuple[_Run, list[str]]:
        run = _Run(self, strategy, index)
        self._run = run
        cv = self._cv
        sc = _normalize_scenario(scenario())
        check = check if check is not None else sc.check
        run.invariant = invariant if invariant is not None else sc.invariant
        run.state = sc.state
        for i, (name, fn) in enumerate(sc.threads.items()):
            lt = _LThread(run, i, name, fn)
            run.threads.append(lt)
            run.by_name[name] = lt
        for lt in run.threads:
            lt.thread = threading.Thread(
                target=self._thread_main, args=(run, lt), name=f"interleave:{lt.name}", daemon=True
            )
            lt.thread.start()
        with cv:
            deadline = time.monotonic() + self.step_timeout
            while run.registered < len(run.threads):
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail(run, FailureKind.HANG, "scenario threads did not start")
                    break
                cv.wait(left)
            self._decide(run, None)
            while not (run.finished or run.aborted):
                left = run.last_progress + self.step_timeout - time.monotonic()
                if left <= 0:
                    cur = run.current
                    where = f"{cur.name} after {cur.label!r}" if cur else "?"
                    self._fail(
                        run,
                        FailureKind.HANG,
                        f"no scheduling point for {self.step_timeout}s: {where} is blocked "
                        "outside the kit's control (plain threading lock, sleep, I/O?) "
                        "or computing for too long",
                        cur.name if cur else None,
                    )
                    break
                cv.wait(left)
        leaked = self._join(run)
        if run.failure is None and check is not None:
            try:
                ok = check(run.state)
            except BaseException as e:  # noqa: BLE001 - report whatever check raises
                with cv:
                    self._fail(run, FailureKind.CHECK, f"check failed: {e!r}", None, e)
            else:
                if ok is False:
                    with cv:
                        self._fail(run, FailureKind.CHECK, "check returned False")
        return run, leaked

    def _join(self, run: _Run) -> list[str]:
        deadline = time.monotonic() + self.step_timeout
        leaked = []
        for lt in run.threads:
            assert lt.thread is not None
            lt.thread.join(max(0.0, deadline - time.monotonic()))
            if lt.thread.is_alive():
                leaked.append(lt.name)
        return leaked

    def _failure_of(self, run: _Run, strategy: _Strategy) -> Failure:
        rf = run.failure
        assert rf is not None
        finals = run.final_labels or {t.name: None for t in run.threads}
        return Failure(
            kind=rf.kind,
            message=rf.message,
            schedule=_compact(run.steps, run.defaults, finals),
            trace=tuple(f"{n}@{lab}" for n, lab in run.steps),
            preemptions=run.preemptions,
            schedule_index=run.index,
            strategy=strategy.name,
            seed=strategy.seed(),
            thread=rf.thread,
            error=rf.error,
            error_traceback=rf.tb,
        )

    # -- exploration ------------------------------------------------------------

    def run(
        self,
        scenario: Callable[[], object],
        check: Callable[[Any], object] | None = None,
        *,
        strategy: Any = None,
        invariant: Callable[[Any], object] | None = None,
        stop_on_first: bool = True,
    ) -> ExploreResult:
        global _scheduler
        if not callable(scenario):
            raise TypeError("scenario must be a callable that builds fresh state and threads")
        spec = strategy if strategy is not None else exhaustive()
        if not hasattr(spec, "make"):
            raise TypeError(
                "strategy must come from replay(...), exhaustive(...) or pct(...), "
                f"got {type(spec).__name__}"
            )
        if _scheduler is not None:
            raise RuntimeError("an interleaving scheduler is already installed (nested explore?)")
        strat = spec.make()
        failures: list[Failure] = []
        schedules = 0
        max_pre = 0
        t0 = time.perf_counter()
        _scheduler = self
        try:
            while strat.begin():
                schedules += 1
                run, leaked = self._run_one(scenario, strat, schedules, check, invariant)
                if leaked and run.failure is None:
                    with self._cv:
                        self._fail(
                            run,
                            FailureKind.HANG,
                            f"threads {leaked} did not finish after their schedule",
                        )
                max_pre = max(max_pre, run.preemptions)
                if run.failure is not None:
                    failures.append(self._failure_of(run, strat))
                strat.end(len(run.steps))
                if leaked or (failures and stop_on_first):
                    break
        finally:
            _scheduler = None
            self._run = None
        return ExploreResult(
            strategy=strat.name,
            schedules_run=schedules,
            failures=tuple(failures),
            elapsed=time.perf_counter() - t0,
            exhausted=strat.exhausted and not failures,
            max_preemptions_seen=max_pre,
        )


def _compact(
    steps: Sequence[tuple[str, str]], defaults: Sequence[bool], finals: Mapping[str, str | None]
) -> tuple[str, ...]:
    """Turn the step list into replay() segments, dropping a default-only tail."""
    m = len(steps)
    while m > 0 and defaults[m - 1]:
        m -= 1
    # Step m-1 is the last non-default choice; steps[m:] replay by default.
    post: list[str | None] = [None] * len(steps)
    nxt: dict[str, str | None] = dict(finals)
    for k in range(len(steps) - 1, -1, -1):
        name, label = steps[k]
        post[k] = nxt.get(name)
        nxt[name] = label
    segs: list[str] = []
    k = 0
    while k < m:
        name = steps[k][0]
        j = k
        while j + 1 < m and steps[j + 1][0] == name:
            j += 1
        if j == m - 1:
            # Last segment: if the thread then ran to its end by default, say just "T".
            t = j
            while t + 1 < len(steps) and steps[t + 1][0] == name:
                t += 1
            if post[t] is None:
                segs.append(name)
                break
        end = post[j]
        if end is None:
            segs.append(name)
        else:
            n = sum(1 for i in range(k, j + 1) if post[i] == end)
            segs.append(f"{name}@{end}" + (f"#{n}" if n > 1 else ""))
        k = j + 1
    return tuple(segs)


# ---------------------------------------------------------------------------
# Controlled primitives (only created while a scheduler is installed)
# ---------------------------------------------------------------------------


class _ControlledLock:
    def __init__(self, sched: Scheduler, name: str, reentrant: bool) -> None:
        self._sched = sched
        self.name = name
        self._reentrant = reentrant
        self._owner: int | None = None
        self._count = 0

    def _free_for(self, ident: int | None) -> bool:
        return self._owner is None or (self._reentrant and self._owner == ident)

    def _take(self, ident: int | None) -> None:
        self._owner = ident
        self._count += 1

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not blocking and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number (or -1 for no timeout)")
        sched = self._sched
        lt = sched._managed()
        if lt is None or lt.run is not sched._run:
            return self._acquire_unmanaged(blocking, timeout)
        label = f"lock.acquire:{self.name}"
        if not blocking:
            sched._park(lt, label)
            with sched._cv:
                if self._free_for(lt.ident):
                    self._take(lt.ident)
                    return True
                return False
        return sched._park(lt, label, _Wait.LOCK, self, timeout=timeout if timeout >= 0 else None)

    def _acquire_unmanaged(self, blocking: bool, timeout: float) -> bool:
        sched = self._sched
        me = threading.get_ident()
        cv = sched._cv
        start = time.monotonic()
        with cv:
            while not self._free_for(me):
                if not blocking:
                    return False
                waited = time.monotonic() - start
                if timeout >= 0 and waited >= timeout:
                    return False
                run = sched._run
                owner = sched._threads.get(self._owner) if self._owner is not None else None
                caller = sched._threads.get(me)
                cannot_wait = (caller is not None and caller.in_hook) or (
                    run is not None and me == run.main_ident
                )
                if (
                    run is not None
                    and owner is not None
                    and (cannot_wait or waited >= sched.step_timeout)
                ):
                    raise RuntimeError(
                        f"lock {self.name} is held by scenario thread {owner.name!r}, which the "
                        "interleaving scheduler has paused; invariants and checks must not wait "
                        "for locks the scenario threads hold (read the fields directly)"
                    )
                cv.wait(0.05 if timeout < 0 else min(0.05, timeout - waited))
            self._take(me)
            return True

    def release(self) -> None:
        sched = self._sched
        me = threading.get_ident()
        with sched._cv:
            if self._owner is None:
                raise RuntimeError("release unlocked lock")
            if self._reentrant and self._owner != me:
                raise RuntimeError("cannot release un-acquired lock")
            self._count -= 1
            if self._count == 0:
                self._owner = None
            sched._cv.notify_all()
        lt = sched._managed()
        if lt is not None and lt.run is sched._run and not lt.run.aborted:
            sched._park(lt, f"lock.release:{self.name}")

    def locked(self) -> bool:
        return self._owner is not None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        kind = "RLock" if self._reentrant else "Lock"
        state = "locked" if self._owner is not None else "unlocked"
        return f"<controlled {kind} {self.name} {state}>"


class _ControlledEvent:
    def __init__(self, sched: Scheduler, name: str) -> None:
        self._sched = sched
        self.name = name
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        sched = self._sched
        with sched._cv:
            self._flag = True
            sched._cv.notify_all()
        lt = sched._managed()
        if lt is not None and lt.run is sched._run:
            sched._park(lt, f"event.set:{self.name}")

    def clear(self) -> None:
        with self._sched._cv:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        sched = self._sched
        lt = sched._managed()
        if lt is not None and lt.run is sched._run:
            sched._park(lt, f"event.wait:{self.name}", _Wait.EVENT, self, timeout=timeout)
            return self._flag
        cv = sched._cv
        end = None if timeout is None else time.monotonic() + timeout
        with cv:
            while not self._flag:
                left = 0.05 if end is None else min(0.05, end - time.monotonic())
                if left <= 0:
                    return False
                cv.wait(left)
            return True

    def __repr__(self) -> str:
        return f"<controlled Event {self.name} {'set' if self._flag else 'clear'}>"


# ---------------------------------------------------------------------------
# pytest entry
# ---------------------------------------------------------------------------


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
