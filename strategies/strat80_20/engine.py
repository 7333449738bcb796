"""The 80-20 engine: setups at the start of the day, one SymbolState per
symbol, ticks and order updates routed to them, the poller, and the
session's end.

Threads: the feed thread parses and hands each event to the symbol's worker
(``live.dispatch``), which runs ``process_tick`` / ``on_order_update``; the
poller thread runs its cycle against the same states. Nothing here holds a
lock across a broker call.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from live.broker import Broker, BrokerError, OrderUpdate, PriceType, Product, split_key
from live.clock import Clock, MarketSession
from live.config import Config
from live.dispatch import SymbolDispatcher
from live.ledger import BuyingPowerLedger
from live.logs import log_event
from live.poller import Poller
from live.risk import RiskLimits, RiskManager

from .setup import Penetration, Setup, SetupRules, find_setup
from .symbol_state import Phase, Role, StrategyConfig, SymbolState


@dataclass(frozen=True)
class SymbolPlan:
    key: str
    setup: Setup | None
    tick: Decimal
    reason: str = ""


@dataclass
class Latency:
    """Fill-to-stop time: from seeing an entry fill to the broker accepting
    the stop that covers it (the window in which a position is bare)."""

    samples_ms: list[float] = field(default_factory=list)
    _open: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fill(self, key: str) -> None:
        with self._lock:
            self._open.setdefault(key, time.perf_counter())

    def stop(self, key: str) -> None:
        with self._lock:
            t0 = self._open.pop(key, None)
            if t0 is not None:
                self.samples_ms.append((time.perf_counter() - t0) * 1000)

    def percentile(self, p: float) -> float | None:
        with self._lock:
            xs = sorted(self.samples_ms)
        if not xs:
            return None
        k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
        return xs[k]


def strategy_config(cfg: Config, *, dry_run: bool = False) -> StrategyConfig:
    s = cfg.strategy
    return StrategyConfig(
        quantity=None if s.capital_per_trade is not None else s.quantity,
        capital_per_trade=s.capital_per_trade,
        max_attempts=s.max_attempts,
        entry_timeout=timedelta(minutes=s.entry_timeout_minutes),
        margin_rate=s.margin_rate,
        product=Product(s.product),
        stop_price_type=PriceType(s.stop_order_type),
        entry_price_type=PriceType(s.stop_order_type),
        trail_start_r=s.trail_start_r,
        trail_distance_r=s.trail_distance_r,
        stop_retry_limit=s.stop_retry_limit,
        strategy_tag=s.tag,
        dry_run=dry_run,
    )


def setup_rules(cfg: Config) -> SetupRules:
    s = cfg.strategy
    return SetupRules(
        open_pct=s.open_pct,
        close_pct=s.close_pct,
        penetration=Penetration(s.penetration_kind, s.penetration_value),
        stop_buffer_ticks=s.stop_buffer_ticks,
    )


def broker_calendar(broker: Broker, session: MarketSession, day: date) -> MarketSession:
    """Holidays and the day's timings from the broker when its OpenAlgo
    server has the market endpoints; the configured calendar otherwise (and
    on any error: a calendar lookup must not stop a trading day)."""
    holidays = getattr(broker, "holidays", None)
    timings = getattr(broker, "timings", None)
    try:
        extra = holidays(day.year) if holidays is not None else None
        hours = timings(day) if timings is not None else None
    except BrokerError as exc:
        log_event("CALENDAR_FALLBACK", level=logging.WARNING, error=str(exc))
        return session
    if extra:
        session = replace(session, holidays=session.holidays | frozenset(extra))
    if hours is not None:
        open_ = hours[0].timetz().replace(tzinfo=None)
        close = hours[1].timetz().replace(tzinfo=None)
        if (open_, close) != (session.open, session.close):
            # A special session (e.g. a shortened day): keep the strategy's
            # windows inside it, the cutoff 15 minutes before its close.
            cutoff = min(session.exit_cutoff, _minus(close, 15))
            session = replace(
                session,
                open=open_,
                close=close,
                entry_start=max(session.entry_start, open_),
                entry_end=min(session.entry_end, cutoff),
                exit_cutoff=cutoff,
            )
            log_event("SESSION_TIMINGS", open=open_, close=close, cutoff=cutoff)
    return session


def _minus(t, minutes: int):
    return (datetime.combine(date(2000, 1, 1), t) - timedelta(minutes=minutes)).time()


def market_session(cfg: Config) -> MarketSession:
    s = cfg.session
    return MarketSession(
        entry_start=s.entry_start,
        entry_end=s.entry_end,
        exit_cutoff=s.exit_cutoff,
        holidays=frozenset(s.holidays),
    )


class Engine:
    def __init__(
        self,
        cfg: Config,
        broker: Broker,
        clock: Clock,
        *,
        journal=None,
        dry_run: bool = False,
        session: MarketSession | None = None,
    ):
        self.cfg = cfg
        self.broker = broker
        self.clock = clock
        self.session = session or market_session(cfg)
        self.journal = journal
        self.strategy = strategy_config(cfg, dry_run=dry_run)
        self.rules = setup_rules(cfg)
        self.risk = RiskManager(
            RiskLimits(
                daily_loss_limit=cfg.risk.daily_loss_limit,
                max_open_positions=cfg.risk.max_open_positions,
                kill_switch_file=cfg.risk.kill_switch_file,
            ),
            clock,
        )
        self.ledger: BuyingPowerLedger | None = None
        self.plans: dict[str, SymbolPlan] = {}
        self.states: dict[str, SymbolState] = {}
        self.latency = Latency()
        self.dispatcher: SymbolDispatcher | None = None
        self.poller: Poller | None = None
        self._checked: dict[str, float] = {}  # order id -> wall time of the last quick status check
        self.ticks_seen = 0
        self.updates_seen = 0
        self.feed = None  # set by the runner, for tests and the summary
        self.summary = None

    # --- start of day ------------------------------------------------------------

    def prepare(self, today: date | None = None) -> dict[str, SymbolPlan]:
        """Read instruments, yesterday's bars and funds; build the states."""
        today = today or self.clock.now().date()
        prior = self.session.previous_trading_day(today)
        funds = self.broker.funds()
        self.ledger = BuyingPowerLedger(funds.available_cash)
        overrides = dict(self.cfg.tick_sizes)
        for key in self.cfg.symbols:
            sym, ex = split_key(key)
            try:
                inst = self.broker.instrument(sym, ex)
                bars = self.broker.daily_bars(sym, ex, prior - timedelta(days=10), prior)
            except BrokerError as exc:
                self.plans[key] = SymbolPlan(key, None, Decimal(0), f"broker: {exc}")
                log_event("SETUP_FAILED", symbol=key, level=logging.ERROR, error=str(exc))
                continue
            tick = overrides.get(key, inst.tick_size)
            bar = next((b for b in reversed(bars) if b.day == prior), None)
            if bar is None:
                self.plans[key] = SymbolPlan(key, None, tick, f"no daily bar for {prior}")
                log_event(
                    "NO_SETUP", symbol=key, level=logging.WARNING, reason=f"no bar for {prior}"
                )
                continue
            try:
                setup = find_setup(key, bar, tick, self.rules)
            except ValueError as exc:
                self.plans[key] = SymbolPlan(key, None, tick, str(exc))
                log_event("NO_SETUP", symbol=key, level=logging.WARNING, reason=str(exc))
                continue
            if setup is None:
                self.plans[key] = SymbolPlan(key, None, tick, "no 80-20 pattern yesterday")
                log_event("NO_SETUP", symbol=key, reason="no 80-20 pattern")
                continue
            entries = self.journal.entries_claimed(key, today) if self.journal is not None else 0
            self.plans[key] = SymbolPlan(key, setup, tick)
            self.states[key] = SymbolState(
                setup,
                self.broker,
                self.strategy,
                self.session,
                ledger=self.ledger,
                journal=self.journal,
                risk=self.risk,
                lot_size=inst.lot_size,
                entries_today=entries,
                on_event=self._make_listener(key),
            )
            log_event(
                "SETUP",
                symbol=key,
                side=setup.side.value,
                trigger=setup.trigger_price,
                entry=setup.entry_price,
                stop=setup.initial_stop,
                entries_today=entries,
            )
        self.recover(today)
        self.dispatcher = SymbolDispatcher(list(self.states))
        self.poller = Poller(
            self.broker,
            dict(self.states),
            self.clock,
            interval=self.cfg.poll_seconds,
            ledger=self.ledger,
        )
        return self.plans

    def recover(self, today: date) -> int:
        """After a restart (P8): hand each state today's orders from the
        journal with the broker's word on each, and the broker's positions.
        One orderbook and one positionbook call for all symbols."""
        if self.journal is None or not self.states:
            return 0
        ours = {k: self.journal.orders(key=k, day=today) for k in self.states}
        if not any(ours.values()):
            return 0
        remember = getattr(self.broker, "remember_orders", None)
        if remember is not None:  # an ambiguous placement must never adopt these
            remember([o.order_id for orders in ours.values() for o in orders])
        book = {u.order_id: u for u in self.broker.orderbook()}
        held: dict[str, int] = {}
        for p in self.broker.positions():
            held[p.key] = held.get(p.key, 0) + p.quantity
        now = self.clock.now()
        restored = 0
        for key, orders in ours.items():
            items = []
            for o in orders:
                u = book.get(o.order_id) or _journal_update(o)
                items.append((o.order_id, Role(o.role), u))
            if items or held.get(key):
                self.states[key].restore(items, held.get(key, 0), now)
                restored += len(items)
        # Today's realized P&L counts toward the daily loss limit after a
        # restart as it did before it.
        for key in ours:
            pnl = realized_from_fills(self.journal.fills(key=key, day=today), self.states[key])
            if pnl:
                self.risk.record_realized(key, pnl, now)
        log_event("RECOVERED", orders=restored, symbols=len([k for k, v in ours.items() if v]))
        return restored

    def _make_listener(self, key: str):
        def listen(event: str, fields: dict) -> None:
            if event == "FILL" and fields.get("role") == "entry":
                self.latency.fill(key)
            elif event == "STOP_PLACED":
                self.latency.stop(key)
            elif event == "ALERT":
                self._alert(f"live8020 {key}: {fields.get('reason')} (qty {fields.get('qty')})")

        return listen

    def _alert(self, message: str) -> None:
        """Telegram through OpenAlgo, when configured: on its own thread,
        since an alert must never delay the order that follows it."""
        notify = getattr(self.broker, "notify", None)
        username = self.cfg.broker.telegram_username
        if notify is None or not username:
            return
        threading.Thread(
            target=notify, args=(message,), kwargs={"username": username}, daemon=True
        ).start()

    # --- events from the feed (feed thread: hand off, never block) ----------------

    def on_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        state = self.states.get(key)
        if state is None or self.dispatcher is None:
            return
        self.ticks_seen += 1
        self.dispatcher.submit(key, lambda: self._handle_tick(state, ltp, ts))

    def on_order_update(self, update: OrderUpdate) -> None:
        state = self.states.get(update.key)
        if state is None or self.dispatcher is None:
            return
        self.updates_seen += 1
        self.dispatcher.submit(update.key, lambda: state.on_order_update(update, self.clock.now()))

    def on_reconnect(self) -> None:
        # Updates missed while disconnected are not replayed: reconcile now.
        if self.poller is not None:
            self.poller.kick()

    def _handle_tick(self, state: SymbolState, ltp: Decimal, ts: datetime) -> None:
        state.process_tick(ltp, ts)
        order_id = state.entry_needs_check(ltp)
        if order_id is not None and self.poller is not None:
            now = time.monotonic()
            if now - self._checked.get(order_id, 0.0) >= 0.5:
                self._checked[order_id] = now
                self.poller.check_order(state.symbol, order_id)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        assert self.dispatcher is not None and self.poller is not None, "call prepare() first"
        self.dispatcher.start()
        self.poller.start()

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        if self.dispatcher is not None:
            self.dispatcher.drain()
            self.dispatcher.stop()

    def finished(self) -> bool:
        """Past the cutoff with every state flat and done."""
        now = self.clock.now()
        if not self.session.past_exit_cutoff(now):
            return False
        return all(
            s.view().phase is Phase.DONE and s.view().position_qty == 0
            for s in self.states.values()
        )


def _journal_update(o) -> OrderUpdate:
    """The journal's last word on an order the broker no longer lists."""
    sym, ex = split_key(o.key)
    return OrderUpdate(
        order_id=o.order_id,
        symbol=sym,
        exchange=ex,
        action=o.action,
        status=o.status,
        quantity=o.quantity,
        filled_quantity=o.filled_quantity,
        average_price=o.average_price,
        trigger_price=o.trigger_price or Decimal(0),
        price_type=o.price_type,
        source="journal",
    )


def realized_from_fills(fills, state: SymbolState) -> Decimal:
    """Realized P&L of the day's journal fills: exits against the average
    entry price, in fill order (entries are the setup's side)."""
    held, avg, pnl = 0, Decimal(0), Decimal(0)
    sign = 1 if state.is_long else -1
    for f in fills:
        if f.action is state.entry_action:
            avg = (avg * held + f.price * f.quantity) / (held + f.quantity)
            held += f.quantity
        else:
            closed = min(f.quantity, held)
            pnl += (f.price - avg) * closed * sign
            held -= closed
    return pnl
