"""The dispatcher's two promises, under the interleaving scheduler:

* a symbol's events run one at a time, in order (never two of them at once,
  whatever the number of workers);
* an order update (a fill) runs ahead of every tick queued before it - its
  own symbol's and other symbols' - so its stop never waits for a backlog.

Each runs against ``PoolDispatcher`` (every explored schedule must hold)
and against ``NaivePoolDispatcher`` (tests/races/naive_dispatch.py: one
shared FIFO; the explorer must find a violating schedule), proof the
scenario can fail. Workers are scenario threads calling ``step()``; each
handler has a checkpoint inside, where another worker may run.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from live.clock import IST
from live.dispatch import PoolDispatcher
from live.testing import Scenario, checkpoint, exhaustive, explore
from tests.races.naive_dispatch import NaivePoolDispatcher

TS = datetime(2026, 11, 20, 9, 20, tzinfo=IST)
KINDS = {"pool": PoolDispatcher, "naive": NaivePoolDispatcher}


def make(kind: str, keys: list[str], log: list):
    def on_tick(key, ltp, ts):
        log.append(("start", key, ltp))
        checkpoint("handler")  # another worker may run here
        log.append(("end", key, ltp))

    return KINDS[kind](keys, tick_handler=on_tick, workers=2, coalesce_after=None)


def worker(d):
    def body():
        while d.step():
            pass

    return body


def serial_scenario(kind: str):
    def build():
        log: list = []
        d = make(kind, ["NSE:A", "NSE:B"], log)
        for i in range(3):
            d.submit_tick("NSE:A", Decimal(100 + i), TS)
        d.submit_tick("NSE:B", Decimal(200), TS)
        return Scenario(threads={"w1": worker(d), "w2": worker(d)}, state=log)

    return build


def serial_in_order(log: list) -> bool:
    """Symbol A: start/end pairs strictly alternating, prices in order."""
    a = [(what, ltp) for what, key, ltp in log if key == "NSE:A"]
    want = [(w, Decimal(100 + i)) for i in range(3) for w in ("start", "end")]
    return a == want


def fill_scenario(kind: str):
    def build():
        log: list = []
        d = make(kind, ["NSE:A", "NSE:B"], log)
        for i in range(2):
            d.submit_tick("NSE:B", Decimal(200 + i), TS)
            d.submit_tick("NSE:A", Decimal(100 + i), TS)
        d.submit("NSE:A", lambda: log.append(("fill", "NSE:A", None)))
        return Scenario(threads={"w1": worker(d)}, state=log)

    return build


def fill_first(log: list) -> bool:
    """The fill ran before any tick that was queued before it."""
    return log[0][0] == "fill" and len(log) == 9


def concurrent_fill_scenario(kind: str):
    """The feed thread queues ticks and then a fill while a worker runs."""

    def build():
        log: list = []
        d = make(kind, ["NSE:A", "NSE:B"], log)

        def feed():
            for i in range(2):
                d.submit_tick("NSE:B", Decimal(200 + i), TS)
                d.submit_tick("NSE:A", Decimal(100 + i), TS)
            d.submit("NSE:A", lambda: log.append(("fill", "NSE:A", None)))
            log.append(("submitted", "", None))

        def drain():
            for _ in range(6):  # a few turns, racing the feed's queueing
                d.step()
                checkpoint("idle")

        return Scenario(threads={"feed": feed, "w1": drain}, state=(d, log))

    return build


def fill_not_behind_ticks(state) -> bool:
    """Once the fill is queued, at most the one tick its worker had already
    taken starts before it."""
    d, log = state
    while d.step():  # what the bounded worker left, after both threads ended
        pass
    if ("submitted", "", None) not in log or ("fill", "NSE:A", None) not in log:
        return False
    i, j = log.index(("submitted", "", None)), log.index(("fill", "NSE:A", None))
    return j < i or sum(1 for e in log[i:j] if e[0] == "start") <= 1


@pytest.mark.parametrize("kind", ["pool", "naive"])
def test_a_fill_queued_while_ticks_wait_overtakes_them(kind):
    result = explore(concurrent_fill_scenario(kind), fill_not_behind_ticks,
                     strategy=exhaustive(2))  # fmt: skip
    if kind == "pool":
        result.assert_ok()
    else:
        assert not result.ok, "the naive dispatcher never left the fill behind a tick"


@pytest.mark.parametrize("kind", ["pool", "naive"])
def test_a_symbols_events_run_one_at_a_time_in_order(kind):
    result = explore(serial_scenario(kind), serial_in_order, strategy=exhaustive(2))
    if kind == "pool":
        result.assert_ok()
        assert result.exhausted
    else:
        assert not result.ok, "the naive dispatcher's overlap was not found"


@pytest.mark.parametrize("kind", ["pool", "naive"])
def test_a_fill_runs_ahead_of_queued_ticks(kind):
    result = explore(fill_scenario(kind), fill_first, strategy=exhaustive(1))
    if kind == "pool":
        result.assert_ok()
    else:
        assert not result.ok, "the naive dispatcher ran the fill first"
