"""Scheduling points: the production hooks of the interleaving test kit.

``checkpoint(name)`` marks a place where another thread may run; engine code
creates every lock through ``Lock()`` / ``RLock()`` (and events through
``Event()``). With no scheduler installed a checkpoint is one global read and
the factories return plain ``threading`` objects, so production behaviour and
cost are unchanged. The controlled scheduler lives in ``live.testing`` and
plugs in through ``install()``; production code never imports it.
"""

from __future__ import annotations

import threading

__all__ = ["Event", "Lock", "RLock", "checkpoint", "install", "uninstall"]

_scheduler = None  # the active controlled scheduler (live.testing.Scheduler), if any


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


def install(scheduler: object) -> None:
    """Route the hooks to ``scheduler`` (needs checkpoint/make_lock/make_rlock/make_event)."""
    global _scheduler
    if _scheduler is not None:
        raise RuntimeError("an interleaving scheduler is already installed (nested explore?)")
    _scheduler = scheduler


def uninstall() -> None:
    global _scheduler
    _scheduler = None
