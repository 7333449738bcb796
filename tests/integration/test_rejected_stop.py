"""A stop-loss the broker rejects (RMS, a price band, SL-M disabled for the
segment - OpenAlgo #1647/#689): the engine retries at once and protects, or
after ``stop_retry_limit`` refusals closes the position at market and raises
an ALERT (P2)."""

from __future__ import annotations

import pytest

from live.sim import Reject

from .harness import assert_safe, at, build_day, entry_orders, trigger_time

SBIN = {"NSE:SBIN": "long_win"}
SEED = 11  # SBIN: entry BUY is placeorder #1, its stop SELL SL-M is #2


def _stops(s):
    return [o for o in s.truth.orders("SBIN") if o.price_type.value == "SL-M" and o.is_exit]


@pytest.mark.timeout(60)
def test_first_stop_rejected_engine_retries_and_protects(session):
    day = build_day(SBIN, SEED)
    assert trigger_time(day, "NSE:SBIN") > at("09:54")
    s = session(
        SBIN,
        seed=SEED,
        day=day,
        start="09:54",
        speed=300,
        cutoff="10:12",
        faults=[Reject(calls=(2,), symbol="SBIN", price_type="SL-M", action="SELL")],
    )
    stops = _stops(s)
    assert [o.status.value for o in stops[:2]] == ["rejected", "cancelled"], stops
    assert stops[1].quantity == 10
    # The refusal was logged as an error naming the stop, then the retry protected.
    failed = [e for e in s.log.events("ORDER_FAILED") if e.get("role") == "stop"]
    assert len(failed) == 1 and failed[0]["level"] == "ERROR", failed
    assert s.log.events("STOP_PLACED", symbol="NSE:SBIN")
    # Not given up: the position was held to the cutoff under the second stop,
    # not closed early by the "stop could not be kept" path.
    assert not [e for e in s.log.events("ALERT") if "could not be kept" in e.get("reason", "")]
    assert len(entry_orders(s, "NSE:SBIN")) == 1
    assert_safe(s)


@pytest.mark.timeout(60)
def test_every_stop_rejected_closes_at_market_with_alert(session):
    day = build_day(SBIN, SEED)
    s = session(
        SBIN,
        seed=SEED,
        day=day,
        start="09:54",
        speed=300,
        cutoff="10:12",
        faults=[Reject(symbol="SBIN", price_type="SL-M", action="SELL")],
    )
    limit = s.cfg.strategy.stop_retry_limit
    stops = _stops(s)
    assert len(stops) == limit and all(o.status.value == "rejected" for o in stops), stops
    exits = [o for o in s.truth.orders("SBIN") if o.is_exit and o.price_type.value == "MARKET"]
    assert len(exits) == 1 and exits[0].status.value == "complete", exits
    # Closed right after the last refusal, long before the cutoff.
    assert exits[0].placed_at < s.cutoff
    alerts = [e for e in s.log.events("ALERT", symbol="NSE:SBIN")]
    assert alerts and "could not be kept" in alerts[0]["reason"], alerts
    assert alerts[0]["level"] == "ERROR"
    # Closed for the day: no re-entry into a symbol whose stops are refused.
    v = s.engine.states["NSE:SBIN"].view()
    assert v.entries_today == 1 and v.position_qty == 0
    assert len(entry_orders(s, "NSE:SBIN")) == 1
    assert_safe(s)
