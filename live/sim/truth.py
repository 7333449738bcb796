"""Ground truth for tests: what really happened at the simulated broker.

Definitions (precise, because tests assert on them):

* An order is an *exit* when, at the moment it was placed, the symbol's net
  position (all products) was non-zero and opposite to the order's action
  (a SELL while long, a BUY while short). Every other order is an *entry*.
* An order is *working* from its acceptance (``open`` or ``trigger
  pending``) until it is complete, cancelled or rejected. Rejected orders
  never work.
* ``max_working_entries(symbol, action)``: the largest number of entry orders
  of that action working at the same time, over the whole record.
* A position is *protected* when working stop orders (SL or SL-M) on the
  opposite side have remaining quantity >= the absolute net position.
  ``unprotected_intervals(symbol)``: the market-time intervals during which
  the net position was non-zero and not protected (``end`` None: still
  unprotected at the end of the record). Zero-length intervals (a fill and
  its stop at the same market instant) are included.
* ``off_grid_prices()``: placeorder/modifyorder requests whose non-zero
  price or trigger_price was not a multiple of the instrument's tick for
  that price, exactly as the client sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from live.broker import Action, OrderStatus, PriceType

from .models import EventKind, OrderEvent, OrderView, RequestRecord

__all__ = ["GroundTruth", "Interval", "OffGridPrice"]


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime | None

    def duration(self, until: datetime | None = None) -> timedelta:
        end = self.end or until
        return (end - self.start) if end is not None else timedelta.max


@dataclass(frozen=True)
class OffGridPrice:
    request: RequestRecord
    field: str
    value: Decimal
    tick: Decimal


def _key(sim, symbol: str) -> str:
    if ":" in symbol:
        return symbol.upper()
    matches = [k for k in sim.engine.instruments if k.split(":", 1)[1] == symbol.upper()]
    if len(matches) != 1:
        raise ValueError(f"symbol: {symbol!r} matches {matches}; use EXCHANGE:SYMBOL")
    return matches[0]


class GroundTruth:
    def __init__(self, sim) -> None:
        self._sim = sim

    def __call__(self) -> GroundTruth:
        # ``sim.truth`` is a property; callers who write ``sim.truth()`` get the same object.
        return self

    # --- plain records ----------------------------------------------------------

    def orders(self, symbol: str | None = None) -> list[OrderView]:
        out = self._sim.engine.orders()
        if symbol is not None:
            key = _key(self._sim, symbol)
            out = [o for o in out if o.key == key]
        return out

    def working_orders(self, symbol: str | None = None) -> list[OrderView]:
        return [o for o in self.orders(symbol) if o.is_working]

    def trades(self, symbol: str | None = None):
        out = self._sim.engine.trades()
        if symbol is not None:
            key = _key(self._sim, symbol)
            out = [t for t in out if t.key == key]
        return out

    def positions(self):
        return self._sim.engine.positions()

    def net_position(self, symbol: str) -> int:
        return self._sim.engine.net_position(_key(self._sim, symbol))

    def funds(self):
        return self._sim.engine.funds()

    def events(self, order_id: str | None = None, symbol: str | None = None) -> list[OrderEvent]:
        evs = self._sim.engine.events()
        if order_id is not None:
            evs = [e for e in evs if e.order.order_id == str(order_id)]
        if symbol is not None:
            key = _key(self._sim, symbol)
            evs = [e for e in evs if e.key == key]
        return evs

    def requests(self, endpoint: str | None = None, symbol: str | None = None):
        recs = self._sim.request_log()
        if endpoint is not None:
            recs = [r for r in recs if r.endpoint == endpoint]
        if symbol is not None:
            key = _key(self._sim, symbol)
            recs = [r for r in recs if r.symbol_key == key]
        return recs

    # --- safety queries ------------------------------------------------------------

    def max_working_entries(self, symbol: str, action: Action | str) -> int:
        act = Action(getattr(action, "value", action))
        working: set[str] = set()
        best = 0
        for ev in self.events(symbol=symbol):
            o = ev.order
            if o.action is not act or o.is_exit:
                continue
            if o.status.is_working:
                working.add(o.order_id)
            else:
                working.discard(o.order_id)
            best = max(best, len(working))
        return best

    def unprotected_intervals(self, symbol: str) -> list[Interval]:
        stops: dict[str, tuple[Action, int]] = {}
        pos = 0
        out: list[Interval] = []
        start: datetime | None = None
        for ev in self.events(symbol=symbol):
            o = ev.order
            if o.price_type in (PriceType.SL, PriceType.SL_M) and o.status.is_working:
                stops[o.order_id] = (o.action, o.quantity - o.filled_quantity)
            else:
                stops.pop(o.order_id, None)
            if ev.kind is EventKind.FILL:
                pos = ev.position_after
            exposed = False
            if pos:
                side = Action.SELL if pos > 0 else Action.BUY
                cover = sum(q for a, q in stops.values() if a is side)
                exposed = cover < abs(pos)
            if exposed and start is None:
                start = ev.ts
            elif not exposed and start is not None:
                out.append(Interval(start, ev.ts))
                start = None
        if start is not None:
            out.append(Interval(start, None))
        return out

    def max_unprotected(self, symbol: str, until: datetime | None = None) -> timedelta:
        """Longest unprotected interval; an open one runs to ``until``
        (default: the sim clock's now)."""
        until = until or self._sim.clock.now()
        spans = [i.duration(until) for i in self.unprotected_intervals(symbol)]
        return max(spans, default=timedelta(0))

    def off_grid_prices(self) -> list[OffGridPrice]:
        out = []
        instruments = self._sim.engine.instruments
        for rec in self._sim.request_log():
            if rec.endpoint not in ("placeorder", "modifyorder"):
                continue
            inst = instruments.get(rec.symbol_key or "")
            if inst is None:
                continue
            for name in ("price", "trigger_price"):
                raw = rec.payload.get(name)
                if raw is None:
                    continue
                try:
                    value = Decimal(str(raw))
                except InvalidOperation:
                    continue
                if value > 0 and not inst.on_grid(value):
                    out.append(OffGridPrice(rec, name, value, inst.tick_for(value)))
        return out

    def final_states(self) -> dict[str, OrderStatus]:
        return {o.order_id: o.status for o in self.orders()}
