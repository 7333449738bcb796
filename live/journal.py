"""The SQLite journal: the engine's crash-safety record (P8, P9).

What it stores:

- **intents** — written *before* a broker call. An entry intent is a claim on
  attempt N for (symbol, trading day): ``UNIQUE(key, day, attempt)`` makes the
  claim the cross-thread *and* cross-process duplicate-entry guard. Other
  intents (stop, exit, cancel...) record what the engine was about to do.
- **orders** — the broker order id bound to its intent, the request (prices as
  TEXT Decimal strings, never REAL) and the latest known state. An older
  update never overwrites a newer one (``OrderStatus.rank``, then filled qty).
- **fills** — one row per growth of an order's filled quantity.

An intent with neither an order nor a failure is a crash between "about to
place" and "broker replied": recovery must look for it in the broker's
orderbook (``unbound_intents``).

Concurrency: one connection (``check_same_thread=False``) guarded by one short
lock; every write is its own ``BEGIN IMMEDIATE`` transaction, so another
process sharing the file waits on SQLite's busy timeout instead of failing.
WAL mode, ``synchronous=FULL``: a committed row survives a killed process and
a power cut.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from live import interleave
from live.broker import Action, OrderRequest, OrderStatus, OrderUpdate, PriceType, split_key
from live.clock import IST, require_aware

SCHEMA_VERSION = 1

ENTRY_ROLE = "entry"
# An order seen in an update before ``record_order`` bound it (the WebSocket
# can beat the REST reply). Not reported as ours until bound.
UNBOUND_ROLE = "unbound"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS intents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    attempt    INTEGER,
    created_at TEXT    NOT NULL,
    detail     TEXT,
    state      TEXT    NOT NULL DEFAULT 'pending',
    error      TEXT,
    closed_at  TEXT,
    UNIQUE (key, day, attempt),
    CHECK ((role = 'entry') = (attempt IS NOT NULL)),
    CHECK (attempt IS NULL OR attempt >= 1),
    CHECK (state IN ('pending', 'bound', 'failed'))
);
CREATE TABLE IF NOT EXISTS orders (
    order_id         TEXT    PRIMARY KEY,
    intent_id        INTEGER REFERENCES intents(id),
    key              TEXT    NOT NULL,
    day              TEXT    NOT NULL,
    role             TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    price_type       TEXT,
    product          TEXT,
    quantity         INTEGER NOT NULL,
    price            TEXT,
    trigger_price    TEXT,
    status           TEXT    NOT NULL,
    filled_quantity  INTEGER NOT NULL DEFAULT 0,
    average_price    TEXT    NOT NULL DEFAULT '0',
    rejection_reason TEXT    NOT NULL DEFAULT '',
    broker_ts        TEXT,
    placed_at        TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_key_day ON orders (key, day);
CREATE TABLE IF NOT EXISTS fills (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id            TEXT    NOT NULL REFERENCES orders(order_id),
    key                 TEXT    NOT NULL,
    day                 TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity > 0),
    price               TEXT    NOT NULL,
    average_price       TEXT    NOT NULL,
    cumulative_quantity INTEGER NOT NULL,
    ts                  TEXT    NOT NULL,
    UNIQUE (order_id, cumulative_quantity)
);
CREATE INDEX IF NOT EXISTS fills_key_day ON fills (key, day);
"""


class IntentState(StrEnum):
    PENDING = "pending"  # written, broker not yet answered (or we crashed)
    BOUND = "bound"  # an order id is attached
    FAILED = "failed"  # placement failed; no order exists


@dataclass(frozen=True)
class Intent:
    id: int
    key: str
    day: date
    role: str
    attempt: int | None
    created_at: datetime
    detail: dict | None
    state: IntentState
    error: str | None


@dataclass(frozen=True)
class JournalOrder:
    order_id: str
    key: str
    role: str
    action: Action
    price_type: PriceType | None
    quantity: int
    price: Decimal | None
    trigger_price: Decimal | None
    status: OrderStatus
    filled_quantity: int
    average_price: Decimal
    intent_id: int | None
    placed_at: datetime
    updated_at: datetime
    rejection_reason: str = ""

    @property
    def is_working(self) -> bool:
        return self.status.is_working


@dataclass(frozen=True)
class Fill:
    id: int
    order_id: str
    key: str
    role: str
    action: Action
    quantity: int  # this fill's quantity (the growth of filled quantity)
    price: Decimal  # this fill's implied price
    average_price: Decimal  # the order's cumulative average after this fill
    cumulative_quantity: int
    ts: datetime


class JournalClosedError(RuntimeError):
    pass


# --- input checks (clear errors, never a half-written row) --------------------


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise ValueError(f"key: must be a str like 'NSE:SBIN', got {type(key).__name__}")
    symbol, exchange = split_key(key)
    return f"{exchange}:{symbol}"


def _day(day: date, name: str = "day") -> str:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"{name}: must be a datetime.date (the IST trading day), got {day!r}")
    return day.isoformat()


def _ts(ts: datetime, name: str = "ts") -> datetime:
    if not isinstance(ts, datetime):
        raise ValueError(f"{name}: must be an aware datetime, got {type(ts).__name__}")
    return require_aware(ts, name)


def _role(role: str) -> str:
    if not isinstance(role, str) or not role.strip():
        raise ValueError("role: must be a non-empty string such as 'stop' or 'exit'")
    return role.strip()


def _dec_text(v: Decimal | None, name: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, Decimal) or not v.is_finite():
        raise ValueError(f"{name}: must be a finite Decimal, got {v!r}")
    return str(v)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(IST)


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    raise TypeError(f"detail: {type(o).__name__} is not JSON-serialisable")


def _effective_status(u: OrderUpdate) -> OrderStatus:
    """PARTIAL is derived from the filled quantity (brokers say 'open')."""
    if u.status.is_working and 0 < u.filled < u.quantity:
        return OrderStatus.PARTIAL
    return u.status


class Journal:
    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, synchronous: str = "FULL"):
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous: {synchronous!r}; use FULL (default) or NORMAL")
        self.path = Path(path)
        self._lock = interleave.Lock()
        self._tmpdir: Path | None = None
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn = self._conn
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ValueError(f"journal {self.path}: could not enable WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            self._close_conn()
            raise ValueError(f"journal {self.path}: not a usable SQLite journal ({e})") from e

    @classmethod
    def in_memory(cls) -> Journal:
        """A journal in a private temp directory, deleted on ``close()``
        (a real file, because SQLite's WAL mode needs one)."""
        d = Path(tempfile.mkdtemp(prefix="live8020-journal-"))
        j = cls(d / "journal.db", synchronous="NORMAL")
        j._tmpdir = d
        return j

    # --- lifecycle -------------------------------------------------------------

    def _close_conn(self) -> None:
        conn, self._conn = getattr(self, "_conn", None), None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._close_conn()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; rolled back on any error."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalClosedError(f"journal {self.path} is closed")
            if not write:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as c:
            exists = c.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
            ).fetchone()
            version = (
                c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                if exists
                else None
            )
            if version is not None and version > SCHEMA_VERSION:
                raise ValueError(
                    f"journal {self.path}: schema version {version} is newer than this code "
                    f"({SCHEMA_VERSION}); upgrade live8020"
                )
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            if version is None:
                c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    # --- pragmas / diagnostics --------------------------------------------------

    def journal_mode(self) -> str:
        with self._tx(write=False) as c:
            return str(c.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def schema_version(self) -> int:
        with self._tx(write=False) as c:
            return int(c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def integrity_check(self) -> str:
        with self._tx(write=False) as c:
            return str(c.execute("PRAGMA integrity_check").fetchone()[0])

    # --- intents ----------------------------------------------------------------

    def claim_entry(self, key: str, day: date, attempt: int, ts: datetime) -> int | None:
        """Claim entry attempt ``attempt`` (1-based) for ``key`` on ``day``.
        Returns the intent id, or None if the attempt was already claimed by
        anyone (this or another thread or process)."""
        k, d, t = _key(key), _day(day), _ts(ts)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(f"attempt: must be an int >= 1, got {attempt!r}")
        interleave.checkpoint("journal.claim_entry")
        with self._tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO intents (key, day, role, attempt, created_at)"
                " VALUES (?,?,?,?,?)",
                (k, d, ENTRY_ROLE, attempt, t.isoformat()),
            )
            return int(cur.lastrowid) if cur.rowcount == 1 else None

    def entries_claimed(self, key: str, day: date) -> int:
        k, d = _key(key), _day(day)
        with self._tx(write=False) as c:
            row = c.execute(
                "SELECT COUNT(*) FROM intents WHERE key=? AND day=? AND role=?", (k, d, ENTRY_ROLE)
            ).fetchone()
            return int(row[0])

    def record_intent(self, key: str, role: str, ts: datetime, detail: dict | None = None) -> int:
        k, r, t = _key(key), _role(role), _ts(ts)
        if r == ENTRY_ROLE:
            raise ValueError(
                "role: 'entry' intents must go through claim_entry (the duplicate guard)"
            )
        if detail is not None and not isinstance(detail, dict):
            raise ValueError(f"detail: must be a dict or None, got {type(detail).__name__}")
        blob = None if detail is None else json.dumps(detail, default=_json_default, sort_keys=True)
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO intents (key, day, role, attempt, created_at, detail)"
                " VALUES (?,?,?,?,?,?)",
                (k, t.date().isoformat(), r, None, t.isoformat(), blob),
            )
            return int(cur.lastrowid)

    def _check_intent(self, c: sqlite3.Connection, intent_id: int | None, key: str) -> None:
        if intent_id is None:
            return
        if not isinstance(intent_id, int) or isinstance(intent_id, bool):
            raise ValueError(f"intent_id: must be an int or None, got {intent_id!r}")
        row = c.execute("SELECT key FROM intents WHERE id=?", (intent_id,)).fetchone()
        if row is None:
            raise ValueError(f"intent_id: {intent_id} does not exist in the journal")
        if row[0] != key:
            raise ValueError(f"intent_id: {intent_id} belongs to {row[0]}, not {key}")

    def record_order(
        self,
        intent_id: int | None,
        key: str,
        role: str,
        order_id: str,
        request: OrderRequest,
        ts: datetime,
    ) -> None:
        """Bind broker order ``order_id`` to its intent and store the request.
        If an update for this order arrived first, its state is kept."""
        k, r, t = _key(key), _role(role), _ts(ts)
        if not isinstance(order_id, str) or not order_id.strip():
            raise ValueError("order_id: must be the broker's non-empty order id string")
        if not isinstance(request, OrderRequest):
            raise ValueError(f"request: must be an OrderRequest, got {type(request).__name__}")
        if _key(request.key) != k:
            raise ValueError(f"request: is for {request.key}, but key is {k}")
        price = _dec_text(request.price, "request.price")
        trigger = _dec_text(request.trigger_price, "request.trigger_price")
        # The lowest state this order can be in, so any real update supersedes it.
        initial = (
            OrderStatus.TRIGGER_PENDING
            if request.price_type in (PriceType.SL, PriceType.SL_M)
            else OrderStatus.OPEN
        )
        with self._tx() as c:
            self._check_intent(c, intent_id, k)
            row = c.execute("SELECT key, role FROM orders WHERE order_id=?", (order_id,)).fetchone()
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
                    order_id, intent_id, k, t.date().isoformat(), r, request.action.value,
                    request.price_type.value, request.product.value, request.quantity,
                    price, trigger, initial.value, t.isoformat(), t.isoformat(),
                ),
            )  # fmt: skip
            if intent_id is not None:
                c.execute(
                    "UPDATE intents SET state='bound', closed_at=COALESCE(closed_at, ?) WHERE id=?",
                    (t.isoformat(), intent_id),
                )

    def record_failure(
        self, intent_id: int | None, key: str, role: str, error: str, ts: datetime
    ) -> None:
        """Placement failed: no order exists. Closes the intent (or records a
        failed one if there was none)."""
        k, r, t = _key(key), _role(role), _ts(ts)
        err = str(error) if error is not None else ""
        with self._tx() as c:
            if intent_id is None:
                c.execute(
                    """INSERT INTO intents
                           (key, day, role, attempt, created_at, state, error, closed_at)
                       VALUES (?,?,?,?,?,'failed',?,?)""",
                    (k, t.date().isoformat(), r, None, t.isoformat(), err, t.isoformat()),
                )
                return
            self._check_intent(c, intent_id, k)
            state = c.execute("SELECT state FROM intents WHERE id=?", (intent_id,)).fetchone()[0]
            if state == IntentState.BOUND.value:
                # An order exists for it: a failure must not hide that order
                # from recovery. Keep it bound, note the error.
                c.execute("UPDATE intents SET error=? WHERE id=?", (err, intent_id))
                return
            c.execute(
                "UPDATE intents SET state='failed', error=?, closed_at=? WHERE id=?",
                (err, t.isoformat(), intent_id),
            )

    # --- order updates ----------------------------------------------------------

    def record_update(self, update: OrderUpdate, ts: datetime) -> bool:
        """Merge one observed order state. Returns True if anything changed.

        Progress is (status rank, filled quantity): a state with less progress
        is older and never overwrites; terminal states are final; filled
        quantity only grows, and each growth is a row in ``fills``."""
        if not isinstance(update, OrderUpdate):
            raise ValueError(f"update: must be an OrderUpdate, got {type(update).__name__}")
        t = _ts(ts)
        k = _key(update.key)
        new_status = _effective_status(update)
        new_filled = update.filled
        broker_ts = update.timestamp.astimezone(IST).isoformat() if update.timestamp else None
        with self._tx() as c:
            row = c.execute(
                """SELECT key, status, filled_quantity, average_price, quantity, broker_ts, action,
                          price, trigger_price FROM orders WHERE order_id=?""",
                (update.order_id,),
            ).fetchone()
            if row is None:
                c.execute(
                    """INSERT INTO orders (order_id, intent_id, key, day, role, action, price_type,
                           quantity, price, trigger_price, status, filled_quantity, average_price,
                           rejection_reason, broker_ts, placed_at, updated_at)
                       VALUES (?,NULL,?,?,?,?,?,?,?,?,?,0,'0',?,?,?,?)""",
                    (
                        update.order_id, k, t.date().isoformat(), UNBOUND_ROLE,
                        update.action.value,
                        update.price_type.value if update.price_type else None,
                        update.quantity, _dec_text(update.price, "price"),
                        _dec_text(update.trigger_price, "trigger_price"), new_status.value,
                        update.rejection_reason, broker_ts, t.isoformat(), t.isoformat(),
                    ),
                )  # fmt: skip
                self._add_fill(c, update, k, update.action, 0, Decimal(0), new_filled, t)
                if new_filled:
                    c.execute(
                        "UPDATE orders SET filled_quantity=?, average_price=? WHERE order_id=?",
                        (new_filled, str(update.average_price), update.order_id),
                    )
                return True
            (
                okey,
                ostat,
                old_filled,
                old_avg_t,
                old_qty,
                old_bts,
                oaction,
                old_price,
                old_trigger,
            ) = row
            if okey != k:
                raise ValueError(
                    f"update: order {update.order_id} is journaled for {okey}, not {k}"
                )
            old_status = OrderStatus(ostat)
            old_avg = Decimal(old_avg_t)
            action = Action(oaction)
            older_by_ts = broker_ts is not None and old_bts is not None and broker_ts < old_bts
            new_prog = (new_status.rank, new_filled)
            old_prog = (old_status.rank, old_filled)
            changed = False
            if new_filled > old_filled:
                self._add_fill(c, update, k, action, old_filled, old_avg, new_filled, t)
                c.execute(
                    "UPDATE orders SET filled_quantity=?, average_price=?, updated_at=?"
                    " WHERE order_id=?",
                    (new_filled, str(update.average_price), t.isoformat(), update.order_id),
                )
                changed = True
            status_moves = (
                not old_status.is_terminal
                and new_status != old_status
                and new_prog > old_prog
                and not older_by_ts
            )
            if status_moves:
                c.execute(
                    "UPDATE orders SET status=?, updated_at=? WHERE order_id=?",
                    (new_status.value, t.isoformat(), update.order_id),
                )
                changed = True
            if update.rejection_reason and (status_moves or new_status == old_status):
                c.execute(
                    "UPDATE orders SET rejection_reason=? WHERE order_id=?",
                    (update.rejection_reason, update.order_id),
                )
            # Modifications (a trailed stop's trigger): take the update's prices
            # if it is not older than what we hold. 0 means "not reported".
            if new_prog >= old_prog and not older_by_ts and not old_status.is_terminal:
                current = {"price": old_price, "trigger_price": old_trigger, "quantity": old_qty}
                wanted = {
                    "price": _dec_text(update.price, "price") if update.price else old_price,
                    "trigger_price": (
                        _dec_text(update.trigger_price, "trigger_price")
                        if update.trigger_price
                        else old_trigger
                    ),
                    "quantity": update.quantity if update.quantity >= old_filled else old_qty,
                }
                if broker_ts is not None:
                    current["broker_ts"], wanted["broker_ts"] = old_bts, broker_ts
                diff = {col: v for col, v in wanted.items() if v and v != current[col]}
                if diff:
                    c.execute(
                        f"UPDATE orders SET {', '.join(f'{col}=?' for col in diff)}"
                        " WHERE order_id=?",
                        (*diff.values(), update.order_id),
                    )
                    changed = True
            return changed

    @staticmethod
    def _add_fill(
        c: sqlite3.Connection,
        u: OrderUpdate,
        key: str,
        action: Action,
        old_filled: int,
        old_avg: Decimal,
        new_filled: int,
        t: datetime,
    ) -> None:
        if new_filled <= old_filled:
            return
        delta = new_filled - old_filled
        avg = u.average_price
        # The price of this slice, from the cumulative averages before/after.
        try:
            if old_filled and old_avg and avg:
                implied = ((avg * new_filled - old_avg * old_filled) / delta).quantize(
                    Decimal("0.0001")
                )
            else:
                implied = avg
        except InvalidOperation:
            implied = avg
        c.execute(
            """INSERT OR IGNORE INTO fills (order_id, key, day, action, quantity, price,
                   average_price, cumulative_quantity, ts) VALUES (?,?,?,?,?,?,?,?,?)""",
            (
                u.order_id, key, t.date().isoformat(), action.value, delta, str(implied),
                str(avg), new_filled, t.isoformat(),
            ),
        )  # fmt: skip

    # --- queries ----------------------------------------------------------------

    _ORDER_COLS = """order_id, key, role, action, price_type, quantity, price, trigger_price,
        status, filled_quantity, average_price, intent_id, placed_at, updated_at,
        rejection_reason"""

    @staticmethod
    def _order(row: tuple) -> JournalOrder:
        return JournalOrder(
            order_id=row[0],
            key=row[1],
            role=row[2],
            action=Action(row[3]),
            price_type=PriceType(row[4]) if row[4] else None,
            quantity=int(row[5]),
            price=_dec(row[6]),
            trigger_price=_dec(row[7]),
            status=OrderStatus(row[8]),
            filled_quantity=int(row[9]),
            average_price=Decimal(row[10]),
            intent_id=row[11],
            placed_at=_dt(row[12]),
            updated_at=_dt(row[13]),
            rejection_reason=row[14],
        )

    @staticmethod
    def _where(key: str | None, day: date | None, table: str = "") -> tuple[list[str], list[Any]]:
        p = f"{table}." if table else ""
        conds, args = [], []
        if key is not None:
            conds.append(f"{p}key=?")
            args.append(_key(key))
        if day is not None:
            conds.append(f"{p}day=?")
            args.append(_day(day))
        return conds, args

    def orders(
        self, key: str | None = None, day: date | None = None, *, include_unbound: bool = False
    ) -> list[JournalOrder]:
        """Orders the engine placed (oldest first). ``include_unbound`` adds
        orders seen only in updates, never bound to a ``record_order``."""
        conds, args = self._where(key, day)
        if not include_unbound:
            conds.append("role != ?")
            args.append(UNBOUND_ROLE)
        sql = f"SELECT {self._ORDER_COLS} FROM orders"
        sql += (" WHERE " + " AND ".join(conds)) if conds else ""
        with self._tx(write=False) as c:
            rows = c.execute(sql + " ORDER BY placed_at, rowid", args).fetchall()
        return [self._order(r) for r in rows]

    def open_orders(self, key: str | None = None) -> list[JournalOrder]:
        """The engine's orders not yet in a terminal state (any day)."""
        return [o for o in self.orders(key) if o.status.is_working]

    def order(self, order_id: str) -> JournalOrder | None:
        with self._tx(write=False) as c:
            row = c.execute(
                f"SELECT {self._ORDER_COLS} FROM orders WHERE order_id=?", (order_id,)
            ).fetchone()
        return None if row is None else self._order(row)

    @staticmethod
    def _intent(row: tuple) -> Intent:
        return Intent(
            id=row[0],
            key=row[1],
            day=date.fromisoformat(row[2]),
            role=row[3],
            attempt=row[4],
            created_at=_dt(row[5]),
            detail=None if row[6] is None else json.loads(row[6]),
            state=IntentState(row[7]),
            error=row[8],
        )

    def intents(
        self, key: str | None = None, day: date | None = None, *, state: IntentState | None = None
    ) -> list[Intent]:
        conds, args = self._where(key, day)
        if state is not None:
            conds.append("state=?")
            args.append(IntentState(state).value)
        sql = "SELECT id, key, day, role, attempt, created_at, detail, state, error FROM intents"
        sql += (" WHERE " + " AND ".join(conds)) if conds else ""
        with self._tx(write=False) as c:
            rows = c.execute(sql + " ORDER BY id", args).fetchall()
        return [self._intent(r) for r in rows]

    def unbound_intents(self, key: str | None = None, day: date | None = None) -> list[Intent]:
        """Intents with neither an order nor a failure: the engine may have
        crashed after sending the order. Look for them in the broker's
        orderbook before placing anything for that symbol."""
        return self.intents(key, day, state=IntentState.PENDING)

    def fills(
        self, key: str | None = None, day: date | None = None, *, include_unbound: bool = False
    ) -> list[Fill]:
        conds, args = self._where(key, day, "f")
        if not include_unbound:
            conds.append("o.role != ?")
            args.append(UNBOUND_ROLE)
        sql = """SELECT f.id, f.order_id, f.key, o.role, f.action, f.quantity, f.price,
                        f.average_price, f.cumulative_quantity, f.ts
                 FROM fills f JOIN orders o ON o.order_id = f.order_id"""
        sql += (" WHERE " + " AND ".join(conds)) if conds else ""
        with self._tx(write=False) as c:
            rows = c.execute(sql + " ORDER BY f.id", args).fetchall()
        return [
            Fill(
                id=r[0],
                order_id=r[1],
                key=r[2],
                role=r[3],
                action=Action(r[4]),
                quantity=int(r[5]),
                price=Decimal(r[6]),
                average_price=Decimal(r[7]),
                cumulative_quantity=int(r[8]),
                ts=_dt(r[9]),
            )
            for r in rows
        ]
