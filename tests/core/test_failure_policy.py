"""Every error path lands somewhere safe (issue 10's nine cases, one test each)."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from live.broker import BrokerError, OrderStatus, PriceType, RateLimited
from live.clock import ManualClock
from live.execution import Phase, SlotState
from live.ledger import BuyingPowerLedger
from live.poller import Poller
from live.risk import RiskLimits, RiskManager
from tests.core.helpers import T0, D, at, make_state, trigger_and_enter
from tests.fakes import FakeBroker, FakeOrder


def attach(state, *, risk=None, journal=None):
    if risk is not None:
        state.risk = state.gate.risk = risk
    if journal is not None:
        state.journal = state.gate.journal = journal
    return state


def holding(**config):
    state, broker = make_state(**config)
    entry = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry, price=D("100.00")), T0)
    return state, broker


class LockedJournal:
    """A journal whose writes fail the way a busy SQLite file does."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        return fail


def test_1_a_journal_write_error_never_strands_a_slot():
    """Before: record_update raised after the fill had set the stop slot to
    PENDING; the position never got its stop, and nothing alerted."""
    state, broker = make_state()
    entry = trigger_and_enter(state, broker)
    attach(state, journal=LockedJournal())
    state.on_order_update(broker.fill(entry, price=D("100.00")), T0)
    [stop] = broker.working("SELL")
    v = state.view()
    assert v.sl_id == stop.order_id and v.sl_state is SlotState.WORKING
    assert stop.request.quantity == 10


class RefusingModifies(FakeBroker):
    def modify_order(self, order_id, request):
        self._enter("modify_order", order_id, request)
        raise BrokerError("RMS: modification not allowed", code=400)


def test_2_a_refused_resize_cancels_and_replaces_the_stop():
    """Before: entry filled 4 (stop for 4), then 10; every modify to 10 was
    refused - 50 refusals in two minutes, 6 of 10 bare, no fallback."""
    state, broker = make_state(broker=RefusingModifies())
    entry = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry, qty=4, price=D("100.00")), T0)
    [first] = broker.working("SELL")
    state.on_order_update(broker.fill(entry, qty=10, price=D("100.00")), T0)
    for u in broker.drain():  # the first stop's cancel confirmed
        state.on_order_update(u, T0)
    [stop] = broker.working("SELL")
    assert stop.order_id != first.order_id and stop.request.quantity == 10
    assert broker.count("modify_order") == 1
    for i in range(20):  # no further modify storm
        state.process_tick(D("100.10"), T0 + timedelta(seconds=i))
    assert broker.count("modify_order") == 1
    assert state.view().sl_qty == 10


def test_3_rate_limits_on_a_stop_never_close_a_healthy_position():
    """Before: three 429s on the stop placement closed the position at
    market within milliseconds (counted as stop refusals, retried at once)."""
    state, broker = make_state()
    entry = trigger_and_enter(state, broker)
    for _ in range(3):
        broker.fail_next("place_order", RateLimited("HTTP 429 Rate limit exceeded", retry_after=60))
    state.on_order_update(broker.fill(entry, price=D("100.00")), T0)
    assert not broker.working("SELL")  # two at once, then a pause
    state.poll(T0 + timedelta(seconds=5))
    [stop] = broker.working("SELL")
    assert stop.request.price_type is PriceType.SL_M
    assert not [o for o in broker.orders.values() if o.request.price_type is PriceType.MARKET]
    assert state.view().phase is Phase.HOLDING


def test_3b_a_position_bare_past_the_deadline_is_closed_at_market():
    state, broker = make_state(protection_deadline=30.0)
    now = [1000.0]
    state.st.monotonic = lambda: now[0]
    entry = trigger_and_enter(state, broker)
    for _ in range(3):
        broker.fail_next("place_order", RateLimited("HTTP 429", retry_after=1))
    state.on_order_update(broker.fill(entry, price=D("100.00")), T0)
    assert not broker.working("SELL")
    now[0] += 31
    state.poll(T0 + timedelta(minutes=5))
    [exit_order] = [o for o in broker.working("SELL") if o.request.price_type is PriceType.MARKET]
    assert exit_order.request.quantity == 10


def test_4_a_partial_fill_reported_with_average_zero_books_the_right_pnl():
    """Before: a 4-lot slice with average 0 (OpenAlgo reports 0 until
    complete) priced the next slice wrong: a 5 rupee loss booked as a gain."""
    state, broker = make_state()
    entry = trigger_and_enter(state, broker)
    part = broker.fill(entry, qty=4, price=D("100.00"))
    state.on_order_update(replace(part, average_price=D(0)), T0)
    state.on_order_update(broker.fill(entry, qty=10, price=D("100.00")), T0)
    stop = state.view().sl_id
    state.on_order_update(broker.fill(stop, price=D("99.50")), T0)
    v = state.view()
    assert v.realized_pnl == D("-5.0000") and v.position_qty == 0


def test_5_a_cancelled_row_without_a_count_is_a_cancel_not_a_step_back():
    """Before: a stop 4 filled then cancelled, seen in the orderbook (no
    filled quantity) read as "filled 0", was judged older: the slot stayed
    CANCELLING and the remaining 6 were held past the cutoff."""
    state, broker = holding()
    stop = state.view().sl_id
    state.on_order_update(broker.fill(stop, qty=4, price=D("99.65")), T0)  # the stream: 4 sold
    state.process_tick(D("99.90"), at(15, 15))  # the cutoff cancels the stop
    row = broker.set_status(stop, OrderStatus.CANCELLED)
    state.on_order_update(replace(row, filled_quantity=None), at(15, 15))  # the orderbook's row
    [exit_order] = broker.working("SELL")
    assert exit_order.request.price_type is PriceType.MARKET
    assert exit_order.request.quantity == 6
    state.on_order_update(broker.fill(exit_order.order_id, price=D("99.90")), at(15, 15))
    assert state.view().position_qty == 0 and state.view().phase is Phase.DONE


def test_6_brakes_cancel_resting_entries_and_count_open_losses(tmp_path, caplog):
    """Before: the kill switch and the loss limit only gated new placements:
    a resting entry stayed, filled and opened a position; the switch logged
    163 refusals in 30 s; only realized P&L counted."""
    kill = tmp_path / "STOP"
    clock = ManualClock(T0)
    risk = RiskManager(RiskLimits(D("5000"), 5, kill_switch_file=kill), clock)
    state, broker = make_state()
    attach(state, risk=risk)
    entry = trigger_and_enter(state, broker)
    kill.touch()
    state.poll(T0 + timedelta(seconds=5))  # one poll cycle
    assert broker.orders[entry].status is OrderStatus.CANCELLED
    for i in range(30):
        state.process_tick(D("99.70"), T0 + timedelta(seconds=6 + i))
        state.poll(T0 + timedelta(seconds=6 + i))
    assert broker.count("place_order") == 1
    assert sum("BRAKE" in r.getMessage() for r in caplog.records) <= 2  # RISK_BRAKE + BRAKE

    # The loss limit counts an open position's loss (mark to market).
    risk2 = RiskManager(RiskLimits(D("5"), 5), clock)
    state2, broker2 = holding(on_brake="flatten")
    attach(state2, risk=risk2)
    state2.process_tick(D("99.40"), T0 + timedelta(seconds=1))  # 10 x -0.60 = -6 open
    state2.poll(T0 + timedelta(seconds=2))
    assert risk2.brake() is not None
    state2.poll(T0 + timedelta(seconds=3))
    for u in broker2.drain():
        state2.on_order_update(u, T0 + timedelta(seconds=3))
    exits = [o for o in broker2.working("SELL") if o.request.price_type is PriceType.MARKET]
    assert exits and exits[0].request.quantity == 10  # on_brake: flatten


def test_7_a_tick_stamped_tomorrow_neither_rolls_the_risk_day_nor_reaches_a_symbol():
    from live.config import parse_config
    from live.engine import Engine
    from live.simulate import simulate_day  # noqa: F401 - the engine, in process
    from strategies import REGISTRY, Reversal8020

    clock = ManualClock(T0)
    broker = FakeBroker()
    engine = Engine(parse_config({"symbols": ["NSE:SBIN"]}, REGISTRY), broker, clock, Reversal8020)
    risk_day = engine.risk.snapshot().day
    engine.states["NSE:SBIN"] = state = make_state()[0]
    from live.dispatch import SymbolDispatcher

    engine.dispatcher = SymbolDispatcher(["NSE:SBIN"], tick_handler=engine._handle_tick)
    engine.dispatcher.start()
    engine.on_tick("NSE:SBIN", D("99.70"), T0 + timedelta(days=1))
    engine.dispatcher.drain()
    engine.dispatcher.stop()
    assert engine.ticks_dropped == 1 and broker.count("place_order") == 0
    assert state.view().last_price is None
    assert engine.risk.snapshot().day == risk_day


def test_8_the_poller_survives_a_failing_cycle():
    """Before: one odd orderbook row raised out of the poller thread, which
    died silently; nothing restarted it."""

    class Odd(FakeBroker):
        calls = 0

        def orderbook(self):
            Odd.calls += 1
            if Odd.calls == 1:
                raise OverflowError("timestamp out of range for platform time_t")
            return super().orderbook()

    done = threading.Event()
    poller = Poller(Odd(), {}, ManualClock(T0), interval=0.01,
                    on_cycle=lambda stats: done.set())  # fmt: skip
    poller.start()
    try:
        assert done.wait(5), "no cycle after the failing one"
        assert poller.alive() and poller.cycles_failed >= 1
    finally:
        poller.stop()


def test_9_a_quantity_below_one_lot_is_logged_once(caplog):
    """Before: a quantity below the lot size skipped the entry silently."""
    state, broker = make_state(quantity=10)
    state.st.lot_size = 50
    for i in range(20):
        state.process_tick(D("99.70"), T0 + timedelta(seconds=i))
    assert broker.count("place_order") == 0
    assert sum("ENTRY_SKIPPED" in r.getMessage() for r in caplog.records) == 1


def test_9b_the_broker_margin_sizes_the_reservation():
    class Margins(FakeBroker):
        def margin(self, request):
            return Decimal("123.45")

    ledger = BuyingPowerLedger(D("1000"))
    state, broker = make_state(broker=Margins(), ledger=ledger)
    trigger_and_enter(state, broker)
    assert ledger.available() == D("876.55")


@pytest.mark.parametrize("qty,code", [(3, "qty_below_min"), (500, "qty_above_max")])
def test_9c_min_and_max_quantity_from_config_refuse_the_entry(qty, code):
    from live.config import parse_config
    from strategies import REGISTRY

    cfg = parse_config({"risk": {"min_qty": 5, "max_qty": 100}}, REGISTRY)
    risk = RiskManager(RiskLimits(D("5000"), 5, min_qty=cfg.risk.min_qty,
                                  max_qty=cfg.risk.max_qty), ManualClock(T0))  # fmt: skip
    state, broker = make_state(quantity=qty)
    attach(state, risk=risk)
    state.process_tick(D("99.70"), T0)
    assert broker.count("place_order") == 0
    assert risk.try_open("NSE:SBIN", qty, T0).code.value == code


def test_watchdog_gives_up_a_placement_that_never_returns():
    """A broker call stuck in flight (no timeout fired): after stuck_after
    wall seconds the poll cycle gives it up with an ALERT and protects the
    position again; the late reply is cancelled as an orphan."""
    state, broker = make_state(stuck_after=30.0)
    now = [0.0]
    state.st.monotonic = lambda: now[0]
    import live.execution.slots as slots

    real = slots.time.monotonic
    slots.time.monotonic = lambda: now[0]
    try:
        entry = trigger_and_enter(state, broker)
        gate = broker.gate("place_order")
        t = threading.Thread(target=lambda: state.on_order_update(broker.fill(entry), T0))
        t.start()
        gate.wait_entered()  # the stop placement hangs
        assert state.view().sl_state is SlotState.PENDING
        now[0] += 31
        state.poll(T0 + timedelta(seconds=31))
        stops = broker.working("SELL")
        assert len(stops) == 2  # the hung one (reached the broker) and the new one
        gate.open()
        t.join(5)
        assert len(broker.working("SELL")) == 1  # the orphan was cancelled
    finally:
        slots.time.monotonic = real


class ListsRefusedStops(FakeBroker):
    """A broker that refuses the first stop in its reply yet lists it in the
    orderbook as rejected (an id we never learnt); that row reaches us while
    the next stop placement is in flight."""

    def __init__(self):
        super().__init__()
        self.refused_row = None
        self.deliver = None  # the feed thread, as a callback

    def place_order(self, request):
        stop = request.price_type is PriceType.SL_M and request.action.value == "SELL"
        if stop and self.refused_row is None:
            order_id = f"OID{next(self._ids)}"
            self.orders[order_id] = FakeOrder(order_id, request, OrderStatus.REJECTED)
            self.refused_row = self._update(self.orders[order_id], "RMS: margin")
            self.calls.append(("place_order", (request,)))
            raise BrokerError("RMS: margin", code=400)
        if stop and self.deliver is not None:
            deliver, self.deliver = self.deliver, None
            deliver(self.refused_row)  # mid-flight: the reply has not come back
        return super().place_order(request)


def test_a_refused_stops_rejected_row_is_not_taken_for_the_next_placement():
    """Before: the rejected row of the refused stop matched the retry in
    flight by shape, was adopted into its slot and counted as a second
    refusal; the retry's own good stop then looked like an orphan."""
    broker = ListsRefusedStops()
    state, _ = make_state(broker=broker)
    entry = trigger_and_enter(state, broker)
    broker.deliver = lambda u: state.on_order_update(u, T0)
    state.on_order_update(broker.fill(entry, price=D("100.00")), T0)
    [stop] = broker.working("SELL")
    v = state.view()
    assert v.sl_id == stop.order_id and v.sl_state is SlotState.WORKING
    assert state.st.stop_failures == 1
    assert broker.count("cancel_order") == 0
    state.on_order_update(broker.refused_row, T0)  # the poller lists it again
    assert state.view().sl_id == stop.order_id and state.st.stop_failures == 1
