"""Buying-power reservations (P5): check and reserve in one step."""

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


def test_consume_spends_and_credit_returns():
    led = BuyingPowerLedger(D("1000"))
    led.reserve("a", D("600"))
    led.consume("a", D("590"))  # filled a little better than reserved
    snap = led.snapshot()
    assert snap.cash == D("410") and snap.reserved == D("10") and snap.available == D("400")
    led.release("a")
    led.credit(D("590"))
    assert led.available() == D("1000")


def test_refresh_read_before_a_fill_is_ignored():
    led = BuyingPowerLedger(D("1000"))
    epoch = led.epoch  # the poller reads this, then calls funds()
    led.reserve("a", D("500"))
    led.consume("a", D("500"))  # a fill lands while funds() is in flight
    assert not led.refresh(D("1000"), epoch=epoch)  # the stale reply would give the cash back
    assert led.available() == D("500")
    assert led.refresh(D("480"), epoch=led.epoch)
    assert led.available() == D("480")


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
