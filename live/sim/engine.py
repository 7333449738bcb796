"""The matching engine: orders, fills, positions and funds behind one lock.

Pure Python, no sockets, no clock of its own (it is handed a ``now``
callable). Money is Decimal throughout. Rules, chosen to match what an NSE
broker does to a retail order:

* MARKET fills at the LTP (at placement if there is one, else on the next tick).
* LIMIT: marketable at placement/modify -> fills at the LTP (the resting
  counterparty's price); resting -> fills at its own limit when the LTP
  trades at or through it (price priority: the resting order sets the price).
* SL-M / SL: rest as ``trigger pending``; BUY triggers at LTP >= trigger,
  SELL at LTP <= trigger. SL-M then fills at that tick's LTP (a gap through
  the trigger fills at the gapped price); SL becomes a limit order that fills
  at the LTP if within its limit, else rests ``open``.
* Partial fills: at most ``max_fill_qty_per_tick`` (config, or a fault's
  ``fill_cap``) per order per tick.
* Rejections (the order is recorded, status ``rejected``, with a reason):
  price or trigger off the tick grid, outside the circuit band, quantity not
  a lot multiple, a stop already through the market, insufficient funds,
  market closed, or a fault plan's chosen rejection.
* Margin: rate(product) x reference price x the part of the quantity that
  does not reduce an opposite position (exit orders need no margin), blocked
  while working, moved to the position on fill, released on cancel/exit.
  available = opening cash + realized P&L - blocked margin.

Listeners receive every ``OrderEvent`` *after* the lock is released, in
sequence order, whichever thread happens to deliver them (see ``_drain``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from live.broker import (
    Action,
    InvalidRequest,
    OrderRequest,
    OrderStatus,
    PriceType,
    Product,
)
from live.clock import MarketSession

from .models import (
    EngineConfig,
    EventKind,
    FundsView,
    OrderEvent,
    OrderView,
    PositionView,
    SimInstrument,
    StopThroughMarket,
    Trade,
)

__all__ = ["MatchingEngine", "OrderStateError", "Modification"]

ZERO = Decimal(0)


class OrderStateError(InvalidRequest):
    """Modify/cancel of an order that is no longer working (HTTP 400)."""


@dataclass(frozen=True)
class Modification:
    quantity: int
    price_type: PriceType
    price: Decimal
    trigger_price: Decimal


class _Order:
    __slots__ = (
        "order_id", "symbol", "exchange", "action", "price_type", "product", "quantity",
        "filled", "price", "trigger", "avg", "status", "reason", "strategy", "is_exit",
        "placed_at", "updated_at", "blocked", "resting",
    )  # fmt: skip

    def view(self) -> OrderView:
        return OrderView(
            order_id=self.order_id,
            symbol=self.symbol,
            exchange=self.exchange,
            action=self.action,
            price_type=self.price_type,
            product=self.product,
            quantity=self.quantity,
            filled_quantity=self.filled,
            price=self.price,
            trigger_price=self.trigger,
            average_price=self.avg,
            status=self.status,
            rejection_reason=self.reason,
            strategy=self.strategy,
            is_exit=self.is_exit,
            placed_at=self.placed_at,
            updated_at=self.updated_at,
        )

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled


class _Position:
    __slots__ = ("qty", "avg", "realized")

    def __init__(self) -> None:
        self.qty = 0
        self.avg = ZERO
        self.realized = ZERO


class _Day:
    __slots__ = ("open", "high", "low", "ltp", "volume", "ts")

    def __init__(self) -> None:
        self.open = self.high = self.low = self.ltp = None
        self.volume = 0
        self.ts = None


class MatchingEngine:
    def __init__(
        self,
        instruments: Iterable[SimInstrument],
        *,
        now: Callable[[], datetime],
        config: EngineConfig | None = None,
        session: MarketSession | None = None,
        fill_cap: Callable[[OrderView], int | None] | None = None,
        id_prefix: str = "",
    ) -> None:
        self.config = config or EngineConfig()
        # Paper trading's book prefixes its ids so that no paper order id can
        # ever be taken for (or sent to) a real broker's order.
        self._id_prefix = id_prefix
        self.session = session or MarketSession()
        self._now = now
        self._fill_cap = fill_cap
        self._lock = threading.Lock()
        self._instruments: dict[str, SimInstrument] = {}
        for inst in instruments:
            if inst.key in self._instruments:
                raise ValueError(f"instruments: {inst.key} given twice")
            self._instruments[inst.key] = inst
        self._orders: dict[str, _Order] = {}
        self._working: dict[str, list[_Order]] = {k: [] for k in self._instruments}
        self._positions: dict[tuple[str, Product], _Position] = {}
        self._days: dict[str, _Day] = {k: _Day() for k in self._instruments}
        self._trades: list[Trade] = []
        self._events: list[OrderEvent] = []
        self._seq = 0
        self._next_order = 1
        self._listeners: list[Callable[[OrderEvent], None]] = []
        self._outbox: deque[OrderEvent] = deque()
        self._outbox_lock = threading.Lock()
        self._draining = False

    # --- listeners ------------------------------------------------------------

    def add_instrument(self, inst: SimInstrument) -> bool:
        """Trade one more symbol (paper trading learns its instruments as the
        engine reads them). A symbol already known keeps its first
        instrument; returns whether ``inst`` was added."""
        with self._lock:
            if inst.key in self._instruments:
                return False
            # Hot paths read these dicts without the lock: add the entries
            # the tick path needs before the instrument that leads to them.
            self._working[inst.key] = []
            self._days[inst.key] = _Day()
            self._instruments[inst.key] = inst
            return True

    def add_listener(self, cb: Callable[[OrderEvent], None]) -> None:
        with self._lock:
            self._listeners.append(cb)

    def _drain(self) -> None:
        # Whoever finds the outbox non-empty and nobody draining delivers all of
        # it, in sequence order. A listener that calls back into the engine
        # (e.g. places a stop-loss on a fill) only enqueues; nobody ever blocks
        # on delivery, so listeners cannot deadlock the engine or each other.
        while True:
            with self._outbox_lock:
                if self._draining or not self._outbox:
                    return
                self._draining = True
                batch = list(self._outbox)
                self._outbox.clear()
                listeners = list(self._listeners)
            try:
                for ev in batch:
                    for cb in listeners:
                        cb(ev)
            finally:
                with self._outbox_lock:
                    self._draining = False

    # --- reads ------------------------------------------------------------------

    @property
    def instruments(self) -> dict[str, SimInstrument]:
        return dict(self._instruments)

    def instrument(self, key: str) -> SimInstrument:
        inst = self._instruments.get(key.upper())
        if inst is None:
            raise InvalidRequest(f"symbol: {key} is not a simulated instrument", code=404)
        return inst

    def ltp(self, key: str) -> Decimal | None:
        with self._lock:
            return self._days[self.instrument(key).key].ltp

    def day_ohlc(self, key: str) -> dict:
        with self._lock:
            d = self._days[self.instrument(key).key]
            return {
                "open": d.open,
                "high": d.high,
                "low": d.low,
                "ltp": d.ltp,
                "volume": d.volume,
                "ts": d.ts,
            }

    def order(self, order_id: str) -> OrderView:
        with self._lock:
            o = self._orders.get(str(order_id))
            if o is None:
                raise InvalidRequest(f"orderid: order {order_id} not found", code=404)
            return o.view()

    def orders(self) -> list[OrderView]:
        with self._lock:
            return [o.view() for o in self._orders.values()]

    def trades(self) -> list[Trade]:
        with self._lock:
            return list(self._trades)

    def events(self) -> list[OrderEvent]:
        with self._lock:
            return list(self._events)

    def positions(self) -> list[PositionView]:
        with self._lock:
            out = []
            for (key, product), p in self._positions.items():
                inst = self._instruments[key]
                ltp = self._days[key].ltp or inst.prior_close
                unreal = (ltp - p.avg) * p.qty if p.qty else ZERO
                out.append(
                    PositionView(
                        symbol=inst.symbol,
                        exchange=inst.exchange,
                        product=product,
                        quantity=p.qty,
                        average_price=p.avg,
                        ltp=ltp,
                        realized_pnl=p.realized,
                        unrealized_pnl=unreal,
                    )
                )
            return out

    def funds(self) -> FundsView:
        with self._lock:
            return self._funds_locked()

    def _funds_locked(self) -> FundsView:
        realized = sum((p.realized for p in self._positions.values()), ZERO)
        unreal = ZERO
        for (key, _), p in self._positions.items():
            if p.qty:
                ltp = self._days[key].ltp or self._instruments[key].prior_close
                unreal += (ltp - p.avg) * p.qty
        used = self._utilised_locked()
        return FundsView(
            available_cash=self.config.opening_cash + realized - used,
            utilised=used,
            realized_pnl=realized,
            unrealized_pnl=unreal,
        )

    def _utilised_locked(self) -> Decimal:
        used = sum((o.blocked for lst in self._working.values() for o in lst), ZERO)
        for (_, product), p in self._positions.items():
            if p.qty:
                used += self.config.margin_rate(product) * abs(p.qty) * p.avg
        return used

    def net_position(self, key: str) -> int:
        with self._lock:
            return self._net_locked(self.instrument(key).key)

    def _net_locked(self, key: str) -> int:
        return sum(p.qty for (k, _), p in self._positions.items() if k == key)

    # --- commands -----------------------------------------------------------------

    def place(self, req: OrderRequest, *, forced_rejection: str | None = None) -> OrderView:
        """Accept or reject ``req``; either way the order is in the book.
        Raises InvalidRequest only for an unknown symbol (nothing recorded)."""
        inst = self.instrument(req.key)
        try:
            with self._lock:
                now = self._now()
                o = _Order()
                o.order_id = self._new_id(now)
                o.symbol, o.exchange = inst.symbol, inst.exchange
                o.action, o.price_type, o.product = req.action, req.price_type, req.product
                o.quantity, o.filled = req.quantity, 0
                o.price = req.price if req.price_type in (PriceType.LIMIT, PriceType.SL) else ZERO
                o.trigger = req.trigger_price if req.price_type.value.startswith("SL") else ZERO
                o.avg, o.reason, o.strategy = ZERO, "", req.strategy
                o.placed_at = o.updated_at = now
                o.blocked, o.resting = ZERO, False
                net = self._net_locked(inst.key)
                o.is_exit = (net > 0 and req.action is Action.SELL) or (
                    net < 0 and req.action is Action.BUY
                )
                self._orders[o.order_id] = o
                reason = forced_rejection or self._validate_locked(inst, o, now)
                if reason is None:
                    margin = self._margin_for_locked(inst, o, o.quantity)
                    avail = self._funds_locked().available_cash
                    if margin > avail:
                        reason = (
                            f"RMS: Insufficient funds. Required margin is {margin:.2f} "
                            f"but available margin is {avail:.2f}"
                        )
                    o.blocked = margin
                if reason is not None:
                    o.blocked = ZERO
                    o.status, o.reason = OrderStatus.REJECTED, reason
                    self._emit(EventKind.REJECTED, o, inst.key)
                    return o.view()
                o.status = (
                    OrderStatus.TRIGGER_PENDING
                    if o.price_type in (PriceType.SL, PriceType.SL_M)
                    else OrderStatus.OPEN
                )
                self._working[inst.key].append(o)
                self._emit(EventKind.ACCEPTED, o, inst.key)
                self._match_order_locked(inst, o, fresh=True)
                return o.view()
        finally:
            self._drain()

    def modify(self, order_id: str, mod: Modification) -> OrderView:
        try:
            with self._lock:
                o = self._working_order_locked(order_id, "modified")
                inst = self._instruments[f"{o.exchange}:{o.symbol}"]
                if mod.quantity <= o.filled:
                    raise OrderStateError(
                        f"quantity: {mod.quantity} must exceed the filled quantity {o.filled}",
                        code=400,
                    )
                saved = (o.quantity, o.price_type, o.price, o.trigger, o.blocked, o.status)
                was_triggered = o.status is OrderStatus.OPEN and o.price_type in (
                    PriceType.SL,
                    PriceType.SL_M,
                )
                o.quantity, o.price_type = mod.quantity, mod.price_type
                o.price = mod.price if mod.price_type in (PriceType.LIMIT, PriceType.SL) else ZERO
                o.trigger = mod.trigger_price if mod.price_type.value.startswith("SL") else ZERO
                now = self._now()
                stop = o.price_type in (PriceType.SL, PriceType.SL_M)
                # A triggered stop keeps its trigger history: do not re-arm it.
                check_trigger = stop and not was_triggered
                reason = self._validate_locked(inst, o, now, check_trigger=check_trigger)
                if reason is None:
                    o.blocked = ZERO
                    margin = self._margin_for_locked(inst, o, o.remaining)
                    avail = self._funds_locked().available_cash
                    if margin > avail:
                        reason = (
                            f"RMS: Insufficient funds. Required margin is {margin:.2f} "
                            f"but available margin is {avail:.2f}"
                        )
                    else:
                        o.blocked = margin
                if reason is not None:
                    (o.quantity, o.price_type, o.price, o.trigger, o.blocked, o.status) = saved
                    raise OrderStateError(f"Order {order_id} modification rejected: {reason}")
                if stop and not was_triggered:
                    o.status = OrderStatus.TRIGGER_PENDING
                else:
                    o.status = OrderStatus.OPEN
                o.resting = False
                o.updated_at = now
                self._emit(EventKind.MODIFIED, o, inst.key)
                self._match_order_locked(inst, o, fresh=True)
                return o.view()
        finally:
            self._drain()

    def _working_order_locked(self, order_id: str, verb: str):
        """The order, if it exists and can still be changed; else the
        broker's error (404 unknown, 400 finished)."""
        o = self._orders.get(str(order_id))
        if o is None:
            raise InvalidRequest(f"orderid: order {order_id} not found", code=404)
        if o.status.is_terminal:
            raise OrderStateError(
                f"Order {order_id} cannot be {verb}: it is {o.status.value}", code=400
            )
        return o

    def cancel(self, order_id: str) -> OrderView:
        try:
            with self._lock:
                o = self._working_order_locked(order_id, "cancelled")
                self._cancel_locked(o)
                return o.view()
        finally:
            self._drain()

    def cancel_all(self, strategy: str | None = None) -> tuple[list[str], list[str]]:
        """Cancel every working order (of ``strategy`` when given)."""
        try:
            with self._lock:
                done = []
                for lst in self._working.values():
                    for o in list(lst):
                        if strategy is None or o.strategy == strategy:
                            self._cancel_locked(o)
                            done.append(o.order_id)
                return done, []
        finally:
            self._drain()

    def close_positions(self, strategy: str = "closeposition") -> list[str]:
        """Square off every open position with a MARKET order."""
        ids = []
        for p in self.positions():
            if p.quantity:
                action = Action.SELL if p.quantity > 0 else Action.BUY
                req = OrderRequest(
                    symbol=p.symbol,
                    exchange=p.exchange,
                    action=action,
                    quantity=abs(p.quantity),
                    price_type=PriceType.MARKET,
                    product=p.product,
                    strategy=strategy,
                )
                ids.append(self.place(req).order_id)
        return ids

    def on_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        # The hot path at thousands of ticks a second: no copies, no drain
        # round-trip when nothing happened.
        inst = self._instruments.get(key) or self.instrument(key)
        if not isinstance(ltp, Decimal) or not ltp.is_finite() or ltp <= 0:
            raise ValueError(f"ltp: must be a finite Decimal > 0, got {ltp!r}")
        try:
            with self._lock:
                d = self._days[inst.key]
                if d.open is None:
                    d.open = d.high = d.low = ltp
                elif ltp > d.high:
                    d.high = ltp
                elif ltp < d.low:
                    d.low = ltp
                d.ltp, d.ts = ltp, ts
                d.volume += 1
                working = self._working[inst.key]
                if working:
                    for o in list(working):
                        self._match_order_locked(inst, o, fresh=False)
        finally:
            if self._outbox:
                self._drain()

    # --- internals -----------------------------------------------------------------

    def _new_id(self, now: datetime) -> str:
        # Broker-like numeric ids: yymmdd + a counter, unique within the sim.
        oid = f"{self._id_prefix}{now:%y%m%d}{self._next_order:08d}"
        self._next_order += 1
        return oid

    def _validate_locked(
        self, inst: SimInstrument, o: _Order, now: datetime, *, check_trigger: bool = True
    ) -> str | None:
        if self.config.reject_after_close and now >= self.session.close_at(now.date()):
            return "Markets are closed right now. Use GTT for placing long standing orders."
        if o.quantity % inst.lot_size:
            return f"Quantity {o.quantity} must be a multiple of the lot size {inst.lot_size}"
        checks = []
        if o.price_type in (PriceType.LIMIT, PriceType.SL):
            checks.append(("price", o.price))
        if o.price_type in (PriceType.SL, PriceType.SL_M):
            checks.append(("trigger_price", o.trigger))
        for name, value in checks:
            if value <= 0:
                return f"{name} must be > 0 for a {o.price_type.value} order, got {value}"
            tick = inst.tick_for(value)
            if not inst.on_grid(value):
                return (
                    f"The {name} {value} is not a multiple of the tick size {tick} "
                    f"for {inst.symbol}; enter a price in multiples of the tick size"
                )
            band = inst.band
            if band is not None and not (band[0] <= value <= band[1]):
                return (
                    f"RMS: {name} {value} is outside the circuit limits "
                    f"{band[0]}-{band[1]} for {inst.symbol}"
                )
        if o.price_type is PriceType.SL:
            if o.action is Action.BUY and o.price < o.trigger:
                return f"Limit price {o.price} must be >= trigger {o.trigger} for a BUY SL order"
            if o.action is Action.SELL and o.price > o.trigger:
                return f"Limit price {o.price} must be <= trigger {o.trigger} for a SELL SL order"
        ltp = self._days[inst.key].ltp
        if (
            check_trigger
            and ltp is not None
            and o.price_type in (PriceType.SL, PriceType.SL_M)
            and self.config.stop_through_market is StopThroughMarket.REJECT
        ):
            if o.action is Action.BUY and o.trigger <= ltp:
                return (
                    f"Trigger price {o.trigger} for a stoploss BUY order must be higher "
                    f"than the last traded price {ltp}"
                )
            if o.action is Action.SELL and o.trigger >= ltp:
                return (
                    f"Trigger price {o.trigger} for a stoploss SELL order must be lower "
                    f"than the last traded price {ltp}"
                )
        return None

    def _ref_price_locked(self, inst: SimInstrument, o: _Order) -> Decimal:
        if o.price_type in (PriceType.LIMIT, PriceType.SL):
            return o.price
        if o.price_type is PriceType.SL_M:
            return o.trigger
        return self._days[inst.key].ltp or inst.prior_close

    def _margin_for_locked(self, inst: SimInstrument, o: _Order, qty: int) -> Decimal:
        # The part of the order that only reduces an opposite position needs no
        # margin; other working orders of the same side claim that room first.
        net = self._net_locked(inst.key)
        opposite = net if o.action is Action.SELL else -net
        claimed = sum(
            w.remaining
            for w in self._working[inst.key]
            if w is not o and w.action is o.action and w.product is o.product
        )
        reducible = max(0, opposite - claimed)
        margined = max(0, qty - reducible)
        return self.config.margin_rate(o.product) * margined * self._ref_price_locked(inst, o)

    def _cancel_locked(self, o: _Order) -> None:
        key = f"{o.exchange}:{o.symbol}"
        o.status, o.blocked, o.updated_at = OrderStatus.CANCELLED, ZERO, self._now()
        self._working[key].remove(o)
        self._emit(EventKind.CANCELLED, o, key)

    def _match_order_locked(self, inst: SimInstrument, o: _Order, *, fresh: bool) -> None:
        ltp = self._days[inst.key].ltp
        if ltp is None or o.status.is_terminal:
            return
        buy = o.action is Action.BUY
        if o.status is OrderStatus.TRIGGER_PENDING:
            if (buy and ltp < o.trigger) or (not buy and ltp > o.trigger):
                return
            o.status, o.updated_at = OrderStatus.OPEN, self._now()
            self._emit(EventKind.TRIGGERED, o, inst.key)
            fresh = True  # the triggered order meets the book now, at the LTP
        if o.price_type in (PriceType.MARKET, PriceType.SL_M):
            self._fill_locked(inst, o, ltp)
            return
        crosses = ltp <= o.price if buy else ltp >= o.price
        if not crosses:
            o.resting = True
            return
        if fresh and not o.resting:
            self._fill_locked(inst, o, ltp)  # marketable on arrival: the book's price
        else:
            self._fill_locked(inst, o, o.price)  # resting: price priority, our limit
        o.resting = True

    def _fill_locked(self, inst: SimInstrument, o: _Order, price: Decimal) -> None:
        qty = o.remaining
        caps = [self.config.max_fill_qty_per_tick]
        if self._fill_cap is not None:
            caps.append(self._fill_cap(o.view()))
        for cap in caps:
            if cap is not None:
                qty = min(qty, cap)
        if qty <= 0:
            return
        now = self._now()
        old_remaining = o.remaining
        release = o.blocked * qty / old_remaining
        o.blocked -= release
        o.avg = (o.avg * o.filled + price * qty) / (o.filled + qty)
        o.filled += qty
        o.updated_at = now
        self._apply_position_locked(inst.key, o.product, o.action, qty, price)
        self._trades.append(
            Trade(
                trade_id=f"T{len(self._trades) + 1:08d}",
                order_id=o.order_id,
                symbol=o.symbol,
                exchange=o.exchange,
                product=o.product,
                action=o.action,
                quantity=qty,
                price=price,
                ts=now,
            )
        )
        if o.filled == o.quantity:
            o.status, o.blocked = OrderStatus.COMPLETE, ZERO
            self._working[inst.key].remove(o)
        self._emit(EventKind.FILL, o, inst.key, fill_qty=qty, fill_price=price)

    def _apply_position_locked(
        self, key: str, product: Product, action: Action, qty: int, price: Decimal
    ) -> None:
        p = self._positions.setdefault((key, product), _Position())
        signed = qty if action is Action.BUY else -qty
        if p.qty == 0 or (p.qty > 0) == (signed > 0):
            p.avg = (p.avg * abs(p.qty) + price * qty) / (abs(p.qty) + qty)
            p.qty += signed
            return
        closing = min(abs(p.qty), qty)
        direction = 1 if p.qty > 0 else -1
        p.realized += (price - p.avg) * closing * direction
        p.qty += signed
        if p.qty == 0:
            p.avg = ZERO
        elif (p.qty > 0) != (direction > 0):
            p.avg = price  # flipped: the remainder opened at this price

    def _emit(
        self,
        kind: EventKind,
        o: _Order,
        key: str,
        *,
        fill_qty: int = 0,
        fill_price: Decimal = ZERO,
    ) -> None:
        self._seq += 1
        ev = OrderEvent(
            seq=self._seq,
            ts=o.updated_at,
            kind=kind,
            order=o.view(),
            fill_quantity=fill_qty,
            fill_price=fill_price,
            position_after=self._net_locked(key),
        )
        self._events.append(ev)
        with self._outbox_lock:
            self._outbox.append(ev)
