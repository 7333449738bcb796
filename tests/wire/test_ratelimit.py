"""Moving-window limiters with an injected clock: no wall-time waits."""

from __future__ import annotations

import threading

import pytest

from live.ratelimit import (
    LimiterClass,
    MovingWindowLimiter,
    RateLimiters,
    RateLimitExceeded,
    RateLimits,
)
from tests.wire.conftest import FakeTime


def _limiter(t: FakeTime, limit=10, window=1.0, max_wait=5.0) -> MovingWindowLimiter:
    return MovingWindowLimiter(
        "orders", limit, window, max_wait=max_wait, monotonic=t.monotonic, sleep=t.sleep
    )


def test_blocks_the_eleventh_call_until_the_oldest_leaves_the_window():
    t = FakeTime(0.0)
    lim = _limiter(t)
    for _ in range(10):
        lim.acquire()
    assert t.sleeps == []
    lim.acquire()
    assert t.sleeps == [pytest.approx(1.0)]
    assert t.now == pytest.approx(1.0)


def test_window_moves_rather_than_resetting():
    t = FakeTime(0.0)
    lim = _limiter(t)
    for _ in range(5):
        lim.acquire()
    t.now = 0.5
    for _ in range(5):
        lim.acquire()
    t.now = 1.0  # the first five left the window, the last five did not
    for _ in range(5):
        lim.acquire()
    assert t.sleeps == []
    lim.acquire()  # a fixed window would allow 10 here; a moving one waits to 1.5
    assert t.now == pytest.approx(1.5)


def test_classes_are_independent_and_endpoints_map_to_classes():
    t = FakeTime(0.0)
    lims = RateLimiters(
        RateLimits(orders=2, orders_reserved=0, smart=1, other=3, margin=0.1),
        monotonic=t.monotonic,
        sleep=t.sleep,
    )
    assert RateLimiters.class_of("placeorder") == LimiterClass.ORDERS
    assert RateLimiters.class_of("modifyorder") == LimiterClass.ORDERS
    assert RateLimiters.class_of("cancelorder") == LimiterClass.ORDERS
    assert RateLimiters.class_of("placesmartorder") == LimiterClass.SMART
    assert RateLimiters.class_of("orderbook") == LimiterClass.OTHER
    for _ in range(2):
        lims.for_endpoint("placeorder").acquire()
    for _ in range(3):  # orders exhausted: reads still go
        lims.for_endpoint("funds").acquire()
    lims.for_endpoint("placesmartorder").acquire()
    assert t.sleeps == []
    lims.for_endpoint("cancelorder").acquire()
    assert t.sleeps == [pytest.approx(1.1)]  # window plus the safety margin


def test_penalty_blocks_the_class_and_long_waits_raise():
    t = FakeTime(0.0)
    lim = _limiter(t, max_wait=3.0)
    lim.penalize(2.0)
    lim.acquire()
    assert t.now == pytest.approx(2.0)
    lim.penalize(60)
    with pytest.raises(RateLimitExceeded) as ei:
        lim.acquire()
    assert ei.value.wait == pytest.approx(60)


def test_thread_safe_never_more_than_limit_in_any_window():
    t = FakeTime(0.0)
    lim = _limiter(t, limit=5, window=1.0, max_wait=1000)
    stamps: list[float] = []
    guard = threading.Lock()

    def worker():
        for _ in range(20):
            lim.acquire()
            with guard:
                stamps.append(t.monotonic())

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)
    assert len(stamps) == 80
    stamps.sort()
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 1.0 - 1e-9


@pytest.mark.parametrize(
    "kw, field", [({"orders": 0}, "orders"), ({"window": 0}, "window"), ({"other": 1.5}, "other")]
)
def test_bad_limits_named(kw, field):
    with pytest.raises(ValueError, match=field):
        RateLimits(**kw)


def test_urgent_calls_have_a_lane_ordinary_calls_leave_free():
    """Protective orders never queue behind a burst of trailing modifies:
    ordinary calls stop at limit - reserved, urgent ones may use it all."""
    from live.ratelimit import MovingWindowLimiter, urgent

    t = FakeTime()
    lim = MovingWindowLimiter("orders", 10, 1.0, reserved=2, monotonic=t.monotonic, sleep=t.sleep)
    for _ in range(8):
        assert lim.try_acquire() == 0
    assert lim.try_acquire() > 0  # the ninth ordinary call waits
    with urgent():
        assert lim.try_acquire() == 0 and lim.try_acquire() == 0  # the reserved two
        assert lim.try_acquire() > 0  # the window is full for everyone
