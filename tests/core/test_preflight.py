"""Pre-start checks in process: the boundaries the subprocess table does not reach."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from live.clock import IST, MarketSession
from live.preflight import StartupError, check_data_dir, check_market_open

SESSION = MarketSession(holidays=frozenset({date(2026, 11, 24)}))


def at(day: int, hh: int, mm: int) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=IST)


@pytest.mark.parametrize("now", [at(20, 7, 0), at(20, 9, 14), at(20, 15, 29)])
def test_before_the_open_and_during_the_session_are_fine(now):
    check_market_open(SESSION, now, replay=False)  # the engine waits for the open


@pytest.mark.parametrize(
    "now,text",
    [
        (at(20, 15, 30), "it is 15:30 IST, the session ended at 15:30"),
        (at(20, 23, 59), "it is 23:59 IST"),
        (at(22, 10, 0), "Sun 2026-11-22 is not a trading day"),
        (at(24, 10, 0), "Tue 2026-11-24 is not a trading day"),  # a configured holiday
    ],
)
def test_after_the_close_or_on_a_closed_day_the_market_is_closed(now, text):
    with pytest.raises(StartupError, match=f"market is closed: {text}.*next trading day"):
        check_market_open(SESSION, now, replay=False)
    with pytest.raises(StartupError, match="pick a clock.start inside the session"):
        check_market_open(SESSION, now, replay=True)


def test_a_missing_data_dir_under_a_writable_parent_is_fine_and_not_created(tmp_path):
    check_data_dir(tmp_path / "a" / "b" / "data")
    assert list(tmp_path.iterdir()) == []
