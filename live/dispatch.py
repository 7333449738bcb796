"""Per-symbol dispatch: a tick for one symbol never waits on another's broker call.

The feed thread only parses and enqueues; each symbol has its own worker
thread that runs that symbol's handlers (which may place orders, 100 ms to
seconds). So a slow ``place_order`` for SBIN delays SBIN's next tick, never
INFY's, and the feed's socket keeps being read.

Handlers are plain callables; an exception in one is logged and the worker
goes on (a bad tick must not stop a symbol's protection).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from live.logs import log_event

_STOP = object()


@dataclass(frozen=True)
class DispatchStats:
    queued: int
    handled: int
    failed: int


class SymbolDispatcher:
    def __init__(self, keys: list[str], *, name: str = "symbol"):
        self._queues: dict[str, queue.Queue] = {k: queue.Queue() for k in keys}
        self._threads: dict[str, threading.Thread] = {}
        self._handled = 0
        self._failed = 0
        self._count_lock = threading.Lock()
        self._name = name

    def start(self) -> None:
        for key, q in self._queues.items():
            t = threading.Thread(
                target=self._work, args=(key, q), name=f"{self._name}-{key}", daemon=True
            )
            self._threads[key] = t
            t.start()

    def submit(self, key: str, fn: Callable[[], None]) -> bool:
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
        with self._count_lock:
            queued = sum(q.qsize() for q in self._queues.values())
            return DispatchStats(queued=queued, handled=self._handled, failed=self._failed)

    def _work(self, key: str, q: queue.Queue) -> None:
        while True:
            fn = q.get()
            if fn is _STOP:
                return
            try:
                fn()
                ok = True
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the symbol
                ok = False
                log_event(
                    "HANDLER_FAILED",
                    symbol=key,
                    level=logging.ERROR,
                    error=f"{type(exc).__name__}: {exc}",
                )
            with self._count_lock:
                self._handled += 1
                self._failed += 0 if ok else 1
