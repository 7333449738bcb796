"""A strategy's mistakes never break a symbol's protection."""

from __future__ import annotations

from decimal import Decimal

from live.broker import Action
from live.execution import ExecConfig, Phase, SymbolExecutor
from live.execution.dryrun import DryRunBroker
from live.strategy import Entry, Strategy
from tests.core.helpers import SESSION, T0, D, at
from tests.fakes import FakeBroker

STOP = D("99")


class Rules(Strategy):
    """Buys a stop at 101 when price is below it; rules can be made to fail."""

    name = "test_rules"

    def __init__(self, stop=STOP, on_tick_error=None, stop_error=None, trail=None):
        self.stop, self.on_tick_error, self.stop_error, self._trail = (
            stop,
            on_tick_error,
            stop_error,
            trail,
        )

    def on_tick(self, tick, ctx):
        if self.on_tick_error:
            raise self.on_tick_error
        if ctx.holding is None:
            return Entry(Action.BUY, D("101"))
        return None

    def initial_stop(self, holding):
        if self.stop_error:
            raise self.stop_error
        return self.stop

    def trail(self, holding):
        return self._trail


def make(strategy, broker=None):
    broker = broker or FakeBroker()
    cfg = ExecConfig(quantity=10)
    return SymbolExecutor(strategy, broker, cfg, SESSION, symbol="NSE:SBIN", tick=D("0.05")), broker


def hold(state, broker):
    state.process_tick(D("100.50"), T0)
    [entry] = broker.working("BUY")
    state.on_order_update(broker.fill(entry.order_id, price=D("101")), T0)


def test_a_raising_on_tick_is_logged_once_and_places_nothing(caplog):
    state, broker = make(Rules(on_tick_error=RuntimeError("bug")))
    for _ in range(5):
        state.process_tick(D("100.50"), T0)
    assert broker.count("place_order") == 0
    assert sum("STRATEGY_ERROR" in r.getMessage() for r in caplog.records) == 1
    assert state.view().phase is Phase.FLAT


def test_a_raising_initial_stop_still_gets_an_emergency_stop():
    state, broker = make(Rules(stop_error=ZeroDivisionError("oops")))
    hold(state, broker)
    [stop] = broker.working("SELL")
    assert stop.request.trigger_price == D("99.95")  # 1% under 101, rounded down to the tick
    assert state.view().phase is Phase.HOLDING


def test_nonsense_stop_levels_are_refused_and_replaced():
    for bad in (float(99), Decimal("NaN"), D("-5"), "99"):
        state, broker = make(Rules(stop=bad))
        hold(state, broker)
        [stop] = broker.working("SELL")
        assert stop.request.trigger_price == D("99.95"), bad


def test_a_loosening_or_crossed_trail_is_ignored():
    state, broker = make(Rules(trail=D("98")))  # looser than 99
    hold(state, broker)
    state.process_tick(D("102"), T0)
    [stop] = broker.working("SELL")
    assert stop.request.trigger_price == D("99") and broker.count("modify_order") == 0
    state.strategy._trail = D("103")  # above the market: would trigger at once
    state.process_tick(D("102.5"), T0)
    assert broker.count("modify_order") == 0


def test_entries_outside_the_window_or_through_the_market_are_not_placed():
    state, broker = make(Rules())
    state.process_tick(D("101.50"), T0)  # a buy stop at 101 with price above it: not resting
    state.process_tick(D("100.50"), at(15, 5))  # after entry_end
    assert broker.count("place_order") == 0


def test_dry_run_broker_places_nothing_and_completes_cancels_through_its_book():
    real = FakeBroker()
    dry = DryRunBroker(real)
    state, _ = make(Rules(), broker=dry)
    state.process_tick(D("100.50"), T0)
    assert real.count("place_order") == 0 and len(dry.placed) == 1
    state.process_tick(D("100.50"), at(15, 15))  # the cutoff cancels the dry entry
    for u in dry.orderbook():
        state.on_order_update(u, at(15, 15))
    assert state.view().phase is Phase.DONE
    assert real.count("cancel_order") == 0 and real.count("order_status") == 0
