"""The entry gate: risk slot + buying-power reservation + journal attempt claim, as one unit.

An entry order goes to the broker only with all three held: a slot under
``max_open_positions`` and the brakes (``RiskManager.try_open``), cash the
order will block reserved before the call so two entries can never be sized
on the same rupees (P5, seeds 000/001), and attempt N claimed in the journal
so no thread or process can place it twice (P1 across restarts). They are
taken in that order and, if any step refuses or raises, the ones already
taken are given back before the refusal is returned: an admission is never
half-held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from live.ledger import BuyingPowerLedger
from live.logs import log_event


@dataclass(frozen=True)
class Admission:
    ref: str  # the ledger reservation
    attempt: int
    intent_id: int | None  # the journal's claim


@dataclass(frozen=True)
class Refusal:
    reason: str
    code: str  # risk code, "buying_power", "claimed" or "error"
    spent: bool = False  # the attempt number is used up (another process claimed it)


class EntryGate:
    def __init__(
        self,
        symbol: str,
        *,
        risk: Any = None,
        ledger: BuyingPowerLedger | None = None,
        journal: Any = None,
    ):
        self.symbol = symbol
        self.risk = risk
        self.ledger = ledger
        self.journal = journal

    def admit(
        self,
        ref: str,
        attempt: int,
        qty: int,
        margin: Decimal,
        ts: datetime,
        *,
        retry: bool,
        shape: dict | None = None,
    ) -> Admission | Refusal:
        """Take everything an entry needs, or nothing. A retry of an
        admitted attempt still holds its slot and reservation: it only
        records its new intent."""
        if retry:
            try:
                intent = self._intent(attempt, ts, retry=True, shape=shape)
            except Exception as exc:  # noqa: BLE001 - the journal failed: do not place blind
                return Refusal(f"journal: {type(exc).__name__}: {exc}", "error")
            return Admission(ref, attempt, intent)
        taken: list[str] = []
        try:
            if self.risk is not None:
                decision = self.risk.try_open(self.symbol, qty, ts)
                if not decision.allowed:
                    return Refusal(f"risk: {decision.reason}", str(decision.code))
                taken.append("risk")
            if self.ledger is not None:
                if not self.ledger.reserve(ref, margin):
                    self._give_back(ref, taken)
                    return Refusal(
                        f"buying power: need {margin}, have {self.ledger.available()}",
                        "buying_power",
                    )
                taken.append("ledger")
            intent = self._intent(attempt, ts, retry=False, shape=shape)
            if intent is False:
                self._give_back(ref, taken)
                return Refusal(f"attempt {attempt} already claimed", "claimed", spent=True)
        except Exception as exc:  # noqa: BLE001 - any failure gives back what was taken
            self._give_back(ref, taken)
            return Refusal(f"{type(exc).__name__}: {exc}", "error")
        return Admission(ref, attempt, intent)

    def _intent(
        self, attempt: int, ts: datetime, *, retry: bool, shape: dict | None
    ) -> int | None | bool:
        if self.journal is None:
            return None
        if retry:
            detail = {"attempt": attempt, **(shape or {})}
            return self.journal.record_intent(self.symbol, "entry_retry", ts, detail)
        claimed = self.journal.claim_entry(self.symbol, ts.date(), attempt, ts, shape)
        return False if claimed is None else claimed

    def placed(self, admission: Admission) -> None:
        """The broker accepted (or may have accepted) the order: from now on
        its funds figure includes it."""
        if self.ledger is not None:
            self._quietly(self.ledger.placed, admission.ref)

    def release(self, ref: str) -> None:
        """The entry never became an order (or ended unfilled before any
        funds reply covered it): its reservation and risk slot go back."""
        self._give_back(ref, ["risk", "ledger"])

    def _give_back(self, ref: str, taken: list[str]) -> None:
        if "ledger" in taken and self.ledger is not None:
            self._quietly(self.ledger.release, ref)
        if "risk" in taken and self.risk is not None:
            self._quietly(self.risk.release, self.symbol)

    def _quietly(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must never strand the caller
            log_event("GATE_ERROR", symbol=self.symbol, level=logging.ERROR,
                      call=getattr(fn, "__name__", str(fn)), error=f"{type(exc).__name__}: {exc}")  # fmt: skip
