"""Controlled locks and events, made by live.interleave's factories while a
Scheduler is installed."""

from __future__ import annotations

import enum
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from live.testing.scheduler import Scheduler


class _Wait(enum.Enum):
    NONE = "none"  # plain checkpoint: always runnable
    LOCK = "lock"  # runnable when the lock is free for it
    EVENT = "event"  # runnable when the event is set


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
