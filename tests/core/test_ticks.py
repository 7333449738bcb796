"""Decimal tick arithmetic: exact, directional, never binary noise."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.ticks import (
    Rounding,
    TickTable,
    is_tick_multiple,
    limit_rounding,
    round_to_tick,
    stop_rounding,
    to_decimal,
)

D = Decimal
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=4, allow_nan=False)
ticks = st.sampled_from([D("0.01"), D("0.05"), D("0.10"), D("0.5"), D("1"), D("5"), D("0.0025")])
sides = st.sampled_from(list(Rounding))


@given(prices, ticks, sides)
def test_result_is_a_tick_multiple_within_one_tick_on_the_right_side(price, tick, side):
    r = round_to_tick(price, tick, side)
    assert is_tick_multiple(r, tick)
    assert abs(r - price) < tick or (side is Rounding.NEAREST and abs(r - price) <= tick / 2)
    if side is Rounding.UP:
        assert r >= price
    elif side is Rounding.DOWN:
        assert r <= price
    else:
        assert abs(r - price) <= tick / 2


@given(prices, ticks, sides)
def test_str_never_shows_binary_noise(price, tick, side):
    text = str(round_to_tick(price, tick, side))
    assert "E" not in text and "e" not in text
    places = len(text.split(".")[1]) if "." in text else 0
    tick_places = max(0, -tick.normalize().as_tuple().exponent)
    assert places == tick_places


def test_the_seed_incident_price():
    # 511.95000000000005 is what float arithmetic produced in the incident.
    assert str(round_to_tick("511.95000000000005", "0.05", Rounding.DOWN)) == "511.95"
    assert str(round_to_tick(D("511.97"), D("0.05"), stop_rounding("SELL"))) == "511.95"
    assert str(round_to_tick(D("511.93"), D("0.05"), stop_rounding("BUY"))) == "511.95"


def test_directions_for_stops_and_limits():
    assert stop_rounding("BUY") is Rounding.UP
    assert stop_rounding("SELL") is Rounding.DOWN
    assert limit_rounding("BUY") is Rounding.DOWN
    assert limit_rounding("SELL") is Rounding.UP
    with pytest.raises(ValueError, match="action"):
        stop_rounding("HOLD")


@pytest.mark.parametrize("bad", [D(0), D(-1), "0", "nan", "inf", D("NaN")])
def test_bad_tick_rejected(bad):
    with pytest.raises(ValueError, match="tick"):
        round_to_tick(D("100"), bad)


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), "abc", "NaN", D("Infinity"), None, True]
)
def test_bad_price_rejected(bad):
    with pytest.raises(ValueError, match="price"):
        round_to_tick(bad, D("0.05"))


def test_inexact_float_rejected_but_exact_float_and_str_conversion_accepted():
    with pytest.raises(ValueError, match=r"Decimal\(str\(x\)\)"):
        to_decimal(511.95)
    assert to_decimal(0.5) == D("0.5")
    assert round_to_tick(D(str(511.95)), D("0.05")) == D("511.95")
    assert to_decimal(100) == D(100)


def test_nse_price_bands():
    t = TickTable.nse_equity()
    assert t.tick_for(D("120")) == D("0.01")
    assert t.tick_for(D("250")) == D("0.01")
    assert t.tick_for(D("250.01")) == D("0.05")
    assert t.tick_for(D("4999")) == D("0.10")
    assert t.tick_for(D("7000")) == D("0.50")
    assert t.tick_for(D("15000")) == D("1.00")
    assert t.tick_for(D("25000")) == D("5.00")
    assert t.round(D("249.997"), Rounding.UP) == D("250.00")
    # Crossing into a coarser band re-rounds with that band's tick.
    assert t.round(D("1000.03"), Rounding.UP) == D("1000.10")
    assert t.round(D("511.97"), Rounding.DOWN) == D("511.95")
    with pytest.raises(ValueError, match="price"):
        t.tick_for(D("0"))


@given(st.decimals(min_value=D("1"), max_value=D("50000"), places=3, allow_nan=False), sides)
def test_tick_table_result_is_on_its_own_bands_grid(price, side):
    t = TickTable.nse_equity()
    r = t.round(price, side)
    assert is_tick_multiple(r, t.tick_for(r))
