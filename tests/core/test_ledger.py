"""Buying-power reservations (P5): check and reserve in one step; the cash
figure is only ever the broker's, and a reservation lives until a funds
reply that includes its order."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from live.ledger import BuyingPowerLedger

D = Decimal


def test_reserve_is_all_or_nothing_and_release_returns_it():
    led = BuyingPowerLedger(D("1000"))
    assert led.reserve("a", D("600"))
    assert not led.reserve("b", D("600"))
    assert led.available() == D("400")
    assert led.release("a") == D("600")
    assert led.reserve("b", D("600"))


def test_a_reservation_lives_until_a_funds_reply_that_includes_its_order():
    led = BuyingPowerLedger(D("1000"))
    led.reserve("a", D("600"))
    before = led.epoch  # a funds call starts before the broker has the order
    led.placed("a")
    assert led.refresh(D("1000"), epoch=before)  # that reply does not include it
    assert led.available() == D("400")
    after = led.epoch
    assert led.refresh(D("400"), epoch=after)  # the broker blocked 600 for it
    assert led.available() == D("400") and led.snapshot().reservations == ()


def test_fills_and_exits_are_never_booked_twice():
    """The races the catalogue found (bp-refresh, bp-exit): a funds reply and
    our own bookkeeping of the same fill or exit, in either order."""
    led = BuyingPowerLedger(D("300"))
    led.reserve("a", D("200"))
    led.placed("a")
    e = led.epoch
    led.refresh(D("100"), epoch=e)  # the broker: 300 less 200 for the position
    led.consume("a", D("200"))  # our fill bookkeeping arrives after the reply
    assert led.available() == D("100")
    e = led.epoch
    led.refresh(D("300"), epoch=e)  # the exit freed the margin
    assert led.available() == D("300")  # once, not 500


def test_a_fill_costlier_than_reserved_holds_the_larger_amount():
    led = BuyingPowerLedger(D("1000"))
    led.reserve("a", D("200"))
    led.consume("a", D("230"))
    assert led.available() == D("770")


def test_settle_keeps_only_what_filled():
    led = BuyingPowerLedger(D("1000"))
    led.reserve("a", D("200"))
    led.placed("a")
    led.settle("a", D("80"))  # 4 of 10 filled, the rest cancelled
    assert led.available() == D("920")
    led.settle("a", D("0"))
    assert led.available() == D("1000")


def test_an_older_reply_never_overwrites_a_newer_one():
    led = BuyingPowerLedger(D("1000"))
    led.reserve("a", D("100"))
    led.placed("a")
    assert led.refresh(D("900"), epoch=1)
    assert not led.refresh(D("1000"), epoch=0)
    assert led.available() == D("900")


def test_bad_input_rejected():
    led = BuyingPowerLedger(D("1000"))
    with pytest.raises(ValueError, match="amount"):
        led.reserve("a", 5.0)
    with pytest.raises(ValueError, match="amount"):
        led.reserve("a", D("-1"))
    led.reserve("a", D("1"))
    with pytest.raises(ValueError, match="already holds"):
        led.reserve("a", D("1"))
    with pytest.raises(ValueError, match="cash"):
        BuyingPowerLedger(1000.0)
    with pytest.raises(ValueError, match="cash"):
        led.refresh(None, epoch=0)


def test_many_threads_never_overcommit():
    led = BuyingPowerLedger(D("1000"))
    won = []
    barrier = threading.Barrier(16)

    def take(i):
        barrier.wait()
        if led.reserve(f"o{i}", D("150")):
            won.append(i)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(won) == 6 and led.available() == D("100")
