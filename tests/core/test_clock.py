"""Clocks and the NSE session calendar, moved with freezegun or by hand."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from freezegun import freeze_time

from live.clock import IST, ManualClock, MarketSession, ReplayClock, WallClock


def test_wall_clock_is_ist_and_aware():
    with freeze_time("2026-11-20 03:45:00"):  # UTC
        now = WallClock().now()
    assert now.tzinfo is not None
    assert now == datetime(2026, 11, 20, 9, 15, tzinfo=IST)


def test_replay_clock_runs_speed_times_faster():
    ticks = iter([100.0, 100.0, 110.0])
    clock = ReplayClock(
        datetime(2026, 11, 20, 9, 14, tzinfo=IST), speed=60, monotonic=lambda: next(ticks)
    )
    assert clock.now() == datetime(2026, 11, 20, 9, 14, tzinfo=IST)
    assert clock.now() == datetime(2026, 11, 20, 9, 24, tzinfo=IST)  # 10 wall s = 10 market min


def test_replay_clock_rejects_naive_start_and_bad_speed():
    with pytest.raises(ValueError, match="clock.start"):
        ReplayClock(datetime(2026, 11, 20, 9, 14), speed=1)
    with pytest.raises(ValueError, match="clock.speed"):
        ReplayClock(datetime(2026, 11, 20, 9, 14, tzinfo=IST), speed=0)


def test_manual_clock_advances_and_sleep_moves_it():
    c = ManualClock(datetime(2026, 11, 20, 15, 14, 59, tzinfo=IST))
    c.sleep(1)
    assert c.now().time() == time(15, 15)


def test_session_around_the_cutoff():
    s = MarketSession()
    before = datetime(2026, 11, 20, 15, 14, 59, tzinfo=IST)
    assert not s.past_exit_cutoff(before)
    assert s.past_exit_cutoff(before + timedelta(seconds=1))
    assert s.in_entry_window(datetime(2026, 11, 20, 9, 15, tzinfo=IST))
    assert not s.in_entry_window(datetime(2026, 11, 20, 9, 14, 59, tzinfo=IST))
    assert not s.in_entry_window(datetime(2026, 11, 20, 15, 0, tzinfo=IST))


def test_cutoff_is_read_in_ist_whatever_the_input_zone():
    s = MarketSession()
    utc = datetime(2026, 11, 20, 9, 45, tzinfo=IST).astimezone(IST).replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone"):
        s.past_exit_cutoff(utc)
    from zoneinfo import ZoneInfo

    ny = datetime(2026, 11, 20, 4, 45, tzinfo=ZoneInfo("America/New_York"))  # 15:15 IST
    assert s.past_exit_cutoff(ny)


def test_day_boundaries_weekends_and_holidays():
    s = MarketSession.with_holidays(["2026-11-24"])
    fri, sat, tue = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 24)
    assert s.is_trading_day(fri) and not s.is_trading_day(sat) and not s.is_trading_day(tue)
    assert s.next_trading_day(fri) == date(2026, 11, 23)
    assert s.next_trading_day(date(2026, 11, 23)) == date(2026, 11, 25)
    assert s.previous_trading_day(date(2026, 11, 23)) == fri
    with freeze_time("2026-11-23 18:29:59"):  # 23:59:59 IST Monday
        now = WallClock().now()
        assert now.date() == date(2026, 11, 23)
    with freeze_time("2026-11-23 18:30:00"):  # midnight IST: Tuesday, a holiday
        now = WallClock().now()
        assert now.date() == tue and not s.is_open(now.replace(hour=10))


def test_session_validation():
    with pytest.raises(ValueError, match="exit_cutoff"):
        MarketSession(exit_cutoff=time(16, 0))
    with pytest.raises(ValueError, match="entry window"):
        MarketSession(entry_end=time(16, 0))
