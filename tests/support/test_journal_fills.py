"""record_update by live/orders.py's rule: unknown counts, unpriced fills,
and agreement with the rule the executor uses."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from live.broker import Action, OrderRequest, OrderStatus, OrderUpdate, PriceType
from live.journal import Journal
from live.orders import Known, advance, is_news

from .helpers import at

DAY = date(2026, 11, 20)
KEY = "NSE:SBIN"
S = OrderStatus


def upd(status, qty=10, filled=None, avg="0", oid="E1", **kw) -> OrderUpdate:
    return OrderUpdate(oid, "SBIN", "NSE", Action.BUY, status, qty, filled, Decimal(avg), **kw)


def placed(j: Journal, qty=10, oid="E1") -> None:
    iid = j.claim_entry(KEY, DAY, 1, at(9, 20))
    r = OrderRequest("SBIN", "NSE", Action.BUY, qty, PriceType.LIMIT, price=Decimal("512.50"))
    j.record_order(iid, KEY, "entry", oid, r, at(9, 20))


def test_cancelled_row_without_a_count_keeps_the_known_count():
    """A stop partly filled, then cancelled, seen only in the orderbook
    (no filled quantity): a cancel, not "filled 0"."""
    with Journal.in_memory() as j:
        placed(j)
        j.record_update(upd(S.PARTIAL, filled=4, avg="512.40"), at(9, 21))
        assert j.record_update(upd(S.CANCELLED), at(9, 22))
        o = j.order("E1")
        assert o.status is S.CANCELLED and o.filled_quantity == 4
        assert o.average_price == Decimal("512.40")
        assert [(f.quantity, f.price) for f in j.fills()] == [(4, Decimal("512.40"))]
        # The same row again is a repeat.
        assert j.record_update(upd(S.CANCELLED), at(9, 23)) is False


def test_cancelled_row_then_the_true_count_arrives():
    """The tradebook/stream may tell of fills the orderbook row did not: a
    terminal state keeps its status but its count may still grow."""
    with Journal.in_memory() as j:
        placed(j)
        j.record_update(upd(S.PARTIAL, filled=4, avg="512.40"), at(9, 21))
        j.record_update(upd(S.CANCELLED), at(9, 22))
        assert j.record_update(upd(S.CANCELLED, filled=6, avg="512.50"), at(9, 23))
        o = j.order("E1")
        assert o.status is S.CANCELLED and o.filled_quantity == 6
        assert [(f.quantity, f.price) for f in j.fills()] == [
            (4, Decimal("512.40")),
            (2, Decimal("512.7000")),
        ]


def test_stale_row_without_a_count_is_not_news():
    with Journal.in_memory() as j:
        placed(j)
        j.record_update(upd(S.OPEN, filled=4, avg="512.40"), at(9, 21))
        for stale in (upd(S.OPEN), upd(S.TRIGGER_PENDING), upd(S.OPEN, filled=2, avg="512")):
            assert j.record_update(stale, at(9, 22)) is False
        o = j.order("E1")
        assert o.status is S.PARTIAL and o.filled_quantity == 4


def test_partial_with_average_0_is_stored_unpriced_then_priced():
    """OpenAlgo reports average 0 until the order completes: the partial is
    not a fill at price 0; the complete's average prices it with the rest."""
    with Journal.in_memory() as j:
        placed(j)
        assert j.record_update(upd(S.OPEN, filled=4), at(9, 21))
        (f,) = j.fills()
        assert f.quantity == 4 and f.price is None and f.average_price is None
        assert not f.is_priced
        o = j.order("E1")
        assert o.status is S.PARTIAL and o.average_price == Decimal(0)
        assert j.record_update(upd(S.COMPLETE, filled=10, avg="512.30"), at(9, 22))
        fills = j.fills()
        assert [(f.quantity, f.price) for f in fills] == [
            (4, Decimal("512.30")),
            (6, Decimal("512.30")),
        ]
        assert [f.average_price for f in fills] == [None, Decimal("512.30")]
        assert j.order("E1").average_price == Decimal("512.30")


def test_unpriced_slices_after_a_priced_one():
    with Journal.in_memory() as j:
        placed(j)
        j.record_update(upd(S.OPEN, filled=2, avg="510"), at(9, 21))
        j.record_update(upd(S.OPEN, filled=5), at(9, 22))  # average not reported
        assert j.order("E1").average_price == Decimal(0)  # not known for 5 units
        j.record_update(upd(S.OPEN, filled=7), at(9, 23))
        j.record_update(upd(S.COMPLETE, filled=10, avg="512"), at(9, 24))
        fills = j.fills()
        # 2 @ 510 priced; the 8 after it cost (5120 - 1020) / 8 = 512.5 each.
        assert [(f.quantity, f.price) for f in fills] == [
            (2, Decimal("510")),
            (3, Decimal("512.5000")),
            (2, Decimal("512.5000")),
            (3, Decimal("512.5000")),
        ]
        total = sum(f.price * f.quantity for f in fills)
        assert total == Decimal("512") * 10


def test_a_repeat_that_brings_the_average_prices_the_unpriced_units():
    """Same status and count (not news to the rule), but now with an
    average: the journal takes the price."""
    with Journal.in_memory() as j:
        placed(j)
        j.record_update(upd(S.OPEN, filled=4), at(9, 21))
        assert j.record_update(upd(S.OPEN, filled=4, avg="512.10"), at(9, 22))
        (f,) = j.fills()
        assert f.price == Decimal("512.10")
        assert j.record_update(upd(S.OPEN, filled=4, avg="512.10"), at(9, 23)) is False


def test_complete_without_a_count_or_average():
    with Journal.in_memory() as j:
        placed(j)
        j.record_update(upd(S.COMPLETE), at(9, 21))
        (f,) = j.fills()
        assert f.quantity == 10 and f.price is None
        assert j.order("E1").status is S.COMPLETE
        # Terminal, so only its fills can still learn: the average arrives.
        assert j.record_update(upd(S.COMPLETE, filled=10, avg="511.95"), at(9, 22))
        assert j.fills()[0].price == Decimal("511.95")


def test_no_fill_ever_has_price_0_in_the_file(tmp_path):
    with Journal(tmp_path / "j.db") as j:
        placed(j)
        j.record_update(upd(S.OPEN, filled=3), at(9, 21))
        j.record_update(upd(S.CANCELLED, filled=3), at(9, 22))
        (f,) = j.fills()
        assert f.price is None
    import sqlite3

    raw = sqlite3.connect(tmp_path / "j.db")
    assert raw.execute("SELECT price, average_price FROM fills").fetchall() == [(None, None)]
    raw.close()


# --- the journal decides "news" exactly as live.orders does --------------------------

_STATES = [S.TRIGGER_PENDING, S.OPEN, S.PARTIAL, S.COMPLETE, S.CANCELLED, S.REJECTED]


def _update(status: S, filled: int | None, qty: int) -> OrderUpdate:
    if status is S.REJECTED:
        filled = 0 if filled is not None else None
    if status is S.PARTIAL and filled in (None, 0, qty):
        status = S.OPEN
    return upd(status, qty=qty, filled=filled)


@settings(max_examples=150, deadline=None)
@given(
    qty=st.integers(1, 20),
    seq=st.lists(
        st.tuples(st.sampled_from(_STATES), st.one_of(st.none(), st.integers(0, 20))),
        min_size=1,
        max_size=10,
    ),
)
def test_status_and_count_follow_live_orders(qty, seq):
    """Any sequence of updates (broker-normalized: PARTIAL iff a stated
    count is partial) leaves the journal where live.orders's rule leaves a
    Known, and each record_update reports a change exactly when the rule
    calls the update news."""
    with Journal.in_memory() as j:
        iid = j.claim_entry(KEY, DAY, 1, at(9, 20))
        r = OrderRequest(
            "SBIN", "NSE", Action.BUY, qty, PriceType.SL, price=Decimal(5), trigger_price=Decimal(5)
        )
        j.record_order(iid, KEY, "entry", "E1", r, at(9, 20))
        known = Known(S.TRIGGER_PENDING, 0)
        for status, filled in seq:
            f = None if filled is None else min(filled, qty)
            if status.is_working and f is not None and 0 < f < qty:
                status = S.PARTIAL
            u = _update(status, f, qty)
            news = is_news(u, known)
            assert j.record_update(u, at(9, 30)) is news, (u, known)
            if news:
                known = advance(u, known)
            o = j.order("E1")
            assert (o.status, o.filled_quantity) == (known.status, known.filled)
        assert sum(f.quantity for f in j.fills()) == known.filled


@settings(max_examples=60, deadline=None)
@given(
    qty=st.integers(2, 40),
    cuts=st.lists(st.integers(1, 39), min_size=1, max_size=5, unique=True),
    priced=st.lists(st.booleans(), min_size=6, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_fill_prices_add_up_to_the_final_average_in_any_delivery_order(qty, cuts, priced, seed):
    """Slices at 500 + cumulative/10 reported OpenAlgo-style (some partials
    with average 0), delivered shuffled: once the complete report with its
    average is in, every fill is priced and the prices add up to it."""
    counts = sorted({c for c in cuts if c < qty}) + [qty]
    ups, cost, prev = [], Decimal(0), 0
    for n, c in enumerate(counts):
        cost += (c - prev) * (Decimal(500) + Decimal(c) / 10)
        prev = c
        avg = cost / c if (priced[n % 6] or c == qty) else Decimal(0)
        ups.append(upd(S.COMPLETE if c == qty else S.PARTIAL, qty=qty, filled=c, avg=str(avg)))
    random.Random(seed).shuffle(ups)
    with Journal.in_memory() as j:
        placed(j, qty=qty)
        for u in ups:
            j.record_update(u, at(9, 30))
        fills = j.fills()
        assert all(f.price is not None and f.price > 0 for f in fills)
        total = sum(f.price * f.quantity for f in fills)
        assert abs(total - cost) <= Decimal("0.0001") * qty
        assert j.order("E1").filled_quantity == qty
