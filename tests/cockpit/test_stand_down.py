"""The executor's stand-down (SIGINT/SIGTERM): entries cancelled through
the normal op path, the position left to its stop or closed at market."""

from __future__ import annotations

import signal
import sys
from datetime import timedelta

from live.broker import OrderStatus, PriceType
from live.execution import Phase
from live.shutdown import Shutdown, may_be_left
from tests.core.helpers import T0, D, make_state, trigger_and_enter


def test_a_working_entry_is_cancelled_and_no_entry_follows():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.stand_down(T0, flatten=False)
    assert broker.orders[entry_id].status is OrderStatus.CANCELLED
    assert not state.stood_down()  # the broker has not confirmed it yet
    for u in broker.drain():
        state.on_order_update(u, T0)
    assert state.stood_down()
    # The strategy would enter again here (the re-entry case): it may not.
    state.process_tick(D("99.90"), T0 + timedelta(minutes=1))
    state.process_tick(D("99.60"), T0 + timedelta(minutes=2))
    assert not broker.working() and state.view().phase is Phase.DONE
    assert state.view().done_reason == "engine stopped"


def test_a_position_is_left_to_its_working_stop():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id, price=D("100.00")), T0)
    sl = state.view().sl_id
    state.stand_down(T0, flatten=False)
    assert state.stood_down()
    [stop] = broker.working()
    assert stop.order_id == sl and stop.request.quantity == 10
    v = state.view()
    assert v.position_qty == 10 and v.phase is Phase.HOLDING


def test_flatten_takes_the_stop_off_then_closes_at_market():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id, price=D("100.00")), T0)
    sl = state.view().sl_id
    state.process_tick(D("100.10"), T0)
    state.stand_down(T0, flatten=True)
    assert broker.orders[sl].status is OrderStatus.CANCELLED
    assert not broker.working("SELL")  # no exit before the stop's cancel is confirmed
    assert not state.stood_down(flatten=True)
    state.on_order_update(broker.set_status(sl, OrderStatus.CANCELLED), T0)
    [exit_order] = broker.working("SELL")
    assert exit_order.request.price_type is PriceType.MARKET and exit_order.request.quantity == 10
    state.on_order_update(broker.fill(exit_order.order_id, price=D("100.10")), T0)
    assert state.stood_down(flatten=True)
    v = state.view()
    assert v.position_qty == 0 and v.phase is Phase.DONE and v.realized_pnl == D("1.00")


def test_a_partly_filled_entry_is_cancelled_and_the_part_protected():
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    state.on_order_update(broker.fill(entry_id, qty=4, price=D("100.00")), T0)
    state.stand_down(T0, flatten=False)
    assert broker.orders[entry_id].status is OrderStatus.CANCELLED
    for u in broker.drain():
        state.on_order_update(u, T0)
    assert state.stood_down()
    [stop] = broker.working()
    assert stop.request.quantity == 4


def test_second_signal_exits_at_once_naming_what_may_be_left(capsys):
    snap = {
        "symbols": [
            {
                "symbol": "NSE:SBIN",
                "position_qty": 10,
                "working_orders": [
                    {
                        "order_id": "S1",
                        "role": "stop",
                        "action": "SELL",
                        "quantity": 10,
                        "price": "99.65",
                    }
                ],
            }
        ]
    }
    codes = []
    sd = Shutdown(out=sys.stderr)
    sd._exit = codes.append
    sd.last_snapshot = lambda: snap
    sd._on_signal(signal.SIGTERM, None)
    assert sd.requested.is_set() and codes == [] and sd.exit_code == 143
    sd._on_signal(signal.SIGINT, None)
    assert codes == [130]
    err = capsys.readouterr().err
    assert "SIGINT again: exiting now" in err
    assert "NSE:SBIN: position 10; may be working: stop SELL 10 @ 99.65 (order S1)" in err


def test_may_be_left_without_a_snapshot():
    assert "order book" in may_be_left(None)[0]
    assert may_be_left({"symbols": []}) == [
        "Nothing of ours was open or working at the last snapshot."
    ]
