"""The engine: one executor per symbol, events routed to them, the poller, the day's end.

At the start of the day it reads funds, each symbol's instrument and (when
the strategy asks for them) its prior daily bars, lets the strategy decide
which symbols it trades today, re-attaches to today's orders after a restart
(``recover``), and starts the per-symbol dispatcher and the poller.

The feed may already stream while it does (the runner starts it first: a
start during market hours must not go blind for the minute of paced
``history`` calls). Until ``prepare`` hands over, ticks only build the
session's minute bars and order updates are dropped; the hand-over makes
the dispatcher, after which every event queues for its executor; the
warm-up then includes what streamed before, ``recover`` reads the orderbook
(so nothing dropped before is missed), and ``start`` runs the queue.

Threads: the feed thread parses and hands each event to the symbol's worker
(``live.dispatch``), which runs the executor; the poller thread runs its
cycle against the same executors. Nothing here holds a lock across a broker
call.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from live.alerts import Alerter, FeedWatch
from live.broker import Action, Broker, BrokerError, OrderUpdate, split_key
from live.calendar import market_session
from live.clock import Clock, MarketSession
from live.config import Config
from live.dayplan import load_day_plan
from live.dispatch import make_dispatcher
from live.execution import Phase, Role, SymbolExecutor
from live.latency import Latency
from live.ledger import BuyingPowerLedger
from live.logs import log_event
from live.poller import Poller
from live.reconcile import bind_unbound, enrich, held_by_key
from live.risk import RiskLimits, RiskManager
from live.sessionbars import SessionBars
from live.strategy import NoTrade, Strategy, SymbolInfo
from live.warmup import EarlierBars, earlier_bars, warm_up_ticks

# Ticks stamped further than this from the engine's clock are dropped.
TICK_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True)
class SymbolPlan:
    key: str
    traded: bool
    tick: Decimal
    description: str  # the strategy's setup, or why it does not trade the symbol


class Engine:
    def __init__(
        self,
        cfg: Config,
        broker: Broker,
        clock: Clock,
        strategy: type[Strategy],
        *,
        journal: Any = None,
        session: MarketSession | None = None,
    ):
        self.cfg = cfg
        self.broker = broker
        self.clock = clock
        self.strategy = strategy
        self.settings = (
            cfg.strategy.settings
            if cfg.strategy.settings is not None
            else strategy.settings(dict(cfg.strategy.options))
        )
        self.session = session or market_session(cfg)
        self.journal = journal
        self.exec_config = replace(cfg.strategy.exec_config(), on_brake=cfg.risk.on_brake)
        self.risk = RiskManager(
            RiskLimits(
                daily_loss_limit=cfg.risk.daily_loss_limit,
                max_open_positions=cfg.risk.max_open_positions,
                min_qty=cfg.risk.min_qty,
                max_qty=cfg.risk.max_qty,
                kill_switch_file=cfg.risk.kill_switch_file,
            ),
            clock,
        )
        self.ledger: BuyingPowerLedger | None = None
        self.plans: dict[str, SymbolPlan] = {}
        self.states: dict[str, SymbolExecutor] = {}
        self.latency = Latency()
        self.session_bars = SessionBars()
        self._handover = threading.Lock()  # startup -> running, for the feed thread
        self.day_plan = None  # live.dayplan.DayPlan, set by prepare()
        self.dispatcher = None  # live.dispatch, made by prepare()
        self.poller: Poller | None = None
        self._checked: dict[str, float] = {}  # order id -> wall time of the last quick check
        self._checks: queue.Queue = queue.Queue()  # (key, order id) for the checker thread
        self._checker: threading.Thread | None = None
        self.ticks_seen = 0
        self.ticks_dropped = 0  # stamped too far from the engine's clock
        self.updates_seen = 0
        self.feed = None  # set by the runner, for tests and the summary
        self.summary = None
        self.alerts = Alerter(self._notifier(), stop_moved=cfg.alerts.stop_moved)
        self.feed_watch = FeedWatch(self.alerts, cfg.alerts.disconnect_seconds)
        self.stopped_cleanly = True  # False when a SIGINT/SIGTERM stand-down did not finish

    # --- start of day ------------------------------------------------------------

    def prepare(self, today: date | None = None) -> dict[str, SymbolPlan]:
        """Read funds and the day's plan (instruments and prior bars: from
        the journal after a restart the same day, else from the broker);
        build the executors, warm them up, re-attach to today's orders."""
        today = today or self.clock.now().date()
        funds = self.broker.funds()
        self.ledger = BuyingPowerLedger(funds.available_cash)
        plan = load_day_plan(self.broker, self.journal, list(self.cfg.symbols),
                             daily_bars=self.strategy.daily_bars, session=self.session,
                             today=today)  # fmt: skip
        self.day_plan = plan
        remember = getattr(self.broker, "remember_instrument", None)
        for key in self.cfg.symbols:
            if key in plan.failed:
                self.plans[key] = SymbolPlan(key, False, Decimal(0), f"broker: {plan.failed[key]}")
                log_event("SETUP_FAILED", symbol=key, level=logging.ERROR,
                          error=plan.failed[key])  # fmt: skip
                continue
            row = plan.rows[key]
            if remember is not None and plan.from_journal:
                remember(row.instrument)  # the adapter checks order prices against it
            self._prepare_symbol(key, today, row.instrument, list(row.bars))
        earlier = earlier_bars(self.broker, self.journal, list(self.states), self.session,
                               today, self.clock.now())  # fmt: skip
        with self._handover:  # see _early_tick: no tick falls between the two
            self.dispatcher = make_dispatcher(
                self.cfg.dispatch.kind,
                list(self.states),
                workers=self.cfg.dispatch.workers,
                coalesce_after=self.cfg.dispatch.coalesce_after,
                tick_handler=self._handle_tick,
            )
            streamed = self.session_bars.so_far()
        # Events queue from here; they run after the warm-up and recovery.
        self.warm_up(today, earlier, streamed)
        self.recover(today)
        self.poller = Poller(
            self.broker,
            dict(self.states),
            self.clock,
            interval=self.cfg.poll_seconds,
            ledger=self.ledger,
            product=self.exec_config.product,
            on_cycle=self._after_cycle,
        )
        return self.plans

    def _after_cycle(self, _stats) -> None:
        """Each poll cycle: the session's minute bars since the last cycle
        to the journal (what a restart warms up from)."""
        if self.journal is None:
            return
        bars = self.session_bars.take()
        if not bars:
            return
        try:
            self.journal.record_bars(bars[0].minute.date(), bars)
        except Exception as exc:  # noqa: BLE001 - losing bars costs a restart's warm-up only
            log_event("BARS_NOT_JOURNALED", level=logging.WARNING,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    def _prepare_symbol(self, key: str, today: date, inst, bars: list) -> None:
        tick = dict(self.cfg.tick_sizes).get(key, inst.tick_size)
        info = SymbolInfo(key, tick, inst.lot_size, tuple(bars), self.session, today)
        try:
            made = self.strategy.for_symbol(info, self.settings)
        except Exception as exc:  # noqa: BLE001 - one symbol's bad data must not stop the day
            made = NoTrade(f"strategy error: {type(exc).__name__}: {exc}")
        if isinstance(made, NoTrade):
            self.plans[key] = SymbolPlan(key, False, tick, made.reason)
            log_event("NO_SETUP", symbol=key, reason=made.reason)
            return
        entries, next_attempt = 0, 1
        if self.journal is not None:
            claims = [i.attempt for i in self.journal.intents(key, today) if i.attempt]
            entries, next_attempt = len(claims), max(claims, default=0) + 1
        self.states[key] = SymbolExecutor(
            made,
            self.broker,
            self.exec_config,
            self.session,
            symbol=key,
            tick=tick,
            lot_size=inst.lot_size,
            ledger=self.ledger,
            journal=self.journal,
            risk=self.risk,
            entries_today=entries,
            next_attempt=next_attempt,
            on_event=self._make_listener(key),
        )
        description = self.states[key].describe()
        self.plans[key] = SymbolPlan(key, True, tick, description)
        log_event("SETUP", symbol=key, strategy=self.strategy.name, setup=description,
                  entries_today=entries)  # fmt: skip

    def warm_up(self, today: date, earlier: EarlierBars, streamed: dict) -> int:
        """Each strategy sees the session so far before any decision (the
        80-20's stop sits under the day's real low, the ORB measures the
        whole range): the earlier bars, the day's range over a restart's
        gap, then what the feed streamed while the engine started."""
        if not (earlier.bars or earlier.gaps or streamed):
            return 0
        now = self.clock.now()
        opened = self.session.open_at(today)
        for key, state in self.states.items():
            state.warm_up(warm_up_ticks(key, earlier, streamed, opened, now))
        log_event("WARMED_UP", symbols=len(self.states), since=opened, until=now,
                  source=earlier.source, day_ranges=len(earlier.gaps),
                  streamed=len([k for k in streamed if k in self.states]))  # fmt: skip
        return len(self.states)

    def recover(self, today: date) -> int:
        """After a restart (P8): broker truth first. Intents whose order id
        never reached the journal are bound to their broker order (or proven
        absent); then each executor gets today's orders from the journal with
        the broker's word on each (fills from the tradebook) and the broker's
        position in our product, before any protection decision. One
        orderbook, tradebook and positionbook call for all symbols."""
        if self.journal is None or not self.states:
            return 0
        pending = any(self.journal.unbound_intents(k, today) for k in self.states)
        if not pending and not any(self.journal.orders(key=k, day=today) for k in self.states):
            return 0  # a fresh day: nothing of ours can be at the broker
        book = self._book()
        now = self.clock.now()
        for key in self.states:
            bind_unbound(self.journal, key, today, book, now)
        ours = {k: self.journal.orders(key=k, day=today) for k in self.states}
        if not any(ours.values()):
            return 0
        remember = getattr(self.broker, "remember_orders", None)
        if remember is not None:  # an ambiguous placement must never adopt these
            remember([o.order_id for orders in ours.values() for o in orders])
        by_id = {u.order_id: u for u in book}
        held = held_by_key(self.broker.positions(), self.exec_config.product)
        restored = 0
        for key, orders in ours.items():
            items = [
                (o.order_id, Role(o.role), by_id.get(o.order_id) or journal_update(o))
                for o in orders
            ]
            if items or held.get(key):
                known = {o.order_id: o.filled_quantity for o in orders}
                self.states[key].restore(items, held.get(key, 0), now, known)
                restored += len(items)
        # Today's realized P&L counts toward the daily loss limit after a
        # restart as it did before it (fills learnt while down included).
        for key in ours:
            pnl = realized_from_fills(self.journal.fills(key=key, day=today))
            if pnl:
                self.risk.record_realized(key, pnl, now)
        log_event("RECOVERED", orders=restored, symbols=len([k for k, v in ours.items() if v]))
        return restored

    def _book(self) -> list[OrderUpdate]:
        """The orderbook with fills from the tradebook (when the broker has one)."""
        book = self.broker.orderbook()
        tradebook = getattr(self.broker, "tradebook", None)
        if tradebook is None:
            return book
        try:
            return enrich(book, tradebook())
        except BrokerError as exc:
            log_event("TRADEBOOK_FAILED", level=logging.WARNING, error=str(exc))
            return book

    def _make_listener(self, key: str):
        def listen(event: str, fields: dict) -> None:
            if event == "FILL" and fields.get("role") == "entry":
                self.latency.fill(key)
            elif event == "STOP_PLACED":
                self.latency.stop(key)
            # Under the symbol's lock: the alerter only formats and queues.
            self.alerts.on_event(key, event, fields)

        return listen

    def _notifier(self):
        """Telegram through OpenAlgo's telegram/notify, when configured."""
        notify = getattr(self.broker, "notify", None)
        username = self.cfg.broker.telegram_username
        if notify is None or not username:
            return None
        return lambda text: notify(text, username=username)

    # --- events from the feed (feed thread: hand off, never block) ----------------

    def on_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        dispatcher = self.dispatcher
        if dispatcher is None:
            self._early_tick(key, ltp, ts)
            return
        if key not in self.states or self._off_clock(key, ts):
            return
        dispatcher.submit_tick(key, ltp, ts)

    def _early_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        """A tick streamed while ``prepare`` reads the day's plan: into the
        session's bars, which the warm-up reads at the hand-over. The lock
        makes the hand-over exact: a tick lands either in those bars before
        they are read, or in the dispatcher after."""
        with self._handover:
            if self.dispatcher is None:
                if not self._off_clock(key, ts):
                    self.session_bars.on_tick(key, ltp, ts)
                return
        self.on_tick(key, ltp, ts)

    def _off_clock(self, key: str, ts: datetime) -> bool:
        """Counts the tick; True (and counted dropped) when it is stamped
        too far from the engine's clock."""
        self.ticks_seen += 1
        if abs(ts - self.clock.now()) <= TICK_TOLERANCE:
            return False
        # A tick stamped yesterday (or next week) would end the day or
        # start the next: the clock decides what time it is, not a tick.
        self.ticks_dropped += 1
        if self.ticks_dropped == 1:
            log_event("TICK_DROPPED", symbol=key, level=logging.WARNING, ts=ts,
                      clock=self.clock.now(), why="stamped too far from the clock")  # fmt: skip
        return True

    def on_order_update(self, update: OrderUpdate) -> None:
        # Before the hand-over (dispatcher None) dropped: recover() reads the
        # orderbook after it, and the poller every cycle.
        state = self.states.get(update.key)
        if state is None or self.dispatcher is None:
            return
        self.updates_seen += 1
        # Urgent: a fill goes ahead of the symbol's queued ticks (its stop
        # must not wait for a backlog of prices).
        self.dispatcher.submit(
            update.key, lambda: state.on_order_update(update, self.clock.now()), urgent=True
        )

    def on_reconnect(self) -> None:
        # Updates missed while disconnected are not replayed: reconcile now.
        if self.poller is not None:
            self.poller.kick()

    def _handle_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        state = self.states[key]
        self.session_bars.on_tick(key, ltp, ts)
        state.process_tick(ltp, ts)
        order_id = state.entry_needs_check(ltp)
        if order_id is not None and self.poller is not None:
            now = time.monotonic()
            if now - self._checked.get(order_id, 0.0) >= 0.5:
                self._checked[order_id] = now
                # Asked on the checker's thread: a status call (50/s for the
                # whole account) must never hold a dispatcher worker, or a
                # burst of crossed triggers stalls every symbol's ticks.
                if self._checker is not None:
                    self._checks.put((state.symbol, order_id))
                else:  # driven without start() (in-process runs): at once
                    self.poller.check_order(state.symbol, order_id)

    def _check_orders(self) -> None:
        """The quick-check thread: one order's status at a time, as the
        ticks asked for them; updates go to the executor as the poller's do."""
        while True:
            item = self._checks.get()
            if item is None:
                return
            poller = self.poller
            if poller is not None:
                try:
                    poller.check_order(*item)
                except Exception as exc:  # noqa: BLE001 - a failed check waits for the next poll
                    log_event("STATUS_FAILED", symbol=item[0], level=logging.WARNING,
                              order_id=item[1], error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        assert self.dispatcher is not None and self.poller is not None, "call prepare() first"
        self.dispatcher.start()
        self.poller.start()
        self._checker = threading.Thread(target=self._check_orders, name="checker", daemon=True)
        self._checker.start()

    def stop(self) -> None:
        if self._checker is not None:
            self._checks.put(None)
            self._checker.join(5)
        if self.poller is not None:
            self.poller.stop()
        if self.dispatcher is not None:
            self.dispatcher.drain()
            self.dispatcher.stop()

    def supervise(self) -> None:
        """Called every second or so by the runtime: a worker that died is
        restarted with an ALERT; a dead feed fails closed (no new entries,
        protection goes on through the poller)."""
        if self.poller is not None and not self.poller.alive():
            self._engine_alert("the poller thread died: restarted")
            self.poller.restart()
        feed = self.feed
        if feed is not None and not feed.is_alive() and not self.risk.killed:
            self._engine_alert("the feed thread died: no new entries")
            self.risk.kill("the WebSocket feed thread died")
        if feed is not None:
            state = getattr(feed, "state", None)
            self.feed_watch.check(getattr(state, "value", None) == "live", time.monotonic())

    def _engine_alert(self, reason: str) -> None:
        log_event("ALERT", level=logging.ERROR, reason=reason)
        self.alerts.send("alert", f"ALERT {reason}")

    def status_extra(self, key: str) -> dict:
        """Per symbol, for the status snapshot (live.status): queued events
        and the oldest queued tick's age - back-pressure made visible."""
        if self.dispatcher is None:
            return {}
        d = self.dispatcher.depth(key)
        return {"queue_depth": d.depth, "tick_age_s": round(d.tick_age, 3)}

    def dispatch_status(self) -> dict:
        """Back-pressure for the status snapshot: ticks seen and dropped, the
        dispatcher's counts (coalesced ticks among them) and, per symbol with
        anything queued, queue depth and the oldest queued tick's age."""
        d = self.dispatcher
        out: dict = {"ticks_seen": self.ticks_seen, "ticks_dropped": self.ticks_dropped,
                     "updates_seen": self.updates_seen}  # fmt: skip
        if d is None:
            return out
        st = d.stats()
        lanes = d.depths()
        out.update(
            queued=st.queued,
            handled=st.handled,
            failed=st.failed,
            ticks_handled=st.ticks,
            ticks_coalesced=st.coalesced,
            lagging={
                k: {"depth": v.depth, "tick_age_s": round(v.tick_age, 3)}
                for k, v in sorted(lanes.items(), key=lambda kv: -kv[1].depth)[:20]
            },  # fmt: skip
            lagging_symbols=len(lanes),
            max_depth=max((v.depth for v in lanes.values()), default=0),
            max_tick_age_s=round(max((v.tick_age for v in lanes.values()), default=0.0), 3),
        )
        return out

    def finished(self) -> bool:
        """Past the cutoff with every executor flat and done."""
        if not self.session.past_exit_cutoff(self.clock.now()):
            return False
        views = [s.view() for s in self.states.values()]
        return all(v.phase is Phase.DONE and v.position_qty == 0 for v in views)


def journal_update(o) -> OrderUpdate:
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


def realized_from_fills(fills) -> Decimal:
    """Realized P&L of the day's journal fills (signed position arithmetic,
    in fill order): what a restart owes the daily loss limit."""
    qty, avg, pnl = 0, Decimal(0), Decimal(0)
    for f in fills:
        if f.price is None:
            continue
        delta = f.quantity if f.action is Action.BUY else -f.quantity
        if qty == 0 or (qty > 0) == (delta > 0):
            avg = (avg * abs(qty) + f.price * f.quantity) / (abs(qty) + f.quantity)
            qty += delta
            continue
        closed = min(f.quantity, abs(qty))
        pnl += (f.price - avg) * closed * (1 if qty > 0 else -1)
        qty += delta
        if qty != 0 and (qty > 0) == (delta > 0):
            avg = f.price  # went through zero: the rest opened the other side
    return pnl
