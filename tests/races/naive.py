"""A deliberately naive SymbolState: the pre-fix code of shared/seeds/003.

It has the same public methods as the real one and behaves correctly when
one thread drives it, which is exactly why its bugs survive single-threaded
testing. It is kept here as proof that the race tests can fail: every test
in this package runs its scenario against this class too and asserts that a
safety property breaks. Do not fix it.

The bugs, each one of the incident report's:
  - flags checked and acted on without a lock (check-then-act);
  - order ids assigned only after the broker call returns, and cleared
    unconditionally after a call ("may clear the wrong order");
  - updates for an id it does not know yet are dropped;
  - the poller's positionbook snapshot overwrites ``in_position``;
  - a failed stop modification is "repaired" by placing a fresh stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from live.broker import BrokerError, OrderRequest, OrderStatus, OrderUpdate, PriceType
from live.execution import Phase
from live.ticks import round_to_tick


@dataclass(frozen=True)
class NaiveView:
    phase: Phase
    entries_today: int
    entry_id: str | None
    sl_id: str | None
    exit_id: str | None
    position_qty: int
    stop_price: Decimal | None


class NaiveSymbolState:
    def __init__(self, setup, broker, config, session, *, ledger=None, **_):
        self.setup = setup
        self.symbol = setup.symbol
        self.exchange, _, self.tradingsymbol = setup.symbol.partition(":")
        self.broker = broker
        self.config = config
        self.session = session
        self.ledger = ledger
        self.triggered = False
        self.in_position = False
        self.position_qty = 0
        self.avg_price = Decimal(0)
        self.entries_today = 0
        self.entry_order_id: str | None = None
        self.order_placed_time: datetime | None = None
        self.sl_order_id: str | None = None
        self.stop_loss: Decimal | None = None
        self.best = None
        self.pending_retry = False
        self.done = False
        self.day_low: Decimal | None = None

    # --- the real class's public surface --------------------------------------

    def view(self) -> NaiveView:
        phase = (
            Phase.DONE
            if self.done
            else Phase.HOLDING
            if self.in_position
            else Phase.ENTERING
            if self.entry_order_id
            else Phase.FLAT
        )
        return NaiveView(
            phase=phase,
            entries_today=self.entries_today,
            entry_id=self.entry_order_id,
            sl_id=self.sl_order_id,
            exit_id=None,
            position_qty=self.position_qty,
            stop_price=self.stop_loss,
        )

    def working_order_ids(self):
        ids = [self.entry_order_id, self.sl_order_id]
        return [(i, None) for i in ids if i]

    def process_tick(self, ltp, ts):
        ltp = Decimal(ltp)
        self.day_low = ltp if self.day_low is None else min(self.day_low, ltp)
        if self.session.past_exit_cutoff(ts):
            return self._auto_exit(ts)
        # RACE #1: stale entry cancel, id cleared unconditionally after the call.
        if self.entry_order_id is not None and self.order_placed_time is not None:
            if ts - self.order_placed_time >= self.config.entry_timeout:
                try:
                    self.broker.cancel_order(self.entry_order_id)
                except BrokerError:
                    pass
                self.entry_order_id = None
        # RACE #3: trigger without a lock.
        if not self.triggered and self.setup.triggered_by(ltp):
            self.triggered = True
            if self.entries_today < self.config.max_attempts:
                self.place_buy_stop(ts)
                return
        # RACE #4: re-entry check-then-act.
        if (
            self.triggered
            and not self.in_position
            and self.entry_order_id is None
            and self.entries_today < self.config.max_attempts
            and self.setup.entry_is_resting(ltp)
        ):
            self.pending_retry = False
            self.place_buy_stop(ts)
            return
        # RACE #2 / #8: trailing without a lock.
        if self.in_position and self.stop_loss is not None and self.avg_price:
            self.best = ltp if self.best is None else max(self.best, ltp)
            risk = abs(self.avg_price - self.setup.stop_for_extreme(self.day_low))
            if risk and self.best - self.avg_price >= risk:
                new_sl = round_to_tick(self.best - risk, self.setup.tick, "down")
                if new_sl > self.stop_loss:
                    self.place_or_update_sell_stop(new_sl, ts)
        # RACE #6: emergency stop without a lock.
        self._emergency(ts)

    def poll(self, ts):
        # RACE #9: retry check without a lock.
        if self.pending_retry and not self.in_position and self.entry_order_id is None:
            self.pending_retry = False
            self.place_buy_stop(ts, retry=True)
        self._emergency(ts)

    def check_entry_status(self, ts):
        # RACE #10: reads the id without a lock, then clears whatever is there.
        if self.entry_order_id and not self.in_position:
            info = self.broker.order_status(self.entry_order_id)
            if info.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
                self.entry_order_id = None
            elif info.status is OrderStatus.COMPLETE:
                self.on_order_update(info, ts)

    def sync_position(self, broker_qty, ts, epoch=None):
        # The positionbook snapshot overwrites what the order stream said.
        self.in_position = broker_qty != 0
        self.position_qty = abs(broker_qty)
        if not self.in_position:
            self.entry_order_id = None

    def on_order_update(self, u: OrderUpdate, ts=None):
        if u.order_id == self.entry_order_id:
            if u.status is OrderStatus.COMPLETE:
                self.in_position = True
                self.position_qty = u.filled
                self.avg_price = u.average_price
                self.entry_order_id = None
                self.stop_loss = self.setup.stop_for_extreme(
                    self.day_low or self.setup.trigger_price
                )
                self.place_or_update_sell_stop(self.stop_loss, ts)
            elif u.status.is_terminal:
                self.entry_order_id = None
        elif u.order_id == self.sl_order_id:
            if u.status is OrderStatus.COMPLETE:
                self.in_position = False
                self.position_qty = 0
                self.sl_order_id = None
                self.stop_loss = None
            elif u.status.is_terminal:
                self.sl_order_id = None
        # anything else: not ours (the fill that outran the REST reply is lost)

    # --- the naive helpers -----------------------------------------------------

    def place_buy_stop(self, ts, retry=False):
        # RACE #7: checks, then a slow call, then the id: another thread can
        # pass the same checks meanwhile.
        if self.in_position or self.entry_order_id is not None:
            return
        req = self._req(self.setup.side, self.setup.entry_price, PriceType.SL_M)
        if not retry:
            self.entries_today += 1
        try:
            oid = self.broker.place_order(req)
        except BrokerError as exc:
            self.pending_retry = exc.transient
            return
        self.entry_order_id = oid
        self.order_placed_time = ts

    def place_or_update_sell_stop(self, new_stop, ts):
        if not self.in_position:
            return
        req = self._req(self.setup.side.opposite, new_stop, PriceType.SL_M)
        if self.sl_order_id:
            try:
                self.broker.modify_order(self.sl_order_id, req)
                self.stop_loss = new_stop
                return
            except BrokerError:
                self.sl_order_id = None  # "repair": fall through and place a fresh one
        try:
            self.sl_order_id = self.broker.place_order(req)
            self.stop_loss = new_stop
        except BrokerError:
            self.sl_order_id = None

    def _emergency(self, ts):
        if self.in_position and self.sl_order_id is None:
            if self.stop_loss is None:
                self.stop_loss = self.setup.stop_for_extreme(
                    self.day_low or self.setup.trigger_price
                )
            self.place_or_update_sell_stop(self.stop_loss, ts)

    def _auto_exit(self, ts):
        # RACE #5: cancel, then clear and sell, whatever the cancel found.
        if self.entry_order_id:
            try:
                self.broker.cancel_order(self.entry_order_id)
            except BrokerError:
                pass
            self.entry_order_id = None
        if self.in_position:
            if self.sl_order_id:
                try:
                    self.broker.cancel_order(self.sl_order_id)
                except BrokerError:
                    pass
                self.sl_order_id = None
            self.broker.place_order(
                self._req(self.setup.side.opposite, None, PriceType.MARKET, qty=self.position_qty)
            )
            self.in_position = False
        self.done = True

    def _req(self, action, trigger, price_type, qty=None):
        return OrderRequest(
            symbol=self.tradingsymbol,
            exchange=self.exchange,
            action=action,
            quantity=qty or self.config.quantity,
            price_type=price_type,
            product=self.config.product,
            trigger_price=trigger if price_type is not PriceType.MARKET else None,
            strategy=self.config.strategy_tag,
        )
