"""A failed journal write is one exception type, JournalWriteError, and
leaves nothing half-written."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

import pytest

from live.broker import Action, OrderRequest, OrderStatus, OrderUpdate, PriceType
from live.journal import Journal, JournalWriteError

from .helpers import at

DAY = date(2026, 11, 20)
KEY = "NSE:SBIN"


class FailingConnection:
    """The journal's connection, failing the first statement that matches
    ``when`` the way SQLite reports a failing disk."""

    def __init__(self, conn: sqlite3.Connection, when: str, error: str = "disk I/O error"):
        self._conn, self._when, self._error = conn, when, error
        self.failed = 0

    def execute(self, sql: str, *args):
        if not self.failed and self._when in sql:
            self.failed += 1
            raise sqlite3.OperationalError(self._error)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def inject(j: Journal, when: str, error: str = "disk I/O error") -> FailingConnection:
    fc = FailingConnection(j._store._conn, when, error)
    j._store._conn = fc
    return fc


def upd(status, filled=None, avg="0"):
    return OrderUpdate("E1", "SBIN", "NSE", Action.BUY, status, 10, filled, Decimal(avg))


def placed(j: Journal) -> int:
    iid = j.claim_entry(KEY, DAY, 1, at(9, 20))
    r = OrderRequest("SBIN", "NSE", Action.BUY, 10, PriceType.LIMIT, price=Decimal("512.50"))
    j.record_order(iid, KEY, "entry", "E1", r, at(9, 20))
    return iid


def test_database_locked_is_a_journal_write_error(tmp_path):
    """Another process holds the write lock past the busy timeout."""
    path = tmp_path / "j.db"
    j = Journal(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalWriteError) as info:
            j.claim_entry(KEY, DAY, 1, at(9, 20))
        e = info.value
        assert isinstance(e, RuntimeError)
        assert str(path) in str(e) and "claim_entry(NSE:SBIN, attempt 1)" in str(e)
        assert "database is locked" in str(e) and "rolled back" in str(e)
        assert isinstance(e.sqlite_error, sqlite3.OperationalError)
        assert e.__cause__ is e.sqlite_error and e.path == path
        other.execute("ROLLBACK")
        # The lock is gone: the same claim now succeeds; nothing was half-taken.
        assert j.claim_entry(KEY, DAY, 1, at(9, 20)) is not None
        assert j.entries_claimed(KEY, DAY) == 1
    finally:
        other.close()
        j.close()


def test_disk_error_mid_update_rolls_the_whole_update_back(tmp_path):
    """The fill row is written, then the order row's update fails: neither
    is kept, and the journal carries on with the next update."""
    with Journal(tmp_path / "j.db") as j:
        placed(j)
        j.record_update(upd(OrderStatus.OPEN), at(9, 21))
        fc = inject(j, "UPDATE orders SET filled_quantity")
        with pytest.raises(JournalWriteError, match=r"record_update\(NSE:SBIN, E1\).*disk I/O"):
            j.record_update(upd(OrderStatus.OPEN, filled=4, avg="512.40"), at(9, 22))
        assert fc.failed == 1
        assert j.fills() == []
        o = j.order("E1")
        assert o.status is OrderStatus.OPEN and o.filled_quantity == 0
        # The same update applies whole once the disk behaves.
        assert j.record_update(upd(OrderStatus.OPEN, filled=4, avg="512.40"), at(9, 23))
        assert [(f.quantity, f.price) for f in j.fills()] == [(4, Decimal("512.40"))]
        assert j.order("E1").status is OrderStatus.PARTIAL


def test_failed_commit_is_rolled_back(tmp_path):
    with Journal(tmp_path / "j.db") as j:
        inject(j, "COMMIT", "database or disk is full")
        with pytest.raises(JournalWriteError, match="record_intent.*disk is full"):
            j.record_intent(KEY, "stop", at(10, 0), {"qty": 10})
        assert j.intents() == []
        j.record_intent(KEY, "stop", at(10, 1))
        assert [i.created_at for i in j.intents()] == [at(10, 1)]


def test_failed_binding_leaves_the_intent_unbound(tmp_path):
    """record_order writes the order then binds the intent; a failure
    between leaves neither (recovery still sees the unbound intent)."""
    with Journal(tmp_path / "j.db") as j:
        iid = j.claim_entry(KEY, DAY, 1, at(9, 20))
        inject(j, "UPDATE intents SET state='bound'")
        r = OrderRequest("SBIN", "NSE", Action.BUY, 10, PriceType.LIMIT, price=Decimal("512.50"))
        with pytest.raises(JournalWriteError, match=r"record_order\(NSE:SBIN, E1\)"):
            j.record_order(iid, KEY, "entry", "E1", r, at(9, 20))
        assert j.orders(include_unbound=True) == []
        assert [i.id for i in j.unbound_intents()] == [iid]


def test_bad_input_is_still_a_value_error(tmp_path):
    with Journal(tmp_path / "j.db") as j:
        with pytest.raises(ValueError, match="intent_id: 99 does not exist"):
            r = OrderRequest("SBIN", "NSE", Action.BUY, 10, PriceType.LIMIT, price=Decimal("1"))
            j.record_order(99, KEY, "entry", "E1", r, at(9, 20))
        assert j.orders(include_unbound=True) == []
