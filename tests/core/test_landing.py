"""No order slot can be left in flight by an exception.

Every bookkeeping call the executor makes around an order (journal, ledger,
risk) is made to raise an arbitrary exception, once, somewhere along a whole
day: trigger, entry, fill, stop, trail, cutoff, exit. Whatever raises, the
day must end the same way: every slot empty, flat, nothing working, every
safety property intact. Before the execution layer, a journal write error
after a fill left the stop slot PENDING for good (the position never got a
stop); the slot table makes that impossible: every way out of a call lands.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from live.execution import SlotState, SymbolExecutor
from live.journal import Journal
from live.ledger import BuyingPowerLedger
from live.risk import RiskLimits, RiskManager
from tests.core.helpers import T0, D, at
from tests.plays import PLAYS
from tests.races.properties import violations


class Boom:
    """Wraps an object; its ``method`` raises on call number ``nth``."""

    def __init__(self, inner, method: str, nth: int = 1):
        self._inner, self._method, self._nth, self.calls, self.raised = inner, method, nth, 0, False

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls == self._nth:
                self.raised = True
                raise RuntimeError(f"injected failure in {name}")
            return attr(*args, **kwargs)

        return wrapped


class Clock:
    def __init__(self, now):
        self._now = now

    def now(self):
        return self._now


SITES = (
    [("journal", m) for m in ("claim_entry", "record_intent", "record_order", "record_update")]
    + [("ledger", m) for m in ("reserve", "placed", "consume", "settle")]
    + [("risk", m) for m in ("try_open", "position_opened", "record_realized", "position_closed")]
)


def run_day(play, where: str, method: str, nth: int):
    journal = Journal.in_memory()
    ledger = BuyingPowerLedger(D("100000"))
    risk = RiskManager(RiskLimits(D("5000"), 5), Clock(T0))
    parts = {"journal": journal, "ledger": ledger, "risk": risk}
    boom = parts[where] = Boom(parts[where], method, nth)
    from tests.fakes import FakeBroker

    broker = FakeBroker()
    state, _ = play.build(SymbolExecutor, "SBIN", broker, ledger=parts["ledger"])
    state.journal, state.risk = parts["journal"], parts["risk"]
    state.gate.journal, state.gate.risk = parts["journal"], parts["risk"]

    def deliver(ts):
        for u in broker.drain():
            state.on_order_update(u, ts)
        for u in broker.orderbook():
            state.on_order_update(u, ts)
        state.book_seen(ts)
        state.poll(ts)

    t = T0
    for _ in range(3):  # the trigger, and a retry if the first attempt was refused
        state.process_tick(play.trigger, t)
        deliver(t)
        t += timedelta(seconds=5)
    [entry] = broker.working(play.entry_side.value)
    state.on_order_update(broker.fill(entry.order_id, price=play.entry_fill), t)
    for _ in range(3):
        deliver(t)
        t += timedelta(seconds=5)
    state.process_tick(play.trail, t)
    deliver(t)
    for ts in (at(15, 15), at(15, 16), at(15, 17)):
        state.process_tick(play.hold, ts)
        deliver(ts)
        for o in broker.working():
            if o.request.price_type.value == "MARKET":
                state.on_order_update(broker.fill(o.order_id, price=play.hold), ts)
        deliver(ts)
    journal.close()
    return state, broker, boom


@pytest.mark.parametrize("play", PLAYS, ids=str)
@pytest.mark.parametrize("where,method", SITES, ids=lambda x: x if isinstance(x, str) else None)
def test_an_exception_in_any_bookkeeping_call_lands_every_slot(play, where, method):
    for nth in (1, 2):
        state, broker, boom = run_day(play, where, method, nth)
        v = state.view()
        assert v.position_qty == 0, (method, nth, v)
        assert not broker.working(), (method, nth, [o.order_id for o in broker.working()])
        stuck = [s.describe() for s in state.st.slots() if s.state is not SlotState.EMPTY]
        assert not stuck, (method, nth, stuck)
        assert violations(broker, state) == [], (method, nth)
        if nth == 1:
            assert boom.raised, f"{where}.{method} was never called on this path"
