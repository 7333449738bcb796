"""What the journal hands out: immutable rows, and its errors."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from live.broker import Action, OrderStatus, PriceType


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
    # The broker's cumulative average for ``filled_quantity``; 0 while the
    # broker has not reported one for that count (its own convention, so an
    # ``OrderUpdate`` rebuilt from this row means the same thing).
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
    """One growth of an order's filled quantity.

    ``price`` is None while the fill is *unpriced*: the broker reported the
    count with average 0 (OpenAlgo does until the order completes). It is
    priced, together with the slice that follows, when an update carries an
    average. A price of 0 is never handed out as if it were real.
    """

    id: int
    order_id: str
    key: str
    role: str
    action: Action
    quantity: int  # this fill's quantity (the growth of filled quantity)
    price: Decimal | None  # this slice's price; None: not known yet
    average_price: Decimal | None  # the order's cumulative average after it; None: not known
    cumulative_quantity: int
    ts: datetime

    @property
    def is_priced(self) -> bool:
        return self.price is not None


class JournalClosedError(RuntimeError):
    pass


class JournalWriteError(RuntimeError):
    """A journal write failed in SQLite (database locked past the busy
    timeout, disk I/O error, disk full...). The transaction was rolled back:
    nothing of the operation was written. ``sqlite_error`` is the cause."""

    def __init__(self, path: Path, operation: str, error: sqlite3.Error):
        super().__init__(
            f"journal {path}: {operation} failed and was rolled back, nothing written ({error})"
        )
        self.path = path
        self.operation = operation
        self.sqlite_error = error


class JournalUnreadableError(ValueError):
    """The file is not a usable journal: not SQLite, corrupt, or another
    program's database. ``open_for`` refuses such a file (JournalCorruptError)."""

    def __init__(self, path: Path, detail: str):
        super().__init__(f"journal {path}: not a usable SQLite journal ({detail})")
        self.path = path
        self.detail = detail


class JournalCorruptError(ValueError):
    """``open_for`` found a file that is not a readable journal. It is not
    moved aside: mid-day it may be the only record of what the engine
    placed today, and a fresh journal would neither know the open
    positions as ours nor the entry attempts already used."""

    def __init__(self, path: Path, why: str):
        super().__init__(
            f"journal {path} {why}: not starting on it. If the engine traded today, keep the "
            "file and check your positions and orders at the broker; to start a fresh journal, "
            f"move it aside: mv {path} {path}.bad"
        )
        self.path = path


class JournalInUseError(RuntimeError):
    """``open_for`` found another world's journal still open in another
    process: moving it aside under that process would let its SQLite
    connection delete the fresh journal's WAL. Nothing was moved."""
