"""Risk manager: limits, atomic slots, loss limit with IST day rollover, kill switch."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time

from live.clock import IST, ManualClock, WallClock
from live.risk import RiskCode, RiskDecision, RiskLimits, RiskManager, SlotState

from .helpers import at


def limits(**kw) -> RiskLimits:
    base = dict(daily_loss_limit=Decimal("5000"), max_open_positions=2, min_qty=1, max_qty=1000)
    base.update(kw)
    return RiskLimits(**base)


@pytest.fixture
def clock():
    return ManualClock(at(9, 15))


@pytest.fixture
def risk(clock):
    return RiskManager(limits(), clock)


# --- limits validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(daily_loss_limit=5000.0), "daily_loss_limit"),
        (dict(daily_loss_limit=Decimal("-1")), "daily_loss_limit"),
        (dict(daily_loss_limit=Decimal("NaN")), "daily_loss_limit"),
        (dict(max_open_positions=0), "max_open_positions"),
        (dict(max_open_positions=True), "max_open_positions"),
        (dict(min_qty=0), "min_qty"),
        (dict(max_qty=0), "max_qty"),
        (dict(min_qty=10, max_qty=5), "max_qty"),
    ],
)
def test_bad_limits_are_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        limits(**kw)


def test_decisions_and_snapshots_are_frozen(risk):
    d = risk.check_entry("NSE:SBIN", 10, at(9, 20))
    assert d == RiskDecision(True, "ok", RiskCode.OK) and bool(d)
    with pytest.raises(FrozenInstanceError):
        d.allowed = False  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        risk.snapshot().realized_pnl = Decimal(0)  # type: ignore[misc]


# --- slots ------------------------------------------------------------------------------


def test_try_open_reserves_and_check_entry_does_not(risk):
    assert risk.check_entry("NSE:SBIN", 10, at(9, 20)).allowed
    assert risk.snapshot().slots_used == 0
    assert risk.try_open("NSE:SBIN", 10, at(9, 20)).allowed
    assert risk.snapshot().slots == (("NSE:SBIN", SlotState.RESERVED),)
    # A second entry of the same symbol (the other side of a two-sided
    # strategy) shares its reserved slot; a position blocks any more.
    assert risk.try_open("nse:sbin", 10, at(9, 21)).allowed
    assert risk.snapshot().slots_used == 1
    assert risk.try_open("NSE:INFY", 10, at(9, 21)).allowed
    full = risk.try_open("NSE:TCS", 10, at(9, 22))
    assert not full.allowed and full.code is RiskCode.MAX_POSITIONS and "2/2" in full.reason
    assert risk.check_entry("NSE:TCS", 10, at(9, 22)).code is RiskCode.MAX_POSITIONS
    assert risk.release("NSE:SBIN") and risk.snapshot().slots_used == 2  # one entry still holds it
    risk.position_opened("NSE:SBIN")
    again = risk.try_open("NSE:SBIN", 10, at(9, 23))
    assert not again.allowed and again.code is RiskCode.SLOT_HELD


def test_release_and_close_free_slots_but_release_never_frees_a_position(risk):
    risk.try_open("NSE:SBIN", 10, at(9, 20))
    risk.try_open("NSE:INFY", 10, at(9, 20))
    risk.position_opened("NSE:SBIN")
    assert risk.release("NSE:SBIN") is False  # an open position is freed only by closing
    assert risk.release("NSE:INFY") is True
    assert risk.release("NSE:INFY") is False
    assert dict(risk.snapshot().slots) == {"NSE:SBIN": SlotState.OPEN}
    assert risk.try_open("NSE:TCS", 10, at(9, 30)).allowed
    assert risk.try_open("NSE:WIPRO", 10, at(9, 30)).code is RiskCode.MAX_POSITIONS
    assert risk.position_closed("NSE:SBIN") is True
    assert risk.position_closed("NSE:SBIN") is False
    assert risk.try_open("NSE:WIPRO", 10, at(9, 31)).allowed


def test_position_found_at_restart_counts_even_beyond_the_limit(risk):
    for k in ("NSE:A", "NSE:B", "NSE:C"):
        risk.position_opened(k)  # recovery: these positions exist at the broker
    snap = risk.snapshot()
    assert snap.slots_used == 3 and snap.slots_free == 0
    assert risk.try_open("NSE:D", 1, at(9, 20)).code is RiskCode.MAX_POSITIONS


def test_try_open_from_many_threads_never_exceeds_max_open_positions(clock):
    for max_open in (1, 3, 5):
        risk = RiskManager(limits(max_open_positions=max_open), clock)
        n = 16
        barrier = threading.Barrier(n)
        allowed: list[str] = []
        lock = threading.Lock()

        def go(i, risk=risk, barrier=barrier, allowed=allowed, lock=lock):
            barrier.wait(timeout=10)
            if risk.try_open(f"NSE:S{i}", 10, at(9, 20)).allowed:
                with lock:
                    allowed.append(f"NSE:S{i}")

        threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert len(allowed) == max_open
        assert {k for k, _ in risk.snapshot().slots} == set(allowed)


class _NaiveRisk(RiskManager):
    """The seed's check-then-act: check, (another thread runs), reserve.
    The gate makes every thread check before any reserves."""

    def __init__(self, *a, gate: threading.Barrier, **kw):
        super().__init__(*a, **kw)
        self._gate = gate

    def try_open(self, key, qty, ts):
        d = self.check_entry(key, qty, ts)
        self._gate.wait(timeout=10)
        if d.allowed:
            with self._lock:
                self._slots[key] = SlotState.RESERVED
        return d


def _race_opens(risk: RiskManager, n: int) -> int:
    barrier = threading.Barrier(n)
    allowed = []

    def go(i):
        barrier.wait(timeout=10)
        if risk.try_open(f"NSE:S{i}", 10, at(9, 20)).allowed:
            allowed.append(i)  # list.append is atomic

    threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return len(allowed)


def test_the_race_harness_catches_a_check_then_act_variant(clock):
    """Proof the thread test above can fail: the same race against a naive
    check-then-reserve lets every thread through."""
    n = 8
    naive = _NaiveRisk(limits(max_open_positions=2), clock, gate=threading.Barrier(n))
    assert _race_opens(naive, n) == n  # 8 slots taken with a limit of 2
    assert _race_opens(RiskManager(limits(max_open_positions=2), clock), n) == 2


def test_slot_churn_from_threads_keeps_the_invariant(clock):
    """Threads repeatedly take, hold and give back slots; the number held at
    once (counted independently by the holders) never exceeds the limit."""
    max_open = 3
    risk = RiskManager(limits(max_open_positions=max_open), clock)
    held = 0
    peak = 0
    count_lock = threading.Lock()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def churn(i):
        try:
            _churn(i)
        except BaseException as e:  # surface thread failures in the test
            errors.append(e)

    def _churn(i):
        nonlocal held, peak
        barrier.wait(timeout=10)
        key = f"NSE:S{i}"
        for round_ in range(300):
            if risk.try_open(key, 10, at(9, 20)).allowed:
                with count_lock:
                    held += 1
                    peak = max(peak, held)
                    assert held <= max_open
                with count_lock:
                    held -= 1
                if round_ % 2:
                    risk.position_opened(key)
                    assert risk.position_closed(key)
                else:
                    assert risk.release(key)

    threads = [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert 1 <= peak <= max_open
    assert risk.snapshot().slots_used == 0


# --- quantity -----------------------------------------------------------------------------


def test_quantity_bounds(clock):
    risk = RiskManager(limits(min_qty=5, max_qty=100), clock)
    assert risk.try_open("NSE:SBIN", 4, at(9, 20)).code is RiskCode.QTY_BELOW_MIN
    assert risk.try_open("NSE:SBIN", 0, at(9, 20)).code is RiskCode.QTY_BELOW_MIN
    assert risk.try_open("NSE:SBIN", 101, at(9, 20)).code is RiskCode.QTY_ABOVE_MAX
    assert risk.snapshot().slots_used == 0  # refusals take no slot
    assert risk.try_open("NSE:SBIN", 5, at(9, 20)).allowed


@pytest.mark.parametrize(
    "key, qty, ts, match",
    [
        ("NSE:SBIN", 1.5, at(9, 20), "qty"),
        ("NSE:SBIN", True, at(9, 20), "qty"),
        ("NSE:SBIN", "10", at(9, 20), "qty"),
        ("SBIN", 10, at(9, 20), "EXCHANGE:SYMBOL"),
        ("NSE:SBIN", 10, datetime(2026, 11, 20, 9, 20), "timezone"),
    ],
)
def test_bad_input_is_a_value_error_and_takes_no_slot(risk, key, qty, ts, match):
    with pytest.raises(ValueError, match=match):
        risk.try_open(key, qty, ts)
    assert risk.snapshot().slots_used == 0


# --- daily loss limit and rollover ----------------------------------------------------------


def test_loss_limit_reached_exactly_refuses_and_stays_for_the_day(risk):
    risk.record_realized("NSE:SBIN", Decimal("-3000"), at(10, 0))
    assert risk.check_entry("NSE:INFY", 10, at(10, 1)).allowed
    risk.record_realized("NSE:INFY", Decimal("-2000.00"), at(10, 5))
    d = risk.try_open("NSE:TCS", 10, at(10, 6))
    assert not d.allowed and d.code is RiskCode.LOSS_LIMIT and "-5000" in d.reason
    # A later profit does not re-open the day: the limit, once hit, holds.
    risk.record_realized("NSE:SBIN", Decimal("1500"), at(11, 0))
    assert risk.try_open("NSE:TCS", 10, at(11, 1)).code is RiskCode.LOSS_LIMIT
    snap = risk.snapshot()
    assert snap.loss_limit_hit and snap.realized_pnl == Decimal("-3500.00")
    assert dict(snap.realized_by_key) == {
        "NSE:SBIN": Decimal("-1500"),
        "NSE:INFY": Decimal("-2000.00"),
    }


def test_realized_must_be_decimal(risk):
    with pytest.raises(ValueError, match="pnl"):
        risk.record_realized("NSE:SBIN", -100.5, at(10, 0))
    with pytest.raises(ValueError, match="pnl"):
        risk.record_realized("NSE:SBIN", Decimal("Infinity"), at(10, 0))
    assert risk.snapshot().realized_pnl == 0


def test_day_rollover_resets_loss_limit_with_manual_clock(clock, risk):
    """The 004 incident: a daily start equity never reset kept yesterday's
    loss blocking today. Here the next IST day starts clean."""
    risk.record_realized("NSE:SBIN", Decimal("-6000"), at(14, 0))
    risk.try_open("NSE:INFY", 10, at(14, 1))
    risk.position_opened("NSE:INFY")
    assert risk.check_entry("NSE:TCS", 10, at(15, 0)).code is RiskCode.LOSS_LIMIT
    clock.set(at(9, 15, day=23))  # Monday
    snap = risk.snapshot()
    assert snap.day == date(2026, 11, 23)
    assert snap.realized_pnl == 0 and not snap.loss_limit_hit
    assert dict(snap.slots) == {"NSE:INFY": SlotState.OPEN}  # positions are not forgotten
    assert risk.try_open("NSE:TCS", 10, at(9, 16, day=23)).allowed


def test_the_day_follows_the_engines_clock_never_an_event(risk, clock):
    """Issue 10, case 7: one tick stamped tomorrow used to roll the risk day
    forward and clear the loss limit for the rest of the session."""
    risk.record_realized("NSE:SBIN", Decimal("-5000"), at(15, 0))
    assert risk.check_entry("NSE:SBIN", 10, at(9, 15, day=21)).code is RiskCode.LOSS_LIMIT
    assert risk.snapshot().day == date(2026, 11, 20)
    # A late P&L stamped yesterday does not count against today...
    clock.set(at(9, 15, day=23))
    risk.record_realized("NSE:SBIN", Decimal("-9000"), at(15, 20))
    assert risk.check_entry("NSE:SBIN", 10, at(9, 16, day=23)).allowed
    # ...and an old timestamp does not roll the day back.
    assert risk.snapshot().day == date(2026, 11, 23)


def test_rollover_is_at_ist_midnight_not_utc():
    # 23:59 IST on the 20th is 18:29 UTC; 00:00 IST on the 21st is 18:30 UTC.
    clock = ManualClock(datetime(2026, 11, 20, 18, 29, tzinfo=IST))
    risk = RiskManager(limits(), clock)
    risk.record_realized("NSE:SBIN", Decimal("-5000"), datetime(2026, 11, 20, 23, 59, tzinfo=IST))
    clock.set(datetime(2026, 11, 20, 18, 29, 59, tzinfo=UTC))  # still the 20th in IST
    assert risk.check_entry("NSE:SBIN", 1, clock.now()).code is RiskCode.LOSS_LIMIT
    clock.set(datetime(2026, 11, 20, 18, 30, tzinfo=UTC))  # 00:00 on the 21st, IST
    assert risk.check_entry("NSE:SBIN", 1, clock.now()).allowed


def test_loss_limit_counts_open_positions_marked_to_market(risk):
    risk.record_realized("NSE:SBIN", Decimal("-3000"), at(11, 0))
    assert risk.brake() is None
    risk.mark("NSE:INFY", Decimal("-1500"))
    assert risk.brake() is None
    risk.mark("NSE:INFY", Decimal("-2100"))  # -3000 realized - 2100 open <= -5000
    assert "loss limit" in risk.brake()
    risk.mark("NSE:INFY", Decimal("500"))  # recovering does not unlatch it today
    assert "loss limit" in risk.brake()
    assert risk.check_entry("NSE:TCS", 1, at(11, 5)).code is RiskCode.LOSS_LIMIT


def test_day_rollover_with_freezegun_and_wall_clock():
    with freeze_time("2026-11-20T14:00:00+05:30") as frozen:
        clock = WallClock()
        risk = RiskManager(limits(), clock)
        risk.record_realized("NSE:SBIN", Decimal("-7000"), clock.now())
        assert risk.check_entry("NSE:SBIN", 1, clock.now()).code is RiskCode.LOSS_LIMIT
        frozen.tick(timedelta(hours=19, minutes=15))  # 09:15 next day
        assert risk.snapshot().realized_pnl == 0
        assert risk.check_entry("NSE:SBIN", 1, clock.now()).allowed


# --- kill switch -----------------------------------------------------------------------------


def test_kill_switch_method(risk):
    risk.kill("operator: feed unreliable")
    d = risk.try_open("NSE:SBIN", 10, at(9, 20))
    assert not d.allowed and d.code is RiskCode.KILLED and "feed unreliable" in d.reason
    assert risk.killed and risk.snapshot().kill_reason == "operator: feed unreliable"
    clock_next_day = at(9, 20, day=23)
    assert risk.check_entry("NSE:SBIN", 10, clock_next_day).code is RiskCode.KILLED
    risk.clear_kill()
    assert risk.try_open("NSE:SBIN", 10, clock_next_day).allowed


def test_kill_switch_file(tmp_path, clock):
    stop = tmp_path / "STOP"
    risk = RiskManager(limits(kill_switch_file=stop), clock)
    assert risk.check_entry("NSE:SBIN", 10, at(9, 20)).allowed
    stop.touch()
    d = risk.try_open("NSE:SBIN", 10, at(9, 21))
    assert d.code is RiskCode.KILL_FILE and str(stop) in d.reason
    assert risk.snapshot().killed and risk.snapshot().slots_used == 0
    stop.unlink()
    assert risk.try_open("NSE:SBIN", 10, at(9, 22)).allowed


def test_kill_switch_file_given_as_str_is_a_path(tmp_path, clock):
    lim = limits(kill_switch_file=str(tmp_path / "STOP"))
    (tmp_path / "STOP").touch()
    assert RiskManager(lim, clock).check_entry("NSE:SBIN", 1, at(9, 20)).code is RiskCode.KILL_FILE
