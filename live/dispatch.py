"""Per-symbol dispatch: a symbol's events run in order, one at a time; a slow
broker call for one symbol delays another symbol's events only when every
worker of the pool is busy.

``PoolDispatcher`` (the default) is a bounded pool of worker threads over
per-symbol lanes. A lane holds that symbol's queued ticks and its urgent
work (order updates); it is run by at most one worker at a time, so a
symbol's events never run concurrently and stay in order. Urgent work goes
ahead of queued ticks, both within its lane and across lanes (lanes with
urgent work are picked first), so a fill is handled - and its stop placed -
while ticks are still queued (under overload a fill would otherwise wait
behind seconds of ticks). A tick that has waited longer than
``coalesce_after`` seconds when its turn comes is coalesced with the rest of
its lane's queued ticks into the latest one: decisions need the latest price
per symbol, not every stale print. Coalesced ticks are counted and logged
once.

Why a pool and not a thread per symbol: with 2,000 symbols a thread each
costs a queue hand-off and a thread switch per tick, all under one GIL
(the scale bench, bench/bench_scale.py, measured it). The thread-per-symbol
dispatcher (``ThreadPerSymbolDispatcher``) and one FIFO worker
(``SingleThreadDispatcher``) are kept as the bench's baselines, selectable
with ``dispatch.kind``.

Handlers are plain callables; an exception in one is logged and the worker
goes on (a bad tick must not stop a symbol's protection).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from live import interleave
from live.logs import log_event

__all__ = [
    "DispatchStats",
    "LaneDepth",
    "PoolDispatcher",
    "SingleThreadDispatcher",
    "SymbolDispatcher",
    "ThreadPerSymbolDispatcher",
    "make_dispatcher",
]

_STOP = object()
_BATCH = 16  # events a worker runs from one lane before letting other lanes in
_SAMPLES = 200_000  # tick -> decision samples kept (the latest)

TickHandler = Callable[[str, Decimal, datetime], None]


@dataclass(frozen=True)
class DispatchStats:
    queued: int
    handled: int
    failed: int
    ticks: int = 0
    coalesced: int = 0


@dataclass(frozen=True)
class LaneDepth:
    """One symbol's back-pressure: events queued and the oldest queued tick's
    age in seconds (0 with none queued)."""

    depth: int
    tick_age: float


class _Base:
    """Counting, failure logging and tick -> decision samples, shared."""

    def __init__(self, tick_handler: TickHandler | None):
        self._tick_handler = tick_handler
        self._count_lock = threading.Lock()
        self._handled = 0
        self._failed = 0
        self._ticks = 0
        self._coalesced = 0
        # Seconds from a tick's hand-off to the end of its handler (the
        # decision made, orders placed if any). A bounded list: appends are
        # atomic under the GIL, the reader copies.
        self.decision_samples: deque[float] = deque(maxlen=_SAMPLES)

    def submit_tick(self, key: str, ltp: Decimal, ts: datetime) -> bool:
        handler = self._tick_handler
        assert handler is not None, "this dispatcher was made without a tick handler"
        t0 = time.perf_counter()

        def run() -> None:
            handler(key, ltp, ts)
            self.decision_samples.append(time.perf_counter() - t0)
            self._counted(0, 0, 1)

        return self.submit(key, run)

    def submit(self, key: str, fn: Callable[[], None], *, urgent: bool = False) -> bool:
        raise NotImplementedError

    def _run(self, key: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
            return True
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the symbol
            return _failed(key, exc)

    def _counted(self, handled: int, failed: int, ticks: int = 0) -> None:
        with self._count_lock:
            self._handled += handled
            self._failed += failed
            self._ticks += ticks

    def _stats(self, queued: int) -> DispatchStats:
        with self._count_lock:
            return DispatchStats(queued, self._handled, self._failed, self._ticks, self._coalesced)


class ThreadPerSymbolDispatcher(_Base):
    """One worker thread and queue per symbol (the original design; a bench
    baseline now: a thread switch per tick)."""

    def __init__(
        self, keys: list[str], *, name: str = "symbol", tick_handler: TickHandler | None = None
    ):
        super().__init__(tick_handler)
        self._queues: dict[str, queue.Queue] = {k: queue.Queue() for k in keys}
        self._threads: dict[str, threading.Thread] = {}
        self._name = name

    def add(self, key: str) -> None:
        """A symbol that joined after start (its setup came in later)."""
        if key in self._queues:
            return
        q: queue.Queue = queue.Queue()
        self._queues = {**self._queues, key: q}
        if self._threads:
            self._start_one(key, q)

    def start(self) -> None:
        for key, q in self._queues.items():
            self._start_one(key, q)

    def _start_one(self, key: str, q: queue.Queue) -> None:
        t = threading.Thread(
            target=self._work, args=(key, q), name=f"{self._name}-{key}", daemon=True
        )
        self._threads[key] = t
        t.start()

    def submit(self, key: str, fn: Callable[[], None], *, urgent: bool = False) -> bool:
        """Queue ``fn`` on ``key``'s worker. False for a symbol we do not trade."""
        q = self._queues.get(key)
        if q is None:
            return False
        q.put(fn)
        return True

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queue is empty and idle (for tests and shutdown)."""
        done = threading.Event()
        remaining = [len(self._queues)]
        lock = threading.Lock()

        def mark():
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

        if not self._queues:
            return True
        for q in self._queues.values():
            q.put(mark)
        return done.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        for q in self._queues.values():
            q.put(_STOP)
        for t in self._threads.values():
            t.join(timeout)

    def stats(self) -> DispatchStats:
        return self._stats(sum(q.qsize() for q in self._queues.values()))

    def depths(self) -> dict[str, LaneDepth]:
        return {k: LaneDepth(q.qsize(), 0.0) for k, q in self._queues.items() if q.qsize()}

    def depth(self, key: str) -> LaneDepth:
        q = self._queues.get(key)
        return LaneDepth(q.qsize() if q is not None else 0, 0.0)

    def _work(self, key: str, q: queue.Queue) -> None:
        while True:
            fn = q.get()
            if fn is _STOP:
                return
            ok = self._run(key, fn)
            self._counted(1, 0 if ok else 1)


SymbolDispatcher = ThreadPerSymbolDispatcher  # the name tests and tools know


class _Lane:
    __slots__ = ("key", "ticks", "urgent", "running", "in_ready", "in_urgent")

    def __init__(self, key: str) -> None:
        self.key = key
        # (ltp, ts, handed-off perf_counter) - ticks, kept as data so they
        # can be coalesced; urgent work is callables.
        self.ticks: deque = deque()
        self.urgent: deque = deque()
        self.running = False
        self.in_ready = False
        self.in_urgent = False


class PoolDispatcher(_Base):
    """``workers`` threads over per-symbol serial lanes (see the module doc)."""

    def __init__(
        self,
        keys: list[str],
        *,
        workers: int = 4,
        coalesce_after: float | None = 0.5,
        name: str = "dispatch",
        tick_handler: TickHandler | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"dispatch.workers: a whole number >= 1, got {workers!r}")
        if coalesce_after is not None and not coalesce_after > 0:
            raise ValueError(
                f"dispatch.coalesce_after: seconds > 0 or null, got {coalesce_after!r}"
            )
        super().__init__(tick_handler)
        self._lanes: dict[str, _Lane] = {k: _Lane(k) for k in keys}
        # interleave.Lock: a plain threading.Lock in production; under the
        # interleaving scheduler every acquire is a scheduling point.
        self._cond = threading.Condition(interleave.Lock("dispatch"))
        self._clock = clock
        self._ready: deque[_Lane] = deque()
        self._urgent_ready: deque[_Lane] = deque()
        self._workers_n = workers
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._busy = 0  # workers running a lane
        self.coalesce_after = coalesce_after
        self._coalesce_logged = False
        self._name = name

    def add(self, key: str) -> None:
        with self._cond:
            if key not in self._lanes:
                self._lanes = {**self._lanes, key: _Lane(key)}

    def start(self) -> None:
        for i in range(self._workers_n):
            t = threading.Thread(target=self._work, name=f"{self._name}-{i}", daemon=True)
            self._threads.append(t)
            t.start()

    # --- hand-off (feed and poller threads) ------------------------------------------

    def submit_tick(self, key: str, ltp: Decimal, ts: datetime) -> bool:
        lane = self._lanes.get(key)
        if lane is None:
            return False
        item = (ltp, ts, self._clock())
        with self._cond:
            lane.ticks.append(item)
            if not lane.running:
                self._schedule(lane, urgent=False)
        return True

    def submit(self, key: str, fn: Callable[[], None], *, urgent: bool = True) -> bool:
        """Queue ``fn`` (an order update, a check) on ``key``'s lane: it runs
        after the lane's earlier callables and ahead of its queued ticks, and
        its lane is picked ahead of lanes holding only ticks. False for a
        symbol we do not trade."""
        lane = self._lanes.get(key)
        if lane is None:
            return False
        with self._cond:
            lane.urgent.append(fn)
            if not lane.running:
                self._schedule(lane, urgent=True)
        return True

    def _schedule(self, lane: _Lane, *, urgent: bool) -> None:
        """Under the lock: put a lane no worker runs where workers look,
        once (a lane already queued as urgent is not queued for ticks)."""
        if urgent:
            if not lane.in_urgent:
                lane.in_urgent = True
                self._urgent_ready.append(lane)
                self._cond.notify()
        elif not lane.in_ready and not lane.in_urgent:
            lane.in_ready = True
            self._ready.append(lane)
            self._cond.notify()

    # --- workers -----------------------------------------------------------------------

    def _next_lane(self, block: bool = True) -> _Lane | None:
        """Under the lock: a lane with work that no worker is running, urgent
        lanes first; None when stopping (or, not ``block``ing, when none)."""
        while True:
            if self._stopping:
                return None
            if self._urgent_ready:
                lane = self._urgent_ready.popleft()
                lane.in_urgent = False
            elif self._ready:
                lane = self._ready.popleft()
                lane.in_ready = False
            elif block:
                self._cond.wait()
                continue
            else:
                return None
            if lane.running or not (lane.urgent or lane.ticks):
                continue  # another worker has it, or it was drained meanwhile
            lane.running = True
            self._busy += 1
            return lane

    def _take(self, lane: _Lane):
        """Under the lock: the lane's next event (urgent first), coalescing
        stale ticks; None when the lane is empty."""
        if lane.urgent:
            return lane.urgent.popleft()
        if not lane.ticks or self._urgent_ready:
            return None  # another lane's fill goes before this lane's next tick
        item = lane.ticks.popleft()
        if self.coalesce_after is not None and lane.ticks:
            if self._clock() - item[2] > self.coalesce_after:
                dropped = len(lane.ticks)
                latest = lane.ticks.pop()
                lane.ticks.clear()
                self._coalesced += dropped  # under self._cond; read via stats()
                if not self._coalesce_logged:
                    self._coalesce_logged = True
                    log_event("TICKS_COALESCED", symbol=lane.key, level=logging.WARNING,
                              dropped=dropped, older_than_s=self.coalesce_after,
                              note="ticks lag: only the latest price per symbol is handled; "
                                   "counted in the dispatcher stats, logged once")  # fmt: skip
                return (latest[0], latest[1], item[2])
        return item

    def _work(self) -> None:
        while True:
            with self._cond:
                lane = self._next_lane()
            if lane is None:
                return
            self._run_lane(lane)

    def step(self) -> bool:
        """One worker's turn on the calling thread, without waiting: run a
        batch of the next ready lane; False when no lane was ready. (Tests
        drive the pool with it, under the interleaving scheduler.)"""
        with self._cond:
            lane = self._next_lane(block=False)
        if lane is None:
            return False
        self._run_lane(lane)
        return True

    def _run_lane(self, lane: _Lane) -> None:
        """Up to ``_BATCH`` of the lane's events, in its order (urgent
        first), then hand the lane back."""
        handler = self._tick_handler
        samples = self.decision_samples
        perf = self._clock
        key = lane.key
        handled = failed = ticks = 0
        for _ in range(_BATCH):
            with self._cond:
                item = self._take(lane)
            if item is None:
                break
            if type(item) is tuple:
                try:
                    handler(key, item[0], item[1])
                    ok = True
                except Exception as exc:  # noqa: BLE001 - a bad tick must not stop the symbol
                    ok = _failed(key, exc)
                samples.append(perf() - item[2])
                ticks += 1
            else:
                ok = self._run(key, item)
            handled += 1
            failed += 0 if ok else 1
        with self._cond:
            lane.running = False
            self._busy -= 1
            if lane.urgent or lane.ticks:
                self._schedule(lane, urgent=bool(lane.urgent))
            elif not (self._ready or self._urgent_ready or self._busy):
                self._cond.notify_all()  # drain() waiters
        self._counted(handled, failed, ticks)

    # --- control -----------------------------------------------------------------------

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every lane is empty and no worker is running one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready or self._urgent_ready or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._threads:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    def stats(self) -> DispatchStats:
        with self._cond:
            queued = sum(len(ln.ticks) + len(ln.urgent) for ln in self._lanes.values())
        return self._stats(queued)

    def depth(self, key: str) -> LaneDepth:
        """One symbol's queue depth and oldest queued tick's age."""
        ln = self._lanes.get(key)
        if ln is None:
            return LaneDepth(0, 0.0)
        with self._cond:
            age = self._clock() - ln.ticks[0][2] if ln.ticks else 0.0
            return LaneDepth(len(ln.ticks) + len(ln.urgent), age)

    def depths(self) -> dict[str, LaneDepth]:
        """Lanes with something queued: depth and the oldest tick's age."""
        now = self._clock()
        out = {}
        with self._cond:
            for key, ln in self._lanes.items():
                n = len(ln.ticks) + len(ln.urgent)
                if n:
                    age = now - ln.ticks[0][2] if ln.ticks else 0.0
                    out[key] = LaneDepth(n, age)
        return out


def _failed(key: str, exc: Exception) -> bool:
    log_event("HANDLER_FAILED", symbol=key, level=logging.ERROR,
              error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    return False


class SingleThreadDispatcher(ThreadPerSymbolDispatcher):
    """One worker, one FIFO queue for every symbol (a bench baseline: no
    thread switch per tick, but a fill waits behind every queued tick and a
    slow broker call stops every symbol)."""

    def __init__(self, keys: list[str], *, tick_handler: TickHandler | None = None):
        super().__init__(keys, tick_handler=tick_handler)
        self._keys = set(keys)
        self._q: queue.Queue = queue.Queue()
        self._queues = {"*": self._q}

    def add(self, key: str) -> None:
        self._keys = {*self._keys, key}

    def submit(self, key: str, fn: Callable[[], None], *, urgent: bool = False) -> bool:
        if key not in self._keys:
            return False
        self._q.put(fn)
        return True


def make_dispatcher(kind: str, keys: list[str], *, workers: int, coalesce_after: float | None,
                    tick_handler: TickHandler):  # fmt: skip
    """``dispatch.kind`` -> a dispatcher: pool (default), threads, single."""
    if kind == "pool":
        return PoolDispatcher(
            keys, workers=workers, coalesce_after=coalesce_after, tick_handler=tick_handler
        )
    if kind == "threads":
        return ThreadPerSymbolDispatcher(keys, tick_handler=tick_handler)
    if kind == "single":
        return SingleThreadDispatcher(keys, tick_handler=tick_handler)
    raise ValueError(f"dispatch.kind: one of pool, threads, single; got {kind!r}")
