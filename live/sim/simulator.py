"""The simulator core both modes share: a day of ticks, a clock, the
matching engine, the fault injector and the request record.

In-process, tests move it deterministically (``step``, ``advance_to``,
``push_tick``); in socket mode ``SimServer``'s pump thread calls
``pump_due`` as the clock reaches each tick's timestamp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from live.broker import Bar
from live.clock import Clock, ManualClock, require_aware

from .day import SimDay
from .engine import MatchingEngine
from .faults import FaultInjector, FaultPlan
from .models import EngineConfig, OrderEvent, RequestRecord, SimTick

__all__ = ["Simulator"]


class Simulator:
    def __init__(
        self,
        day: SimDay,
        *,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        faults: FaultPlan | None = None,
        include_today_bar: bool = True,
    ) -> None:
        self.day = day
        # Default: a manual clock one minute before the open; step() moves it.
        self.clock = clock or ManualClock(day.open_at - timedelta(minutes=1))
        self.faults = FaultInjector(faults)
        # Brokers return today's still-forming daily candle from `history`
        # during market hours; callers must drop it when they want "prior" bars.
        self.include_today_bar = include_today_bar
        self.engine = MatchingEngine(
            day.instruments,
            now=self.clock.now,
            config=config,
            session=day.session,
            fill_cap=lambda view: self.faults.fill_cap(view.symbol),
        )
        self._ticks = day.ticks()
        self._cursor = 0
        self._tick_lock = threading.RLock()
        self._deliver_lock = threading.RLock()
        self._tick_cbs: list[Callable[[SimTick], None]] = []
        self._update_cbs: list[Callable[[OrderEvent], None]] = []
        self._requests: list[RequestRecord] = []
        self._req_lock = threading.Lock()
        self.engine.add_listener(self._on_event)

    # --- subscriptions -------------------------------------------------------------

    def on_tick(self, cb: Callable[[SimTick], None]) -> None:
        self._tick_cbs.append(cb)

    def on_order_event(self, cb: Callable[[OrderEvent], None]) -> None:
        """Every order state change after the fault plan's update shaping
        (duplicates, delays, reordering) - what a subscriber would see."""
        self._update_cbs.append(cb)

    def _on_event(self, ev: OrderEvent) -> None:
        self._deliver(self.faults.shape_update(ev, self.clock.now()))

    def _deliver(self, items: list) -> None:
        if not items:
            return
        with self._deliver_lock:
            for ev in items:
                for cb in list(self._update_cbs):
                    cb(ev)

    def release_due(self) -> None:
        """Deliver order updates whose fault-plan delay has run out."""
        self._deliver(self.faults.release_due(self.clock.now()))

    # --- time and ticks ----------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def pending_ticks(self) -> int:
        return len(self._ticks) - self._cursor

    def next_tick_time(self) -> datetime | None:
        with self._tick_lock:
            return self._ticks[self._cursor].ts if self._cursor < len(self._ticks) else None

    def _set_clock(self, ts: datetime) -> None:
        setter = getattr(self.clock, "set", None)
        if setter is not None and ts > self.clock.now():
            setter(ts)

    def _apply(self, tick: SimTick) -> None:
        self.engine.on_tick(tick.key, tick.ltp, tick.ts)
        for cb in list(self._tick_cbs):
            cb(tick)

    def step(self) -> SimTick | None:
        """Apply the next scheduled tick (moving a manual clock to it)."""
        with self._tick_lock:
            if self._cursor >= len(self._ticks):
                return None
            tick = self._ticks[self._cursor]
            self._cursor += 1
            self._set_clock(tick.ts)
            self._apply(tick)
        self.release_due()
        return tick

    def advance_to(self, ts: datetime) -> int:
        """Apply every scheduled tick stamped <= ``ts``; a manual clock ends at ``ts``."""
        ts = require_aware(ts, "ts")
        n = 0
        with self._tick_lock:
            while self._cursor < len(self._ticks) and self._ticks[self._cursor].ts <= ts:
                tick = self._ticks[self._cursor]
                self._cursor += 1
                self._set_clock(tick.ts)
                self._apply(tick)
                n += 1
                self.release_due()
            self._set_clock(ts)
        self.release_due()
        return n

    def advance(self, seconds: float) -> int:
        return self.advance_to(self.clock.now() + timedelta(seconds=seconds))

    def run_to_end(self) -> int:
        return self.advance_to(self.day.session.close_at(self.day.day))

    def pump_due(self) -> int:
        """Apply every scheduled tick the clock has reached (socket mode)."""
        now = self.clock.now()
        n = 0
        with self._tick_lock:
            while self._cursor < len(self._ticks) and self._ticks[self._cursor].ts <= now:
                tick = self._ticks[self._cursor]
                self._cursor += 1
                self._apply(tick)
                n += 1
        self.release_due()
        return n

    def applied_ticks(self, key: str | None = None) -> list[SimTick]:
        """Scheduled ticks applied so far (for intraday history)."""
        with self._tick_lock:
            done = self._ticks[: self._cursor]
        return [t for t in done if key is None or t.key == key]

    def push_tick(self, key: str, ltp: Decimal | str | int, ts: datetime | None = None) -> SimTick:
        """Apply an ad-hoc tick (outside the day's schedule)."""
        inst = self.engine.instrument(key)
        price = ltp if isinstance(ltp, Decimal) else Decimal(str(ltp))
        if not inst.on_grid(price):
            raise ValueError(
                f"ltp: {price} is not a multiple of the tick {inst.tick_for(price)} for {inst.key}"
            )
        with self._tick_lock:
            if ts is None:
                ts = self.clock.now()
            else:
                ts = require_aware(ts, "ts")
                self._set_clock(ts)
            tick = SimTick(inst.symbol, inst.exchange, price, ts)
            self._apply(tick)
        self.release_due()
        return tick

    # --- market data for the API ----------------------------------------------------

    def daily_bars(self, key: str, start: date, end: date) -> list[Bar]:
        sd = self.day.symbol(self.engine.instrument(key).key)
        bars = [b for b in sd.prior_bars if start <= b.day <= end]
        today = self.day.day
        if self.include_today_bar and start <= today <= end:
            ohlc = self.engine.day_ohlc(sd.key)
            if ohlc["open"] is not None:
                bars.append(
                    Bar(today, ohlc["open"], ohlc["high"], ohlc["low"], ohlc["ltp"], ohlc["volume"])
                )
        return bars

    def quote(self, key: str) -> dict:
        inst = self.engine.instrument(key)
        ohlc = self.engine.day_ohlc(inst.key)
        ltp = ohlc["ltp"] or inst.prior_close
        tick = inst.tick_for(ltp)
        return {
            "open": ohlc["open"] or Decimal(0),
            "high": ohlc["high"] or Decimal(0),
            "low": ohlc["low"] or Decimal(0),
            "ltp": ltp,
            "ask": ltp + tick,
            "bid": ltp - tick,
            "prev_close": inst.prior_close,
            "volume": ohlc["volume"],
        }

    # --- the request record --------------------------------------------------------

    def record_request(
        self, endpoint: str, payload: dict, status: int, reply: dict | None = None, fault: str = ""
    ) -> RequestRecord:
        clean = {k: v for k, v in payload.items() if k not in ("apikey", "api_key")}
        with self._req_lock:
            rec = RequestRecord(
                seq=len(self._requests) + 1,
                ts=self.clock.now(),
                endpoint=endpoint,
                payload=clean,
                status=status,
                reply=dict(reply or {}),
                fault=fault,
            )
            self._requests.append(rec)
            return rec

    def request_log(self) -> list[RequestRecord]:
        with self._req_lock:
            return list(self._requests)

    @property
    def truth(self):
        from .truth import GroundTruth

        return GroundTruth(self)
