"""RACE #1-#10 of shared/seeds/003, each driven through its interleaving by
two real threads.

A gate in the fake broker holds one thread *inside* a broker call (the order
already exists at the broker, the reply has not come back) while the other
thread acts; then the gate opens. Every scenario runs twice:

* against ``SymbolExecutor``, once per shipped strategy (``tests.plays``):
  no safety property may break;
* against ``NaiveSymbolState`` (the pre-fix 80-20 code): some property must
  break, which proves the scenario really reaches the race.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from live.broker import OrderStatus, TransientBrokerError
from live.execution import SymbolExecutor
from tests.core.helpers import T0, at
from tests.fakes import WAIT
from tests.plays import PLAY_8020, PLAYS, Play
from tests.races.naive import NaiveSymbolState
from tests.races.properties import violations


class Threads:
    """Start callables on real threads; join them with a bound; re-raise."""

    def __init__(self):
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self, name: str, fn) -> threading.Thread:
        def body():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by join()
                self.errors.append(exc)

        t = threading.Thread(target=body, name=name, daemon=True)
        self.threads.append(t)
        t.start()
        return t

    def join(self) -> None:
        for t in self.threads:
            t.join(WAIT * 2)
            assert not t.is_alive(), f"thread {t.name} hung"
        if self.errors:
            raise self.errors[0]


def deliver(state, broker, ts) -> None:
    for u in broker.drain():
        state.on_order_update(u, ts)


def settle(state, broker, ts) -> None:
    """What the next poll cycles do: deliver the broker's pending updates and
    let the poller run its checks."""
    for _ in range(3):
        deliver(state, broker, ts)
        state.poll(ts)
    deliver(state, broker, ts)


def status_check(state, broker, ts) -> None:
    """The poller's order-status check, as each implementation does it."""
    if isinstance(state, NaiveSymbolState):
        state.check_entry_status(ts)
        return
    for order_id, _role in state.working_order_ids():
        state.on_order_update(broker.order_status(order_id), ts)


def enter(play: Play, state, broker, ts=T0) -> str:
    """The trigger print: the strategy places its entry; return the id of
    the one on the side the scenario fills."""
    state.process_tick(play.trigger, ts)
    working = broker.working(play.entry_side.value)
    assert len(working) == 1, working
    return working[0].order_id


def in_position(play: Play, cls, **config):
    state, broker = play.build(cls, **config)
    entry = enter(play, state, broker)
    state.on_order_update(broker.fill(entry, price=play.entry_fill), T0)
    stop = state.view().sl_id
    assert isinstance(stop, str)
    return state, broker, stop


# --- the ten races -------------------------------------------------------------


def race1_stale_cancel_vs_new_entry(play: Play, cls):
    """RACE #1: the tick thread cancels a stale entry X; before its reply comes
    back, X's cancel is confirmed on the other thread and a new entry Y is
    placed. The naive code then clears ``entry_order_id`` - forgetting Y."""
    state, broker = play.build(cls, entry_timeout=timedelta(minutes=5), max_attempts=3)
    x = enter(play, state, broker)
    gate = broker.gate("cancel_order")
    th = Threads()
    th.start("feed", lambda: state.process_tick(play.rest, T0 + timedelta(minutes=6)))
    gate.wait_entered()
    broker.set_status(x, OrderStatus.CANCELLED)  # the exchange already took it off
    state.on_order_update(broker.set_status(x, OrderStatus.CANCELLED), T0)
    state.process_tick(play.rest, T0 + timedelta(minutes=6))  # places Y
    gate.open()
    th.join()
    state.process_tick(play.rest2, T0 + timedelta(minutes=7))
    settle(state, broker, T0 + timedelta(minutes=7))
    return state, broker


def race2_trailing_vs_stop_fill(play: Play, cls):
    """RACE #2: the tick thread trails the stop; while its modify is in
    flight the stop fills and the position is flat. The naive code "repairs"
    the failed modify with a fresh stop: a working SELL on a flat book."""
    state, broker, stop = in_position(play, cls)
    gate = broker.gate("modify_order")
    th = Threads()
    th.start("feed", lambda: state.process_tick(play.trail, T0 + timedelta(minutes=1)))
    gate.wait_entered()
    state.on_order_update(broker.fill(stop, price=play.stop_fill), T0 + timedelta(minutes=1))
    gate.open()
    th.join()
    settle(state, broker, T0 + timedelta(minutes=2))
    return state, broker


def race3_trigger_twice(play: Play, cls):
    """RACE #3: two threads see the trigger print at once (an old and a new
    feed thread around a reconnect). Only one entry may be placed."""
    state, broker = play.build(cls)
    gate = broker.gate("place_order")
    th = Threads()
    th.start("feed-old", lambda: state.process_tick(play.trigger, T0))
    gate.wait_entered()
    th.start("feed-new", lambda: state.process_tick(play.trigger, T0))
    th.threads[-1].join(WAIT)
    gate.open()
    th.join()
    settle(state, broker, T0)
    return state, broker


def race4_stale_positionbook_vs_fill(play: Play, cls):
    """RACE #4: the poller read the positionbook (flat) just before the entry
    filled, and applies it after. The naive code believes it is flat and
    re-enters: a second BUY while holding."""
    state, broker = play.build(cls)
    entry = enter(play, state, broker)
    snapshot_taken = threading.Event()
    fill_applied = threading.Event()
    th = Threads()

    def poller():
        epoch = state.fill_epoch() if hasattr(state, "fill_epoch") else None
        broker_qty = 0  # positionbook read before the fill
        snapshot_taken.set()
        assert fill_applied.wait(WAIT)
        state.sync_position(broker_qty, T0, epoch)
        state.sync_position(broker_qty, T0 + timedelta(seconds=5), epoch)

    def feed():
        assert snapshot_taken.wait(WAIT)
        state.on_order_update(broker.fill(entry, price=play.entry_fill), T0)
        fill_applied.set()

    th.start("poller", poller)
    th.start("feed", feed)
    th.join()
    state.process_tick(play.hold, T0 + timedelta(seconds=6))
    settle(state, broker, T0 + timedelta(seconds=6))
    return state, broker


def race5_cutoff_exit_vs_stop_fill(play: Play, cls):
    """RACE #5: at the cutoff the tick thread cancels the stop to exit at
    market; the stop fills while the cancel is in flight. Selling at market
    after that reverses the position."""
    state, broker, stop = in_position(play, cls)
    gate = broker.gate("cancel_order")
    th = Threads()
    th.start("feed", lambda: state.process_tick(play.trigger, at(15, 15)))
    gate.wait_entered()
    state.on_order_update(broker.fill(stop, price=play.stop_fill), at(15, 15))
    gate.open()
    th.join()
    settle(state, broker, at(15, 16))
    for o in broker.working():
        if o.request.price_type.value == "MARKET":
            broker.fill(o.order_id, price=play.stop_fill)  # market orders fill at once
    return state, broker


def race6_emergency_stop_twice(play: Play, cls):
    """RACE #6: the broker cancels our stop; the feed thread and the poller
    both find the position without a stop and both place an emergency stop."""
    state, broker, stop = in_position(play, cls)
    gate = broker.gate("place_order")
    th = Threads()

    def feed():
        state.on_order_update(broker.set_status(stop, OrderStatus.CANCELLED, "RMS"), T0)
        state.process_tick(play.hold, T0 + timedelta(seconds=1))

    th.start("feed", feed)
    gate.wait_entered()
    th.start("poller", lambda: state.poll(T0 + timedelta(seconds=1)))
    th.threads[-1].join(WAIT)
    gate.open()
    th.join()
    settle(state, broker, T0 + timedelta(seconds=2))
    return state, broker


def race7_fill_outruns_placement_reply(play: Play, cls):
    """RACE #7: the entry fills and its update arrives before place_order has
    returned the id. The naive code drops the update as "not ours": the
    position is never protected."""
    state, broker = play.build(cls)
    gate = broker.gate("place_order")
    th = Threads()
    th.start("feed", lambda: state.process_tick(play.trigger, T0))
    gate.wait_entered()
    [entry] = broker.working(play.entry_side.value)
    th.start("updates", lambda: state.on_order_update(broker.fill(entry.order_id), T0))
    th.threads[-1].join(WAIT)
    gate.open()
    th.join()
    settle(state, broker, T0 + timedelta(seconds=5))
    return state, broker


def race8_trail_vs_stop_replaced(play: Play, cls):
    """RACE #8: the tick thread modifies the stop; meanwhile the broker
    cancels it and the poller puts a new one in. The naive code's failed
    modify then places a third: two stops for one position."""
    state, broker, stop = in_position(play, cls)
    gate = broker.gate("modify_order")
    th = Threads()
    th.start("feed", lambda: state.process_tick(play.trail, T0 + timedelta(minutes=1)))
    gate.wait_entered()
    state.on_order_update(broker.set_status(stop, OrderStatus.CANCELLED, "RMS"), T0)
    state.poll(T0 + timedelta(minutes=1))
    gate.open()
    th.join()
    settle(state, broker, T0 + timedelta(minutes=2))
    return state, broker


def race9_poller_retry_vs_tick(play: Play, cls):
    """RACE #9: the entry placement failed (HTTP 500); the poller retries it
    while the feed thread's tick also sees "no entry working"."""
    state, broker = play.build(cls)
    broker.fail_next("place_order", TransientBrokerError("HTTP 500", code=500))
    state.process_tick(play.trigger, T0)
    assert not broker.working(play.entry_side.value)
    gate = broker.gate("place_order")
    th = Threads()
    th.start("poller", lambda: state.poll(T0 + timedelta(seconds=5)))
    gate.wait_entered()
    th.start("feed", lambda: state.process_tick(play.rest, T0 + timedelta(seconds=5)))
    th.threads[-1].join(WAIT)
    gate.open()
    th.join()
    settle(state, broker, T0 + timedelta(seconds=10))
    return state, broker


def race10_status_reply_vs_new_entry(play: Play, cls):
    """RACE #10: the poller asks for entry X's status; before the reply, X is
    cancelled and entry Y placed. The reply ("X cancelled") must not clear Y."""
    state, broker = play.build(cls, max_attempts=3)
    x = enter(play, state, broker)
    gate = broker.gate("order_status")
    th = Threads()
    th.start("poller", lambda: status_check(state, broker, T0 + timedelta(seconds=5)))
    gate.wait_entered()
    state.on_order_update(broker.set_status(x, OrderStatus.CANCELLED), T0)
    state.process_tick(play.rest, T0 + timedelta(seconds=5))  # places Y
    gate.open()
    th.join()
    state.process_tick(play.rest2, T0 + timedelta(seconds=6))
    settle(state, broker, T0 + timedelta(seconds=6))
    return state, broker


RACES = [
    race1_stale_cancel_vs_new_entry,
    race2_trailing_vs_stop_fill,
    race3_trigger_twice,
    race4_stale_positionbook_vs_fill,
    race5_cutoff_exit_vs_stop_fill,
    race6_emergency_stop_twice,
    race7_fill_outruns_placement_reply,
    race8_trail_vs_stop_replaced,
    race9_poller_retry_vs_tick,
    race10_status_reply_vs_new_entry,
]


@pytest.mark.parametrize("play", PLAYS, ids=str)
@pytest.mark.parametrize("race", RACES, ids=lambda f: f.__name__.split("_")[0])
def test_executor_holds_every_property(race, play):
    state, broker = race(play, SymbolExecutor)
    assert violations(broker, state) == []


@pytest.mark.parametrize("race", RACES, ids=lambda f: f.__name__.split("_")[0])
def test_naive_variant_breaks_a_property(race):
    state, broker = race(PLAY_8020, NaiveSymbolState)
    found = violations(broker, state)
    assert found, f"{race.__name__}: the naive code survived; the scenario misses the race"
