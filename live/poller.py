"""The polling thread: the orderbook and positionbook are the broker's truth.

Every cycle makes exactly one ``orderbook`` and one ``positionbook`` call for
all symbols (never one per symbol), turns every change in one of our orders
into ``on_order_update`` and each symbol's position into ``sync_position``,
then lets each state run its own checks (``poll``: entry retries, emergency
stops, the cutoff). It is also the fallback when the WebSocket carries no
order updates, and it reconciles at once after every feed reconnect, since
updates missed while disconnected are never replayed.

A failed broker call costs one cycle, never the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from live.broker import Broker, BrokerError, OrderUpdate, Product
from live.clock import Clock
from live.ledger import BuyingPowerLedger
from live.logs import log_event
from live.reconcile import enrich, held_by_key


class PolledState(Protocol):
    symbol: str

    def on_order_update(self, update: OrderUpdate, ts: datetime | None = None) -> None: ...

    def sync_position(self, broker_qty: int, ts: datetime, epoch: int | None = None) -> None: ...

    def poll(self, ts: datetime) -> None: ...

    def book_seen(self, ts: datetime) -> None: ...


@dataclass(frozen=True)
class CycleStats:
    at: datetime
    broker_calls: int
    updates: int
    seconds: float
    ok: bool


class Poller:
    def __init__(
        self,
        broker: Broker,
        states: dict[str, PolledState],
        clock: Clock,
        *,
        interval: float = 5.0,
        ledger: BuyingPowerLedger | None = None,
        funds_every: int = 6,
        on_cycle: Callable[[CycleStats], None] | None = None,
        product: Product = Product.MIS,
    ):
        if interval <= 0:
            raise ValueError(f"interval: must be > 0 seconds, got {interval}")
        self.broker = broker
        self.states = states
        self.clock = clock
        self.interval = interval
        self.ledger = ledger
        self.funds_every = max(1, funds_every)
        self.product = product
        self._on_cycle = on_cycle
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycles = 0
        self._cycle_lock = threading.Lock()  # one cycle at a time (thread + reconcile_now)
        self.cycles_failed = 0

    # --- the thread --------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def kick(self) -> None:
        """Run a cycle now (after a feed reconnect) instead of at the next tick of the timer."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - one bad cycle must not end polling
                self.cycles_failed += 1
                log_event("POLL_CYCLE_FAILED", level=logging.ERROR,
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            self._wake.wait(self.interval)
            self._wake.clear()

    def alive(self) -> bool:
        """Running, or stopped on purpose (False only for a thread that died)."""
        return self._thread is None or self._thread.is_alive() or self._stopping.is_set()

    def restart(self) -> None:
        """Start a new polling thread after the last one died."""
        if not self.alive():
            self.start()

    # --- one cycle -----------------------------------------------------------

    def run_once(self) -> CycleStats:
        with self._cycle_lock:
            return self._cycle()

    def _cycle(self) -> CycleStats:
        t0 = time.perf_counter()
        ts = self.clock.now()
        calls = 0
        updates = 0
        ok = True
        self._cycles += 1
        epoch = self.ledger.epoch if self.ledger is not None else 0
        try:
            calls += 1
            book = self.broker.orderbook()
            trades = self._trades()
            calls += trades is not None
            # Each symbol's fill count before the positionbook is read: a
            # figure read before a fill it has applied since is stale.
            fills = {k: self._fill_epoch(s) for k, s in self.states.items()}
            calls += 1
            positions = self.broker.positions()
        except BrokerError as exc:
            ok = False
            self.cycles_failed += 1
            log_event("POLL_FAILED", level=logging.WARNING, error=str(exc), transient=exc.transient)
            book, positions, trades = None, None, None
        if book is not None:
            # Every row, every cycle: a state drops what it has seen in
            # memory, and a row it could not place yet (an order whose id is
            # still unknown to it) must come again.
            for u in enrich(book, trades or []):
                state = self.states.get(u.key)
                if state is None:
                    continue
                updates += 1
                self._safely(state, "on_order_update", u, ts)
            for state in self.states.values():
                self._safely(state, "book_seen", ts)
            held = held_by_key(positions or [], self.product)
            for key, state in self.states.items():
                self._safely(state, "sync_position", held.get(key, 0), ts, fills.get(key))
        for state in self.states.values():
            self._safely(state, "poll", ts)
        if ok and self.ledger is not None and self._cycles % self.funds_every == 0:
            try:
                calls += 1
                funds = self.broker.funds()
                self.ledger.refresh(funds.available_cash, epoch=epoch)
            except BrokerError as exc:
                log_event("FUNDS_FAILED", level=logging.WARNING, error=str(exc))
        stats = CycleStats(
            at=ts, broker_calls=calls, updates=updates, seconds=time.perf_counter() - t0, ok=ok
        )
        log_event(
            "POLL_CYCLE",
            level=logging.DEBUG,
            calls=calls,
            updates=updates,
            seconds=round(stats.seconds, 4),
        )
        if self._on_cycle is not None:
            self._on_cycle(stats)
        return stats

    def _trades(self) -> list | None:
        """The tradebook, when the broker has one (fills the orderbook hides)."""
        tradebook = getattr(self.broker, "tradebook", None)
        if tradebook is None:
            return None
        try:
            return tradebook()
        except BrokerError as exc:
            log_event("TRADEBOOK_FAILED", level=logging.WARNING, error=str(exc))
            return None

    @staticmethod
    def _fill_epoch(state: PolledState) -> int | None:
        read = getattr(state, "fill_epoch", None)
        return read() if read is not None else None

    def check_order(self, key: str, order_id: str) -> None:
        """Ask for one order's status now (a tick crossed its trigger)."""
        state = self.states.get(key)
        if state is None:
            return
        try:
            u = self.broker.order_status(order_id)
        except BrokerError as exc:
            log_event(
                "STATUS_FAILED",
                symbol=key,
                level=logging.WARNING,
                order_id=order_id,
                error=str(exc),
            )
            return
        self._safely(state, "on_order_update", u, self.clock.now())

    def _safely(self, state: PolledState, method: str, *args) -> None:
        try:
            getattr(state, method)(*args)
        except Exception as exc:  # noqa: BLE001 - one symbol's bad data must not stop the others
            log_event(
                "POLL_HANDLER_FAILED",
                symbol=getattr(state, "symbol", None),
                level=logging.ERROR,
                method=method,
                error=f"{type(exc).__name__}: {exc}",
            )
