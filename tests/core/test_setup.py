"""The 80-20 setup from the prior day's bar."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from live.broker import Action, Bar
from live.ticks import TickTable, is_tick_multiple
from strategies.reversal_8020.setup import Penetration, SetupRules, find_setup

D = Decimal
DAY = date(2026, 11, 19)


def bar(o, h, lo, c):
    return Bar(DAY, D(o), D(h), D(lo), D(c))


def test_long_setup_levels():
    s = find_setup("NSE:SBIN", bar("108", "110", "100", "101"), D("0.05"))
    assert s.side is Action.BUY
    assert s.entry_price == D("100.00")
    assert s.trigger_price == D("99.75")  # 5 ticks below the low
    assert s.initial_stop == D("99.70")  # one tick below the trigger
    assert s.triggered_by(D("99.75")) and not s.triggered_by(D("99.80"))
    assert s.entry_is_resting(D("99.95")) and not s.entry_is_resting(D("100"))
    assert s.stop_for_extreme(D("99.52")) == D("99.45")


def test_short_setup_mirrors():
    s = find_setup("NSE:SBIN", bar("101", "110", "100", "109"), D("0.05"))
    assert s.side is Action.SELL
    assert (s.entry_price, s.trigger_price, s.initial_stop) == (
        D("110.00"),
        D("110.25"),
        D("110.30"),
    )
    assert s.triggered_by(D("110.25"))
    assert s.stop_for_extreme(D("110.52")) == D("110.60")  # a buy stop rounds up


@pytest.mark.parametrize("o,c", [("105", "101"), ("108", "103"), ("104", "106"), ("103", "108")])
def test_no_setup_when_open_or_close_outside_the_bands(o, c):
    assert find_setup("NSE:SBIN", bar(o, "110", "100", c), D("0.05")) is None


def test_boundaries_are_inclusive_at_twenty_percent():
    assert find_setup("NSE:X", bar("108", "110", "100", "102"), D("0.05")).side is Action.BUY
    assert find_setup("NSE:X", bar("107.99", "110", "100", "102"), D("0.05")) is None
    assert find_setup("NSE:X", bar("108", "110", "100", "102.01"), D("0.05")) is None


@pytest.mark.parametrize(
    "pen,trigger",
    [
        (Penetration("ticks", D(10)), D("99.50")),
        (Penetration("percent", D("0.3")), D("99.70")),
        (Penetration("range", D("0.05")), D("99.50")),
        (Penetration("ticks", D(0)), D("99.95")),  # at least one tick through
    ],
)
def test_penetration_kinds(pen, trigger):
    s = find_setup(
        "NSE:SBIN", bar("108", "110", "100", "101"), D("0.05"), SetupRules(penetration=pen)
    )
    assert s.trigger_price == trigger


def test_price_band_ticks_from_a_table():
    s = find_setup("NSE:X", bar("1195", "1200", "1100.03", "1101"), TickTable.nse_equity())
    assert s.tick == D("0.10")
    for p in (s.entry_price, s.trigger_price, s.initial_stop):
        assert is_tick_multiple(p, D("0.10"))
    assert s.entry_price == D("1100.10")  # a buy stop rounds up


@pytest.mark.parametrize(
    "b,msg",
    [
        (bar("105", "100", "110", "101"), "high 100 is below low 110"),
        (bar("100", "100", "100", "100"), "zero range"),
        (bar("0", "110", "100", "101"), "open must be > 0"),
        (bar("120", "110", "100", "101"), "outside low..high"),
    ],
)
def test_bad_bars_rejected_with_a_clear_message(b, msg):
    with pytest.raises(ValueError, match=msg):
        find_setup("NSE:SBIN", b, D("0.05"))


def test_rules_validation():
    with pytest.raises(ValueError, match="open_pct"):
        SetupRules(open_pct=D(60))
    with pytest.raises(ValueError, match="penetration.value"):
        Penetration("ticks", D(-1))
