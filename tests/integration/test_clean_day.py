"""A clean day, whole session from 09:14, over real HTTP + WebSocket: setups
on several symbols enter, get protected, re-enter after a stop-out, and are
squared off at the cutoff."""

from __future__ import annotations

import pytest

from live.execution import Phase

from .harness import (
    CLEAN_MIX,
    CLEAN_SEED,
    assert_safe,
    broker_pnl,
    build_day,
    entry_orders,
    fill_counts,
    squareoff_gaps,
    sym,
    trigger_time,
)

CUTOFF = "10:20"


@pytest.mark.timeout(60)
def test_clean_day_enters_protects_reenters_and_squares_off(session):
    day = build_day(CLEAN_MIX, CLEAN_SEED)
    # The designed action happens well before the cutoff.
    for key in ("NSE:SBIN", "NSE:INFY", "NSE:TCS"):
        assert trigger_time(day, key).strftime("%H:%M") < "10:05", key

    s = session(CLEAN_MIX, seed=CLEAN_SEED, start="09:14", speed=400, cutoff=CUTOFF, day=day)

    assert set(s.engine.states) == {"NSE:SBIN", "NSE:INFY", "NSE:TCS"}
    assert not s.engine.plans["NSE:RELIANCE"].traded
    assert s.truth.orders("RELIANCE") == []
    views = {k: st.view() for k, st in s.engine.states.items()}
    for key, v in views.items():
        assert v.phase is Phase.DONE and v.position_qty == 0, (key, v)
    # Entries happened on every setup, INFY re-entered after its stop-out.
    assert views["NSE:SBIN"].entries_today == 1
    assert views["NSE:TCS"].entries_today == 1
    assert views["NSE:INFY"].entries_today == 2
    for key, v in views.items():
        entries = entry_orders(s, key)
        assert len(entries) == v.entries_today, (key, entries)
        assert all(o.filled_quantity == 10 for o in entries), entries
        # Every entry fill was followed by a working stop of the exit side.
        stops = [
            o
            for o in s.truth.orders(sym(key))
            if o.is_exit and o.price_type.value in ("SL", "SL-M")
        ]
        assert len(stops) >= len(entries), (key, stops)
        # The engine's fills and P&L are the broker's.
        assert (v.fills, v.exits) == fill_counts(s, key), key
        assert v.realized_pnl == broker_pnl(s, key), key
    # The INFY stop-out really was a stop fill at the broker.
    infy_stop_fills = [
        t
        for t in s.truth.trades("INFY")
        if s.truth.orders("INFY") and _order(s, t.order_id).price_type.value == "SL-M"
    ]
    assert infy_stop_fills, "INFY's first trade should have ended at its stop"
    # Square-off at the cutoff: market exits after the cutoff closed what was open.
    exits_after = [
        o
        for o in s.truth.orders()
        if o.is_exit and o.price_type.value == "MARKET" and o.placed_at >= s.cutoff
    ]
    assert exits_after, "something was still open at the cutoff and should be squared off"
    assert any(squareoff_gaps(s, k) for k in s.engine.states)  # judged in assert_safe
    assert_safe(s)
    assert s.server.stats["order_subscriptions"] >= 1  # live: the order stream is followed

    # The summary the trader reads, and the fill-to-stop measurement.
    assert "Session summary" in s.output
    lat = s.engine.latency
    assert len(lat.samples_ms) == 4  # SBIN, TCS, INFY twice
    p50, p99 = lat.percentile(50), lat.percentile(99)
    print(
        f"\nclean day: wall {s.wall_seconds:.1f}s, fill-to-stop p50 {p50:.1f} ms p99 {p99:.1f} ms, "
        f"samples {[round(x, 1) for x in lat.samples_ms]}, poll cycle {s.poll_cycle}, "
        f"max holding gap {max(max((g for g in _gaps(s, k)), default=0) for k in s.engine.states)} s, "
        f"square-off gaps {[g.total_seconds() for k in s.engine.states for g in squareoff_gaps(s, k)]} s "
        f"(bound {s.squareoff_bound.total_seconds()} s)"
    )


def _order(s, order_id):
    return next(o for o in s.truth.orders() if o.order_id == order_id)


def _gaps(s, key):
    from .harness import holding_gaps

    return [g.total_seconds() for g in holding_gaps(s, key)]
