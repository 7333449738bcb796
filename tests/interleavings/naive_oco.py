"""A two-sided breakout the way it is usually first written: OCO by cancel-and-forget.

``NaiveOcoState`` runs the same opening-range strategy as the real executor
(its ``on_tick`` and ``initial_stop``), with the bookkeeping a first version
has: one id per side, and when one side fills it cancels the other, ignores
the cancel's outcome and forgets the other side's id. Single-threaded and in
a calm market that works: the cancel lands before the other side can fill.
When the other side fills while its cancel is in flight (a fast market
through both levels) its fill update names an id the state has forgotten,
so it is dropped as "not ours": the book is flat (or short) while the state
believes it is long and keeps a SELL stop working - which opens a short when
it triggers. Do not fix this class: it proves the OCO scenarios can fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from live.broker import Action, BrokerError, OrderRequest, OrderStatus, OrderUpdate, PriceType
from live.execution import Phase, Role
from live.strategy import Context, Entry, Holding, Tick, decisions


@dataclass(frozen=True)
class NaiveOcoView:
    phase: Phase
    entries_today: int
    entry_id: str | None
    sl_id: str | None
    exit_id: str | None
    position_qty: int
    stop_price: Decimal | None


class NaiveOcoState:
    def __init__(self, strategy, broker, config, session, *, symbol, tick, ledger=None, **_):
        self.strategy = strategy
        self.broker = broker
        self.config = config
        self.session = session
        self.symbol = symbol
        self.exchange, _, self.tradingsymbol = symbol.partition(":")
        self.tick = tick
        self.entries: dict[Action, str | None] = {Action.BUY: None, Action.SELL: None}
        self.position = 0
        self.average = Decimal(0)
        self.sl_id: str | None = None
        self.stop: Decimal | None = None
        self.entries_today = 0
        self.roles: dict[str, Role] = {}

    # --- the executor's public surface ------------------------------------------

    def process_tick(self, ltp, ts) -> None:
        ltp = Decimal(ltp)
        holding = None
        if self.position:
            side = Action.BUY if self.position > 0 else Action.SELL
            holding = Holding(self.symbol, side, abs(self.position), self.average, self.stop,
                              self.stop, None, ltp, ltp)  # fmt: skip
        ctx = Context(self.symbol, self.tick, self.entries_today, self.config.max_attempts,
                      holding, frozenset(a for a, i in self.entries.items() if i),
                      self.session.in_entry_window(ts), self.session)  # fmt: skip
        for d in decisions(self.strategy.on_tick(Tick(self.symbol, ltp, ts), ctx)):
            if isinstance(d, Entry):
                self._enter(d)

    def on_order_update(self, u: OrderUpdate, ts=None) -> None:
        side = next((a for a, i in self.entries.items() if i == u.order_id), None)
        if side is not None:
            if u.status is OrderStatus.COMPLETE:
                self.entries[side] = None
                self.position += u.filled if side is Action.BUY else -u.filled
                self.average = u.average_price
                other = side.opposite
                if self.entries[other] is not None:
                    try:
                        self.broker.cancel_order(self.entries[other])
                    except BrokerError:
                        pass  # "it is gone one way or the other"
                    self.entries[other] = None
                self._protect(side)
            elif u.status.is_terminal:
                self.entries[side] = None
        elif u.order_id == self.sl_id and u.status.is_terminal:
            if u.status is OrderStatus.COMPLETE:
                self.position = 0
            self.sl_id = None
        # anything else: an id it does not track, dropped as "not ours"

    def poll(self, ts) -> None:
        pass

    def sync_position(self, broker_qty, ts, epoch=None) -> None:
        pass

    def book_seen(self, ts) -> None:
        pass

    def working_order_ids(self):
        ids = [*self.entries.values(), self.sl_id]
        return [(i, None) for i in ids if i]

    def view(self) -> NaiveOcoView:
        busy = [i for i in self.entries.values() if i]
        phase = Phase.HOLDING if self.position else Phase.ENTERING if busy else Phase.FLAT
        return NaiveOcoView(phase, self.entries_today, busy[0] if len(busy) == 1 else None,
                            self.sl_id, None, self.position, self.stop)  # fmt: skip

    # --- helpers ---------------------------------------------------------------

    def _enter(self, entry: Entry) -> None:
        if self.position or self.entries[entry.side] is not None:
            return
        if self.entries_today >= self.config.max_attempts:
            return
        self.entries_today += 1
        oid = self.broker.place_order(self._request(entry.side, entry.trigger))
        self.entries[entry.side] = oid
        self.roles[oid] = Role.ENTRY

    def _protect(self, side: Action) -> None:
        holding = Holding(self.symbol, side, abs(self.position), self.average, None, None, None,
                          self.average, self.average)  # fmt: skip
        self.stop = self.strategy.initial_stop(holding)
        if self.sl_id is None:
            self.sl_id = self.broker.place_order(self._request(side.opposite, self.stop))
            self.roles[self.sl_id] = Role.STOP

    def _request(self, action: Action, trigger: Decimal) -> OrderRequest:
        return OrderRequest(
            symbol=self.tradingsymbol,
            exchange=self.exchange,
            action=action,
            quantity=self.config.quantity,
            price_type=PriceType.SL_M,
            product=self.config.product,
            trigger_price=trigger,
            strategy=self.config.strategy_tag,
        )
