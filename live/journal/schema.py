"""The journal's tables, and the upgrades of older files in place.

Versions:

- v1: intents, orders, fills (prices as TEXT Decimal strings, never REAL).
- v2: ``meta`` (which broker world the file belongs to); a fill's ``price``
  and ``average_price`` may be NULL (unpriced: the broker reported the count
  with average 0); ``orders.priced_filled`` (how many units the order's
  ``average_price`` covers). Upgrading a v1 file re-derives every fill's
  price from the cumulative averages the broker reported, with
  ``live.orders.fill_slice``: v1 booked a slice reported with average 0 at
  price 0 and then mispriced the slice after it.
- v3: ``plan`` (the day's instruments and prior bars) and ``session_bars``
  (the session's minute bars): a restart the same day asks the broker for
  none of them (``live.journal.plan``).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from live.orders import FillPoint, fill_slice

from .rows import JournalUnreadableError

SCHEMA_VERSION = 3

_FILLS = """
CREATE TABLE IF NOT EXISTS {name} (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id            TEXT    NOT NULL REFERENCES orders(order_id),
    key                 TEXT    NOT NULL,
    day                 TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity > 0),
    price               TEXT,
    average_price       TEXT,
    cumulative_quantity INTEGER NOT NULL,
    ts                  TEXT    NOT NULL,
    UNIQUE (order_id, cumulative_quantity),
    CHECK (price IS NULL OR CAST(price AS REAL) > 0)
)"""

_TABLES = [
    """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS intents (
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
)""",
    """CREATE TABLE IF NOT EXISTS orders (
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
    updated_at       TEXT    NOT NULL,
    priced_filled    INTEGER NOT NULL DEFAULT 0
)""",
    "CREATE INDEX IF NOT EXISTS orders_key_day ON orders (key, day)",
    _FILLS.format(name="fills"),
    "CREATE INDEX IF NOT EXISTS fills_key_day ON fills (key, day)",
]


PLAN_TABLES = [
    """CREATE TABLE IF NOT EXISTS plan (
    day        TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    tick_size  TEXT    NOT NULL,
    lot_size   INTEGER NOT NULL CHECK (lot_size > 0),
    name       TEXT    NOT NULL DEFAULT '',
    bars       TEXT    NOT NULL,
    PRIMARY KEY (day, key)
)""",
    """CREATE TABLE IF NOT EXISTS session_bars (
    day    TEXT NOT NULL,
    key    TEXT NOT NULL,
    minute TEXT NOT NULL,
    open   TEXT NOT NULL,
    high   TEXT NOT NULL,
    low    TEXT NOT NULL,
    close  TEXT NOT NULL,
    PRIMARY KEY (day, key, minute)
)""",
]


def migrate(c: sqlite3.Connection, path: Path) -> None:
    """Bring the file to ``SCHEMA_VERSION`` (inside the caller's transaction)."""
    tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" not in tables:
        if tables - {"sqlite_sequence"}:
            raise JournalUnreadableError(
                path, f"another program's database: tables {sorted(tables)}, no schema_version"
            )
        for stmt in _TABLES + PLAN_TABLES:
            c.execute(stmt)
        c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        return
    version = c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    if version is None or version < 1:
        raise JournalUnreadableError(path, "schema_version holds no version")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"journal {path}: schema version {version} is newer than this code "
            f"({SCHEMA_VERSION}); upgrade live8020"
        )
    if version == 1:
        _v1_to_v2(c, path)
        c.execute("UPDATE schema_version SET version = 2")
        version = 2
    if version == 2:
        for stmt in PLAN_TABLES:
            c.execute(stmt)
        c.execute("UPDATE schema_version SET version = 3")


def _v1_to_v2(c: sqlite3.Connection, path: Path) -> None:
    c.execute(_TABLES[1])  # meta
    c.execute("ALTER TABLE orders ADD COLUMN priced_filled INTEGER NOT NULL DEFAULT 0")
    # v1 stored the broker's "not reported" 0 as an order's price on orders first
    # seen in an update.
    c.execute("UPDATE orders SET price = NULL WHERE price = '0'")
    c.execute("UPDATE orders SET trigger_price = NULL WHERE trigger_price = '0'")
    # SQLite cannot relax NOT NULL in place: rebuild fills, re-pricing every row.
    c.execute(_FILLS.format(name="fills_v2"))
    rows = c.execute(
        """SELECT id, order_id, key, day, action, quantity, average_price,
                  cumulative_quantity, ts FROM fills ORDER BY order_id, cumulative_quantity"""
    ).fetchall()
    point, current = FillPoint(), None
    for r in rows:
        if r[1] != current:
            _set_priced_point(c, current, point)
            point, current = FillPoint(), r[1]
        average = _average(r, path)
        point, s = fill_slice(point, int(r[7]), average)
        if s.repriced:
            c.execute(
                "UPDATE fills_v2 SET price=? WHERE order_id=? AND price IS NULL",
                (str(s.price), current),
            )
        c.execute(
            """INSERT INTO fills_v2 (id, order_id, key, day, action, quantity, price,
                   average_price, cumulative_quantity, ts) VALUES (?,?,?,?,?,?,?,?,?,?)""",
            (
                r[0], r[1], r[2], r[3], r[4], r[5],
                None if s.price is None else str(s.price),
                str(average) if average > 0 else None, r[7], r[8],
            ),
        )  # fmt: skip
    _set_priced_point(c, current, point)
    c.execute("DROP TABLE fills")
    c.execute("ALTER TABLE fills_v2 RENAME TO fills")
    c.execute("CREATE INDEX IF NOT EXISTS fills_key_day ON fills (key, day)")


def _average(row: tuple, path: Path) -> Decimal:
    try:
        average = Decimal(row[6])
    except (ArithmeticError, TypeError, ValueError):
        average = Decimal("NaN")
    if not average.is_finite():
        raise JournalUnreadableError(
            path, f"fills row {row[0]}: average_price {row[6]!r} is not a number"
        )
    return average


def _set_priced_point(c: sqlite3.Connection, order_id: str | None, point: FillPoint) -> None:
    if order_id is not None:
        c.execute(
            "UPDATE orders SET priced_filled=?, average_price=? WHERE order_id=?",
            (point.priced_filled, str(point.priced_average), order_id),
        )
