"""SymbolState: one symbol's intraday 80-20 life behind one lock.

Two threads drive it: the feed thread (``process_tick``, ``on_order_update``)
and the poller (``on_order_update``, ``sync_position``, ``poll``). Every
public method follows the discipline of DESIGN.md:

1. copy under lock: read what the decision needs, decide, and *mark the
   intent* before releasing (an order slot set to ``PENDING``, an attempt
   counted, an operation recorded as in flight), so a second thread that
   arrives now sees the decision already taken;
2. call outside: broker, ledger, journal and risk calls never run under the
   lock (each has its own short critical section; no code holds two locks);
3. re-check before commit: take the lock again and commit only if the slot
   still holds what this thread put there (compare-and-set on the order id);
   ids are cleared only by compare-and-clear.

The decisions are returned as small frozen ``Op`` values and executed one by
one; each executor owns exactly one slot. The incident report in
shared/seeds/003 lists the ten races this shape removes; tests/races covers
each of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import Enum
from typing import Any

from live.broker import (
    Action,
    AmbiguousOrderError,
    Broker,
    BrokerError,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    PriceType,
    Product,
)
from live.clock import IST, MarketSession, require_aware
from live.interleave import Lock
from live.ledger import BuyingPowerLedger
from live.logs import log_event
from live.ticks import Rounding, round_to_tick, stop_rounding, to_decimal

from .setup import Setup

# --- the state machine -------------------------------------------------------


class Phase(str, Enum):
    WAITING = "WAITING"  # setup known, price has not penetrated the prior extreme
    TRIGGERED = "TRIGGERED"  # penetrated: an entry may be placed while price rests beyond it
    ENTRY_PENDING = "ENTRY_PENDING"  # an entry order is being placed or is working
    IN_POSITION = "IN_POSITION"  # holding; a stop-loss is working or being placed
    EXITING = "EXITING"  # closing at market (cutoff, or the stop could not be placed)
    DONE = "DONE"  # nothing more today


ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.WAITING: frozenset({Phase.TRIGGERED, Phase.DONE}),
    Phase.TRIGGERED: frozenset({Phase.ENTRY_PENDING, Phase.DONE}),
    Phase.ENTRY_PENDING: frozenset({Phase.TRIGGERED, Phase.IN_POSITION, Phase.DONE}),
    Phase.IN_POSITION: frozenset({Phase.EXITING, Phase.TRIGGERED, Phase.DONE}),
    Phase.EXITING: frozenset({Phase.IN_POSITION, Phase.DONE}),
    # A fill that lands after we gave up (an entry filled while its cancel was
    # in flight) must still be protected and closed.
    Phase.DONE: frozenset({Phase.IN_POSITION, Phase.EXITING}),
}


class Role(str, Enum):
    ENTRY = "entry"
    STOP = "stop"
    EXIT = "exit"


class _Pending:
    """Marks an order slot whose id we do not know: ``PENDING`` while the
    placement is in flight, ``UNCONFIRMED`` after it failed ambiguously (the
    order may exist: it is adopted when the book shows it, and given up only
    after two orderbook reads without it)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


PENDING = _Pending("PENDING")
UNCONFIRMED = _Pending("UNCONFIRMED")
Slot = str | _Pending | None
CUTOFF = "exit cutoff"
ABSENT_AFTER_READS = 2  # orderbook reads without an unconfirmed order before it is given up


class StopOp(str, Enum):
    IDLE = "idle"
    MODIFYING = "modifying"
    CANCELLING = "cancelling"


# --- configuration -----------------------------------------------------------


@dataclass(frozen=True)
class StrategyConfig:
    quantity: int | None = 1  # fixed quantity per entry (rounded down to the lot size)
    capital_per_trade: Decimal | None = None  # or size from capital; one of the two
    max_attempts: int = 2
    entry_timeout: timedelta = timedelta(minutes=30)
    margin_rate: Decimal = Decimal("0.2")  # cash reserved per rupee of notional (MIS ~ 5x)
    product: Product = Product.MIS
    stop_price_type: PriceType = PriceType.SL_M
    entry_price_type: PriceType = PriceType.SL_M
    stop_limit_ticks: int = 20  # SL orders: limit this many ticks beyond the trigger
    trail_start_r: Decimal = Decimal(2)  # start trailing after this many R of profit
    trail_distance_r: Decimal = Decimal(2)  # trail this many R behind the best price
    # Move a trailing stop only by at least this much R (and a tick): every
    # modify costs an order-rate slot (10/s at OpenAlgo) and a broker round trip.
    trail_step_r: Decimal = Decimal("0.25")
    stop_retry_limit: int = 3  # failed stop placements before closing at market
    strategy_tag: str = "live8020"
    dry_run: bool = False

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.capital_per_trade is None):
            raise ValueError("strategy: give exactly one of quantity or capital_per_trade")
        if self.quantity is not None and self.quantity <= 0:
            raise ValueError(f"strategy.quantity: must be > 0, got {self.quantity}")
        if self.max_attempts < 1:
            raise ValueError(f"strategy.max_attempts: must be >= 1, got {self.max_attempts}")
        if self.stop_retry_limit < 1:
            raise ValueError("strategy.stop_retry_limit: must be >= 1")
        if self.margin_rate <= 0:
            raise ValueError(f"strategy.margin_rate: must be > 0, got {self.margin_rate}")
        for pt in (self.stop_price_type, self.entry_price_type):
            if pt not in (PriceType.SL, PriceType.SL_M):
                raise ValueError(f"strategy: stop orders must be SL or SL-M, got {pt}")


# --- operations decided under the lock, executed outside it ----------------------


@dataclass(frozen=True)
class PlaceEntry:
    attempt: int
    quantity: int
    trigger: Decimal
    retry: bool = False


@dataclass(frozen=True)
class CancelEntry:
    order_id: str
    reason: str


@dataclass(frozen=True)
class PlaceStop:
    quantity: int
    trigger: Decimal
    emergency: bool = False


@dataclass(frozen=True)
class ModifyStop:
    order_id: str
    quantity: int
    trigger: Decimal
    previous: Decimal


@dataclass(frozen=True)
class CancelStop:
    order_id: str
    reason: str


@dataclass(frozen=True)
class PlaceExit:
    quantity: int
    reason: str


@dataclass(frozen=True)
class Adopted:
    """An order we placed but whose id reached us through the book first."""

    role: Role
    order_id: str
    request: OrderRequest
    intent_id: int | None


@dataclass(frozen=True)
class _InFlight:
    request: OrderRequest
    ref: str
    intent_id: int | None


@dataclass(frozen=True)
class Settle:
    """Ledger/risk bookkeeping after a fill or a finished entry."""

    ref: str = ""
    consume: Decimal = Decimal(0)  # the entry's fills so far tie up this much margin
    release_entry: bool = False  # the entry is finished: keep only ``consume``
    realized: Decimal | None = None
    opened: bool = False
    closed: bool = False


Op = PlaceEntry | CancelEntry | PlaceStop | ModifyStop | CancelStop | PlaceExit | Adopted | Settle


@dataclass
class _OrderRecord:
    role: Role
    status: OrderStatus
    filled: int = 0
    quantity: int = 0
    ref: str = ""  # the buying-power reservation an entry holds
    tied: Decimal = Decimal(0)  # margin its fills tie up (entries)
    average: Decimal = Decimal(0)  # the broker's cumulative average at ``filled``

    def slice_price(self, u: OrderUpdate, delta: int) -> Decimal | None:
        """Price of the ``delta`` just filled. Brokers report the order's
        *cumulative* average; the slice is what moved that average (locked)."""
        if delta <= 0 or u.average_price <= 0:
            return None
        before = self.filled - delta
        total = u.average_price * self.filled - self.average * before
        return (total / delta).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class StateView:
    """A consistent copy of the state, for tests, the poller and the summary."""

    symbol: str
    phase: Phase
    entries_today: int
    entry_id: Slot
    sl_id: Slot
    exit_id: Slot
    position_qty: int
    avg_price: Decimal
    stop_price: Decimal | None
    sl_qty: int
    pending_retry: bool
    realized_pnl: Decimal
    fills: int
    exits: int
    orders_placed: int
    orders_rejected: int


@dataclass
class _Stats:
    fills: int = 0
    exits: int = 0
    orders_placed: int = 0
    orders_rejected: int = 0
    realized_pnl: Decimal = Decimal(0)
    first_fill_at: dict[str, datetime] = field(default_factory=dict)


class SymbolState:
    def __init__(
        self,
        setup: Setup,
        broker: Broker,
        config: StrategyConfig,
        session: MarketSession,
        *,
        ledger: BuyingPowerLedger | None = None,
        journal: Any = None,
        risk: Any = None,
        lot_size: int = 1,
        entries_today: int = 0,
        on_event: Callable[[str, dict], None] | None = None,
    ):
        self.setup = setup
        self.symbol = setup.symbol
        self.exchange, _, self.tradingsymbol = setup.symbol.partition(":")
        self.broker = broker
        self.config = config
        self.session = session
        self.ledger = ledger
        self.journal = journal
        self.risk = risk
        self.lot_size = max(1, lot_size)
        self._on_event = on_event
        self._lock = Lock()

        # --- everything below is guarded by self._lock ---
        self.phase = Phase.WAITING
        self.entries_today = entries_today
        self.entry_id: Slot = None
        self.entry_placed_at: datetime | None = None
        self.entry_cancel_id: str | None = None
        self.pending_retry: PlaceEntry | None = None
        self.sl_id: Slot = None
        self.sl_qty = 0
        self.sl_op = StopOp.IDLE
        self.stop_price: Decimal | None = None
        self.stop_failures = 0
        self.exit_id: Slot = None
        self._exit_reason: str | None = None  # why the position is being closed
        self.position_qty = 0
        self.avg_price = Decimal(0)
        self.best_price: Decimal | None = None
        self.risk_per_unit: Decimal | None = None  # entry price to initial stop: "1R"
        self.day_extreme: Decimal | None = None  # low for a long setup, high for a short
        self.last_ltp: Decimal | None = None
        self._orders: dict[str, _OrderRecord] = {}
        self._seen: set[tuple] = set()
        self._early: dict[str, list[OrderUpdate]] = {}
        self._inflight: dict[Role, _InFlight] = {}  # the request behind each unknown-id slot
        self._unconfirmed: dict[Role, int] = {}  # orderbook reads without it, per slot
        self._mismatch_polls = 0
        self._stats = _Stats()
        if entries_today >= config.max_attempts:
            self.phase = Phase.DONE

    # ------------------------------------------------------------------ views

    @property
    def is_long(self) -> bool:
        return self.setup.is_long

    @property
    def entry_action(self) -> Action:
        return self.setup.side

    @property
    def exit_action(self) -> Action:
        return self.setup.side.opposite

    def view(self) -> StateView:
        with self._lock:
            return StateView(
                symbol=self.symbol,
                phase=self.phase,
                entries_today=self.entries_today,
                entry_id=self.entry_id,
                sl_id=self.sl_id,
                exit_id=self.exit_id,
                position_qty=self.position_qty,
                avg_price=self.avg_price,
                stop_price=self.stop_price,
                sl_qty=self.sl_qty,
                pending_retry=self.pending_retry is not None,
                realized_pnl=self._stats.realized_pnl,
                fills=self._stats.fills,
                exits=self._stats.exits,
                orders_placed=self._stats.orders_placed,
                orders_rejected=self._stats.orders_rejected,
            )

    def working_order_ids(self) -> list[tuple[str, Role]]:
        """Ids of our orders not yet known to be finished (a copy, for the
        poller to ask about outside the lock)."""
        with self._lock:
            return [(oid, rec.role) for oid, rec in self._orders.items() if rec.status.is_working]

    def entry_needs_check(self, ltp: Decimal) -> str | None:
        """The working entry's id if ``ltp`` has crossed its trigger: the
        engine then asks for its status at once instead of waiting for the
        next poll, so a fill is protected within well under a second."""
        with self._lock:
            if not isinstance(self.entry_id, str):
                return None
            crossed = (
                ltp >= self.setup.entry_price if self.is_long else ltp <= self.setup.entry_price
            )
            return self.entry_id if crossed else None

    # ------------------------------------------------------------ public entry

    def process_tick(self, ltp: object, ts: datetime) -> None:
        """A trade print for this symbol (feed thread)."""
        price = _valid_price(ltp, "ltp", self.symbol)
        ts = require_aware(ts, "ts")
        with self._lock:
            self.last_ltp = price
            self._track_extremes(price)
            ops = self._decide(ts, price)
        self._run(ops, ts)

    def poll(self, ts: datetime) -> None:
        """Poller cycle: retries, emergency protection and the cutoff, even
        when no tick arrives."""
        ts = require_aware(ts, "ts")
        with self._lock:
            ops = self._decide(ts, None)
        self._run(ops, ts)

    def on_order_update(self, update: OrderUpdate, ts: datetime | None = None) -> None:
        """An order's new state (feed thread or poller). Duplicates and states
        older than the one already applied are ignored."""
        if not isinstance(update, OrderUpdate):
            raise ValueError(f"update: expected OrderUpdate, got {type(update).__name__}")
        if update.key != self.symbol:
            raise ValueError(
                f"update: order {update.order_id} is for {update.key}, not {self.symbol}"
            )
        ts = require_aware(ts or update.timestamp or datetime.now(IST), "ts")
        with self._lock:
            ops = self._apply_update(update, ts)
        if ops is None:
            return  # a duplicate, an older state, or not one of ours
        if self.journal is not None:
            self.journal.record_update(update, ts)
        self._run(ops, ts)

    def sync_position(self, broker_qty: int, ts: datetime) -> None:
        """Poller's position sync against the positionbook.

        The positionbook lags the order stream, and a snapshot taken before a
        fill can be applied after it (the seed's "poller clears in_position"
        duplicate entry). So a smaller broker position never reduces ours:
        fills and exits are learnt only from order states. A *larger* broker
        position in our direction that persists over two polls with nothing
        of ours in flight is an unprotected fill we missed: adopt it and
        protect it (P2).
        """
        if not isinstance(broker_qty, int) or isinstance(broker_qty, bool):
            raise ValueError(f"broker_qty: expected an int, got {broker_qty!r}")
        ts = require_aware(ts, "ts")
        signed = 0
        ops: list[Op] = []
        with self._lock:
            signed = self.position_qty if self.is_long else -self.position_qty
            # Busy: an order of ours could explain the difference, and its
            # fill will reach us through the order stream or the orderbook;
            # adopting now would count that fill twice.
            busy = (
                self.entry_id is not None
                or isinstance(self.sl_id, _Pending)
                or self.exit_id is not None
                or self.sl_op is not StopOp.IDLE
                or any(
                    r.status.is_working and r.role is not Role.STOP for r in self._orders.values()
                )
            )
            if broker_qty == signed or busy:
                self._mismatch_polls = 0
                return
            self._mismatch_polls += 1
            larger_ours = abs(broker_qty) > self.position_qty and (broker_qty > 0) == self.is_long
            adopt = larger_ours and self._mismatch_polls >= 2
            if adopt:
                self._mismatch_polls = 0
                self.position_qty = abs(broker_qty)
                if self.avg_price == 0:
                    self.avg_price = self.setup.entry_price
                if self.risk_per_unit is None:
                    self.stop_price = self.stop_price or self._initial_stop()
                    self.risk_per_unit = abs(self.avg_price - self.stop_price) or self.setup.tick
                if self.phase not in (Phase.IN_POSITION, Phase.EXITING):
                    self._move(Phase.IN_POSITION, "position adopted from broker")
                ops = self._followup(ts)
        self._emit(
            "POSITION_SYNC" if adopt else "POSITION_MISMATCH",
            level=logging.WARNING,
            ours=signed,
            broker=broker_qty,
        )
        self._run(ops, ts)

    def restore(
        self, orders: list[tuple[str, Role, OrderUpdate]], broker_qty: int, ts: datetime
    ) -> None:
        """Re-attach after a restart (P8): our orders of today from the
        journal, each with the broker's latest state of it, and the broker's
        position. Every id is registered *before* any state is applied, so
        a filled entry does not look unprotected while its working stop is
        still being read back. The phase is derived from these facts."""
        ts = require_aware(ts, "ts")
        with self._lock:
            for order_id, role, u in orders:
                status = OrderStatus.OPEN if role is Role.EXIT else OrderStatus.TRIGGER_PENDING
                self._orders[order_id] = _OrderRecord(role, status, 0, u.quantity)
                if u.status.is_working:
                    if role is Role.ENTRY:
                        self.entry_id, self.entry_placed_at = order_id, ts
                    elif role is Role.STOP:
                        self.sl_id, self.sl_qty = order_id, u.quantity - u.filled
                        if u.trigger_price > 0:
                            self.stop_price = u.trigger_price
                    else:
                        self.exit_id = order_id
            if any(role is Role.ENTRY for _, role, _ in orders):
                self.phase = Phase.ENTRY_PENDING  # restore sets the phase from facts
            ops: list[Op] = []
            for _order_id, _role, u in orders:
                ops.extend(self._apply_update(u, ts) or [])
            ours = self.position_qty if self.is_long else -self.position_qty
            if broker_qty != ours:
                self._emit("POSITION_MISMATCH", level=logging.WARNING, ours=ours, broker=broker_qty)
                if abs(broker_qty) > self.position_qty and (broker_qty > 0) == self.is_long:
                    self.position_qty = abs(broker_qty)  # protect what the broker holds
                    if self.avg_price == 0:
                        self.avg_price = self.setup.entry_price
            if self.position_qty > 0:
                if self.stop_price is None:
                    self.stop_price = self._initial_stop()
                self.risk_per_unit = abs(self.avg_price - self.stop_price) or self.setup.tick
                self.phase = Phase.IN_POSITION
            elif isinstance(self.entry_id, str):
                self.phase = Phase.ENTRY_PENDING
            elif self.entries_today >= self.config.max_attempts:
                self.phase = Phase.DONE
            elif self.entries_today > 0:
                self.phase = Phase.TRIGGERED
            self._emit(
                "RESTORED", phase=self.phase.value, orders=len(orders), position=self.position_qty
            )
            # The broker's funds already reflect these fills: no ledger
            # bookkeeping. Slots marked above keep protection from doubling.
            ops = [op for op in ops if not isinstance(op, Settle)]
            ops.extend(self._followup(ts))
            holding = self.position_qty > 0
        if holding and self.risk is not None:
            self.risk.position_opened(self.symbol)
        self._run(ops, ts)

    # --------------------------------------------------------- decisions (locked)

    def _track_extremes(self, price: Decimal) -> None:
        if self.day_extreme is None:
            self.day_extreme = price
        elif self.is_long:
            self.day_extreme = min(self.day_extreme, price)
        else:
            self.day_extreme = max(self.day_extreme, price)
        if self.position_qty > 0:
            if self.best_price is None:
                self.best_price = price
            elif self.is_long:
                self.best_price = max(self.best_price, price)
            else:
                self.best_price = min(self.best_price, price)

    def _decide(self, ts: datetime, ltp: Decimal | None) -> list[Op]:
        ops: list[Op] = []
        if self.session.past_exit_cutoff(ts):
            return self._decide_cutoff()

        # Stale entry: cancel once, then wait for the broker's word (RACE #1).
        if (
            isinstance(self.entry_id, str)
            and self.entry_cancel_id is None
            and self.entry_placed_at is not None
            and ts - self.entry_placed_at >= self.config.entry_timeout
            and self._filled(self.entry_id) == 0
        ):
            self.entry_cancel_id = self.entry_id
            ops.append(CancelEntry(self.entry_id, "stale"))

        # Trigger (RACE #3): state and attempt count read and written together.
        if ltp is not None and self.phase is Phase.WAITING and self.setup.triggered_by(ltp):
            if self.session.in_entry_window(ts):
                self._move(Phase.TRIGGERED, f"ltp {ltp} through trigger {self.setup.trigger_price}")

        # Entry or re-entry (RACE #4, #7): the whole condition in one critical
        # section, and the slot marked PENDING before the lock is released.
        if (
            ltp is not None
            and self.phase is Phase.TRIGGERED
            and self.entry_id is None
            and self.position_qty == 0
            and self.exit_id is None
            and self.pending_retry is None
            and self.entries_today < self.config.max_attempts
            and self.setup.entry_is_resting(ltp)
            and self.session.in_entry_window(ts)
        ):
            qty = self._entry_quantity()
            if qty > 0:
                self.entries_today += 1
                self.entry_id = PENDING
                self._move(Phase.ENTRY_PENDING, f"attempt {self.entries_today}")
                ops.append(PlaceEntry(self.entries_today, qty, self.setup.entry_price))

        # Poller-driven retry of an entry whose placement failed (RACE #9).
        if (
            ltp is None
            and self.pending_retry is not None
            and self.entry_id is None
            and self.position_qty == 0
            and self.phase is Phase.ENTRY_PENDING
        ):
            if self.session.in_entry_window(ts):
                retry = self.pending_retry
                self.pending_retry = None
                self.entry_id = PENDING
                ops.append(PlaceEntry(retry.attempt, retry.quantity, retry.trigger, retry=True))
            else:
                ops.extend(self._drop_retry())
                self._after_entry_gone()

        ops.extend(self._followup(ts))
        return ops

    def _drop_retry(self) -> list[Op]:
        """Give up an entry retry: its buying power and risk slot go back (locked)."""
        retry, self.pending_retry = self.pending_retry, None
        if retry is None:
            return []
        return [Settle(ref=self._entry_ref(retry.attempt), release_entry=True)]

    def _entry_ref(self, attempt: int) -> str:
        return f"{self.symbol}#entry{attempt}"

    def _decide_protection(self) -> list[Op]:
        """Stop-loss upkeep while holding: place it if missing (the emergency
        path, RACE #6), resize it after a partial fill, trail it (RACE #2, #8)."""
        if self.position_qty == 0 or self.exit_id is not None or self.phase is Phase.EXITING:
            return []
        if self.sl_id is None:
            emergency = self.stop_price is None
            if emergency:
                self.stop_price = self._initial_stop()
            self.sl_id = PENDING
            return [PlaceStop(self.position_qty, self.stop_price, emergency=emergency)]
        if not isinstance(self.sl_id, str) or self.sl_op is not StopOp.IDLE:
            return []
        target = self.stop_price
        trailed = self._trailed_stop()
        if trailed is not None and self._tighter(trailed, target) and self._worth_moving(trailed):
            target = trailed
        if target != self.stop_price or self.sl_qty != self.position_qty:
            self.sl_op = StopOp.MODIFYING
            return [ModifyStop(self.sl_id, self.position_qty, target, self.stop_price)]
        return []

    def _decide_cutoff(self) -> list[Op]:
        """Flat by the close (P7): cancel the working entry; cancel the stop
        and, once that is confirmed, exit at market (locked)."""
        ops: list[Op] = []
        if isinstance(self.entry_id, str) and self.entry_cancel_id is None:
            self.entry_cancel_id = self.entry_id
            ops.append(CancelEntry(self.entry_id, "cutoff"))
        ops.extend(self._drop_retry())
        if self.position_qty > 0:
            ops.extend(self._exit_now(CUTOFF))
        elif self.entry_id is None and self.phase is not Phase.DONE:
            self._move(Phase.DONE, "exit cutoff")
        return ops

    def _initial_stop(self) -> Decimal:
        extreme = self.day_extreme if self.day_extreme is not None else self.setup.trigger_price
        if self.is_long:
            extreme = min(extreme, self.setup.trigger_price)
        else:
            extreme = max(extreme, self.setup.trigger_price)
        return self.setup.stop_for_extreme(extreme)

    def _trailed_stop(self) -> Decimal | None:
        if self.best_price is None or self.stop_price is None or self.position_qty == 0:
            return None
        risk = self.risk_per_unit or self.setup.tick
        gain = (
            (self.best_price - self.avg_price)
            if self.is_long
            else (self.avg_price - self.best_price)
        )
        if gain < risk * self.config.trail_start_r:
            return None
        distance = risk * self.config.trail_distance_r
        raw = self.best_price - distance if self.is_long else self.best_price + distance
        return round_to_tick(raw, self.setup.tick, stop_rounding(self.exit_action.value))

    def _worth_moving(self, candidate: Decimal) -> bool:
        if self.stop_price is None:
            return True
        step = max(self.setup.tick, (self.risk_per_unit or 0) * self.config.trail_step_r)
        return abs(candidate - self.stop_price) >= step

    def _tighter(self, candidate: Decimal, current: Decimal | None) -> bool:
        if current is None:
            return True
        return candidate > current if self.is_long else candidate < current

    def _entry_quantity(self) -> int:
        if self.config.quantity is not None:
            qty = self.config.quantity
        else:
            qty = int(
                (self.config.capital_per_trade / self.setup.entry_price).to_integral_value(
                    ROUND_FLOOR
                )
            )
        return qty - qty % self.lot_size

    def _filled(self, order_id: str) -> int:
        rec = self._orders.get(order_id)
        return rec.filled if rec else 0

    def _move(self, new: Phase, why: str) -> bool:
        if new is self.phase:
            return True
        if new not in ALLOWED[self.phase]:
            self._emit(
                "STATE_REFUSED", level=logging.ERROR, frm=self.phase.value, to=new.value, why=why
            )
            return False
        self._emit("STATE", frm=self.phase.value, to=new.value, why=why)
        self.phase = new
        return True

    def _after_entry_gone(self) -> None:
        """The entry order is finished with no position: re-arm or stop for the day."""
        if self.position_qty > 0:
            return
        if self.entries_today < self.config.max_attempts:
            self._move(Phase.TRIGGERED, "entry gone, attempts left")
        else:
            self._move(Phase.DONE, "entry gone, no attempts left")

    # ------------------------------------------------------- updates (locked)

    def _apply_update(self, u: OrderUpdate, ts: datetime) -> list[Op] | None:
        """Apply one update (locked). None if it taught us nothing."""
        if u.dedup_key in self._seen:
            return None
        rec = self._orders.get(u.order_id)
        adopted: list[Op] = []
        if rec is None and (role := self._adoptable(u)) is not None:
            # The book shows the order behind a slot whose id we lack (the
            # reply is still in flight, or was lost): it is ours, adopt it now
            # rather than leave its fill unprotected until the reply.
            adopted = [self._adopt(role, u.order_id, ts)]
            rec = self._orders[u.order_id]
        if rec is None:
            # Not ours yet, or not recognisable: keep it while a placement of
            # that side is in flight; the placing thread replays it.
            waiting = [
                a
                for s, a in (
                    (self.entry_id, self.entry_action),
                    (self.sl_id, self.exit_action),
                    (self.exit_id, self.exit_action),
                )
                if isinstance(s, _Pending)
            ]
            if u.action in waiting and len(self._early) < 64:
                self._early.setdefault(u.order_id, []).append(u)
                return []
            return None
        if _older(u, rec):
            self._emit("UPDATE_STALE", order_id=u.order_id, status=u.status.value)
            return None
        self._seen.add(u.dedup_key)
        delta = max(0, u.filled - rec.filled)
        rec.filled = max(rec.filled, u.filled)
        price = rec.slice_price(u, delta)
        if u.average_price > 0 and delta > 0:
            rec.average = u.average_price
        rec.status = u.status
        rec.quantity = u.quantity or rec.quantity
        if u.status is OrderStatus.REJECTED:
            self._stats.orders_rejected += 1
            self._emit(
                "ORDER_REJECTED",
                level=logging.ERROR,
                order_id=u.order_id,
                role=rec.role.value,
                reason=u.rejection_reason,
            )
        if rec.role is Role.ENTRY:
            ops = self._on_entry(u, rec, delta, price)
        elif rec.role is Role.STOP:
            ops = self._on_stop(u, delta, price)
        else:
            ops = self._on_exit(u, delta, price)
        return adopted + ops + self._followup(ts)

    def _slot(self, role: Role) -> Slot:
        return {Role.ENTRY: self.entry_id, Role.STOP: self.sl_id, Role.EXIT: self.exit_id}[role]

    def _set_slot(self, role: Role, value: Slot) -> None:
        if role is Role.ENTRY:
            self.entry_id = value
        elif role is Role.STOP:
            self.sl_id = value
        else:
            self.exit_id = value

    def _adoptable(self, u: OrderUpdate) -> Role | None:
        """The slot whose in-flight request ``u`` is (locked)."""
        for role, flight in self._inflight.items():
            r = flight.request
            if (
                isinstance(self._slot(role), _Pending)
                and u.action is r.action
                and u.quantity == r.quantity
                and u.symbol == r.symbol
                and (u.price_type is None or u.price_type is r.price_type)
                and (r.trigger_price is None or u.trigger_price == r.trigger_price)
            ):
                return role
        return None

    def _adopt(self, role: Role, order_id: str, ts: datetime) -> Adopted:
        """Take ``order_id`` into its slot (locked)."""
        flight = self._inflight[role]
        self._new_record(role, order_id, flight.request.quantity, flight.ref)
        if self._slot(role) is UNCONFIRMED:
            self._inflight.pop(role)
            self._unconfirmed.pop(role, None)
        self._set_slot(role, order_id)
        if role is Role.ENTRY:
            self.entry_placed_at = ts
        elif role is Role.STOP:
            self.sl_qty = flight.request.quantity
            self.sl_op = StopOp.IDLE
        return Adopted(role, order_id, flight.request, flight.intent_id)

    def _new_record(self, role: Role, order_id: str, qty: int, ref: str = "") -> None:
        """Know an order as ours, once (locked). A stop rests as "trigger
        pending": start there, so the broker's first echo of it is not taken
        for a step backwards."""
        if order_id in self._orders:
            return
        status = OrderStatus.OPEN if role is Role.EXIT else OrderStatus.TRIGGER_PENDING
        self._orders[order_id] = _OrderRecord(role, status, 0, qty, ref)
        self._stats.orders_placed += 1

    def book_seen(self, ts: datetime) -> None:
        """The poller delivered a whole orderbook. An UNCONFIRMED order that
        two reads in a row did not show never reached the broker: give it up
        and let protection or the retry take over."""
        ts = require_aware(ts, "ts")
        ops: list[Op] = []
        gave_up = False
        with self._lock:
            for role in list(self._unconfirmed):
                self._unconfirmed[role] += 1
                if self._unconfirmed[role] < ABSENT_AFTER_READS:
                    continue
                del self._unconfirmed[role]
                gave_up = True
                flight = self._inflight.pop(role)
                self._set_slot(role, None)
                self._emit("ORDER_ABSENT", level=logging.WARNING, role=role.value)
                if role is Role.ENTRY:
                    self._stats.orders_rejected += 1
                    ops.append(Settle(ref=flight.ref, release_entry=True))
                    self._after_entry_gone()
                elif role is Role.STOP:
                    self.stop_failures += 1
            if gave_up:
                ops.extend(self._followup(ts))
        self._run(ops, ts)

    def _on_entry(
        self, u: OrderUpdate, rec: _OrderRecord, delta: int, price: Decimal | None
    ) -> list[Op]:
        ops: list[Op] = []
        if delta > 0:
            opened = self.position_qty == 0
            price = price or self.setup.entry_price
            total = self.avg_price * self.position_qty + price * delta
            self.position_qty += delta
            self.avg_price = (total / self.position_qty).quantize(Decimal("0.0001"))
            if self.best_price is None:
                self.best_price = price
            if self.stop_price is None:
                self.stop_price = self._initial_stop()
            if self.risk_per_unit is None:
                self.risk_per_unit = abs(self.avg_price - self.stop_price) or self.setup.tick
            self._stats.fills += 1
            if self.phase is not Phase.EXITING:
                self._move(Phase.IN_POSITION, f"entry filled {u.filled}/{u.quantity}")
            rec.tied += price * delta * self.config.margin_rate
            ops.append(Settle(ref=rec.ref, consume=rec.tied, opened=opened))
            self._emit("FILL", order_id=u.order_id, role="entry", qty=delta, price=price)
        if u.status.is_terminal:
            if self.entry_id == u.order_id:
                self.entry_id = None  # compare-and-clear: only the order it names (P6)
                self.entry_placed_at = None
            if self.entry_cancel_id == u.order_id:
                self.entry_cancel_id = None
            ops.append(Settle(ref=rec.ref, consume=rec.tied, release_entry=True))
            if self.position_qty == 0 and self.phase is Phase.ENTRY_PENDING:
                self._after_entry_gone()
        return ops

    def _on_stop(self, u: OrderUpdate, delta: int, price: Decimal | None) -> list[Op]:
        if u.status.is_terminal and self.sl_id == u.order_id:
            self.sl_id = None
            self.sl_qty = 0
            self.sl_op = StopOp.IDLE
            if u.status is OrderStatus.REJECTED:
                self.stop_failures += 1
        elif delta > 0 and self.sl_id == u.order_id:
            self.sl_qty = max(0, self.sl_qty - delta)
        return self._reduce(u, delta, "stop", price) if delta > 0 else []

    def _on_exit(self, u: OrderUpdate, delta: int, price: Decimal | None) -> list[Op]:
        ops = self._reduce(u, delta, "exit", price) if delta > 0 else []
        if u.status.is_terminal and self.exit_id == u.order_id:
            self.exit_id = None  # a failed exit is retried by the follow-up
        return ops

    def _followup(self, ts: datetime) -> list[Op]:
        """After any change while holding: keep the position protected, or keep
        closing it (cutoff, or the stop could not be kept)."""
        if self.position_qty == 0:
            return []
        if self.session.past_exit_cutoff(ts):
            return self._decide_cutoff()
        if self.phase is Phase.EXITING or self.stop_failures >= self.config.stop_retry_limit:
            return self._exit_now("stop-loss could not be kept")
        return self._decide_protection()

    def _exit_now(self, reason: str) -> list[Op]:
        """Close at market: first take the stop off (and wait for the broker to
        confirm it), then sell; never both working at once, which could
        reverse the position (locked)."""
        if self.phase is not Phase.EXITING:
            self._move(Phase.EXITING, reason)
            self._exit_reason = reason
        reason = self._exit_reason or reason
        if self.position_qty == 0 or self.exit_id is not None:
            return []
        if isinstance(self.sl_id, str):
            if self.sl_op is StopOp.IDLE:
                self.sl_op = StopOp.CANCELLING
                return [CancelStop(self.sl_id, reason)]
            return []  # a modify or cancel in flight: its outcome comes first
        if self.sl_id is None:
            self.exit_id = PENDING
            if reason != CUTOFF:  # the daily square-off is routine, not an alert
                self._emit("ALERT", level=logging.ERROR, reason=reason, qty=self.position_qty)
            return [PlaceExit(self.position_qty, reason)]
        return []

    def _reduce(self, u: OrderUpdate, delta: int, how: str, price: Decimal | None) -> list[Op]:
        delta = min(delta, self.position_qty)
        if delta == 0:
            return []
        price = price or self.stop_price or self.avg_price
        sign = 1 if self.is_long else -1
        pnl = (price - self.avg_price) * delta * sign
        self.position_qty -= delta
        self._stats.realized_pnl += pnl
        self._stats.exits += 1
        self._emit("FILL", order_id=u.order_id, role=how, qty=delta, price=price, pnl=pnl)
        ops: list[Op] = []
        closed = self.position_qty == 0
        if closed:
            ops.extend(self._drop_stop())
            self.best_price = None
            self.stop_price = None
            self.risk_per_unit = None
            self.stop_failures = 0
            self._exit_reason = None
            again = (
                self.entries_today < self.config.max_attempts and self.phase is Phase.IN_POSITION
            )
            if again:
                self._move(Phase.TRIGGERED, f"flat after {how}, re-entry allowed")
            else:
                self._move(Phase.DONE, f"flat after {how}")
        # Freed margin is the broker's to report (next funds refresh), never booked here.
        ops.append(Settle(realized=pnl, closed=closed))
        return ops

    def _drop_stop(self) -> list[Op]:
        """Flat, but a stop may still be working: it would open a new position
        if it triggered. Cancel it, or orphan a placement in flight so its
        thread cancels what it placed (locked)."""
        if isinstance(self.sl_id, _Pending):
            self.sl_id = None
            return []
        if isinstance(self.sl_id, str) and self.sl_op is not StopOp.CANCELLING:
            self.sl_op = StopOp.CANCELLING
            return [CancelStop(self.sl_id, "flat")]
        return []

    # ---------------------------------------------------- execution (unlocked)

    def _run(self, ops: list[Op], ts: datetime) -> None:
        for op in ops:
            if isinstance(op, PlaceEntry):
                self._place_entry(op, ts)
            elif isinstance(op, CancelEntry):
                self._cancel_entry(op, ts)
            elif isinstance(op, PlaceStop):
                self._place_stop(op, ts)
            elif isinstance(op, ModifyStop):
                self._modify_stop(op, ts)
            elif isinstance(op, CancelStop):
                self._cancel_stop(op, ts)
            elif isinstance(op, PlaceExit):
                self._place_exit(op, ts)
            elif isinstance(op, Adopted):
                self._adopted(op, ts)
            else:
                self._settle(op, ts)

    def _adopted(self, op: Adopted, ts: datetime) -> None:
        if self.journal is not None:
            self.journal.record_order(
                op.intent_id, self.symbol, op.role.value, op.order_id, op.request, ts
            )
        self._emit("ORDER_ADOPTED", order_id=op.order_id, role=op.role.value)

    def _request(
        self, action: Action, qty: int, price_type: PriceType, trigger: Decimal | None
    ) -> OrderRequest:
        price = None
        if price_type is PriceType.SL:
            offset = self.setup.tick * self.config.stop_limit_ticks
            raw = trigger + offset if action is Action.BUY else trigger - offset
            price = round_to_tick(
                raw, self.setup.tick, Rounding.UP if action is Action.BUY else Rounding.DOWN
            )
        if trigger is not None:
            trigger = round_to_tick(trigger, self.setup.tick, stop_rounding(action.value))
        return OrderRequest(
            symbol=self.tradingsymbol,
            exchange=self.exchange,
            action=action,
            quantity=qty,
            price_type=price_type,
            product=self.config.product,
            price=price,
            trigger_price=trigger,
            strategy=self.config.strategy_tag,
        )

    def _place(
        self, role: Role, request: OrderRequest, intent_id: int | None, ts: datetime, ref: str = ""
    ) -> str:
        """The one broker placement path: the request is on record before the
        call (so the book can identify the order before the reply does), the
        journal binds the id after it."""
        with self._lock:
            self._inflight[role] = _InFlight(request, ref, intent_id)
        if self.config.dry_run:
            order_id = f"DRY-{role.value}-{self.symbol}-{self._stats.orders_placed + 1}"
        else:
            order_id = self.broker.place_order(request)
        if self.journal is not None:
            self.journal.record_order(intent_id, self.symbol, role.value, order_id, request, ts)
        return order_id

    def _commit_id(self, role: Role, order_id: str, qty: int, ref: str = "") -> tuple[bool, list]:
        """The placement returned ``order_id`` (locked). Returns whether the
        slot is still ours (PENDING, or already holding this very order
        because the book showed it first), and the updates that arrived for it
        before, to be replayed outside the lock."""
        adopted = order_id in self._orders  # the book showed it first
        self._new_record(role, order_id, qty, ref)
        slot = self._slot(role)
        ours = slot is PENDING or adopted
        if slot is PENDING:
            self._inflight.pop(role, None)
            self._set_slot(role, order_id)
        return ours, self._early.pop(order_id, [])

    def _replay_early(self, early: list[OrderUpdate], ts: datetime) -> None:
        for u in early:
            self.on_order_update(u, ts)

    def _place_entry(self, op: PlaceEntry, ts: datetime) -> None:
        ref = self._entry_ref(op.attempt)
        notional = op.trigger * op.quantity * self.config.margin_rate
        intent_id = None
        # Pre-flight: risk slot, buying power, journal claim. Each has its own
        # lock; none is held with ours (DESIGN: no code holds two locks).
        refusal = None
        if not op.retry:
            if self.risk is not None:
                decision = self.risk.try_open(self.symbol, op.quantity, ts)
                if not decision.allowed:
                    refusal = f"risk: {decision.reason}"
            if (
                refusal is None
                and self.ledger is not None
                and not self.ledger.reserve(ref, notional)
            ):
                refusal = f"buying power: need {notional}, have {self.ledger.available()}"
                if self.risk is not None:
                    self.risk.release(self.symbol)
        if refusal is None and self.journal is not None:
            day = ts.date()
            if op.retry:
                intent_id = self.journal.record_intent(
                    self.symbol, "entry_retry", ts, {"attempt": op.attempt}
                )
            else:
                intent_id = self.journal.claim_entry(self.symbol, day, op.attempt, ts)
                if intent_id is None:
                    # Another thread or process already used this attempt: P1
                    # across restarts. Do not refund it.
                    self._release_preflight(ref)
                    with self._lock:
                        if self.entry_id is PENDING:
                            self.entry_id = None
                            self.entries_today = max(self.entries_today, op.attempt)
                            self._after_entry_gone()
                    self._emit(
                        "ENTRY_REFUSED",
                        level=logging.WARNING,
                        reason=f"attempt {op.attempt} already claimed",
                    )
                    return
        if refusal is not None:
            with self._lock:
                if self.entry_id is PENDING:
                    self.entry_id = None
                    self.entries_today -= 1  # nothing was sent: the attempt is not used
                    self._move(Phase.TRIGGERED, "entry refused")
            self._emit("ENTRY_REFUSED", level=logging.WARNING, reason=refusal)
            return

        request = self._request(
            self.entry_action, op.quantity, self.config.entry_price_type, op.trigger
        )
        try:
            order_id = self._place(Role.ENTRY, request, intent_id, ts, ref)
        except BrokerError as exc:
            self._entry_failed(op, ref, exc, intent_id, ts)
            return
        with self._lock:
            ours, early = self._commit_id(Role.ENTRY, order_id, op.quantity, ref)
            if ours:
                self.entry_placed_at = self.entry_placed_at or ts
                unfilled = self._filled(order_id) == 0
                late_cancel = unfilled and self.phase in (Phase.EXITING, Phase.DONE)
            else:
                late_cancel = True  # slot no longer ours: never overwrite it (P6)
            if late_cancel and self.entry_cancel_id is None:
                self.entry_cancel_id = order_id
        if self.ledger is not None:
            self.ledger.placed(ref)  # from now on the broker's funds figure includes it
        self._emit(
            "ORDER_PLACED",
            order_id=order_id,
            role="entry",
            attempt=op.attempt,
            qty=op.quantity,
            trigger=request.trigger_price,
        )
        self._replay_early(early, ts)
        if late_cancel:
            self._cancel_entry(CancelEntry(order_id, "placed after cutoff"), ts)

    def _entry_failed(
        self, op: PlaceEntry, ref: str, exc: BrokerError, intent_id: int | None, ts: datetime
    ) -> None:
        if self.journal is not None:
            self.journal.record_failure(intent_id, self.symbol, "entry", repr(exc), ts)
        ambiguous = isinstance(exc, AmbiguousOrderError)
        with self._lock:
            if self.entry_id is not PENDING:
                return  # adopted from the book meanwhile
            self.entry_id = None
            if ambiguous:
                self.entry_id = UNCONFIRMED  # the book decides: adopt, or absent twice
                self._unconfirmed[Role.ENTRY] = 0
            elif exc.transient:
                # Nothing reached the book: the poller retries this attempt.
                self.pending_retry = op
            else:
                self._inflight.pop(Role.ENTRY, None)
                self._stats.orders_rejected += 1
                self._after_entry_gone()
        if ambiguous:
            # The order may exist and block margin: the next funds reply
            # that covers it retires the reservation either way.
            if self.ledger is not None:
                self.ledger.placed(ref)
        elif not exc.transient:
            self._release_preflight(ref)
        self._emit(
            "ORDER_FAILED",
            level=logging.WARNING,
            role="entry",
            error=str(exc),
            transient=exc.transient,
            ambiguous=ambiguous,
        )

    def _release_preflight(self, ref: str) -> None:
        if self.ledger is not None:
            self.ledger.release(ref)
        if self.risk is not None:
            self.risk.release(self.symbol)

    def _cancel_entry(self, op: CancelEntry, ts: datetime) -> None:
        try:
            if not self.config.dry_run:
                self.broker.cancel_order(op.order_id)
            self._emit("ORDER_CANCEL", order_id=op.order_id, role="entry", reason=op.reason)
        except BrokerError as exc:
            # Usually already filled or cancelled: ask, rather than wait for
            # an update that may have been lost. Another cancel attempt is
            # allowed only if the slot is unchanged.
            with self._lock:
                if self.entry_cancel_id == op.order_id:
                    self.entry_cancel_id = None
            self._emit("CANCEL_FAILED", level=logging.WARNING, order_id=op.order_id, error=str(exc))
            self._learn_status(op.order_id, ts)
            return
        if self.config.dry_run:
            with self._lock:
                self._finish_dry(op.order_id)

    def _place_stop(self, op: PlaceStop, ts: datetime) -> None:
        intent_id = None
        if self.journal is not None:
            intent_id = self.journal.record_intent(
                self.symbol,
                "emergency_stop" if op.emergency else "stop",
                ts,
                {"trigger": str(op.trigger)},
            )
        request = self._request(
            self.exit_action, op.quantity, self.config.stop_price_type, op.trigger
        )
        try:
            order_id = self._place(Role.STOP, request, intent_id, ts)
        except BrokerError as exc:
            if self.journal is not None:
                self.journal.record_failure(intent_id, self.symbol, "stop", repr(exc), ts)
            with self._lock:
                ops: list[Op] = []
                if self.sl_id is PENDING and isinstance(exc, AmbiguousOrderError):
                    # It may be working: a second stop could reverse the
                    # position. The book decides (adopt, or absent twice).
                    self.sl_id = UNCONFIRMED
                    self._unconfirmed[Role.STOP] = 0
                elif self.sl_id is PENDING:
                    self._inflight.pop(Role.STOP, None)
                    self.sl_id = None
                    self.stop_failures += 1
                    # Retry at once while under the limit, then close at market (P2).
                    ops = self._followup(ts)
            self._emit("ORDER_FAILED", level=logging.ERROR, role="stop", error=str(exc))
            self._run(ops, ts)
            return
        with self._lock:
            was_pending = self.sl_id is PENDING
            ours, early = self._commit_id(Role.STOP, order_id, op.quantity)
            orphan = not ours
            if ours and was_pending:
                self.sl_qty = op.quantity
                self.sl_op = StopOp.IDLE
            resize = self._followup(ts) if ours else []
        self._emit(
            "STOP_PLACED",
            order_id=order_id,
            qty=op.quantity,
            trigger=request.trigger_price,
            emergency=op.emergency,
        )
        self._replay_early(early, ts)
        if orphan:
            # Our slot was taken over (position closed meanwhile): this stop
            # would open a new position if it triggered.
            self._cancel_quietly(order_id)
        self._run(resize, ts)

    def _modify_stop(self, op: ModifyStop, ts: datetime) -> None:
        request = self._request(
            self.exit_action, op.quantity, self.config.stop_price_type, op.trigger
        )
        try:
            if not self.config.dry_run:
                self.broker.modify_order(op.order_id, request)
        except BrokerError as exc:
            with self._lock:
                if self.sl_id == op.order_id and self.sl_op is StopOp.MODIFYING:
                    self.sl_op = StopOp.IDLE
            self._emit("MODIFY_FAILED", level=logging.WARNING, order_id=op.order_id, error=str(exc))
            return
        with self._lock:
            if self.sl_id == op.order_id and self.sl_op is StopOp.MODIFYING:
                self.sl_op = StopOp.IDLE
                self.sl_qty = op.quantity
                # Ratchet (P4): commit only a tighter level than the one held now.
                if self._tighter(request.trigger_price, self.stop_price) or self.stop_price is None:
                    self.stop_price = request.trigger_price
                follow = self._followup(ts)
            else:
                follow = []
        self._emit(
            "STOP_MODIFIED",
            order_id=op.order_id,
            qty=op.quantity,
            trigger=request.trigger_price,
            previous=op.previous,
        )
        self._run(follow, ts)

    def _cancel_stop(self, op: CancelStop, ts: datetime) -> None:
        try:
            if not self.config.dry_run:
                self.broker.cancel_order(op.order_id)
        except BrokerError as exc:
            with self._lock:
                if self.sl_id == op.order_id and self.sl_op is StopOp.CANCELLING:
                    self.sl_op = StopOp.IDLE
            self._emit("CANCEL_FAILED", level=logging.WARNING, order_id=op.order_id, error=str(exc))
            return
        # The stop stays in its slot until the broker confirms the cancel
        # (its update clears the slot and starts the exit), so the position
        # is never both unprotected and unknown.
        self._emit("ORDER_CANCEL", order_id=op.order_id, role="stop", reason=op.reason)
        if self.config.dry_run:
            with self._lock:
                self._finish_dry(op.order_id)

    def _place_exit(self, op: PlaceExit, ts: datetime) -> None:
        # A market exit for more than the broker holds opens the opposite
        # position (the trader closed it by hand, or a fill we never heard
        # of): sell at most what is there. One positionbook call; exits are rare.
        held = self._broker_holding()
        quantity = op.quantity if held is None else min(op.quantity, held)
        if quantity <= 0:
            with self._lock:
                ops = self._flat_at_broker(held)
            self._run(ops, ts)
            return
        if quantity < op.quantity:
            self._emit("POSITION_MISMATCH", level=logging.WARNING, ours=op.quantity, broker=held)
        intent_id = None
        if self.journal is not None:
            intent_id = self.journal.record_intent(self.symbol, "exit", ts, {"reason": op.reason})
        request = self._request(self.exit_action, quantity, PriceType.MARKET, None)
        try:
            order_id = self._place(Role.EXIT, request, intent_id, ts)
        except BrokerError as exc:
            if self.journal is not None:
                self.journal.record_failure(intent_id, self.symbol, "exit", repr(exc), ts)
            with self._lock:
                if self.exit_id is PENDING and isinstance(exc, AmbiguousOrderError):
                    self.exit_id = UNCONFIRMED  # a second market exit would reverse
                    self._unconfirmed[Role.EXIT] = 0
                elif self.exit_id is PENDING:
                    self._inflight.pop(Role.EXIT, None)
                    self.exit_id = None  # the next tick or poll tries again
            self._emit("ORDER_FAILED", level=logging.ERROR, role="exit", error=str(exc))
            return
        with self._lock:
            _ours, early = self._commit_id(Role.EXIT, order_id, quantity)
        self._emit("ORDER_PLACED", order_id=order_id, role="exit", qty=quantity, reason=op.reason)
        self._replay_early(early, ts)
        if self.config.dry_run:
            with self._lock:
                self._finish_dry(order_id)

    def _broker_holding(self) -> int | None:
        """The broker's position in our direction (None: cannot tell)."""
        if self.config.dry_run:
            return None
        try:
            positions = self.broker.positions()
        except BrokerError as exc:
            self._emit("POSITIONS_FAILED", level=logging.WARNING, error=str(exc))
            return None
        signed = sum(
            p.quantity
            for p in positions
            if p.key == self.symbol and p.product is self.config.product
        )
        return signed if self.is_long else -signed

    def _flat_at_broker(self, held: int | None) -> list[Op]:
        """The broker holds nothing to exit (locked): we are flat, whatever we
        believed; nothing is sold."""
        if self.exit_id is PENDING:
            self.exit_id = None
            self._inflight.pop(Role.EXIT, None)
        if self.position_qty == 0:
            return []
        self._emit(
            "POSITION_MISMATCH", level=logging.WARNING, ours=self.position_qty, broker=held or 0
        )
        self.position_qty = 0
        self.best_price = self.stop_price = self.risk_per_unit = None
        self._exit_reason = None
        self._move(Phase.DONE, "broker holds no position to exit")
        return self._drop_stop() + [Settle(closed=True)]

    def _learn_status(self, order_id: str, ts: datetime) -> None:
        try:
            update = self.broker.order_status(order_id)
        except BrokerError as exc:
            self._emit("STATUS_FAILED", level=logging.WARNING, order_id=order_id, error=str(exc))
            return
        self.on_order_update(update, ts)

    def _cancel_quietly(self, order_id: str) -> None:
        try:
            if not self.config.dry_run:
                self.broker.cancel_order(order_id)
        except BrokerError as exc:
            self._emit("CANCEL_FAILED", level=logging.WARNING, order_id=order_id, error=str(exc))

    def _settle(self, op: Settle, ts: datetime) -> None:
        if self.ledger is not None and op.ref:
            if op.release_entry:
                self.ledger.settle(op.ref, op.consume)
            elif op.consume:
                self.ledger.consume(op.ref, op.consume)
        if self.risk is not None:
            if op.opened:
                self.risk.position_opened(self.symbol)
            if op.release_entry:
                self.risk.release(self.symbol)  # frees only a slot that never became a position
            if op.realized is not None:
                self.risk.record_realized(self.symbol, op.realized, ts)
            if op.closed:
                self.risk.position_closed(self.symbol)

    def _finish_dry(self, order_id: str) -> None:
        """Dry run: nothing was sent, so a cancel or exit completes at once (locked)."""
        rec = self._orders.get(order_id)
        if rec is None:
            return
        if rec.role is Role.ENTRY and self.entry_id == order_id:
            self.entry_id = None
            self.entry_cancel_id = None
            self._after_entry_gone()
        elif rec.role is Role.STOP and self.sl_id == order_id:
            self.sl_id = None
            self.sl_op = StopOp.IDLE
        elif rec.role is Role.EXIT and self.exit_id == order_id:
            self.exit_id = None
            self.position_qty = 0
            self._move(Phase.DONE, "dry run exit")

    # ------------------------------------------------------------------ misc

    def _emit(self, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
        log_event(event, symbol=self.symbol, level=level, **fields)
        if self._on_event is not None:
            self._on_event(event, fields)


def _older(u: OrderUpdate, rec: _OrderRecord) -> bool:
    """Is ``u`` older than what was already applied? Fills only grow, and a
    terminal state is final."""
    if u.filled < rec.filled:
        return True
    if rec.status.is_terminal and u.status is not rec.status:
        return True
    return u.status.rank < rec.status.rank and u.filled <= rec.filled


def _valid_price(value: object, field: str, symbol: str) -> Decimal:
    try:
        price = to_decimal(value, field)
    except ValueError as exc:
        raise ValueError(f"{symbol}: {exc}") from None
    if price <= 0:
        raise ValueError(f"{symbol}: {field} must be > 0, got {price}")
    return price
