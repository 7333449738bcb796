"""The two-sided opening-range breakout over real HTTP + WebSocket: both
stops rest at once, the first fill cancels the other side (OCO), a whipsaw
through both levels never leaves two positions or a stop on a flat book,
and everything is square by the cutoff."""

from __future__ import annotations

import pytest

from live.broker import Action
from live.execution import Phase

from .harness import assert_safe, broker_pnl, build_day, entry_orders, sym

MIX = {
    "NSE:SBIN": "orb_up",
    "NSE:INFY": "orb_down",
    "NSE:TCS": "orb_whipsaw",
    "NSE:RELIANCE": "orb_none",
}
ORB = {"name": "orb", "max_attempts": 2, "entry_timeout_minutes": 360, "range_minutes": 15}


def max_abs_position(s, key) -> int:
    return max((abs(ev.position_after) for ev in s.truth.events(symbol=sym(key))
                if ev.position_after is not None), default=0)  # fmt: skip


@pytest.mark.timeout(90)
def test_orb_day_over_sockets(session):
    day = build_day(MIX, 21)
    # From 09:05: the engine is up well before the range starts at 09:15.
    s = session(MIX, seed=21, day=day, start="09:05", speed=400, cutoff="11:30", strategy=ORB)
    views = {k: st.view() for k, st in s.engine.states.items()}
    assert set(views) == set(MIX)  # the ORB needs no prior-day pattern
    for key, v in views.items():
        levels = day.symbol(key).orb
        entries = entry_orders(s, key)
        # Both sides went in together, just after the range closed.
        assert {o.action for o in entries} == {Action.BUY, Action.SELL}, (key, entries)
        assert all(o.placed_at >= levels.range_end for o in entries), key
        assert v.phase is Phase.DONE and v.position_qty == 0, (key, v)
        assert max_abs_position(s, key) <= 10, f"{key}: more than one position at once"
        assert v.realized_pnl == broker_pnl(s, key), key
        filled = [o for o in entries if o.filled_quantity]
        if MIX[key] == "orb_none":
            assert not filled, key
        elif MIX[key] in ("orb_up", "orb_down"):
            want = Action.BUY if MIX[key] == "orb_up" else Action.SELL
            assert [o.action for o in filled] == [want], (key, filled)
    assert_safe(s)
