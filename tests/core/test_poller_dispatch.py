"""The poller's cycle and the per-symbol dispatcher."""

from __future__ import annotations

import threading

import pytest

from live.broker import Position, TransientBrokerError
from live.clock import ManualClock
from live.dispatch import PoolDispatcher, SymbolDispatcher
from live.execution import Phase
from live.ledger import BuyingPowerLedger
from live.poller import Poller
from tests.core.helpers import T0, D, make_state, trigger_and_enter
from tests.fakes import FakeBroker


class PositionsBroker(FakeBroker):
    def __init__(self):
        super().__init__()
        self.held: list[Position] = []

    def positions(self):
        self._enter("positions")
        return list(self.held)


def test_one_orderbook_and_one_positionbook_call_per_cycle_for_all_symbols():
    broker = PositionsBroker()
    states = {}
    for _ in range(3):
        s, _ = make_state(broker=broker)
        states[f"NSE:S{len(states)}"] = s
    poller = Poller(broker, states, ManualClock(T0))
    stats = poller.run_once()
    assert broker.count("orderbook") == 1 and broker.count("positions") == 1
    assert stats.broker_calls == 2 and stats.ok


def test_poller_delivers_a_missed_fill_and_the_stop_follows():
    broker = PositionsBroker()
    state, _ = make_state(broker=broker)
    entry = trigger_and_enter(state, broker)
    broker.fill(entry)  # the WebSocket update for this fill was lost
    Poller(broker, {state.symbol: state}, ManualClock(T0)).run_once()
    v = state.view()
    assert v.phase is Phase.HOLDING and isinstance(v.sl_id, str)


def test_a_failed_poll_costs_one_cycle_not_the_thread():
    broker = PositionsBroker()
    state, _ = make_state(broker=broker)
    broker.fail_next("orderbook", TransientBrokerError("HTTP 502", code=502))
    poller = Poller(broker, {state.symbol: state}, ManualClock(T0))
    assert not poller.run_once().ok
    assert poller.run_once().ok and poller.cycles_failed == 1


def test_a_bad_state_does_not_stop_the_others():
    broker = PositionsBroker()
    good, _ = make_state(broker=broker)

    class Broken:
        symbol = "NSE:BAD"

        def on_order_update(self, *a):
            raise RuntimeError("boom")

        sync_position = poll = on_order_update

    calls = []
    orig = good.poll
    good.poll = lambda ts: (calls.append(ts), orig(ts))
    Poller(broker, {"NSE:BAD": Broken(), good.symbol: good}, ManualClock(T0)).run_once()
    assert calls


def test_funds_refresh_uses_the_epoch_read_before_the_call():
    """An order the broker accepts while funds() is in flight may or may not
    be in that reply: its reservation must survive it."""
    broker = PositionsBroker()
    ledger = BuyingPowerLedger(D("1000"))
    state, _ = make_state(broker=broker)
    broker.cash = D("1000")
    orig_funds = broker.funds

    def funds_while_an_order_is_placed():
        ledger.reserve("x", D("100"))
        ledger.placed("x")  # accepted after the poller read the epoch
        return orig_funds()

    broker.funds = funds_while_an_order_is_placed
    poller = Poller(broker, {state.symbol: state}, ManualClock(T0), ledger=ledger, funds_every=1)
    poller.run_once()
    assert ledger.available() == D("900")  # still reserved
    broker.funds = orig_funds
    broker.cash = D("900")  # the broker now shows the block
    poller.run_once()
    assert ledger.available() == D("900") and ledger.snapshot().reservations == ()


@pytest.mark.parametrize("make", [SymbolDispatcher, lambda keys: PoolDispatcher(keys, workers=2)],
                         ids=["thread-per-symbol", "pool of 2"])  # fmt: skip
def test_dispatcher_keeps_symbols_independent(make):
    """A broker call stuck on one symbol's worker never delays another's
    tick (in the pool: while a worker is free)."""
    d = make(["NSE:A", "NSE:B"])
    d.start()
    stuck = threading.Event()
    release = threading.Event()
    seen_b = threading.Event()
    d.submit("NSE:A", lambda: (stuck.set(), release.wait(5)))
    assert stuck.wait(5)
    d.submit("NSE:B", seen_b.set)
    assert seen_b.wait(5), "B waited on A's call"
    release.set()
    assert d.drain(5)
    d.submit("NSE:A", lambda: 1 / 0)  # a failing handler is counted, the worker lives
    assert d.drain(5)
    assert d.stats().failed == 1
    assert not d.submit("NSE:C", lambda: None)
    d.stop()


def test_poller_thread_runs_and_stops():
    broker = PositionsBroker()
    state, _ = make_state(broker=broker)
    cycles = threading.Semaphore(0)
    poller = Poller(
        broker,
        {state.symbol: state},
        ManualClock(T0),
        interval=0.01,
        on_cycle=lambda s: cycles.release(),
    )
    poller.start()
    assert cycles.acquire(timeout=5) and cycles.acquire(timeout=5)
    poller.stop()
    assert not poller._thread.is_alive()


def test_pool_coalesces_stale_ticks_to_the_latest_and_counts_them():
    now = [0.0]
    seen = []
    d = PoolDispatcher(["NSE:A", "NSE:B"], workers=1, coalesce_after=0.5,
                       tick_handler=lambda k, p, ts: seen.append((k, p)), clock=lambda: now[0])  # fmt: skip
    for i in range(5):
        d.submit_tick("NSE:A", D(100 + i), T0)
    d.submit_tick("NSE:B", D(200), T0)
    assert d.depth("NSE:A").depth == 5
    now[0] = 0.4
    assert d.depth("NSE:A").tick_age == pytest.approx(0.4)
    now[0] = 1.0  # every queued tick is older than 0.5 s
    while d.step():
        pass
    assert seen == [("NSE:A", D(104)), ("NSE:B", D(200))]  # only the latest price of A
    st = d.stats()
    assert st.coalesced == 4 and st.ticks == 2 and st.queued == 0
    now[0] = 1.1  # fresh ticks are all handled, in order
    d.submit_tick("NSE:A", D(105), T0)
    d.submit_tick("NSE:A", D(106), T0)
    while d.step():
        pass
    assert seen[-2:] == [("NSE:A", D(105)), ("NSE:A", D(106))]
