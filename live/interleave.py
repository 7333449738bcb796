"""Scheduling points for interleaving tests.

``checkpoint(name)`` marks a place where another thread may run; engine code
creates every lock through ``Lock()`` / ``RLock()``. With no scheduler
installed both are nearly free: a checkpoint is one global read and a plain
``threading`` lock is returned. A test installs a scheduler (see the test kit
in this module) that makes locks controllable and picks who runs at each
checkpoint.
"""

from __future__ import annotations

import threading

_scheduler = None  # the active controlled scheduler, if any


def checkpoint(name: str) -> None:
    s = _scheduler
    if s is not None:
        s.checkpoint(name)


def Lock():  # noqa: N802 - mirrors threading.Lock
    s = _scheduler
    return threading.Lock() if s is None else s.make_lock()


def RLock():  # noqa: N802 - mirrors threading.RLock
    s = _scheduler
    return threading.RLock() if s is None else s.make_rlock()
