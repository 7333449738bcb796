"""How journal_v1.sql was made: this scenario, run against the v1 journal.

    git worktree add /tmp/v1 73fb5ac
    PYTHONPATH=/tmp/v1 python tests/support/data/make_journal_v1.py /tmp/j.db \
        > tests/support/data/journal_v1.sql   # then prepend the comment header

Run against today's tree it writes the current schema instead (and stops).
"""

import sqlite3
import sys
from datetime import date, datetime
from decimal import Decimal as D

from live.broker import Action, OrderRequest, OrderUpdate, PriceType
from live.broker import OrderStatus as S
from live.clock import IST
from live.journal import Journal


def at(h, m, s=0):
    return datetime(2026, 11, 20, h, m, s, tzinfo=IST)


def up(oid, sym, action, status, qty, filled=None, avg="0", **kw):
    return OrderUpdate(oid, sym, "NSE", action, status, qty, filled, D(avg), **kw)


def main(path: str) -> None:
    j = Journal(path)
    day = date(2026, 11, 20)
    sl_buy = OrderRequest(
        "SBIN", "NSE", Action.BUY, 10, PriceType.SL, price=D("512.50"), trigger_price=D("512.35")
    )
    e = j.claim_entry("NSE:SBIN", day, 1, at(9, 20))
    j.record_order(e, "NSE:SBIN", "entry", "E1", sl_buy, at(9, 20))
    j.record_update(up("E1", "SBIN", Action.BUY, S.OPEN, 10), at(9, 21))
    j.record_update(up("E1", "SBIN", Action.BUY, S.OPEN, 10, 4, "0"), at(9, 22))
    j.record_update(up("E1", "SBIN", Action.BUY, S.COMPLETE, 10, 10, "512.30"), at(9, 23))
    stop = OrderRequest("SBIN", "NSE", Action.SELL, 10, PriceType.SL_M, trigger_price=D("505.05"))
    s = j.record_intent("NSE:SBIN", "stop", at(9, 23), {"trigger": D("505.05"), "qty": 10})
    j.record_order(s, "NSE:SBIN", "stop", "S1", stop, at(9, 23))
    trailed = up("S1", "SBIN", Action.SELL, S.TRIGGER_PENDING, 10, trigger_price=D("507.10"))
    j.record_update(trailed, at(9, 40))
    j.record_update(up("S1", "SBIN", Action.SELL, S.OPEN, 10, 4, "507.00"), at(10, 5))
    j.record_update(up("S1", "SBIN", Action.SELL, S.COMPLETE, 10, 10, "506.94"), at(10, 6))
    limit = OrderRequest("INFY", "NSE", Action.SELL, 8, PriceType.LIMIT, price=D("1500.10"))
    e2 = j.claim_entry("NSE:INFY", day, 1, at(9, 30))
    j.record_order(e2, "NSE:INFY", "entry", "E2", limit, at(9, 30))
    j.record_update(up("E2", "INFY", Action.SELL, S.OPEN, 8, 3, "0"), at(9, 31))
    f = j.record_intent("NSE:INFY", "stop", at(9, 32))
    j.record_failure(f, "NSE:INFY", "stop", "OrderRejected: price band", at(9, 32, 1))
    j.record_intent("NSE:INFY", "exit", at(15, 16))
    j.record_update(up("U1", "TCS", Action.BUY, S.COMPLETE, 5, 5, "3500.25"), at(11, 0))
    if j.schema_version() != 1:
        sys.exit(f"wrote schema v{j.schema_version()}, not v1: run it against commit 73fb5ac")
    j.close()
    raw = sqlite3.connect(path)
    print("\n".join(raw.iterdump()))
    raw.close()


if __name__ == "__main__":
    main(sys.argv[1])
