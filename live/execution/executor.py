"""SymbolExecutor: one symbol's order lifecycle behind one lock.

Two threads drive it: the feed thread (``process_tick``, ``on_order_update``)
and the poller (``on_order_update``, ``sync_position``, ``book_seen``,
``poll``). Every public method follows DESIGN.md's discipline:

1. copy under lock: read what the decision needs, decide, and *mark the
   intent* before releasing (a slot claimed, a call begun, an attempt
   counted), so a second thread arriving now sees the decision taken;
2. call outside: broker, ledger, journal and risk calls never run under the
   lock (``runner.OpRunner``);
3. re-check before commit: the outcome is committed through the slot's
   compare-and-set (``slots.OrderSlot``), so a thread whose decision was
   overtaken changes nothing.

The strategy's rules run under the lock (``entries``, ``protection``); the
executor enforces every safety property around them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from live.broker import Action, Broker, BrokerError, OrderUpdate
from live.clock import IST, MarketSession, require_aware
from live.interleave import Lock
from live.ledger import BuyingPowerLedger
from live.strategy import Strategy, Tick
from live.ticks import to_decimal

from . import recovery
from .config import ExecConfig
from .entries import on_strategy, retry_entries, stale_entries
from .gate import EntryGate
from .ops import Op, Place, Settle
from .protection import brake, cutoff, drop_stop, follow_up, stand_down, stood_down, watchdog
from .runner import OpRunner
from .slots import Role, SlotState
from .state import ExecState, Phase
from .updates import apply_update


@dataclass(frozen=True)
class WorkingOrder:
    """One of our orders the broker may still execute (for the status view)."""

    order_id: str
    role: str
    action: str
    quantity: int
    filled: int
    price: Decimal  # its trigger (stops, stop entries) or limit
    state: str  # the slot's state: working, modifying, cancelling ...


@dataclass(frozen=True)
class ExecView:
    """A consistent copy of one symbol's state, for tests, the status view and the summary."""

    symbol: str
    phase: Phase
    strategy_state: str
    entries_today: int
    entries: tuple[tuple[str, SlotState, str | None], ...]  # (side, state, order id)
    entry_id: str | None  # the id of the working entry, when exactly one is known
    sl_id: str | None
    sl_state: SlotState
    sl_qty: int  # units the working stop covers
    exit_id: str | None
    exit_state: SlotState
    position_qty: int  # signed: long > 0, short < 0
    avg_price: Decimal
    stop_price: Decimal | None
    last_price: Decimal | None
    pending_retry: bool
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fills: int
    exits: int
    orders_placed: int
    orders_rejected: int
    exit_reason: str | None
    done_reason: str | None
    working: tuple[WorkingOrder, ...] = ()
    max_attempts: int = 0

    def entry_state(self, side: str) -> SlotState:
        return next(s for t, s, _ in self.entries if t == side)


class SymbolExecutor:
    def __init__(
        self,
        strategy: Strategy,
        broker: Broker,
        config: ExecConfig,
        session: MarketSession,
        *,
        symbol: str,
        tick: Decimal,
        lot_size: int = 1,
        ledger: BuyingPowerLedger | None = None,
        journal: Any = None,
        risk: Any = None,
        entries_today: int = 0,
        next_attempt: int | None = None,
        on_event: Callable[[str, dict], None] | None = None,
    ):
        self.symbol = symbol
        self.strategy = strategy
        self.broker = broker
        self.ledger = ledger
        self.journal = journal
        self.risk = risk
        self.lock = Lock()
        self.st = ExecState(
            symbol=symbol,
            strategy=strategy,
            config=config,
            session=session,
            tick=to_decimal(tick, "tick"),
            lot_size=max(1, lot_size),
            on_event=on_event,
            attempts=entries_today,
            next_attempt=next_attempt or entries_today + 1,
        )
        self.gate = EntryGate(symbol, risk=risk, ledger=ledger, journal=journal)
        self.runner = OpRunner(self)

    @property
    def config(self) -> ExecConfig:
        return self.st.config

    # ------------------------------------------------------------ events in

    def process_tick(self, ltp: object, ts: datetime) -> None:
        """A trade print for this symbol (feed thread)."""
        price = _valid_price(ltp, self.symbol)
        ts = require_aware(ts, "ts")
        with self.lock:
            st = self.st
            st.last_price, st.last_tick_at = price, ts
            st.position.track(price)
            ops = self._decide(ts, Tick(self.symbol, price, ts))
        self.runner.run(ops, ts)

    def poll(self, ts: datetime) -> None:
        """Poller cycle: brakes, retries, stale entries, protection and the
        cutoff, even when no tick arrives."""
        ts = require_aware(ts, "ts")
        reason = self.risk.brake() if self.risk is not None else None  # I/O: no lock
        with self.lock:
            ops = brake(self.st, reason, ts) if reason else []
            ops += self._decide(ts, None)
            unrealized = self.st.position.unrealized(self.st.last_price)
        if self.risk is not None:
            self.risk.mark(self.symbol, unrealized)
        self.runner.run(ops, ts)

    def on_order_update(self, update: OrderUpdate, ts: datetime | None = None) -> None:
        """An order's new state (feed thread or poller). Repeats and states
        older than the one applied are ignored (``live.orders``)."""
        if not isinstance(update, OrderUpdate):
            raise ValueError(f"update: expected OrderUpdate, got {type(update).__name__}")
        if update.key != self.symbol:
            raise ValueError(
                f"update: order {update.order_id} is for {update.key}, not {self.symbol}"
            )
        ts = require_aware(ts or update.timestamp or datetime.now(IST), "ts")
        with self.lock:
            ops = apply_update(self.st, update, ts)
        if ops is None:
            return
        self.journaled("record_update", update, ts)
        self.runner.run(ops, ts)

    def book_seen(self, ts: datetime) -> None:
        """The poller delivered a whole orderbook. An UNCONFIRMED order that
        two reads in a row did not show never reached the broker: give it up
        and let protection or the strategy take over."""
        ts = require_aware(ts, "ts")
        ops: list[Op] = []
        with self.lock:
            st = self.st
            gave_up = False
            for slot in st.slots():
                if not slot.absent(ts):
                    continue
                gave_up = True
                st.emit("ORDER_ABSENT", level=logging.WARNING, role=slot.role.value)
                if slot.role is Role.ENTRY:
                    st.stats.orders_rejected += 1
                    ops.append(Settle(ref=slot.ref, release_entry=True))
                elif slot.role is Role.STOP:
                    st.stop_failures += 1
            if gave_up:
                ops += follow_up(st, ts)
                st.settle_phase("unconfirmed order absent")
        self.runner.run(ops, ts)

    def sync_position(self, broker_qty: int, ts: datetime, epoch: int | None = None) -> None:
        """The poller's positionbook figure for this symbol in our product
        (signed), read when ``fill_epoch()`` was ``epoch``."""
        if not isinstance(broker_qty, int) or isinstance(broker_qty, bool):
            raise ValueError(f"broker_qty: expected an int, got {broker_qty!r}")
        ts = require_aware(ts, "ts")
        with self.lock:
            ops = recovery.sync_position(self.st, broker_qty, ts, epoch)
        self.runner.run(ops, ts)

    def stand_down(self, ts: datetime, *, flatten: bool = False) -> None:
        """The engine is being stopped (SIGINT/SIGTERM): cancel our entries
        and leave the position to its stop, or close it (``flatten``).
        Decided under the lock, called outside, committed by compare-and-set
        like every other op; confirmations arrive through the feed and the
        poller as usual."""
        ts = require_aware(ts, "ts")
        with self.lock:
            ops = stand_down(self.st, ts, flatten)
            self.st.settle_phase("engine stopping")
        self.st.emit("STAND_DOWN", flatten=flatten, ops=len(ops))
        self.runner.run(ops, ts)

    def stood_down(self, *, flatten: bool = False) -> bool:
        """Has the stand-down finished (see ``protection.stood_down``)?"""
        with self.lock:
            return stood_down(self.st, flatten)

    def restore(
        self, orders: list, broker_qty: int, ts: datetime, known: dict[str, int] | None = None
    ) -> None:
        """Re-attach after a restart (P8); see ``recovery.restore``."""
        ts = require_aware(ts, "ts")
        with self.lock:
            ops, news, working_entries = recovery.restore(self.st, orders, broker_qty, ts, known)
            holding = self.st.position.qty != 0
        for u in news:  # what happened while we were down, on record
            self.journaled("record_update", u, ts)
        if self.risk is not None:
            if holding:
                self.risk.position_opened(self.symbol)
            for _ in range(0 if holding else working_entries):
                self.risk.hold(self.symbol)  # a working entry holds its slot
        self.runner.run(ops, ts)

    def warm_up(self, ticks: list[Tick]) -> None:
        """Today's earlier prices for the strategy (a mid-day start)."""
        with self.lock:
            self.st.call_strategy("warm_up", ticks, self.st.session)
            if ticks:
                self.st.last_price = ticks[-1].ltp

    def fill_epoch(self) -> int:
        """How many fills have been applied: read it before asking for the
        positionbook and hand it to ``sync_position`` with the figure."""
        with self.lock:
            return self.st.fill_epoch

    # --------------------------------------------------------- decisions (locked)

    def _decide(self, ts: datetime, tick: Tick | None) -> list[Op]:
        st = self.st
        if st.session.past_exit_cutoff(ts):
            ops = cutoff(st, ts)
            st.settle_phase("exit cutoff")
            return ops
        ops = stale_entries(st, ts)
        if tick is not None:
            ops += on_strategy(st, tick)
            holding = st.holding()
            if holding is not None and st.exit_reason is None:
                if st.call_strategy("exit_now", holding, tick):
                    st.exit_reason = "strategy exit"
        else:
            ops += watchdog(st, ts) + retry_entries(st, ts)
        ops += follow_up(st, ts)
        st.settle_phase("tick" if tick is not None else "poll")
        return ops

    # -------------------------------------------------------------- views

    def view(self) -> ExecView:
        with self.lock:
            st = self.st
            pos = st.position
            known = [s.order_id for s in st.entries.values() if s.working_id]
            rec = st.orders.get(st.stop.order_id) if st.stop.working_id else None
            cover = (st.stop.request.quantity - rec.filled) if rec is not None else 0
            return ExecView(
                symbol=self.symbol,
                phase=st.phase,
                strategy_state=str(st.call_strategy("state") or ""),
                entries_today=st.attempts,
                entries=tuple((s.tag, s.state, s.order_id) for s in st.entries.values()),
                entry_id=known[0] if len(known) == 1 else None,
                sl_id=st.stop.working_id,
                sl_state=st.stop.state,
                sl_qty=cover,
                exit_id=st.exit.working_id,
                exit_state=st.exit.state,
                position_qty=pos.qty,
                avg_price=pos.average,
                stop_price=pos.stop,
                last_price=st.last_price,
                pending_retry=any(s.state is SlotState.RETRY for s in st.entries.values()),
                realized_pnl=pos.realized,
                unrealized_pnl=pos.unrealized(st.last_price),
                fills=st.stats.fills,
                exits=st.stats.exits,
                orders_placed=st.stats.orders_placed,
                orders_rejected=st.stats.orders_rejected,
                exit_reason=st.exit_reason,
                done_reason=st.done_reason,
                working=tuple(_working(st)),
                max_attempts=st.config.max_attempts,
            )

    def describe(self) -> str:
        with self.lock:
            return str(self.st.call_strategy("describe") or self.strategy.name)

    def working_order_ids(self) -> list[tuple[str, Role]]:
        """Ids of our orders not yet known to be finished (a copy)."""
        with self.lock:
            return [(r.order_id, r.role) for r in self.st.orders.working()]

    def entry_needs_check(self, ltp: Decimal) -> str | None:
        """A working entry's id if ``ltp`` has crossed its trigger: the engine
        then asks for its status at once instead of waiting for the poll."""
        with self.lock:
            for side, slot in self.st.entries.items():
                trigger = slot.request.trigger_price if slot.working_id else None
                if trigger is None:
                    continue
                if (ltp >= trigger) if side is Action.BUY else (ltp <= trigger):
                    return slot.order_id
            return None

    # --------------------------------------------- helpers the runner calls

    def journaled(self, method: str, *args: Any) -> Any:
        """A journal write that must not stop trading: its failure is logged
        (ALERT-level: crash recovery is weaker until it works again)."""
        if self.journal is None:
            return None
        try:
            return getattr(self.journal, method)(*args)
        except Exception as exc:  # noqa: BLE001 - the order is at the broker either way
            self.st.emit("JOURNAL_FAILED", level=logging.ERROR, call=method,
                         error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            return None

    def margin_for(self, request) -> Decimal:
        """Cash an entry will block: the broker's own figure (OpenAlgo's
        ``margin`` endpoint) when it gives one, else the configured rate."""
        fallback = (request.trigger_price or request.price) * request.quantity
        fallback *= self.st.config.margin_rate
        ask = getattr(self.broker, "margin", None)
        if ask is None:
            return fallback
        try:
            margin = ask(request)
        except BrokerError:
            return fallback
        return margin if isinstance(margin, Decimal) and margin > 0 else fallback

    def broker_holding(self, exit_action: Action) -> int | None:
        """What the broker holds that ``exit_action`` would close (None: cannot tell)."""
        try:
            positions = self.broker.positions()
        except BrokerError as exc:
            self.st.emit("POSITIONS_FAILED", level=logging.WARNING, error=str(exc))
            return None
        net = sum(
            p.quantity
            for p in positions
            if p.key == self.symbol and p.product is self.st.config.product
        )
        return net if exit_action is Action.SELL else -net

    def flat_at_broker(self, op: Place, held: int, ts: datetime) -> list[Op]:
        """The broker holds nothing our exit could close (locked): we are flat,
        whatever we believed; nothing is sold."""
        st = self.st
        st.exit.release(op.token, ts)
        if st.position.qty == 0:
            return []
        st.emit("POSITION_MISMATCH", level=logging.WARNING, ours=st.position.qty, broker=held)
        st.position.qty = 0
        st.position.average = Decimal(0)
        st.done_reason = st.done_reason or st.exit_reason or "broker holds no position to exit"
        st.exit_reason = None
        ops: list[Op] = drop_stop(st, ts) + [Settle(closed=True)]
        st.settle_phase("broker flat")
        return ops


def _working(st: ExecState) -> list[WorkingOrder]:
    """Our orders not known to be finished, with their slot's state (locked)."""
    held = {s.order_id: s for s in st.slots() if s.order_id}
    out = []
    for r in st.orders.working():
        slot = held.get(r.order_id)
        state, qty, price = SlotState.WORKING, r.quantity, r.reference_price
        if slot is not None and slot.request is not None:
            # The request the broker now holds (a trailed or resized stop).
            state, qty = slot.state, slot.request.quantity
            price = slot.request.trigger_price or slot.request.price or price
        out.append(WorkingOrder(r.order_id, r.role.value, r.action.value, qty, r.filled,
                                price, state.value))  # fmt: skip
    return out


def _valid_price(value: object, symbol: str) -> Decimal:
    try:
        price = to_decimal(value, "ltp")
    except ValueError as exc:
        raise ValueError(f"{symbol}: {exc}") from None
    if price <= 0:
        raise ValueError(f"{symbol}: ltp must be > 0, got {price}")
    return price
