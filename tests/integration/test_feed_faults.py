"""WebSocket faults while positions are open: a dropped connection and a
silent (stalled) feed. The stops rest at the broker, so the positions stay
protected; the feed must come back (resubscribed to ticks *and* order
updates) and the engine must neither duplicate an entry nor lose track."""

from __future__ import annotations

import pytest

from live.sim import WsDrop, WsStall

from .harness import (
    CLEAN_MIX,
    CLEAN_SEED,
    assert_safe,
    at,
    build_day,
    entry_orders,
    entry_time,
    feed_live_times,
    record_feed,
    sym,
    trigger_time,
)

HELD = ("NSE:SBIN", "NSE:INFY", "NSE:TCS")


def _stops_working_at(s, key, ts):
    """Stop orders of ``key`` working at the broker at market time ``ts``."""
    out = []
    for o in s.truth.orders(sym(key)):
        if o.price_type.value not in ("SL", "SL-M") or not o.is_exit:
            continue
        events = [e for e in s.truth.events(order_id=o.order_id) if e.ts <= ts]
        if events and events[-1].order.is_working:
            out.append(o.order_id)
    return out


def _positions_at(s, key, ts):
    pos = 0
    for e in s.truth.events(symbol=sym(key)):
        if e.ts > ts:
            break
        if e.kind.value == "fill":
            pos = e.position_after
    return pos


@pytest.mark.timeout(60)
@pytest.mark.parametrize("abort", [False, True], ids=["close-frame", "tcp-abort"])
def test_ws_drop_mid_position_reconnects_and_stop_keeps_working(session, monkeypatch, abort):
    day = build_day(CLEAN_MIX, CLEAN_SEED)
    last_entry = max(entry_time(day, k) for k in HELD)
    drop_at = at("10:04")
    assert at("09:52") < min(trigger_time(day, k) for k in HELD)
    assert drop_at > last_entry, "the drop must come while the positions are open"
    rec = record_feed(monkeypatch)
    s = session(
        CLEAN_MIX,
        seed=CLEAN_SEED,
        day=day,
        start="09:52",
        speed=200,
        cutoff="10:15",
        faults=[WsDrop(at=drop_at.time(), abort=abort)],
    )
    assert s.server.stats["ws_dropped"] == 1
    # At the drop every symbol held a position covered by a working stop.
    for key in HELD:
        assert _positions_at(s, key, drop_at) != 0, key
        assert len(_stops_working_at(s, key, drop_at)) == 1, key
    # The feed came back: a second session, resubscribed to ticks and to
    # order updates (the cutoff's cancels and exits arrive on the new socket).
    lives = feed_live_times(s)
    assert len(lives) >= 2, lives
    back = lives[1]
    assert back > drop_at
    assert s.server.stats["ws_connections"] >= 2
    assert s.engine.feed.counters().reconnects >= 1
    assert s.engine.feed.order_updates_supported is True
    assert rec.ticks_after(back) > 0
    after = rec.updates_after(back)
    broker_after = [
        e for e in s.truth.events() if e.ts > back and e.kind.value in ("cancelled", "fill")
    ]
    assert broker_after, "the cutoff should have produced order events after the reconnect"
    assert {u.order_id for u in after} >= {e.order.order_id for e in broker_after}
    # No duplicate entry: one entry per attempt, as on the clean day.
    for key in HELD:
        assert len(entry_orders(s, key)) == s.engine.states[key].view().entries_today
    assert_safe(s)


@pytest.mark.timeout(60)
def test_ws_stall_is_detected_and_feed_reconnects_engine_stays_safe(session, monkeypatch):
    """The server keeps the socket open but sends nothing for 5 wall seconds
    (#810): the feed declares FEED_STALE after feed_stale_seconds of wall
    silence and reconnects; while it is blind the poller keeps the book."""
    day = build_day(CLEAN_MIX, CLEAN_SEED)
    speed = 300
    stall_at = at("10:04")
    assert stall_at > max(entry_time(day, k) for k in HELD)
    rec = record_feed(monkeypatch)
    s = session(
        CLEAN_MIX,
        seed=CLEAN_SEED,
        day=day,
        start="09:52",
        speed=speed,
        cutoff="10:55",
        config={"feed_stale_seconds": 1},
        faults=[WsStall(at=stall_at.time(), seconds=5 * speed)],
    )
    assert s.server.stats["ws_stalled_messages"] > 0
    stale = s.log.events("FEED_STALE")
    assert stale, "the feed never noticed the silence"
    assert s.engine.feed.counters().stale_events >= 1
    lives = feed_live_times(s)
    assert len(lives) >= 2 and lives[-1] > stall_at, lives
    back = lives[-1]
    assert rec.ticks_after(back) > 0
    assert s.engine.feed.order_updates_supported is True
    # Blind for a while, the poller still saw every order event: the
    # engine's view agrees with the broker's (no lost fill).
    for key in HELD:
        v = s.engine.states[key].view()
        assert len(entry_orders(s, key)) == v.entries_today
        assert v.position_qty == 0
    assert_safe(s)
