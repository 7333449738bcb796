"""Order updates on the WebSocket that arrive twice, late or out of order
(OpenAlgo has no sequence numbers): nothing is counted twice, no older state
overwrites a newer one, no entry is duplicated."""

from __future__ import annotations

import pytest

from live.sim import FaultPlan, UpdateFault

from .harness import (
    CLEAN_MIX,
    CLEAN_SEED,
    assert_safe,
    broker_pnl,
    build_day,
    entry_orders,
    fill_counts,
    record_feed,
)


@pytest.mark.timeout(60)
def test_duplicated_delayed_reordered_updates_are_not_double_counted(session, monkeypatch):
    day = build_day(CLEAN_MIX, CLEAN_SEED)
    plan = FaultPlan(
        (
            UpdateFault(action="duplicate", probability=0.35),
            UpdateFault(action="delay", probability=0.25, delay=40),  # market seconds
            UpdateFault(action="reorder", probability=0.3),
        ),
        seed=5,
    )
    rec = record_feed(monkeypatch)
    s = session(
        CLEAN_MIX, seed=CLEAN_SEED, day=day, start="09:52", speed=200, cutoff="10:15", faults=plan
    )
    feed = s.engine.feed.counters()
    # The disturbances really reached the client...
    assert feed.duplicate_updates > 0, feed
    assert feed.stale_updates > 0, feed  # a late/reordered older state after a newer one
    # ...and the engine saw each order's final state once, in order.
    delivered: dict[str, list] = {}
    for u in (u for _, u in rec.updates):
        delivered.setdefault(u.order_id, []).append(u.dedup_key)
    assert all(len(keys) == len(set(keys)) for keys in delivered.values()), delivered
    for key, state in s.engine.states.items():
        v = state.view()
        # Fills: the engine's count of entry fills and exits is the broker's trades.
        assert (v.fills, v.exits) == fill_counts(s, key), (key, v)
        assert v.realized_pnl == broker_pnl(s, key), key
        # No duplicate entries.
        assert len(entry_orders(s, key)) == v.entries_today, key
        assert v.position_qty == 0
    assert s.engine.states["NSE:INFY"].view().entries_today == 2
    assert_safe(s)
