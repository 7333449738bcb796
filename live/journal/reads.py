"""The query side: intents, orders and fills as immutable rows."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from live.broker import Action, OrderStatus, PriceType

from . import checks
from .rows import Fill, Intent, IntentState, JournalOrder
from .store import Store
from .updates import UNBOUND_ROLE
from .writes import ENTRY_ROLE

_ORDER_COLS = """order_id, key, role, action, price_type, quantity, price, trigger_price,
    status, filled_quantity, average_price, intent_id, placed_at, updated_at,
    rejection_reason, priced_filled"""

_INTENT_COLS = "id, key, day, role, attempt, created_at, detail, state, error"

_FILL_COLS = """f.id, f.order_id, f.key, o.role, f.action, f.quantity, f.price,
    f.average_price, f.cumulative_quantity, f.ts"""


def _where(key: str | None, day: date | None, table: str = "") -> tuple[list[str], list[Any]]:
    p = f"{table}." if table else ""
    conds, args = [], []
    if key is not None:
        conds.append(f"{p}key=?")
        args.append(checks.key(key))
    if day is not None:
        conds.append(f"{p}day=?")
        args.append(checks.day(day))
    return conds, args


def _sql(select: str, conds: list[str], order: str) -> str:
    return select + (" WHERE " + " AND ".join(conds) if conds else "") + " ORDER BY " + order


def _order(row: tuple) -> JournalOrder:
    filled, priced = int(row[9]), int(row[15])
    return JournalOrder(
        order_id=row[0],
        key=row[1],
        role=row[2],
        action=Action(row[3]),
        price_type=PriceType(row[4]) if row[4] else None,
        quantity=int(row[5]),
        price=checks.dec(row[6]),
        trigger_price=checks.dec(row[7]),
        status=OrderStatus(row[8]),
        filled_quantity=filled,
        average_price=Decimal(row[10]) if priced == filled else Decimal(0),
        intent_id=row[11],
        placed_at=checks.dt(row[12]),
        updated_at=checks.dt(row[13]),
        rejection_reason=row[14],
    )


def _intent(row: tuple) -> Intent:
    return Intent(
        id=row[0],
        key=row[1],
        day=date.fromisoformat(row[2]),
        role=row[3],
        attempt=row[4],
        created_at=checks.dt(row[5]),
        detail=None if row[6] is None else json.loads(row[6]),
        state=IntentState(row[7]),
        error=row[8],
    )


def _fill(r: tuple) -> Fill:
    return Fill(
        id=r[0],
        order_id=r[1],
        key=r[2],
        role=r[3],
        action=Action(r[4]),
        quantity=int(r[5]),
        price=checks.dec(r[6]),
        average_price=checks.dec(r[7]),
        cumulative_quantity=int(r[8]),
        ts=checks.dt(r[9]),
    )


class Reads:
    def __init__(self, store: Store):
        self._store = store

    def entries_claimed(self, key: str, day: date) -> int:
        k, d = checks.key(key), checks.day(day)
        with self._store.read() as c:
            row = c.execute(
                "SELECT COUNT(*) FROM intents WHERE key=? AND day=? AND role=?", (k, d, ENTRY_ROLE)
            ).fetchone()
        return int(row[0])

    def orders(
        self, key: str | None, day: date | None, include_unbound: bool
    ) -> list[JournalOrder]:
        conds, args = _where(key, day)
        if not include_unbound:
            conds.append("role != ?")
            args.append(UNBOUND_ROLE)
        sql = _sql(f"SELECT {_ORDER_COLS} FROM orders", conds, "placed_at, rowid")
        with self._store.read() as c:
            rows = c.execute(sql, args).fetchall()
        return [_order(r) for r in rows]

    def order(self, order_id: str) -> JournalOrder | None:
        with self._store.read() as c:
            row = c.execute(
                f"SELECT {_ORDER_COLS} FROM orders WHERE order_id=?", (order_id,)
            ).fetchone()
        return None if row is None else _order(row)

    def intents(self, key: str | None, day: date | None, state: IntentState | None) -> list[Intent]:
        conds, args = _where(key, day)
        if state is not None:
            conds.append("state=?")
            args.append(IntentState(state).value)
        sql = _sql(f"SELECT {_INTENT_COLS} FROM intents", conds, "id")
        with self._store.read() as c:
            rows = c.execute(sql, args).fetchall()
        return [_intent(r) for r in rows]

    def fills(self, key: str | None, day: date | None, include_unbound: bool) -> list[Fill]:
        conds, args = _where(key, day, "f")
        if not include_unbound:
            conds.append("o.role != ?")
            args.append(UNBOUND_ROLE)
        select = f"SELECT {_FILL_COLS} FROM fills f JOIN orders o ON o.order_id = f.order_id"
        with self._store.read() as c:
            rows = c.execute(_sql(select, conds, "f.id"), args).fetchall()
        return [_fill(r) for r in rows]

    def meta(self, name: str) -> str | None:
        with self._store.read() as c:
            row = c.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def pragma(self, name: str) -> str:
        with self._store.read() as c:
            return str(c.execute(f"PRAGMA {name}").fetchone()[0])

    def schema_version(self) -> int:
        with self._store.read() as c:
            return int(c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
