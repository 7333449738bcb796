"""The executor running the two-sided opening-range breakout, single-threaded:
OCO entries, the other side cancelled, both sides filled, stop and cutoff."""

from __future__ import annotations

from datetime import timedelta

from live.broker import OrderStatus, PriceType, TransientBrokerError
from live.execution import Phase, SlotState, SymbolExecutor
from tests.core.helpers import T0, D, at
from tests.plays import PLAY_ORB
from tests.races.properties import violations


def armed(**config):
    """Range 100.00-101.00 formed; a tick inside it places both entries."""
    state, broker = PLAY_ORB.build(SymbolExecutor, **config)
    state.process_tick(D("100.50"), T0)
    return state, broker


def one(broker, action: str):
    [o] = broker.working(action)
    return o


def test_both_entries_rest_one_above_one_below_the_range():
    state, broker = armed()
    buy, sell = one(broker, "BUY"), one(broker, "SELL")
    assert buy.request.trigger_price == D("101.05") and buy.request.price_type is PriceType.SL_M
    assert sell.request.trigger_price == D("99.95")
    v = state.view()
    assert v.phase is Phase.ENTERING and v.entries_today == 2
    assert v.entry_state("buy") is SlotState.WORKING and v.entry_state("sell") is SlotState.WORKING
    state.process_tick(D("100.60"), T0 + timedelta(seconds=1))  # same entries: nothing new
    assert broker.count("place_order") == 2


def test_no_entry_while_the_range_forms():
    state, broker = PLAY_ORB.build(SymbolExecutor)  # ticks up to 09:25 only
    state.process_tick(D("100.20"), at(9, 29))
    assert broker.count("place_order") == 0
    assert state.view().strategy_state == "armed"  # formed, waits for 09:30


def test_a_fill_cancels_the_other_side_and_protects_at_the_other_side_of_the_range():
    state, broker = armed()
    buy, sell = one(broker, "BUY"), one(broker, "SELL")
    state.on_order_update(broker.fill(buy.order_id, price=D("101.05")), T0)
    assert broker.orders[sell.order_id].status is OrderStatus.CANCELLED
    stop = one(broker, "SELL")
    assert stop.order_id != sell.order_id and stop.request.trigger_price == D("99.95")
    for u in broker.drain():  # the cancel's confirmation
        state.on_order_update(u, T0)
    v = state.view()
    assert v.phase is Phase.HOLDING and v.position_qty == 10 and v.sl_id == stop.order_id
    assert v.entry_state("sell") is SlotState.EMPTY
    assert violations(broker, state) == []


def test_other_side_filled_while_its_cancel_was_in_flight_is_flattened_not_held():
    """A fast market through both levels: the sell entry fills before its
    cancel lands. The executor books it (flat again), takes its now
    pointless stop off, and places nothing more today."""
    state, broker = armed()
    buy, sell = one(broker, "BUY"), one(broker, "SELL")
    sell_fill = broker.fill(sell.order_id, price=D("99.95"))  # at the exchange, not yet heard
    state.on_order_update(broker.fill(buy.order_id, price=D("101.05")), T0)
    state.on_order_update(sell_fill, T0)
    for u in broker.drain():
        state.on_order_update(u, T0)
    v = state.view()
    assert v.position_qty == 0 and v.realized_pnl == D("-11.0000")  # bought 101.05, sold 99.95
    assert not broker.working(), [o.order_id for o in broker.working()]
    assert v.phase is Phase.DONE and "both entries" in v.done_reason
    assert violations(broker, state) == []


def test_the_cancelled_side_filling_after_a_stop_out_is_closed_not_kept():
    """The OCO cancel of the sell entry times out (its status unknown too);
    the long's stop and the sell entry then both fill in a fast drop. The
    short the sell entry opened was never wanted: closed at market."""
    state, broker = armed()
    buy, sell = one(broker, "BUY"), one(broker, "SELL")
    broker.fail_next("cancel_order", TransientBrokerError("timeout", code=504))
    broker.fail_next("order_status", TransientBrokerError("timeout", code=504))
    state.on_order_update(broker.fill(buy.order_id, price=D("101.05")), T0)
    [stop] = [o for o in broker.working("SELL") if o.order_id != sell.order_id]
    sell_fill = broker.fill(sell.order_id, price=D("99.95"))
    state.on_order_update(broker.fill(stop.order_id, price=D("99.95")), T0)  # flat
    state.on_order_update(sell_fill, T0)  # short 10: ours, unintended
    [exit_order] = broker.working("BUY")
    assert exit_order.request.price_type is PriceType.MARKET and exit_order.request.quantity == 10
    assert state.view().phase is Phase.EXITING
    state.on_order_update(broker.fill(exit_order.order_id, price=D("99.90")), T0)
    v = state.view()
    assert v.position_qty == 0 and v.phase is Phase.DONE
    assert not broker.working()
    assert violations(broker, state) == []


def test_cutoff_cancels_both_resting_entries():
    state, broker = armed()
    state.process_tick(D("100.50"), at(15, 15))
    for u in broker.drain():
        state.on_order_update(u, at(15, 15))
    assert not broker.working()
    assert state.view().phase is Phase.DONE


def test_trail_r_moves_the_stop_up_only():
    state, broker = armed()
    buy = one(broker, "BUY")
    state.on_order_update(broker.fill(buy.order_id, price=D("101.05")), T0)
    for u in broker.drain():
        state.on_order_update(u, T0)
    stop = one(broker, "SELL")
    state.process_tick(D("101.80"), T0 + timedelta(minutes=1))  # 0.75 in profit > 0.5 x 1.00
    assert broker.orders[stop.order_id].request.trigger_price == D("101.30")
    state.process_tick(D("101.40"), T0 + timedelta(minutes=2))
    assert broker.orders[stop.order_id].request.trigger_price == D("101.30")
    # The status view shows the stop the broker holds now, not where it was placed.
    [w] = state.view().working
    assert (w.order_id, w.price, w.quantity) == (stop.order_id, D("101.30"), 10)
    assert state.view().stop_price == D("101.30")
