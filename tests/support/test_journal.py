"""The journal in one process: schema, claims, binding, updates, fills, threads."""

from __future__ import annotations

import random
import sqlite3
import threading
from dataclasses import FrozenInstanceError
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live.broker import Action, OrderRequest, OrderStatus, OrderUpdate, PriceType
from live.journal import (
    SCHEMA_VERSION,
    UNBOUND_ROLE,
    IntentState,
    Journal,
    JournalClosedError,
)

from .helpers import at

DAY = date(2026, 11, 20)
KEY = "NSE:SBIN"


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.db")
    yield j
    j.close()


def req(qty=10, pt=PriceType.SL, price="512.05", trigger="511.95", action=Action.BUY, sym="SBIN"):
    return OrderRequest(
        symbol=sym,
        exchange="NSE",
        action=action,
        quantity=qty,
        price_type=pt,
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger is None else Decimal(trigger),
    )


def upd(order_id, status, qty=10, filled=None, avg="0", sym="SBIN", action=Action.BUY, **kw):
    return OrderUpdate(
        order_id=order_id,
        symbol=sym,
        exchange="NSE",
        action=action,
        status=status,
        quantity=qty,
        filled_quantity=filled,
        average_price=Decimal(avg),
        **kw,
    )


# --- schema and files ---------------------------------------------------------


def test_wal_mode_and_schema_version(tmp_path):
    path = tmp_path / "j.db"
    with Journal(path) as j:
        assert j.journal_mode() == "wal"
        assert j.schema_version() == SCHEMA_VERSION
    # An independent connection sees WAL persisted in the file and one version row.
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    raw.close()
    with Journal(path) as j:  # reopening does not add a second version row
        assert j.schema_version() == SCHEMA_VERSION
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    raw.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(ValueError, match="newer than this code"):
        Journal(path)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite at all, just some bytes " * 50)
    with pytest.raises(ValueError, match="not a usable SQLite journal"):
        Journal(path)


def test_in_memory_is_wal_and_cleans_up():
    j = Journal.in_memory()
    folder = j.path.parent
    assert j.journal_mode() == "wal"
    assert j.claim_entry(KEY, DAY, 1, at(9, 20)) is not None
    j.close()
    assert not folder.exists()


def test_closed_journal_raises(journal):
    journal.close()
    with pytest.raises(JournalClosedError):
        journal.claim_entry(KEY, DAY, 1, at(9, 20))


# --- claims ---------------------------------------------------------------------


def test_claim_entry_once_per_attempt_day_and_key(journal):
    first = journal.claim_entry(KEY, DAY, 1, at(9, 20))
    assert isinstance(first, int)
    assert journal.claim_entry(KEY, DAY, 1, at(9, 21)) is None
    assert journal.claim_entry("nse:sbin", DAY, 1, at(9, 21)) is None  # same key, normalized
    assert isinstance(journal.claim_entry(KEY, DAY, 2, at(9, 22)), int)
    assert isinstance(journal.claim_entry("NSE:INFY", DAY, 1, at(9, 22)), int)
    assert isinstance(journal.claim_entry(KEY, date(2026, 11, 23), 1, at(9, 20, day=23)), int)
    assert journal.entries_claimed(KEY, DAY) == 2
    assert journal.entries_claimed("NSE:INFY", DAY) == 1
    assert journal.entries_claimed("NSE:TCS", DAY) == 0


@pytest.mark.parametrize(
    "args, match",
    [
        (("SBIN", DAY, 1, at(9, 20)), "EXCHANGE:SYMBOL"),
        ((KEY, DAY, 0, at(9, 20)), "attempt"),
        ((KEY, DAY, True, at(9, 20)), "attempt"),
        ((KEY, DAY, "1", at(9, 20)), "attempt"),
        ((KEY, at(9, 0), 1, at(9, 20)), "day"),
        ((KEY, "2026-11-20", 1, at(9, 20)), "day"),
        ((KEY, DAY, 1, datetime(2026, 11, 20, 9, 20)), "timezone"),
    ],
)
def test_claim_entry_bad_input_is_rejected_and_writes_nothing(journal, args, match):
    with pytest.raises(ValueError, match=match):
        journal.claim_entry(*args)
    assert journal.intents() == []


def test_claim_entry_from_8_threads_exactly_one_wins(journal):
    for attempt in range(1, 6):
        barrier = threading.Barrier(8)
        results: list[int | None] = []
        lock = threading.Lock()

        def claim(attempt=attempt, barrier=barrier, results=results, lock=lock):
            barrier.wait(timeout=10)
            r = journal.claim_entry(KEY, DAY, attempt, at(9, 20))
            with lock:
                results.append(r)

        threads = [threading.Thread(target=claim, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert len(results) == 8
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, results
    assert journal.entries_claimed(KEY, DAY) == 5


def test_claim_entry_two_connections_same_file_threads(tmp_path):
    """Two Journal objects (two SQLite connections, as two processes would
    have) racing from 8 threads: still exactly one winner per attempt."""
    a, b = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")
    try:
        barrier = threading.Barrier(8)
        won: list[tuple[int, int]] = []
        lock = threading.Lock()

        def run(j):
            barrier.wait(timeout=10)
            for attempt in range(1, 11):
                r = j.claim_entry(KEY, DAY, attempt, at(9, 20))
                if r is not None:
                    with lock:
                        won.append((attempt, r))

        threads = [
            threading.Thread(target=run, args=(a if i % 2 else b,), daemon=True) for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(att for att, _ in won) == list(range(1, 11))
        assert a.entries_claimed(KEY, DAY) == 10
    finally:
        a.close()
        b.close()


# --- intents, orders, failures ----------------------------------------------------


def test_record_order_binds_intent_and_stores_exact_decimal_text(journal, tmp_path):
    iid = journal.claim_entry(KEY, DAY, 1, at(9, 20))
    assert [i.id for i in journal.unbound_intents()] == [iid]
    journal.record_order(
        iid, KEY, "entry", "OID-1", req(price="512.05", trigger="511.95"), at(9, 20)
    )
    assert journal.unbound_intents() == []
    (o,) = journal.orders(KEY, DAY)
    assert o.order_id == "OID-1" and o.role == "entry" and o.intent_id == iid
    assert o.price == Decimal("512.05") and o.trigger_price == Decimal("511.95")
    assert o.status is OrderStatus.TRIGGER_PENDING and o.filled_quantity == 0
    assert o.action is Action.BUY and o.price_type is PriceType.SL and o.quantity == 10
    assert o.placed_at == at(9, 20)
    with pytest.raises(FrozenInstanceError):
        o.status = OrderStatus.COMPLETE  # type: ignore[misc]
    raw = sqlite3.connect(journal.path)
    types = raw.execute("SELECT typeof(price), typeof(trigger_price), price FROM orders").fetchone()
    raw.close()
    assert types == ("text", "text", "512.05")
    (intent,) = journal.intents()
    assert intent.state is IntentState.BOUND and intent.attempt == 1 and intent.role == "entry"


def test_record_intent_with_detail_and_failure(journal):
    iid = journal.record_intent(KEY, "stop", at(10, 0), {"trigger": Decimal("498.35"), "qty": 10})
    (pending,) = journal.unbound_intents(KEY)
    assert pending.id == iid and pending.detail == {"trigger": "498.35", "qty": 10}
    assert pending.attempt is None and pending.day == DAY
    journal.record_failure(iid, KEY, "stop", "OrderRejected: price band", at(10, 0, 1))
    assert journal.unbound_intents() == []
    (failed,) = journal.intents(state=IntentState.FAILED)
    assert failed.error == "OrderRejected: price band"
    assert journal.orders() == []


def test_record_failure_without_intent_is_still_recorded(journal):
    journal.record_failure(None, KEY, "exit", "BrokerTimeout", at(15, 16))
    (failed,) = journal.intents()
    assert failed.state is IntentState.FAILED and failed.role == "exit"
    assert failed.error == "BrokerTimeout"
    assert journal.unbound_intents() == []


def test_failure_after_binding_keeps_the_order_visible(journal):
    iid = journal.record_intent(KEY, "stop", at(10, 0))
    journal.record_order(iid, KEY, "stop", "S1", req(action=Action.SELL), at(10, 0))
    journal.record_failure(iid, KEY, "stop", "late error", at(10, 0, 2))
    (intent,) = journal.intents()
    assert intent.state is IntentState.BOUND and intent.error == "late error"
    assert [o.order_id for o in journal.open_orders()] == ["S1"]


def test_entry_role_must_use_claim_entry(journal):
    with pytest.raises(ValueError, match="claim_entry"):
        journal.record_intent(KEY, "entry", at(9, 20))
    assert journal.intents() == []


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda j, iid: j.record_order(9999, KEY, "entry", "X", req(), at(9, 20)),
         "does not exist"),
        (lambda j, iid: j.record_order(iid, "NSE:INFY", "entry", "X", req(sym="INFY"), at(9, 20)),
         "belongs to NSE:SBIN"),
        (lambda j, iid: j.record_order(iid, KEY, "entry", "X", req(sym="INFY"), at(9, 20)),
         "request: is for NSE:INFY"),
        (lambda j, iid: j.record_order(iid, KEY, "entry", "", req(), at(9, 20)), "order_id"),
        (lambda j, iid: j.record_order(iid, KEY, "", "X", req(), at(9, 20)), "role"),
        (lambda j, iid: j.record_order(iid, KEY, "entry", "X", {"qty": 1}, at(9, 20)),
         "OrderRequest"),
        (lambda j, iid: j.record_intent(KEY, "stop", at(9, 20), detail=[1]), "detail"),
    ],
)  # fmt: skip
def test_bad_binding_input_is_rejected_and_changes_nothing(journal, mutate, match):
    iid = journal.claim_entry(KEY, DAY, 1, at(9, 20))
    with pytest.raises(ValueError, match=match):
        mutate(journal, iid)
    assert journal.orders(include_unbound=True) == []
    assert [i.id for i in journal.unbound_intents()] == [iid]


# --- updates ------------------------------------------------------------------------


def _placed(journal, oid="E1", pt=PriceType.SL, qty=10):
    iid = journal.claim_entry(KEY, DAY, 1, at(9, 20))
    r = req(pt=pt, qty=qty) if pt is PriceType.SL else req(pt=pt, qty=qty, trigger=None)
    journal.record_order(iid, KEY, "entry", oid, r, at(9, 20))
    return iid


def test_older_update_never_overwrites_newer(journal):
    _placed(journal)
    assert journal.record_update(
        upd("E1", OrderStatus.COMPLETE, filled=10, avg="512.10"), at(9, 25)
    )
    for stale in (
        upd("E1", OrderStatus.TRIGGER_PENDING),
        upd("E1", OrderStatus.OPEN),
        upd("E1", OrderStatus.OPEN, filled=4, avg="512.00"),
        upd("E1", OrderStatus.CANCELLED, filled=10, avg="512.10"),
    ):
        assert journal.record_update(stale, at(9, 26)) is False
    (o,) = journal.orders()
    assert o.status is OrderStatus.COMPLETE and o.filled_quantity == 10
    assert o.average_price == Decimal("512.10")
    assert journal.open_orders() == []


def test_older_working_state_never_overwrites_a_newer_working_state(journal):
    _placed(journal)
    journal.record_update(upd("E1", OrderStatus.OPEN), at(9, 21))
    assert journal.record_update(upd("E1", OrderStatus.TRIGGER_PENDING), at(9, 22)) is False
    assert journal.order("E1").status is OrderStatus.OPEN
    journal.record_update(upd("E1", OrderStatus.OPEN, filled=4, avg="512"), at(9, 23))
    assert journal.order("E1").status is OrderStatus.PARTIAL
    for stale in (upd("E1", OrderStatus.OPEN), upd("E1", OrderStatus.TRIGGER_PENDING)):
        assert journal.record_update(stale, at(9, 24)) is False
    o = journal.order("E1")
    assert o.status is OrderStatus.PARTIAL and o.filled_quantity == 4
    assert journal.open_orders()[0].order_id == "E1"


def test_partial_fills_are_recorded_as_deltas(journal):
    _placed(journal)
    journal.record_update(upd("E1", OrderStatus.OPEN), at(9, 21))
    journal.record_update(upd("E1", OrderStatus.OPEN, filled=4, avg="512"), at(9, 22))
    (o,) = journal.orders()
    assert o.status is OrderStatus.PARTIAL  # derived: working with 0 < filled < qty
    journal.record_update(upd("E1", OrderStatus.PARTIAL, filled=4, avg="512"), at(9, 22))  # dup
    journal.record_update(upd("E1", OrderStatus.PARTIAL, filled=3, avg="512"), at(9, 23))  # old
    journal.record_update(upd("E1", OrderStatus.COMPLETE, filled=10, avg="512.3"), at(9, 24))
    fills = journal.fills(KEY, DAY)
    assert [(f.quantity, f.cumulative_quantity) for f in fills] == [(4, 4), (6, 10)]
    assert fills[0].price == Decimal("512") and fills[1].price == Decimal("512.5")
    assert fills[1].average_price == Decimal("512.3")
    assert sum(f.quantity for f in fills) == 10
    assert {f.role for f in fills} == {"entry"} and fills[0].action is Action.BUY


def test_complete_without_filled_count_fills_whole_quantity(journal):
    _placed(journal, pt=PriceType.MARKET)
    journal.record_update(upd("E1", OrderStatus.COMPLETE, avg="511.9"), at(9, 21))
    (f,) = journal.fills()
    assert f.quantity == 10 and f.price == Decimal("511.9")


def test_cancelled_after_partial_keeps_fills_and_is_terminal(journal):
    _placed(journal)
    journal.record_update(upd("E1", OrderStatus.OPEN, filled=4, avg="512"), at(9, 22))
    journal.record_update(upd("E1", OrderStatus.CANCELLED, filled=4, avg="512"), at(9, 23))
    journal.record_update(upd("E1", OrderStatus.OPEN, filled=4, avg="512"), at(9, 24))
    (o,) = journal.orders()
    assert o.status is OrderStatus.CANCELLED and o.filled_quantity == 4
    assert sum(f.quantity for f in journal.fills()) == 4


def test_trigger_modification_is_kept_and_only_progress_orders_updates(journal):
    """A trailed stop's new trigger is taken from any update that is not
    older by progress. Broker timestamps take no part (orderbook rows and
    stream updates stamp different events): at equal progress the update
    applied last wins, and an update with less progress changes nothing."""
    iid = journal.record_intent(KEY, "stop", at(9, 30))
    journal.record_order(
        iid, KEY, "stop", "S1", req(action=Action.SELL, trigger="498.35", price="498"), at(9, 30)
    )

    def stop(status, trigger, stamp, **kw):
        return upd("S1", status, action=Action.SELL, trigger_price=Decimal(trigger),
                   timestamp=stamp, **kw)  # fmt: skip

    assert journal.record_update(stop(OrderStatus.TRIGGER_PENDING, "501.20", at(9, 40)), at(9, 40))
    assert journal.order("S1").trigger_price == Decimal("501.20")
    # An earlier broker timestamp at equal progress: still the latest word.
    assert journal.record_update(stop(OrderStatus.TRIGGER_PENDING, "502.00", at(9, 35)), at(9, 41))
    assert journal.order("S1").trigger_price == Decimal("502.00")
    journal.record_update(
        stop(OrderStatus.OPEN, "502.00", at(9, 50), filled=4, avg="501.9"), at(9, 50)
    )
    # Less progress (not yet triggered), however late its timestamp: ignored.
    assert not journal.record_update(
        stop(OrderStatus.TRIGGER_PENDING, "499.00", at(9, 55)), at(9, 55)
    )
    o = journal.order("S1")
    assert o.trigger_price == Decimal("502.00") and o.status is OrderStatus.PARTIAL
    assert o.filled_quantity == 4


def test_update_before_record_order_is_held_and_then_bound(journal):
    """The WebSocket may report a fill before place_order returns."""
    iid = journal.claim_entry(KEY, DAY, 1, at(9, 20))
    journal.record_update(upd("E9", OrderStatus.COMPLETE, filled=10, avg="512.05"), at(9, 20))
    assert journal.orders() == [] and journal.fills() == []  # not ours until bound
    (ghost,) = journal.orders(include_unbound=True)
    assert ghost.role == UNBOUND_ROLE
    journal.record_order(iid, KEY, "entry", "E9", req(), at(9, 20))
    (o,) = journal.orders()
    assert o.status is OrderStatus.COMPLETE and o.filled_quantity == 10 and o.intent_id == iid
    (f,) = journal.fills()
    assert f.quantity == 10 and f.role == "entry"


def test_update_for_another_symbol_is_rejected(journal):
    _placed(journal)
    with pytest.raises(ValueError, match="journaled for NSE:SBIN"):
        journal.record_update(upd("E1", OrderStatus.COMPLETE, sym="INFY"), at(9, 21))
    assert journal.orders()[0].status is OrderStatus.TRIGGER_PENDING


def test_open_orders_and_filters(journal):
    _placed(journal, oid="E1")
    iid = journal.record_intent("NSE:INFY", "stop", at(10, 0))
    journal.record_order(
        iid, "NSE:INFY", "stop", "S1", req(sym="INFY", action=Action.SELL), at(10, 0)
    )
    iid2 = journal.record_intent("NSE:INFY", "exit", at(10, 5, day=23))
    market = req(sym="INFY", pt=PriceType.MARKET, price=None, trigger=None)
    journal.record_order(iid2, "NSE:INFY", "exit", "X1", market, at(10, 5, day=23))
    journal.record_update(upd("E1", OrderStatus.REJECTED, rejection_reason="margin"), at(9, 21))
    assert {o.order_id for o in journal.open_orders()} == {"S1", "X1"}
    assert [o.order_id for o in journal.open_orders(KEY)] == []
    assert [o.order_id for o in journal.orders("NSE:INFY", DAY)] == ["S1"]
    assert [o.order_id for o in journal.orders(day=date(2026, 11, 23))] == ["X1"]
    assert journal.order("E1").rejection_reason == "margin"


# --- property: any delivery order converges on the most advanced state ----------------


def _progression(qty: int, steps: list[int], terminal: OrderStatus) -> list[OrderUpdate]:
    """A realistic life of one order: trigger pending, open, growing fills
    (prices 500 + cumulative/10), then a terminal state."""
    ups = [upd("P1", OrderStatus.TRIGGER_PENDING, qty=qty), upd("P1", OrderStatus.OPEN, qty=qty)]
    filled = 0
    total_cost = Decimal(0)
    for s in steps:
        if filled + s >= qty:
            break
        filled += s
        total_cost += s * (Decimal(500) + Decimal(filled) / 10)
        ups.append(
            upd("P1", OrderStatus.OPEN, qty=qty, filled=filled, avg=str(total_cost / filled))
        )
    if terminal is OrderStatus.COMPLETE:
        rest = qty - filled
        total_cost += rest * Decimal(500)
        filled = qty
    avg = str(total_cost / filled) if filled else "0"
    ups.append(upd("P1", terminal, qty=qty, filled=filled, avg=avg))
    return ups


@settings(max_examples=60, deadline=None)
@given(
    qty=st.integers(1, 50),
    steps=st.lists(st.integers(1, 10), max_size=6),
    terminal=st.sampled_from([OrderStatus.COMPLETE, OrderStatus.CANCELLED]),
    seed=st.integers(0, 2**32 - 1),
    dup=st.integers(0, 3),
)
def test_any_delivery_order_converges(qty, steps, terminal, seed, dup):
    ups = _progression(qty, steps, terminal)
    final = ups[-1]
    rng = random.Random(seed)
    delivered = ups + [rng.choice(ups) for _ in range(dup)]
    rng.shuffle(delivered)
    with Journal.in_memory() as j:
        iid = j.claim_entry(KEY, DAY, 1, at(9, 20))
        j.record_order(iid, KEY, "entry", "P1", req(qty=qty), at(9, 20))
        for u in delivered:
            j.record_update(u, at(9, 30))
        (o,) = j.orders()
        assert o.status is final.status
        assert o.filled_quantity == final.filled
        fills = j.fills()
        assert sum(f.quantity for f in fills) == final.filled
        assert [f.cumulative_quantity for f in fills] == sorted(
            {f.cumulative_quantity for f in fills}
        )


def test_updates_from_many_threads_converge(journal):
    ups = _progression(40, [3, 5, 7, 2, 9], OrderStatus.COMPLETE)
    iid = journal.claim_entry(KEY, DAY, 1, at(9, 20))
    journal.record_order(iid, KEY, "entry", "P1", req(qty=40), at(9, 20))
    barrier = threading.Barrier(6)

    def deliver(seed):
        rng = random.Random(seed)
        mine = ups[:]
        rng.shuffle(mine)
        barrier.wait(timeout=10)
        for u in mine:
            journal.record_update(u, at(9, 30))

    threads = [threading.Thread(target=deliver, args=(s,), daemon=True) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    (o,) = journal.orders()
    assert o.status is OrderStatus.COMPLETE and o.filled_quantity == 40
    assert sum(f.quantity for f in journal.fills()) == 40
