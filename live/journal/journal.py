"""``Journal``: the engine's one handle on the journal file, over a store
(connection, lock, transactions), the write side (claims, intents, orders,
failures), the update merge, and the query side."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from live.broker import OrderRequest, OrderUpdate

from .plan import MinuteBar, PlanRow, Plans
from .reads import Reads
from .rows import Fill, Intent, IntentState, JournalOrder
from .store import Store
from .updates import Updates
from .world import World
from .writes import Writes

if TYPE_CHECKING:
    from .opening import OpenedJournal

_WORLD = "world"


class Journal:
    """Every method is thread-safe; every write is one transaction that
    either commits whole or raises (``JournalWriteError`` when SQLite
    refuses it, ``ValueError`` for bad input) having written nothing."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0, synchronous: str = "FULL"):
        self._store = Store(path, busy_timeout=busy_timeout, synchronous=synchronous)
        self._writes = Writes(self._store)
        self._updates = Updates(self._store)
        self._reads = Reads(self._store)
        self._plans = Plans(self._store)
        self._tmpdir: Path | None = None

    @classmethod
    def in_memory(cls) -> Journal:
        """A journal in a private temp directory, deleted on ``close()``
        (a real file, because SQLite's WAL mode needs one)."""
        d = Path(tempfile.mkdtemp(prefix="live8020-journal-"))
        j = cls(d / "journal.db", synchronous="NORMAL")
        j._tmpdir = d
        return j

    @classmethod
    def open_for(
        cls,
        path: str | Path,
        world: World,
        *,
        today: date,
        now: datetime | None = None,
        busy_timeout: float = 30.0,
    ) -> OpenedJournal:
        """The journal at ``path`` if it belongs to ``world``, else a fresh
        one with the old file moved aside; see ``live.journal.opening``."""
        from .opening import open_for

        return open_for(path, world, today=today, now=now, busy_timeout=busy_timeout)

    @property
    def path(self) -> Path:
        return self._store.path

    # --- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        self._store.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- diagnostics ------------------------------------------------------------

    def journal_mode(self) -> str:
        return self._reads.pragma("journal_mode").lower()

    def schema_version(self) -> int:
        return self._reads.schema_version()

    def integrity_check(self) -> str:
        return self._reads.pragma("integrity_check")

    def quick_check(self) -> str:
        """'ok', or SQLite's first complaint; cheaper than ``integrity_check``."""
        return self._reads.pragma("quick_check")

    # --- world ------------------------------------------------------------------

    def world(self) -> World | None:
        """The broker world this file belongs to; None for a file from before
        worlds were recorded. Raises ValueError if the record is unreadable."""
        text = self._reads.meta(_WORLD)
        return None if text is None else World.from_json(text)

    def record_world(self, world: World) -> None:
        """Mark the file as ``world``'s. The engine should use ``open_for``,
        which decides whether the file may be marked so."""
        if not isinstance(world, World):
            raise ValueError(f"world: must be a World, got {type(world).__name__}")
        with self._store.write("record_world") as c:
            c.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (_WORLD, world.to_json()),
            )

    # --- writes -----------------------------------------------------------------

    def claim_entry(
        self, key: str, day: date, attempt: int, ts: datetime, detail: dict | None = None
    ) -> int | None:
        """Claim entry attempt ``attempt`` (1-based) for ``key`` on ``day``.
        Returns the intent id, or None if the attempt was already claimed by
        anyone (this or another thread or process): ``UNIQUE(key, day,
        attempt)`` is the duplicate-entry guard. ``detail`` records the
        order's shape, so a restart can find it at the broker if the engine
        died before its id was journaled."""
        return self._writes.claim_entry(key, day, attempt, ts, detail)

    def record_intent(self, key: str, role: str, ts: datetime, detail: dict | None = None) -> int:
        """What the engine is about to do (stop, exit, cancel...), written
        before the broker call."""
        return self._writes.record_intent(key, role, ts, detail)

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
        self._writes.record_order(intent_id, key, role, order_id, request, ts)

    def record_failure(
        self, intent_id: int | None, key: str, role: str, error: str, ts: datetime
    ) -> None:
        """Placement failed: no order exists. Closes the intent (or records a
        failed one if there was none)."""
        self._writes.record_failure(intent_id, key, role, error, ts)

    def record_update(self, update: OrderUpdate, ts: datetime) -> bool:
        """Merge one observed order state by ``live.orders``'s rule. Returns
        True if anything changed. An older update changes nothing; terminal
        states are final; filled quantity only grows, each growth a row in
        ``fills``, unpriced while the broker reports average 0."""
        return self._updates.record_update(update, ts)

    # --- the day's plan ----------------------------------------------------------

    def record_plan(self, day: date, rows: dict[str, PlanRow]) -> None:
        """The day's instruments and prior bars, one transaction for all."""
        self._plans.record_plan(day, rows)

    def plan(self, day: date) -> dict[str, PlanRow]:
        """``day``'s plan (empty before the first start of the day)."""
        return self._plans.plan(day)

    def record_bars(self, day: date, bars: list[MinuteBar]) -> None:
        """Session minute bars (upserted: a minute seen twice widens)."""
        self._plans.record_bars(day, bars)

    def session_bars(self, day: date) -> dict[str, list[MinuteBar]]:
        return self._plans.bars(day)

    # --- queries ----------------------------------------------------------------

    def entries_claimed(self, key: str, day: date) -> int:
        return self._reads.entries_claimed(key, day)

    def orders(
        self, key: str | None = None, day: date | None = None, *, include_unbound: bool = False
    ) -> list[JournalOrder]:
        """Orders the engine placed (oldest first). ``include_unbound`` adds
        orders seen only in updates, never bound to a ``record_order``."""
        return self._reads.orders(key, day, include_unbound)

    def open_orders(self, key: str | None = None) -> list[JournalOrder]:
        """The engine's orders not yet in a terminal state (any day)."""
        return [o for o in self.orders(key) if o.status.is_working]

    def order(self, order_id: str) -> JournalOrder | None:
        return self._reads.order(order_id)

    def intents(
        self, key: str | None = None, day: date | None = None, *, state: IntentState | None = None
    ) -> list[Intent]:
        return self._reads.intents(key, day, state)

    def unbound_intents(self, key: str | None = None, day: date | None = None) -> list[Intent]:
        """Intents with neither an order nor a failure: the engine may have
        crashed after sending the order. Look for them in the broker's
        orderbook before placing anything for that symbol."""
        return self.intents(key, day, state=IntentState.PENDING)

    def fills(
        self, key: str | None = None, day: date | None = None, *, include_unbound: bool = False
    ) -> list[Fill]:
        """Fills in journal order. A fill's ``price`` is None while unpriced
        (reported with average 0); it is never 0."""
        return self._reads.fills(key, day, include_unbound)
