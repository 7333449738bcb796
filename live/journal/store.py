"""The journal's one SQLite connection, its lock, and its transactions.

One connection (``check_same_thread=False``) guarded by one short lock; every
write is its own ``BEGIN IMMEDIATE`` transaction, so another process sharing
the file waits on SQLite's busy timeout instead of failing. WAL mode,
``synchronous=FULL``: a committed row survives a killed process and a power
cut. A write that SQLite refuses is rolled back and raised as one type,
``JournalWriteError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from live import interleave

from .rows import JournalClosedError, JournalUnreadableError, JournalWriteError
from .schema import migrate

# SQLite's primary result codes for "this is not (or no longer) a database".
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


def is_corruption(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


class Store:
    def __init__(self, path: str | Path, *, busy_timeout: float, synchronous: str):
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous: {synchronous!r}; use FULL (default) or NORMAL")
        self.path = Path(path)
        self._lock = interleave.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn = self._conn
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ValueError(f"journal {self.path}: could not enable WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys=ON")
            with self.write("open") as c:
                migrate(c, self.path)
        except JournalWriteError as e:
            self.close()
            if is_corruption(e.sqlite_error):
                raise self._unreadable(e.sqlite_error) from e.sqlite_error
            raise
        except sqlite3.Error as e:
            self.close()
            if is_corruption(e):
                raise self._unreadable(e) from e
            raise JournalWriteError(self.path, "open", e) from e
        except BaseException:
            self.close()
            raise

    def _unreadable(self, e: sqlite3.Error) -> JournalUnreadableError:
        return JournalUnreadableError(self.path, str(e))

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalClosedError(f"journal {self.path} is closed")
        return self._conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._live()

    @contextmanager
    def write(self, operation: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction under the lock, committed at
        the end of the block and rolled back on any error."""
        with self._lock:
            conn = self._live()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise JournalWriteError(self.path, operation, e) from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                _rollback(conn)
                if isinstance(e, sqlite3.Error):
                    raise JournalWriteError(self.path, operation, e) from e
                raise


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back on its own (an I/O error, a full disk).
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
