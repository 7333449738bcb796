"""The executor running the 80-20, single-threaded: the whole lifecycle end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from live.broker import OrderStatus, PriceType
from live.execution import Phase, SlotState
from live.ledger import BuyingPowerLedger
from live.ticks import is_tick_multiple
from tests.core.helpers import T0, D, at, make_state, trigger_and_enter


def test_long_day_trigger_entry_stop_trail_stopout_reentry_cutoff():
    state, broker = make_state()
    state.process_tick(D("100.50"), T0)
    assert state.view().phase is Phase.FLAT and state.view().strategy_state == "waiting"
    entry_id = trigger_and_enter(state, broker)
    v = state.view()
    assert v.phase is Phase.ENTERING and v.entries_today == 1 and v.entry_id == entry_id
    entry = broker.orders[entry_id].request
    assert entry.action.value == "BUY" and entry.trigger_price == D("100.00")
    assert entry.price_type is PriceType.SL_M

    # Fill: a protective SELL stop at the day's low less one tick.
    state.on_order_update(broker.fill(entry_id, price=D("100.00")), T0)
    v = state.view()
    assert v.phase is Phase.HOLDING and v.position_qty == 10
    stops = broker.working("SELL")
    assert len(stops) == 1
    assert stops[0].request.trigger_price == D("99.65")  # low 99.70 - 0.05
    assert v.sl_id == stops[0].order_id

    # Trailing: 1R = 0.35; at 100.70 the stop trails to best - 1R.
    state.process_tick(D("100.70"), T0 + timedelta(minutes=1))
    assert broker.orders[v.sl_id].request.trigger_price == D("100.35")
    # A lower price never loosens it (P4).
    state.process_tick(D("100.40"), T0 + timedelta(minutes=2))
    assert broker.orders[v.sl_id].request.trigger_price == D("100.35")
    assert state.view().stop_price == D("100.35")

    # Stopped out: back to TRIGGERED, and a re-entry once price rests below the entry.
    state.on_order_update(broker.fill(v.sl_id, price=D("100.35")), T0 + timedelta(minutes=3))
    v = state.view()
    assert v.phase is Phase.FLAT and v.strategy_state == "triggered" and v.position_qty == 0
    assert v.realized_pnl == D("3.50")
    state.process_tick(D("99.90"), T0 + timedelta(minutes=4))
    v = state.view()
    assert v.entries_today == 2 and v.phase is Phase.ENTERING
    second = v.entry_id
    # The cutoff cancels the working entry and ends the day.
    state.process_tick(D("99.90"), at(15, 15))
    assert broker.orders[second].status is OrderStatus.CANCELLED
    state.on_order_update(broker.set_status(second, OrderStatus.CANCELLED), at(15, 15))
    state.process_tick(D("99.90"), at(15, 16))
    assert state.view().phase is Phase.DONE
    assert not broker.working()


def test_max_attempts_caps_entries():
    state, broker = make_state(max_attempts=1)
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id), T0)
    sl = state.view().sl_id
    state.on_order_update(broker.fill(sl), T0)
    assert state.view().phase is Phase.DONE
    state.process_tick(D("99.00"), T0 + timedelta(minutes=1))
    assert broker.count("place_order") == 2  # entry + stop, never a second entry


def test_short_setup_mirrors_long():
    state, broker = make_state(side="short")
    state.process_tick(D("110.30"), T0)  # above 110 + 5 ticks
    [entry] = broker.working("SELL")
    assert entry.request.trigger_price == D("110.00")
    state.on_order_update(broker.fill(entry.order_id), T0)
    [stop] = broker.working("BUY")
    assert stop.request.trigger_price == D("110.35")  # day high 110.30 + 1 tick, rounded up
    state.process_tick(D("109.30"), T0 + timedelta(minutes=1))  # 1R = 0.35 in our favour x2
    assert broker.orders[stop.order_id].request.trigger_price == D("109.65")


def test_partial_fill_is_protected_and_stop_grows():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id, qty=4), T0)
    [stop] = broker.working("SELL")
    assert stop.request.quantity == 4
    state.on_order_update(broker.fill(entry_id, qty=10), T0)
    assert broker.orders[stop.order_id].request.quantity == 10
    assert state.view().sl_qty == 10


def test_stale_entry_cancelled_after_timeout():
    state, broker = make_state(entry_timeout=timedelta(minutes=5))
    entry_id = trigger_and_enter(state, broker)
    state.process_tick(D("99.80"), T0 + timedelta(minutes=4))
    assert broker.orders[entry_id].status.is_working
    state.process_tick(D("99.80"), T0 + timedelta(minutes=5))
    assert broker.orders[entry_id].status is OrderStatus.CANCELLED
    state.on_order_update(broker.set_status(entry_id, OrderStatus.CANCELLED), T0)
    v = state.view()
    assert v.phase is Phase.FLAT and v.entry_id is None


def test_rejected_stop_retries_then_exits_at_market():
    state, broker = make_state(stop_retry_limit=2)
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id), T0)
    first = state.view().sl_id
    state.on_order_update(broker.set_status(first, OrderStatus.REJECTED, "bad trigger"), T0)
    second = state.view().sl_id
    assert second not in (None, first)
    state.on_order_update(broker.set_status(second, OrderStatus.REJECTED, "bad trigger"), T0)
    [exit_order] = broker.working("SELL")
    assert exit_order.request.price_type is PriceType.MARKET
    assert state.view().phase is Phase.EXITING
    state.on_order_update(broker.fill(exit_order.order_id, price=D("99.90")), T0)
    assert state.view().position_qty == 0 and state.view().phase is Phase.DONE


def test_cutoff_cancels_stop_then_exits():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id), T0)
    sl = state.view().sl_id
    state.process_tick(D("100.10"), at(15, 15))
    assert broker.orders[sl].status is OrderStatus.CANCELLED
    assert not broker.working("SELL")  # no exit until the cancel is confirmed
    state.on_order_update(broker.set_status(sl, OrderStatus.CANCELLED), at(15, 15))
    [exit_order] = broker.working("SELL")
    assert exit_order.request.price_type is PriceType.MARKET
    state.on_order_update(broker.fill(exit_order.order_id, price=D("100.10")), at(15, 15))
    assert state.view().phase is Phase.DONE


def test_every_price_is_on_the_grid():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id), T0)
    for p in ("100.33", "100.71", "101.07", "101.5"):
        state.process_tick(D(p), T0 + timedelta(minutes=1))
    for o in broker.orders.values():
        for price in (o.request.price, o.request.trigger_price):
            assert price is None or is_tick_multiple(price, D("0.05")), price
            assert price is None or "E" not in str(price) and len(str(price).split(".")[-1]) == 2


def test_ledger_reservation_refuses_entry_without_buying_power():
    ledger = BuyingPowerLedger(D("100"))  # 10 x 100 x 0.2 = 200 needed
    state, broker = make_state(ledger=ledger)
    state.process_tick(D("99.70"), T0)
    assert broker.count("place_order") == 0
    v = state.view()
    assert v.entries_today == 0 and v.phase is Phase.FLAT


def test_ledger_reservation_consumed_on_fill_and_released_on_cancel():
    ledger = BuyingPowerLedger(D("1000"))
    state, broker = make_state(ledger=ledger)
    entry_id = trigger_and_enter(state, broker)
    assert ledger.available() == D("800.00")
    state.on_order_update(broker.set_status(entry_id, OrderStatus.CANCELLED), T0)
    assert ledger.available() == D("1000")


def test_malformed_tick_rejected_without_state_change():
    state, broker = make_state()
    before = state.view()
    for bad in ("abc", D("-1"), D("0"), float("nan"), 99.7):
        with pytest.raises(ValueError, match="ltp"):
            state.process_tick(bad, T0)
    with pytest.raises(ValueError, match="timezone"):
        from datetime import datetime

        state.process_tick(D("99"), datetime(2026, 11, 20, 10, 0))
    assert state.view() == before


def test_update_for_another_symbol_rejected():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    u = broker.fill(entry_id)
    from dataclasses import replace

    with pytest.raises(ValueError, match="not NSE:SBIN"):
        state.on_order_update(replace(u, symbol="INFY"), T0)
    assert state.view().position_qty == 0


def test_duplicate_and_stale_updates_ignored():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    full = broker.fill(entry_id)
    state.on_order_update(full, T0)
    state.on_order_update(full, T0)
    from dataclasses import replace

    state.on_order_update(replace(full, status=OrderStatus.OPEN, filled_quantity=0), T0)
    v = state.view()
    assert v.position_qty == 10 and v.fills == 1
    assert len(broker.working("SELL")) == 1


def test_partial_fills_price_each_slice_from_the_cumulative_average():
    """Brokers report an order's cumulative average; the position's average
    and the P&L must use what each slice actually cost."""
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id, qty=4, price=D("100.00")), T0)
    # 6 more at 100.50: the broker now says 10 filled at an average of 100.30
    state.on_order_update(broker.fill(entry_id, qty=10, price=D("100.30")), T0)
    assert state.view().avg_price == D("100.30")
    sl = state.view().sl_id
    state.on_order_update(broker.fill(sl, qty=5, price=D("100.00")), T0)
    state.on_order_update(broker.fill(sl, qty=10, price=D("100.10")), T0)  # 5 more at 100.20
    # (100.00 - 100.30) x 5 + (100.20 - 100.30) x 5
    assert state.view().realized_pnl == D("-2.0000")


def test_ambiguous_stop_is_adopted_from_the_book_never_doubled():
    from live.broker import AmbiguousOrderError

    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)

    real_place = broker.place_order

    def lost_reply(request):
        real_place(request)  # the broker has it...
        raise AmbiguousOrderError("placeorder timed out after sending")  # ...we never hear

    broker.place_order = lost_reply
    state.on_order_update(broker.fill(entry_id), T0)
    broker.place_order = real_place
    assert state.view().sl_state is SlotState.UNCONFIRMED
    state.poll(T0)  # no second stop while it may exist
    assert len(broker.working("SELL")) == 1
    [stop] = broker.working("SELL")
    state.on_order_update(broker.orderbook()[-1], T0)  # the book shows it: ours
    assert state.view().sl_id == stop.order_id
    state.book_seen(T0)
    state.book_seen(T0)
    assert len(broker.working("SELL")) == 1


def test_ambiguous_stop_absent_from_two_books_is_placed_again():
    from live.broker import AmbiguousOrderError

    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    broker.fail_next("place_order", AmbiguousOrderError("no reply, orderbook unreadable"))
    state.on_order_update(broker.fill(entry_id), T0)
    assert not broker.working("SELL")
    state.book_seen(T0)
    assert not broker.working("SELL")  # one read without it proves little
    state.book_seen(T0)
    [stop] = broker.working("SELL")
    assert state.view().sl_id == stop.order_id


def test_entry_fill_seen_in_the_book_before_the_reply_is_protected_at_once():
    state, broker = make_state()
    gate = broker.gate("place_order")
    import threading

    t = threading.Thread(target=lambda: state.process_tick(D("99.70"), T0))
    t.start()
    try:
        gate.wait_entered()
        [entry] = broker.working("BUY")
        state.on_order_update(broker.fill(entry.order_id), T0)  # the poller's orderbook row
        v = state.view()
        assert v.position_qty == 10 and len(broker.working("SELL")) == 1  # before the reply
    finally:
        gate.open()
        t.join(5)
    assert state.view().position_qty == 10 and len(broker.working("SELL")) == 1
    assert broker.orders[entry.order_id].status.value == "complete"  # not cancelled as orphan


def test_a_failed_stale_cancel_asks_for_the_status_and_learns_the_lost_fill():
    state, broker = make_state(entry_timeout=timedelta(minutes=5))
    entry_id = trigger_and_enter(state, broker)
    broker.fill(entry_id)  # filled; its update was lost
    state.process_tick(D("100.10"), T0 + timedelta(minutes=6))  # stale: cancel -> fails
    v = state.view()
    assert v.position_qty == 10 and isinstance(v.sl_id, str)
    assert broker.count("cancel_order") == 1


def test_cutoff_exit_never_sells_more_than_the_broker_holds():
    """The trader flattened by hand at the broker terminal: at the cutoff the
    engine takes its stop off and must not sell the position a second time."""
    from live.broker import Action, OrderRequest, Product

    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id), T0)
    sl = state.view().sl_id
    manual = broker.place_order(
        OrderRequest("SBIN", "NSE", Action.SELL, 10, PriceType.MARKET, Product.MIS)
    )
    broker.fill(manual, price=D("100.20"))  # not ours: the engine never hears of it
    state.process_tick(D("100.10"), at(15, 15))
    state.on_order_update(broker.set_status(sl, OrderStatus.CANCELLED), at(15, 15))
    sold = sum(o.filled for o in broker.orders.values() if o.request.action is Action.SELL)
    assert sold == 10 and not broker.working()
    assert state.view().phase is Phase.DONE and state.view().position_qty == 0
