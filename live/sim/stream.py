"""Tick sources the simulator replays: a merged list (a generated or CSV
day), or a lazy generator that makes each time step's ticks only when the
clock reaches it (thousands of symbols at several ticks a second would not
fit in memory as a list)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from .models import SimTick

__all__ = ["TickStream", "ListStream", "StepSource", "LazyStream"]


class TickStream(Protocol):
    def peek_time(self) -> datetime | None:
        """The timestamp of the next tick, None when the day is done."""

    def pop(self) -> SimTick | None:
        """The next tick, None when the day is done."""

    def pop_until(self, ts: datetime) -> list[SimTick]:
        """Every remaining tick stamped <= ``ts``, in order."""


class ListStream:
    def __init__(self, ticks: Sequence[SimTick]) -> None:
        self._ticks = ticks
        self._cursor = 0

    def peek_time(self) -> datetime | None:
        return self._ticks[self._cursor].ts if self._cursor < len(self._ticks) else None

    def pop(self) -> SimTick | None:
        if self._cursor >= len(self._ticks):
            return None
        self._cursor += 1
        return self._ticks[self._cursor - 1]

    def pop_until(self, ts: datetime) -> list[SimTick]:
        start = end = self._cursor
        ticks = self._ticks
        while end < len(ticks) and ticks[end].ts <= ts:
            end += 1
        self._cursor = end
        return list(ticks[start:end])


class StepSource(Protocol):
    def step_time(self, k: int) -> datetime | None:
        """When step ``k`` happens; None past the end of the day."""

    def step(self, k: int) -> list[SimTick]:
        """Step ``k``'s ticks (called once per k, in order)."""


class LazyStream:
    """Ticks made one time step at a time by a ``StepSource``."""

    def __init__(self, source: StepSource) -> None:
        self._source = source
        self._k = 0
        self._buffer: deque[SimTick] = deque()

    def _fill(self) -> bool:
        while not self._buffer:
            if self._source.step_time(self._k) is None:
                return False
            self._buffer.extend(self._source.step(self._k))
            self._k += 1
        return True

    def peek_time(self) -> datetime | None:
        return self._buffer[0].ts if self._fill() else None

    def pop(self) -> SimTick | None:
        return self._buffer.popleft() if self._fill() else None

    def pop_until(self, ts: datetime) -> list[SimTick]:
        out: list[SimTick] = []
        while self._buffer and self._buffer[0].ts <= ts:
            out.append(self._buffer.popleft())
        if self._buffer:
            return out
        source = self._source
        while True:
            t = source.step_time(self._k)
            if t is None or t > ts:
                return out
            out.extend(source.step(self._k))
            self._k += 1
