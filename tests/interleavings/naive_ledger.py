"""The buying-power bug of shared/seeds/000 and 001, as a SymbolState would write it.

``NaiveLedgerSymbolState`` is the naive symbol of tests/races/naive.py whose
entry checks the shared ledger's *available* cash, places the order, and
only then books the cash: check, slow call, act. Two symbols that trigger on
the same bar both see the cash free and both place ("selected within budget",
000), so the orders together tie up more than the account holds. The fix the
real SymbolState uses is a reservation taken before the call in one critical
section (``ledger.reserve``). Do not fix this class: it proves the ledger
scenarios can fail.
"""

from __future__ import annotations

from decimal import Decimal

from live.broker import BrokerError, OrderStatus, PriceType
from live.ledger import BuyingPowerLedger
from tests.races.naive import NaiveSymbolState


class LocalBookLedger(BuyingPowerLedger):
    """The ledger design the catalogue caught (bp-refresh, bp-exit): fills and
    exits booked into the cash figure locally, and a funds reply accepted
    when no local booking happened since it was requested. A reply read
    after the broker's fill or exit but applied before the local booking
    makes the booking count twice."""

    def consume(self, ref: str, spent: Decimal) -> None:
        with self._lock:
            self._reservations.pop(ref, None)
            self._cash -= spent
            self._epoch += 1

    def credit(self, amount: Decimal) -> None:
        with self._lock:
            self._cash += amount
            self._epoch += 1

    def refresh(self, cash: Decimal, *, epoch: int) -> bool:
        with self._lock:
            if epoch != self._epoch:
                return False
            self._cash = cash
            return True


class NaiveLedgerSymbolState(NaiveSymbolState):
    ledger_cls = LocalBookLedger

    def on_order_update(self, u, ts=None):
        stopped = u.order_id == self.sl_order_id and u.status is OrderStatus.COMPLETE
        super().on_order_update(u, ts)
        if stopped and self.ledger is not None:
            # The exit freed the position's margin: booked here, at once.
            self.ledger.credit(self.avg_price * u.filled * self.config.margin_rate)

    def place_buy_stop(self, ts, retry=False):
        if self.in_position or self.entry_order_id is not None:
            return
        margin = self.setup.entry_price * self.config.quantity * self.config.margin_rate
        if self.ledger is not None and self.ledger.available() < margin:
            return  # "not enough buying power": skip this entry
        req = self._req(self.setup.side, self.setup.entry_price, PriceType.SL_M)
        if not retry:
            self.entries_today += 1
        try:
            oid = self.broker.place_order(req)
        except BrokerError as exc:
            self.pending_retry = exc.transient
            return
        if self.ledger is not None:
            # Booked only now, after the slow call: any other symbol that
            # checked meanwhile saw this cash as free.
            self.ledger.consume(f"{self.symbol}#entry{self.entries_today}", margin)
        self.entry_order_id = oid
        self.order_placed_time = ts
