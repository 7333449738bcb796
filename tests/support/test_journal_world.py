"""Which broker world a journal belongs to, and open_for on real files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from live.broker import Action, OrderRequest, PriceType
from live.journal import (
    SCHEMA_VERSION,
    Journal,
    JournalCorruptError,
    JournalInUseError,
    JournalWriteError,
    World,
    move_aside,
    open_for,
)

from .helpers import at, make_v1

DAY = date(2026, 11, 20)  # the v1 fixture's trading day
NOW = datetime(2026, 11, 20, 3, 44, 5, tzinfo=UTC)
SIM_A = World.sim("http://127.0.0.1:5000", "sess-a")
SIM_B = World.sim("http://127.0.0.1:5000", "sess-b")
ZERODHA = World.openalgo("http://127.0.0.1:5000", broker="Zerodha", user_id="AB1234")


def with_order(path, world, oid="E1", day=20):
    """A journal of ``world`` holding one bound entry order."""
    opened = open_for(path, world, today=date(2026, 11, day), now=NOW)
    j = opened.journal
    iid = j.claim_entry("NSE:SBIN", date(2026, 11, day), 1, at(9, 20, day=day))
    r = OrderRequest("SBIN", "NSE", Action.BUY, 10, PriceType.LIMIT, price=Decimal("512.50"))
    j.record_order(iid, "NSE:SBIN", "entry", oid, r, at(9, 20, day=day))
    j.close()


def siblings(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


# --- World -------------------------------------------------------------------------


def test_world_values_and_matching():
    assert ZERODHA.identity == "zerodha:AB1234"
    assert str(ZERODHA) == "OpenAlgo account zerodha:AB1234 at http://127.0.0.1:5000"
    assert str(SIM_A) == "simulator session sess-a at http://127.0.0.1:5000"
    unknown = World.openalgo("http://127.0.0.1:5000/")
    assert unknown.identity == "" and unknown.host == "http://127.0.0.1:5000"
    assert str(unknown) == "OpenAlgo at http://127.0.0.1:5000 (account not known)"
    assert not SIM_A.matches(SIM_B) and SIM_A.matches(World.sim("http://127.0.0.1:5000", "sess-a"))
    assert not SIM_A.matches(ZERODHA)
    # One account at another address is the same account; another account is not.
    assert ZERODHA.matches(
        World.openalgo("http://localhost:5000", broker="zerodha", user_id="AB1234")
    )
    assert not ZERODHA.matches(
        World.openalgo("http://127.0.0.1:5000", broker="zerodha", user_id="XY9")
    )
    # Without an identity on one side only the host can tell.
    assert unknown.matches(ZERODHA) and ZERODHA.matches(unknown)
    assert not World.openalgo("http://10.0.0.2:5000").matches(ZERODHA)
    assert World.from_json(ZERODHA.to_json()) == ZERODHA
    assert unknown.learned_from(ZERODHA) == ZERODHA
    assert ZERODHA.learned_from(unknown) == ZERODHA


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: World("zerodha", "http://x"), "world.kind"),
        (lambda: World.paper("http://127.0.0.1:5000", " "), "book_id"),
        (lambda: World("sim", " "), "world.host"),
        (lambda: World.sim("http://127.0.0.1:5000", ""), "session_id"),
        (lambda: World.from_json("{not json"), "unreadable"),
        (lambda: World.from_json('{"kind": "sim"}'), "unreadable"),
    ],
)
def test_bad_worlds_are_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_paper_world_is_neither_the_live_account_nor_another_paper_run():
    host = "http://127.0.0.1:5000"
    paper = World.paper(host, "b" * 32)
    assert not paper.matches(World.openalgo(host))
    assert not World.openalgo(host).matches(paper)
    assert not paper.matches(World.paper(host, "c" * 32))
    assert paper.matches(World.paper(host, "b" * 32))
    assert World.from_json(paper.to_json()) == paper
    assert str(paper) == f"paper book {'b' * 32} on the prices of {host}"


# --- open_for ----------------------------------------------------------------------


def test_no_file_starts_a_fresh_journal_of_that_world(tmp_path):
    path = tmp_path / "journal.db"
    j, msg = open_for(path, SIM_A, today=DAY, now=NOW)
    try:
        assert msg == f"journal {path}: new, for simulator session sess-a at http://127.0.0.1:5000"
        assert j.world() == SIM_A and j.schema_version() == SCHEMA_VERSION
    finally:
        j.close()


def test_same_world_is_used_as_it_is(tmp_path):
    path = tmp_path / "journal.db"
    with_order(path, ZERODHA)
    j, msg = Journal.open_for(path, ZERODHA, today=DAY, now=NOW)
    try:
        assert msg is None
        assert [o.order_id for o in j.orders()] == ["E1"]
    finally:
        j.close()
    assert siblings(tmp_path) == ["journal.db"]


def test_same_host_learns_the_account(tmp_path):
    """The engine knew only the host at first; later it knows the account."""
    path = tmp_path / "journal.db"
    with_order(path, World.openalgo("http://127.0.0.1:5000"))
    j, msg = open_for(path, ZERODHA, today=DAY, now=NOW)
    try:
        assert msg is None and j.world() == ZERODHA and len(j.orders()) == 1
    finally:
        j.close()
    other = World.openalgo("http://127.0.0.1:5000", broker="zerodha", user_id="XY9")
    j, msg = open_for(path, other, today=DAY, now=NOW)
    j.close()
    assert msg is not None and "belongs to OpenAlgo account zerodha:AB1234" in msg


def test_another_world_is_moved_aside_and_kept(tmp_path):
    path = tmp_path / "journal.db"
    with_order(path, SIM_A)
    j, msg = open_for(path, SIM_B, today=DAY, now=NOW)
    try:
        assert msg == (
            f"journal {path} belongs to simulator session sess-a at http://127.0.0.1:5000, "
            "not simulator session sess-b at http://127.0.0.1:5000: moved it to "
            "journal.20261120T034405Z.other-world.db and started a fresh one for "
            "simulator session sess-b at http://127.0.0.1:5000"
        )
        assert "\n" not in msg
        assert j.orders() == [] and j.world() == SIM_B
    finally:
        j.close()
    moved = tmp_path / "journal.20261120T034405Z.other-world.db"
    assert siblings(tmp_path) == ["journal.20261120T034405Z.other-world.db", "journal.db"]
    with Journal(moved) as old:  # the trader's data is all there
        assert old.world() == SIM_A and [o.order_id for o in old.orders()] == ["E1"]


def test_moving_aside_twice_in_one_second_keeps_both(tmp_path):
    path = tmp_path / "journal.db"
    with_order(path, SIM_A, oid="A1")
    open_for(path, SIM_B, today=DAY, now=NOW).journal.close()
    with_order(path, SIM_B, oid="B1")  # reopens SIM_B's fresh journal, adds an order
    j, msg = open_for(path, SIM_A, today=DAY, now=NOW)
    j.close()
    assert "journal.20261120T034405Z.other-world-2.db" in msg
    with Journal(tmp_path / "journal.20261120T034405Z.other-world-2.db") as old:
        assert [o.order_id for o in old.orders()] == ["B1"]
    with Journal(tmp_path / "journal.20261120T034405Z.other-world.db") as old:
        assert [o.order_id for o in old.orders()] == ["A1"]


def test_a_file_open_in_another_process_is_not_moved(tmp_path):
    """Moving it under the other connection would let that connection's
    close delete the fresh journal's WAL: refuse, move nothing."""
    path = tmp_path / "journal.db"
    with_order(path, SIM_A)
    holder = sqlite3.connect(path)  # another engine still running on it
    holder.execute("SELECT COUNT(*) FROM orders").fetchone()
    try:
        with pytest.raises(JournalInUseError, match="another process has it open"):
            open_for(path, SIM_B, today=DAY, now=NOW)
        assert siblings(tmp_path) == ["journal.db", "journal.db-shm", "journal.db-wal"]
    finally:
        holder.close()
    j, msg = open_for(path, SIM_B, today=DAY, now=NOW)  # once it has stopped
    j.close()
    assert "other-world.db" in msg


def test_a_killed_engines_leftovers_are_not_taken_for_a_live_process(tmp_path):
    """An engine killed mid-session leaves -wal/-shm (its rows in the WAL):
    opening recovers them, so the file is judged, and moved, whole."""
    path = tmp_path / "journal.db"
    Journal(path).close()  # the schema, so the child's rows are all in the WAL
    script = (
        "import os, sys\n"
        "from datetime import date, datetime\n"
        "from live.clock import IST\n"
        "from live.journal import Journal, World\n"
        "j = Journal(sys.argv[1])\n"
        "j.record_world(World.sim('http://127.0.0.1:5000', 'sess-a'))\n"
        "j.claim_entry('NSE:SBIN', date(2026, 11, 20), 1, datetime(2026, 11, 20, 9, 20, tzinfo=IST))\n"
        "os._exit(0)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=repo, check=True, timeout=60)
    assert (tmp_path / "journal.db-wal").stat().st_size > 0
    j, msg = open_for(path, SIM_B, today=DAY, now=NOW)
    j.close()
    assert "belongs to simulator session sess-a" in msg
    with Journal(tmp_path / "journal.20261120T034405Z.other-world.db") as old:
        assert old.entries_claimed("NSE:SBIN", DAY) == 1


def test_an_empty_file_is_a_new_journal(tmp_path):
    path = tmp_path / "journal.db"
    path.touch()
    j, msg = open_for(path, SIM_A, today=DAY, now=NOW)
    j.close()
    assert msg.endswith("new, for simulator session sess-a at http://127.0.0.1:5000")


def test_move_aside_takes_the_sidecars_and_never_overwrites(tmp_path):
    path = tmp_path / "journal.db"
    for name, data in (
        ("journal.db", b"main"),
        ("journal.db-wal", b"wal"),
        ("journal.db-shm", b"shm"),
    ):
        (tmp_path / name).write_bytes(data)
    (tmp_path / "journal.20261120T034405Z.corrupt.db").write_bytes(b"earlier")
    moved = move_aside(path, "corrupt", NOW)
    assert moved.name == "journal.20261120T034405Z.corrupt-2.db"
    assert siblings(tmp_path) == [
        "journal.20261120T034405Z.corrupt-2.db",
        "journal.20261120T034405Z.corrupt-2.db-shm",
        "journal.20261120T034405Z.corrupt-2.db-wal",
        "journal.20261120T034405Z.corrupt.db",
    ]
    assert moved.read_bytes() == b"main"
    assert (tmp_path / "journal.20261120T034405Z.corrupt-2.db-wal").read_bytes() == b"wal"
    assert (tmp_path / "journal.20261120T034405Z.corrupt.db").read_bytes() == b"earlier"


def _refused_untouched(path, match, *, same_bytes=True):
    before = path.read_bytes()
    with pytest.raises(JournalCorruptError, match=match) as e:
        open_for(path, SIM_A, today=DAY, now=NOW)
    if same_bytes:
        assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    assert f"mv {path} {path}.bad" in str(e.value)
    return str(e.value)


def test_garbage_file_is_refused_untouched(tmp_path):
    """Not moved aside: mid-day an unreadable journal may be the only record
    of today's orders; a fresh one would forget the positions and the
    attempts already used. The user decides."""
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not sqlite at all, just some bytes " * 50)
    msg = _refused_untouched(path, "is not a readable journal")
    assert msg.startswith(f"journal {path} is not a readable journal (file is not a database)")
    assert "check your positions and orders at the broker" in msg


def test_damaged_pages_are_refused(tmp_path):
    """A journal whose later pages were overwritten: it may open, but it is
    not trusted."""
    path = tmp_path / "journal.db"
    opened = open_for(path, SIM_A, today=DAY, now=NOW)
    for n in range(400):
        opened.journal.record_intent("NSE:SBIN", "stop", at(10, 0), {"n": n, "pad": "x" * 200})
    opened.journal.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for p in range(3, len(data) // page):
        data[p * page + 8 : p * page + 200] = b"\xa5" * 192
    path.write_bytes(bytes(data))
    _refused_untouched(path, "journal", same_bytes=False)


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "journal.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE notes (t TEXT)")
    raw.commit()
    raw.close()
    # Opening it may switch its header to WAL mode; its data stays.
    _refused_untouched(path, "another program's database", same_bytes=False)
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    raw.close()


def test_v1_file_without_orders_today_is_adopted(tmp_path):
    path = make_v1(tmp_path / "journal.db")
    j, msg = open_for(path, ZERODHA, today=date(2026, 11, 23), now=NOW)
    try:
        assert msg == (
            f"journal {path}: recorded no broker world and holds no order for 2026-11-23; "
            "it now belongs to OpenAlgo account zerodha:AB1234 at http://127.0.0.1:5000"
        )
        assert j.world() == ZERODHA and j.schema_version() == 3
        assert len(j.orders()) == 3  # yesterday's history stays
    finally:
        j.close()
    assert siblings(tmp_path) == ["journal.db"]


def test_v1_file_with_orders_today_is_moved_aside(tmp_path):
    path = make_v1(tmp_path / "journal.db")
    j, msg = open_for(path, ZERODHA, today=DAY, now=NOW)
    try:
        assert "records no broker world and holds 4 order(s) for 2026-11-20" in msg
        assert "journal.20261120T034405Z.unknown-world.db" in msg
        assert j.orders(include_unbound=True) == [] and j.world() == ZERODHA
    finally:
        j.close()
    with Journal(tmp_path / "journal.20261120T034405Z.unknown-world.db") as old:
        assert len(old.orders(include_unbound=True)) == 4 and old.world() is None


def test_v2_file_without_a_world_follows_the_same_rule(tmp_path):
    path = tmp_path / "journal.db"
    Journal(path).close()  # a v2 file with no world recorded (made by plain Journal())
    j, msg = open_for(path, SIM_A, today=DAY, now=NOW)
    j.close()
    assert "recorded no broker world and holds no order" in msg


def test_unreadable_world_record_is_another_world(tmp_path):
    path = tmp_path / "journal.db"
    with_order(path, SIM_A)
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value='garbage' WHERE name='world'")
    raw.commit()
    raw.close()
    j, msg = open_for(path, SIM_A, today=DAY, now=NOW)
    j.close()
    assert "records an unreadable broker world" in msg and "other-world.db" in msg


def test_newer_schema_is_refused_not_moved(tmp_path):
    path = tmp_path / "journal.db"
    with_order(path, SIM_A)
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(ValueError, match="newer than this code"):
        open_for(path, SIM_B, today=DAY, now=NOW)
    assert siblings(tmp_path) == ["journal.db"]


def test_locked_file_is_a_write_error_not_a_stranger(tmp_path):
    """A v1 file needs its upgrade written; another process holding the
    write lock makes that fail, and the file stays where it is."""
    path = make_v1(tmp_path / "journal.db")
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(JournalWriteError, match="database is locked"):
            open_for(path, SIM_A, today=DAY, now=NOW, busy_timeout=0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert siblings(tmp_path) == ["journal.db"]


def test_open_for_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="world"):
        open_for(tmp_path / "j.db", "sim", today=DAY)
    with pytest.raises(ValueError, match="today"):
        open_for(tmp_path / "j.db", SIM_A, today=NOW)
    assert siblings(tmp_path) == []
