"""Small helpers shared by the support tests."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from live.clock import IST


def at(hh: int, mm: int = 0, ss: int = 0, *, day: int = 20, month: int = 11) -> datetime:
    """An aware IST datetime in November 2026 (the 20th is a Friday)."""
    return datetime(2026, month, day, hh, mm, ss, tzinfo=IST)


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Bounded wait on real threads/processes. Not a timed assertion: the
    timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


V1_JOURNAL_DUMP = Path(__file__).parent / "data" / "journal_v1.sql"


def make_v1(path: Path) -> Path:
    """A schema v1 journal file as the v1 code left it (WAL mode), rebuilt
    out of its dump (data/journal_v1.sql, which says what it holds)."""
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.executescript(V1_JOURNAL_DUMP.read_text())
    raw.close()
    return path
