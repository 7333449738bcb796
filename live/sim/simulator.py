"""The simulator core both modes share: a day of ticks, a clock, the
matching engine, the fault injector, the request record, and the account
bits around them (session id, alerts sent, analyzer mode, holdings).

Each ``Simulator`` is one broker world: ``session_id`` (a random uuid4 hex,
also served by ``ping`` and the WebSocket auth reply) tells a client that
the orders and positions it remembers belong to this instance and not to a
fresh one that merely listens on the same port.

In-process, tests move it deterministically (``step``, ``advance_to``,
``push_tick``); in socket mode ``SimServer``'s pump thread calls
``pump_due`` as the clock reaches each tick's timestamp.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from live.broker import Bar, InvalidRequest
from live.clock import Clock, ManualClock, require_aware

from .bars import MinuteBars
from .day import SimDay
from .engine import MatchingEngine
from .faults import FaultInjector, FaultPlan
from .models import EngineConfig, Notification, OrderEvent, RequestRecord, SimHolding, SimTick

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
        holdings: Iterable[SimHolding] = (),
        telegram_users: Iterable[str] | None = None,
    ) -> None:
        self.session_id = uuid.uuid4().hex
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
        self._stream = day.tick_stream()
        self._bars = MinuteBars()
        self.ticks_applied = 0  # by pump_due: what the socket mode has replayed
        self._tick_lock = threading.RLock()
        self._deliver_lock = threading.RLock()
        self._tick_cbs: list[Callable[[SimTick], None]] = []
        self._update_cbs: list[Callable[[OrderEvent], None]] = []
        self._requests: list[RequestRecord] = []
        self._req_lock = threading.Lock()
        self.engine.add_listener(self._on_event)
        self.holdings: tuple[SimHolding, ...] = tuple(holdings)
        # None: every username counts as linked to the Telegram bot.
        self.telegram_users = None if telegram_users is None else frozenset(telegram_users)
        self.telegram_bot_active = True
        self._notifications: list[Notification] = []
        self._analyze = False
        self._analyzer_logs = 0

    # --- subscriptions -------------------------------------------------------------

    def on_tick(self, cb: Callable[[SimTick], None]) -> None:
        # Copy-on-write: _apply iterates the list without taking a copy per tick.
        self._tick_cbs = [*self._tick_cbs, cb]

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

    def next_tick_time(self) -> datetime | None:
        with self._tick_lock:
            return self._stream.peek_time()

    def _set_clock(self, ts: datetime) -> None:
        setter = getattr(self.clock, "set", None)
        if setter is not None and ts > self.clock.now():
            setter(ts)

    def _apply(self, tick: SimTick) -> None:
        key = f"{tick.exchange}:{tick.symbol}"
        self.engine.on_tick(key, tick.ltp, tick.ts)
        self._bars.add(key, tick.ltp, tick.ts)
        for cb in self._tick_cbs:
            cb(tick)

    def step(self) -> SimTick | None:
        """Apply the next scheduled tick (moving a manual clock to it)."""
        with self._tick_lock:
            tick = self._stream.pop()
            if tick is None:
                return None
            self._set_clock(tick.ts)
            self._apply(tick)
        self.release_due()
        return tick

    def advance_to(self, ts: datetime) -> int:
        """Apply every scheduled tick stamped <= ``ts``; a manual clock ends at ``ts``."""
        ts = require_aware(ts, "ts")
        n = 0
        with self._tick_lock:
            while (t := self._stream.peek_time()) is not None and t <= ts:
                tick = self._stream.pop()
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
        with self._tick_lock:
            ticks = self._stream.pop_until(self.clock.now())
            for tick in ticks:
                self._apply(tick)
        self.ticks_applied += len(ticks)
        self.release_due()
        return len(ticks)

    def intraday_bars(self, key: str, seconds: int, start: date, end: date) -> list[tuple]:
        """(epoch_s, open, high, low, close, ticks) bars of ``seconds`` (a
        multiple of 60) from the ticks applied so far, dates start..end."""
        return self._bars.bars(self.engine.instrument(key).key, seconds, start, end)

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
            if self._analyze:
                self._analyzer_logs += 1
            return rec

    def request_log(self) -> list[RequestRecord]:
        with self._req_lock:
            return list(self._requests)

    # --- account extras ------------------------------------------------------------

    @property
    def analyze_mode(self) -> bool:
        return self._analyze

    def set_analyze_mode(self, on: bool) -> None:
        """OpenAlgo's analyzer (sandbox) switch. The simulator is a sandbox
        either way; the flag only changes what replies say (``mode``)."""
        with self._req_lock:
            self._analyze = bool(on)

    @property
    def analyzer_logs(self) -> int:
        """Requests recorded while analyzer mode was on (``total_logs``)."""
        with self._req_lock:
            return self._analyzer_logs

    def notify(self, username: str, message: str, priority: int = 5) -> Notification:
        """Record an alert as ``telegram/notify`` would send it. Raises
        InvalidRequest with the server's status: 400 missing username or
        message, 404 user not linked, 409 bot stopped."""
        if not self.telegram_bot_active:
            raise InvalidRequest(
                "Telegram bot is stopped. Start the bot to send notifications.", code=409
            )
        if not username or not message:
            raise InvalidRequest("Username and message are required", code=400)
        if self.telegram_users is not None and username not in self.telegram_users:
            raise InvalidRequest("User not found or not linked to Telegram", code=404)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 10:
            priority = 5  # the server quietly falls back too
        with self._req_lock:
            note = Notification(
                len(self._notifications) + 1, self.clock.now(), username, message, priority
            )
            self._notifications.append(note)
            return note

    @property
    def notifications(self) -> list[Notification]:
        with self._req_lock:
            return list(self._notifications)

    @property
    def truth(self):
        from .truth import GroundTruth

        return GroundTruth(self)
