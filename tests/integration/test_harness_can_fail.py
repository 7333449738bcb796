"""The property checks are not vacuous: an engine that never places its
stop-loss (a naive variant, patched in for this test only) runs the same
session and ``assert_safe`` reports the bare position."""

from __future__ import annotations

import pytest

from live.execution import protection

from .harness import assert_safe, build_day, holding_gaps

SBIN = {"NSE:SBIN": "long_win"}


@pytest.mark.timeout(60)
def test_assert_safe_catches_a_position_left_without_a_stop(session, monkeypatch):
    monkeypatch.setattr(protection, "keep_stop", lambda st, ts: [])
    s = session(SBIN, seed=11, day=build_day(SBIN, 11), start="09:54", speed=300, cutoff="10:12")
    assert not [o for o in s.truth.orders("SBIN") if o.price_type.value == "SL-M" and o.is_exit]
    assert s.truth.net_position("SBIN") == 0  # the cutoff still squared it off
    assert max(holding_gaps(s, "NSE:SBIN")) > s.poll_cycle
    with pytest.raises(AssertionError, match="NSE:SBIN: unprotected for"):
        assert_safe(s)
