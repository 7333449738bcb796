"""The controlled scheduler: runs a scenario's threads one at a time."""

from __future__ import annotations

import enum
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from live import interleave
from live.testing.primitives import _ControlledEvent, _ControlledLock, _Wait
from live.testing.results import ExploreResult, Failure, FailureKind
from live.testing.scenario import _normalize_scenario
from live.testing.strategies import Decision, _Divergence, _Strategy, exhaustive, pct, replay


class _Abort(BaseException):
    """Unwinds a scenario thread when its schedule is abandoned."""


class _TState(enum.Enum):
    NEW = "new"
    PARKED = "parked"
    RUNNING = "running"
    DONE = "done"


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
    """Runs a scenario's threads one at a time; see the live.testing docstring."""

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
        if not callable(scenario):
            raise TypeError("scenario must be a callable that builds fresh state and threads")
        spec = strategy if strategy is not None else exhaustive()
        if not hasattr(spec, "make"):
            raise TypeError(
                "strategy must come from replay(...), exhaustive(...) or pct(...), "
                f"got {type(spec).__name__}"
            )
        strat = spec.make()
        failures: list[Failure] = []
        schedules = 0
        max_pre = 0
        t0 = time.perf_counter()
        interleave.install(self)  # refuses a nested explore
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
            interleave.uninstall()
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
