"""Schema v1 -> v2 on a file written by the v1 journal (data/journal_v1.sql)."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

import pytest

from live.broker import Action, OrderStatus, OrderUpdate
from live.journal import SCHEMA_VERSION, Journal, JournalUnreadableError

from .helpers import at, make_v1

DAY = date(2026, 11, 20)


def test_the_fixture_is_schema_v1(tmp_path):
    raw = sqlite3.connect(make_v1(tmp_path / "j.db"))
    assert raw.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert raw.execute("SELECT price FROM fills WHERE order_id='E1' ORDER BY id").fetchall() == [
        ("0",),
        ("512.30",),
    ]
    raw.close()


def test_v1_file_is_upgraded_in_place(tmp_path):
    path = make_v1(tmp_path / "j.db")
    with Journal(path) as j:
        assert SCHEMA_VERSION == 3 and j.schema_version() == 3
        assert j.plan(DAY) == {} and j.session_bars(DAY) == {}  # v3's tables are there
        assert j.integrity_check() == "ok"
        assert j.world() is None
        fills = {(f.order_id, f.cumulative_quantity): f for f in j.fills(include_unbound=True)}
    # E1: v1 booked 4 @ 0 and 6 @ 512.30; the broker's reports (4 with average 0,
    # then 10 at 512.30) say all ten cost 512.30.
    assert fills["E1", 4].price == Decimal("512.30") and fills["E1", 4].average_price is None
    assert fills["E1", 10].price == Decimal("512.30")
    assert fills["E1", 10].average_price == Decimal("512.30")
    # S1: both slices were priced in v1 and stay what the averages imply.
    assert fills["S1", 4].price == Decimal("507.00")
    assert fills["S1", 10].price == Decimal("506.90")
    # E2: reported with average 0 and nothing since: unpriced, not priced 0.
    assert fills["E2", 3].price is None and fills["E2", 3].average_price is None
    assert fills["U1", 5].price == Decimal("3500.25")
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
    assert raw.execute("SELECT COUNT(*) FROM fills WHERE price = '0'").fetchone()[0] == 0
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    raw.close()


def test_upgraded_orders_intents_and_prices(tmp_path):
    with Journal(make_v1(tmp_path / "j.db")) as j:
        orders = {o.order_id: o for o in j.orders(include_unbound=True)}
        assert set(orders) == {"E1", "S1", "E2", "U1"}
        assert orders["E1"].status is OrderStatus.COMPLETE
        assert orders["E1"].average_price == Decimal("512.30")
        assert orders["S1"].trigger_price == Decimal("507.10") and orders["S1"].price is None
        # E2's 3 units have no average yet: the broker's "0, not known".
        assert orders["E2"].status is OrderStatus.PARTIAL and orders["E2"].filled_quantity == 3
        assert orders["E2"].average_price == Decimal(0)
        # v1 stored the unreported price of an order first seen in an update as '0'.
        assert orders["U1"].price is None and orders["U1"].trigger_price is None
        assert [i.role for i in j.unbound_intents()] == ["exit"]
        assert j.entries_claimed("NSE:SBIN", DAY) == 1
        assert j.intents(key="NSE:SBIN")[1].detail == {"qty": 10, "trigger": "505.05"}


def test_upgraded_file_carries_on(tmp_path):
    """After the upgrade the journal writes as a v2 one: E2's unpriced units
    are priced by the next average, new rows get fresh ids."""
    path = make_v1(tmp_path / "j.db")
    with Journal(path) as j:
        done = OrderUpdate(
            "E2", "INFY", "NSE", Action.SELL, OrderStatus.COMPLETE, 8, 8, Decimal("1500.20")
        )
        assert j.record_update(done, at(9, 40))
        e2 = [f for f in j.fills() if f.order_id == "E2"]
        assert [(f.quantity, f.price) for f in e2] == [
            (3, Decimal("1500.20")),
            (5, Decimal("1500.20")),
        ]
        assert e2[1].id == 7  # AUTOINCREMENT carried over the rebuilt table
        assert j.claim_entry("NSE:SBIN", DAY, 2, at(10, 0)) == 6
    with Journal(path) as j:  # reopening an upgraded file changes nothing
        assert j.schema_version() == 3 and len(j.fills(include_unbound=True)) == 7


def test_a_v1_file_that_cannot_be_upgraded_is_left_as_it_was(tmp_path):
    """The upgrade is one transaction: a row it cannot read stops it with a
    clear error and the file is still the v1 file."""
    path = make_v1(tmp_path / "j.db")
    raw = sqlite3.connect(path)
    raw.execute("UPDATE fills SET average_price='n/a' WHERE order_id='S1' AND quantity=6")
    raw.commit()
    raw.close()
    with pytest.raises(JournalUnreadableError, match="fills row 4: average_price 'n/a'"):
        Journal(path)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert raw.execute("SELECT price FROM fills WHERE id=1").fetchone() == ("0",)
    assert "priced_filled" not in {r[1] for r in raw.execute("PRAGMA table_info(orders)")}
    assert raw.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchall() == []
    raw.close()
