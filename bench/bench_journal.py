"""Journal cost per order, against a raw-SQLite baseline measured in the same run.

    python bench/bench_journal.py [--orders 300] [--threads 4]

For each synchronous level (FULL: the journal's default, NORMAL: in_memory's)
it times one order's journal life (claim_entry + record_order + 3 updates
growing fills) single-threaded and from N threads, and a baseline of plain
autocommit INSERTs (one fsync'd transaction each) on a raw connection with the
same pragmas. The ratio says what the journal's checks and merge logic cost
on top of SQLite's own commit cost. Not a test: numbers depend on the disk.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live.broker import Action, OrderRequest, OrderStatus, OrderUpdate, PriceType  # noqa: E402
from live.clock import IST  # noqa: E402
from live.journal import Journal  # noqa: E402

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
TXN_PER_ORDER = 5  # claim, bind, three updates


def one_order(j: Journal, n: int, tag: str) -> None:
    key = f"NSE:{tag}{n}"
    ts = T0 + timedelta(milliseconds=n)
    iid = j.claim_entry(key, DAY, 1, ts)
    req = OrderRequest(f"{tag}{n}", "NSE", Action.BUY, 10, PriceType.LIMIT, price=Decimal("512.05"))
    oid = f"{tag}-{n}"
    j.record_order(iid, key, "entry", oid, req, ts)
    for status, filled, avg in (
        (OrderStatus.OPEN, 0, "0"),
        (OrderStatus.OPEN, 4, "512.00"),
        (OrderStatus.COMPLETE, 10, "512.03"),
    ):
        u = OrderUpdate(oid, f"{tag}{n}", "NSE", Action.BUY, status, 10, filled, Decimal(avg))
        j.record_update(u, ts)


def bench_journal(path: Path, sync: str, orders: int, threads: int) -> tuple[float, float]:
    j = Journal(path, synchronous=sync)
    try:
        t = time.perf_counter()
        for n in range(orders):
            one_order(j, n, "S")
        single = time.perf_counter() - t

        per = max(1, orders // threads)

        def worker(w: int) -> None:
            for n in range(per):
                one_order(j, n, f"T{w}X")

        ts = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        multi = time.perf_counter() - t
        return single / orders, multi / (per * threads)
    finally:
        j.close()


def bench_baseline(path: Path, sync: str, orders: int) -> float:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
    n = orders * TXN_PER_ORDER
    t = time.perf_counter()
    for i in range(n):
        conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (f"k{i}", "512.05"))
    el = time.perf_counter() - t
    conn.close()
    return el / orders  # per "order" worth of commits


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as d:
        print(f"{args.orders} orders x {TXN_PER_ORDER} transactions; {args.threads} threads")
        print(
            f"{'sync':<7}{'baseline':>12}{'journal 1T':>13}{'ratio':>8}{'journal NT':>13}{'ratio':>8}"
        )
        for sync in ("FULL", "NORMAL"):
            base = bench_baseline(Path(d) / f"base-{sync}.db", sync, args.orders)
            single, multi = bench_journal(Path(d) / f"j-{sync}.db", sync, args.orders, args.threads)
            print(
                f"{sync:<7}{base * 1e3:>10.3f}ms{single * 1e3:>11.3f}ms{single / base:>7.2f}x"
                f"{multi * 1e3:>11.3f}ms{multi / base:>7.2f}x"
            )
        print("(ms per order; ratio = journal / raw-SQLite commits of the same count)")


if __name__ == "__main__":
    main()
