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

from live.broker import BrokerError, PriceType
from tests.races.naive import NaiveSymbolState


class NaiveLedgerSymbolState(NaiveSymbolState):
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
