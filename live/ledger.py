"""Buying-power reservations for in-flight orders (safety property P5).

The incidents in shared/seeds/000 and 001 are one bug: several orders sized
on the same cash figure, each unaware of the others, so the broker rejects
the later ones (or a backtest spends money it does not have). The fix is a
reservation taken *before* the broker call, in one short critical section that
checks and reserves together:

    if ledger.reserve(key, amount): place the order ... else: skip it.

A reservation is released when its order is cancelled or rejected, and
consumed when it fills (the cash is then spent, and stays spent locally until
the next funds refresh from the broker replaces the cash figure).

A funds refresh races with fills: a ``funds`` reply read before a fill but
applied after it would give the spent cash back. ``refresh`` therefore takes
the ``epoch`` read before the call and is ignored if any fill was consumed
since (re-check before commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from live.interleave import Lock, checkpoint


@dataclass(frozen=True)
class LedgerSnapshot:
    cash: Decimal
    reserved: Decimal
    available: Decimal
    epoch: int
    reservations: tuple[tuple[str, Decimal], ...]


class BuyingPowerLedger:
    def __init__(self, cash: Decimal):
        if not isinstance(cash, Decimal) or not cash.is_finite():
            raise ValueError(f"cash: must be a finite Decimal, got {cash!r}")
        self._lock = Lock()
        self._cash = cash
        self._reservations: dict[str, Decimal] = {}
        self._epoch = 0

    def reserve(self, ref: str, amount: Decimal) -> bool:
        """Reserve ``amount`` under ``ref`` if that much is free; all or nothing."""
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            raise ValueError(f"amount: must be a Decimal >= 0, got {amount!r}")
        checkpoint("ledger.reserve")
        with self._lock:
            if ref in self._reservations:
                raise ValueError(f"ref: {ref!r} already holds a reservation; release it first")
            if self._cash - self._reserved() < amount:
                return False
            self._reservations[ref] = amount
            return True

    def release(self, ref: str) -> Decimal:
        """Return a reservation to the pool (cancel, reject, failed call)."""
        checkpoint("ledger.release")
        with self._lock:
            return self._reservations.pop(ref, Decimal(0))

    def consume(self, ref: str, spent: Decimal) -> None:
        """A fill spent ``spent``: drop up to that much of the reservation and
        deduct it from cash until the broker's next funds figure."""
        checkpoint("ledger.consume")
        with self._lock:
            held = self._reservations.get(ref, Decimal(0))
            left = held - spent
            if left > 0:
                self._reservations[ref] = left
            else:
                self._reservations.pop(ref, None)
            self._cash -= spent
            self._epoch += 1

    def credit(self, amount: Decimal) -> None:
        """Cash returned by an exit (margin released), until the next refresh."""
        with self._lock:
            self._cash += amount
            self._epoch += 1

    @property
    def epoch(self) -> int:
        with self._lock:
            return self._epoch

    def refresh(self, cash: Decimal, *, epoch: int) -> bool:
        """Replace the cash figure with the broker's, unless a fill or exit
        was booked since ``epoch`` was read (then the reply is stale)."""
        with self._lock:
            if epoch != self._epoch:
                return False
            self._cash = cash
            return True

    def available(self) -> Decimal:
        with self._lock:
            return self._cash - self._reserved()

    def snapshot(self) -> LedgerSnapshot:
        with self._lock:
            reserved = self._reserved()
            return LedgerSnapshot(
                cash=self._cash,
                reserved=reserved,
                available=self._cash - reserved,
                epoch=self._epoch,
                reservations=tuple(sorted(self._reservations.items())),
            )

    def _reserved(self) -> Decimal:
        return sum(self._reservations.values(), Decimal(0))
