"""Buying-power reservations for in-flight orders (safety property P5).

The incidents in shared/seeds/000 and 001 are one bug: several orders sized
on the same cash figure, each unaware of the others, so the broker rejects
the later ones (or a backtest spends money it does not have). The fix is a
reservation taken *before* the broker call, in one short critical section that
checks and reserves together:

    if ledger.reserve(ref, amount): place the order ... else: skip it.

Where the cash figure comes from matters as much. It is only ever the
broker's (``funds``), and Indian brokers report it *net* of the margin their
working orders and open positions block. So the ledger never books fills or
exits into cash itself (a local "spent" or "freed" racing a funds reply is
counted twice, once by each); instead a reservation lives until a funds reply
that provably includes its order retires it:

* ``reserve`` before the call; ``release`` if the order never reached the
  broker, or ended with nothing filled before any refresh covered it;
* ``placed`` once the broker has accepted the order: it gets a sequence number
  (the ledger's epoch);
* the poller reads ``epoch`` *before* asking for funds and hands it back with
  the reply: ``refresh(cash, epoch=e)`` takes the broker's cash and retires
  every reservation placed at or before ``e`` (the broker had blocked their
  margin when it answered). A reservation placed later stays.

Freed margin (an exit, a cancel after the broker blocked margin) becomes
available only when the broker's next figure shows it: conservative, never
optimistic.
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


@dataclass
class _Reservation:
    amount: Decimal
    placed_epoch: int | None = None  # set when the broker accepted the order


def _money(value: object, name: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name}: must be a finite Decimal, got {value!r}")
    return value


class BuyingPowerLedger:
    def __init__(self, cash: Decimal):
        self._lock = Lock()
        self._cash = _money(cash, "cash")
        self._reservations: dict[str, _Reservation] = {}
        self._epoch = 0  # how many placements have been marked
        self._refreshed = -1  # epoch of the newest funds reply applied

    def reserve(self, ref: str, amount: Decimal) -> bool:
        """Reserve ``amount`` under ``ref`` if that much is free; all or nothing."""
        if _money(amount, "amount") < 0:
            raise ValueError(f"amount: must be >= 0, got {amount}")
        checkpoint("ledger.reserve")
        with self._lock:
            if ref in self._reservations:
                raise ValueError(f"ref: {ref!r} already holds a reservation; release it first")
            if self._cash - self._reserved() < amount:
                return False
            self._reservations[ref] = _Reservation(amount)
            return True

    def placed(self, ref: str) -> None:
        """The broker accepted (or may have accepted) ``ref``'s order."""
        checkpoint("ledger.placed")
        with self._lock:
            res = self._reservations.get(ref)
            if res is not None and res.placed_epoch is None:
                self._epoch += 1
                res.placed_epoch = self._epoch

    def consume(self, ref: str, spent: Decimal) -> None:
        """``ref``'s order filled, tying up ``spent``: hold at least that much
        until a funds reply covers it (a fill can cost more than reserved)."""
        _money(spent, "spent")
        checkpoint("ledger.consume")
        with self._lock:
            res = self._reservations.get(ref)
            if res is not None and spent > res.amount:
                res.amount = spent

    def settle(self, ref: str, keep: Decimal) -> None:
        """``ref``'s order is finished with ``keep`` tied up (the margin of what
        filled; 0 for nothing): shrink the reservation to it, or drop it."""
        _money(keep, "keep")
        checkpoint("ledger.settle")
        with self._lock:
            res = self._reservations.get(ref)
            if res is None:
                return
            if keep <= 0:
                del self._reservations[ref]
            else:
                res.amount = min(res.amount, keep)

    def release(self, ref: str) -> Decimal:
        """Drop a reservation whose order never reached the broker."""
        checkpoint("ledger.release")
        with self._lock:
            res = self._reservations.pop(ref, None)
            return res.amount if res is not None else Decimal(0)

    @property
    def epoch(self) -> int:
        """Read this before asking the broker for funds; pass it to ``refresh``."""
        with self._lock:
            return self._epoch

    def refresh(self, cash: Decimal, *, epoch: int) -> bool:
        """Take the broker's available cash, read after ``epoch`` was: it
        already reflects every order placed up to then. False (and nothing
        changes) for a reply older than one already applied."""
        _money(cash, "cash")
        checkpoint("ledger.refresh")
        with self._lock:
            if epoch < self._refreshed:
                return False
            self._cash = cash
            self._refreshed = epoch
            for ref in [
                r
                for r, res in self._reservations.items()
                if res.placed_epoch is not None and res.placed_epoch <= epoch
            ]:
                del self._reservations[ref]
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
                reservations=tuple(
                    sorted((r, res.amount) for r, res in self._reservations.items())
                ),
            )

    def _reserved(self) -> Decimal:
        return sum((res.amount for res in self._reservations.values()), Decimal(0))
