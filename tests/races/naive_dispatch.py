"""A deliberately naive dispatcher: one shared FIFO of every symbol's
events, taken by whichever worker is free.

It is what "a pool of workers" gives without per-symbol lanes, and it is
kept here as proof that the dispatch race tests can fail: with two workers
two events of one symbol run at once (and can finish out of order), and a
fill waits behind every tick queued before it, of any symbol. Same
hand-off methods as ``live.dispatch.PoolDispatcher`` (``submit_tick``,
``submit``, ``step``). Do not fix it.
"""

from __future__ import annotations

from collections import deque

from live import interleave


class NaivePoolDispatcher:
    def __init__(self, keys, *, tick_handler, **_):
        self._keys = set(keys)
        self._handler = tick_handler
        self._lock = interleave.Lock("naive-dispatch")
        self._queue: deque = deque()

    def submit_tick(self, key, ltp, ts) -> bool:
        if key not in self._keys:
            return False
        with self._lock:
            self._queue.append(lambda: self._handler(key, ltp, ts))
        return True

    def submit(self, key, fn, *, urgent: bool = True) -> bool:
        if key not in self._keys:
            return False
        with self._lock:
            self._queue.append(fn)  # bug: an order update waits behind queued ticks
        return True

    def step(self) -> bool:
        with self._lock:
            if not self._queue:
                return False
            fn = self._queue.popleft()  # bug: no per-symbol lane; any worker takes any event
        fn()
        return True
