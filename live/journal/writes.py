"""The write side before and around a broker call: claims, intents, the
binding of an order id to its intent, and placement failures."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime

from live import interleave
from live.broker import OrderRequest, OrderStatus, PriceType

from . import checks
from .rows import IntentState
from .store import Store

ENTRY_ROLE = "entry"


class Writes:
    def __init__(self, store: Store):
        self._store = store

    def claim_entry(
        self, key: str, day: date, attempt: int, ts: datetime, detail: dict | None = None
    ) -> int | None:
        k, d, t = checks.key(key), checks.day(day), checks.ts(ts)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(f"attempt: must be an int >= 1, got {attempt!r}")
        if detail is not None and not isinstance(detail, dict):
            raise ValueError(f"detail: must be a dict or None, got {type(detail).__name__}")
        blob = None if detail is None else json.dumps(detail, default=checks.json_default,
                                                      sort_keys=True)  # fmt: skip
        interleave.checkpoint("journal.claim_entry")
        with self._store.write(f"claim_entry({k}, attempt {attempt})") as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO intents (key, day, role, attempt, created_at, detail)"
                " VALUES (?,?,?,?,?,?)",
                (k, d, ENTRY_ROLE, attempt, t.isoformat(), blob),
            )
            return int(cur.lastrowid) if cur.rowcount == 1 else None

    def record_intent(self, key: str, role: str, ts: datetime, detail: dict | None) -> int:
        k, r, t = checks.key(key), checks.role(role), checks.ts(ts)
        if r == ENTRY_ROLE:
            raise ValueError(
                "role: 'entry' intents must go through claim_entry (the duplicate guard)"
            )
        if detail is not None and not isinstance(detail, dict):
            raise ValueError(f"detail: must be a dict or None, got {type(detail).__name__}")
        blob = (
            None
            if detail is None
            else json.dumps(detail, default=checks.json_default, sort_keys=True)
        )
        with self._store.write(f"record_intent({k}, {r})") as c:
            cur = c.execute(
                "INSERT INTO intents (key, day, role, attempt, created_at, detail)"
                " VALUES (?,?,?,?,?,?)",
                (k, t.date().isoformat(), r, None, t.isoformat(), blob),
            )
            return int(cur.lastrowid)

    def record_order(
        self,
        intent_id: int | None,
        key: str,
        role: str,
        order_id: str,
        request: OrderRequest,
        ts: datetime,
    ) -> None:
        k, r, t = checks.key(key), checks.role(role), checks.ts(ts)
        iid = checks.intent_id(intent_id)
        if not isinstance(order_id, str) or not order_id.strip():
            raise ValueError("order_id: must be the broker's non-empty order id string")
        if not isinstance(request, OrderRequest):
            raise ValueError(f"request: must be an OrderRequest, got {type(request).__name__}")
        if checks.key(request.key) != k:
            raise ValueError(f"request: is for {request.key}, but key is {k}")
        price = checks.dec_text(request.price, "request.price")
        trigger = checks.dec_text(request.trigger_price, "request.trigger_price")
        # The lowest state this order can be in, so any real update supersedes it.
        initial = (
            OrderStatus.TRIGGER_PENDING
            if request.price_type in (PriceType.SL, PriceType.SL_M)
            else OrderStatus.OPEN
        )
        with self._store.write(f"record_order({k}, {order_id})") as c:
            _check_intent(c, iid, k)
            row = c.execute("SELECT key FROM orders WHERE order_id=?", (order_id,)).fetchone()
            if row is not None and row[0] != k:
                raise ValueError(f"order_id: {order_id} is already journaled for {row[0]}, not {k}")
            c.execute(
                """INSERT INTO orders (order_id, intent_id, key, day, role, action, price_type,
                       product, quantity, price, trigger_price, status, placed_at, updated_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(order_id) DO UPDATE SET
                       intent_id=excluded.intent_id, role=excluded.role, day=excluded.day,
                       action=excluded.action, price_type=excluded.price_type,
                       product=excluded.product, quantity=excluded.quantity,
                       price=excluded.price, trigger_price=excluded.trigger_price,
                       placed_at=excluded.placed_at""",
                (
                    order_id, iid, k, t.date().isoformat(), r, request.action.value,
                    request.price_type.value, request.product.value, request.quantity,
                    price, trigger, initial.value, t.isoformat(), t.isoformat(),
                ),
            )  # fmt: skip
            if iid is not None:
                c.execute(
                    "UPDATE intents SET state='bound', closed_at=COALESCE(closed_at, ?) WHERE id=?",
                    (t.isoformat(), iid),
                )

    def record_failure(
        self, intent_id: int | None, key: str, role: str, error: str, ts: datetime
    ) -> None:
        k, r, t = checks.key(key), checks.role(role), checks.ts(ts)
        iid = checks.intent_id(intent_id)
        err = str(error) if error is not None else ""
        with self._store.write(f"record_failure({k}, {r})") as c:
            if iid is None:
                c.execute(
                    """INSERT INTO intents
                           (key, day, role, attempt, created_at, state, error, closed_at)
                       VALUES (?,?,?,?,?,'failed',?,?)""",
                    (k, t.date().isoformat(), r, None, t.isoformat(), err, t.isoformat()),
                )
                return
            _check_intent(c, iid, k)
            state = c.execute("SELECT state FROM intents WHERE id=?", (iid,)).fetchone()[0]
            if state == IntentState.BOUND.value:
                # An order exists for it: a failure must not hide that order
                # from recovery. Keep it bound, note the error.
                c.execute("UPDATE intents SET error=? WHERE id=?", (err, iid))
                return
            c.execute(
                "UPDATE intents SET state='failed', error=?, closed_at=? WHERE id=?",
                (err, t.isoformat(), iid),
            )


def _check_intent(c: sqlite3.Connection, intent_id: int | None, key: str) -> None:
    if intent_id is None:
        return
    row = c.execute("SELECT key FROM intents WHERE id=?", (intent_id,)).fetchone()
    if row is None:
        raise ValueError(f"intent_id: {intent_id} does not exist in the journal")
    if row[0] != key:
        raise ValueError(f"intent_id: {intent_id} belongs to {row[0]}, not {key}")
