"""Everything one symbol's executor guards with its lock, and the phase derived from it.

The phase is a summary of facts (position, entry slots, why the day ended),
recomputed after every change and checked against ``ALLOWED``: a move the
table does not expect is logged as an error (it means a rule above is
wrong), never silently taken as normal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from live.broker import Action, OrderRequest, OrderUpdate, PriceType
from live.clock import MarketSession
from live.logs import log_event
from live.strategy import Context, Holding, Strategy, Tick
from live.ticks import Rounding, round_to_tick, stop_rounding

from .config import ExecConfig
from .position import Position
from .registry import OrderRegistry
from .slots import OrderSlot, Role


class Phase(StrEnum):
    FLAT = "FLAT"  # no position, no entry working: the strategy decides
    ENTERING = "ENTERING"  # an entry is placed, working or queued for retry
    HOLDING = "HOLDING"  # a position of ours; a stop-loss working or being placed
    EXITING = "EXITING"  # closing at market
    DONE = "DONE"  # nothing more today


P = Phase
ALLOWED: dict[Phase, frozenset[Phase]] = {
    P.FLAT: frozenset({P.ENTERING, P.HOLDING, P.DONE}),
    P.ENTERING: frozenset({P.FLAT, P.HOLDING, P.EXITING, P.DONE}),
    P.HOLDING: frozenset({P.EXITING, P.FLAT, P.DONE}),
    P.EXITING: frozenset({P.DONE}),
    # A fill that lands after the day ended (an entry filled while its cancel
    # was in flight) must still be protected and closed.
    P.DONE: frozenset({P.HOLDING, P.EXITING, P.ENTERING}),
}

CUTOFF = "exit cutoff"
STOPPED = "engine stopped"  # the trader stopped the engine (SIGINT/SIGTERM): no new entries
FLATTEN_ON_STOP = "engine stopped: flatten on exit"
ROUTINE_EXITS = frozenset({CUTOFF, FLATTEN_ON_STOP})  # closes that are planned, not alerts
EARLY_LIMIT = 64  # updates held for orders whose placement reply is still in flight


@dataclass
class Stats:
    fills: int = 0
    exits: int = 0
    orders_placed: int = 0
    orders_rejected: int = 0


@dataclass
class ExecState:
    symbol: str
    strategy: Strategy
    config: ExecConfig
    session: MarketSession
    tick: Decimal
    lot_size: int = 1
    on_event: Callable[[str, dict], None] | None = None
    phase: Phase = Phase.FLAT
    attempts: int = 0  # entry attempts used today (journal claims)
    next_attempt: int = 1  # the number the next claim takes
    entries: dict[Action, OrderSlot] = field(default_factory=dict)
    stop: OrderSlot = field(default_factory=lambda: OrderSlot(Role.STOP))
    exit: OrderSlot = field(default_factory=lambda: OrderSlot(Role.EXIT))
    position: Position = field(default_factory=Position)
    orders: OrderRegistry = field(default_factory=OrderRegistry)
    early: dict[str, list[OrderUpdate]] = field(default_factory=dict)
    # Placements the broker refused in its reply; some brokers still list the
    # refused order (rejected, an id we never learnt). Such a row belongs to
    # that refusal, not to the next placement of the same shape in flight.
    refused_unseen: dict[tuple, int] = field(default_factory=dict)
    attributed: set[str] = field(default_factory=set)  # rows matched to a refusal
    stop_failures: int = 0
    exit_reason: str | None = None  # why the position is being closed at market
    done_reason: str | None = None  # why no more entries today
    last_price: Decimal | None = None
    last_tick_at: datetime | None = None
    stop_transient: int = 0  # stop placements failed transiently in a row
    stop_wait_until: datetime | None = None  # no stop placement before (backoff)
    trail_wait_until: datetime | None = None  # no trailing modify before (backoff)
    replace_stop: bool = False  # a resize was refused: cancel and place it again
    modify_failures: int = 0  # trailing modifies failed in a row
    bare_since: float | None = None  # wall time a held position was first seen without a stop
    monotonic: Callable[[], float] = time.monotonic
    fill_epoch: int = 0  # fills applied so far: a positionbook read before one is stale
    mismatch: tuple | None = None  # (broker figure, fill epoch) seen at the last poll
    stats: Stats = field(default_factory=Stats)
    # order id -> filled quantity a previous run journaled (and logged as FILL)
    known_filled: dict[str, int] = field(default_factory=dict)
    _logged: set = field(default_factory=set)  # one-off messages already logged

    def __post_init__(self) -> None:
        self.exchange, _, self.tradingsymbol = self.symbol.partition(":")
        for side in (Action.BUY, Action.SELL):
            self.entries[side] = OrderSlot(Role.ENTRY, side.value.lower())
        self.settle_phase("start")

    # --- slots -------------------------------------------------------------------

    def slots(self) -> list[OrderSlot]:
        return [*self.entries.values(), self.stop, self.exit]

    def slot_for(self, role: Role, tag: str) -> OrderSlot:
        if role is Role.ENTRY:
            return self.entries[Action(tag.upper())]
        return self.stop if role is Role.STOP else self.exit

    def entries_busy(self) -> bool:
        return any(s.busy for s in self.entries.values())

    # --- phase ------------------------------------------------------------------

    def target_phase(self) -> Phase:
        if self.position.qty != 0:
            return Phase.EXITING if self.exit_reason else Phase.HOLDING
        if self.entries_busy():
            return Phase.ENTERING
        if self.done_reason or self.attempts >= self.config.max_attempts:
            return Phase.DONE
        return Phase.FLAT

    def settle_phase(self, why: str) -> None:
        new = self.target_phase()
        if new is self.phase:
            return
        if new not in ALLOWED[self.phase]:
            self.emit("STATE_UNEXPECTED", level=logging.ERROR, frm=self.phase, to=new, why=why)
        else:
            self.emit("STATE", frm=self.phase, to=new, why=why)
        self.phase = new

    # --- what the strategy sees ----------------------------------------------------

    def holding(self) -> Holding | None:
        pos = self.position
        if pos.qty == 0:
            return None
        return Holding(
            symbol=self.symbol,
            side=pos.side,
            quantity=pos.size,
            average_price=pos.average,
            stop=pos.stop,
            initial_stop=pos.initial_stop,
            risk_per_unit=pos.risk_per_unit,
            best_price=pos.best if pos.best is not None else pos.average,
            last_price=self.last_price,
        )

    def context(self, ts: datetime) -> Context:
        return Context(
            symbol=self.symbol,
            tick_size=self.tick,
            attempts_used=self.attempts,
            max_attempts=self.config.max_attempts,
            holding=self.holding(),
            working_entries=frozenset(a for a, s in self.entries.items() if s.busy),
            entry_window_open=self.session.in_entry_window(ts) and self.done_reason is None,
            session=self.session,
        )

    def call_strategy(self, rule: str, *args: Any) -> Any:
        """Run one strategy rule; whatever it raises is logged (once per rule
        and error text) and reported as ``None``: strategy code never breaks
        a symbol's protection."""
        try:
            return getattr(self.strategy, rule)(*args)
        except Exception as exc:  # noqa: BLE001 - a strategy bug must not stop the executor
            self.once(
                ("strategy", rule, str(exc)),
                "STRATEGY_ERROR",
                level=logging.ERROR,
                rule=rule,
                error=f"{type(exc).__name__}: {exc}",
            )
            return None

    def tick_view(self, ts: datetime) -> Tick | None:
        if self.last_price is None:
            return None
        return Tick(self.symbol, self.last_price, ts)

    # --- orders ----------------------------------------------------------------

    def request(
        self, action: Action, qty: int, price_type: PriceType, trigger: Decimal | None
    ) -> OrderRequest:
        """A broker request with every price on the tick grid (P3): a buy stop
        rounds up, a sell stop down; an SL's limit sits beyond its trigger."""
        price = None
        if trigger is not None:
            trigger = round_to_tick(trigger, self.tick, stop_rounding(action.value))
        if price_type is PriceType.SL:
            offset = self.tick * self.config.stop_limit_ticks
            raw = trigger + offset if action is Action.BUY else trigger - offset
            price = round_to_tick(
                raw, self.tick, Rounding.UP if action is Action.BUY else Rounding.DOWN
            )
            if price <= 0:
                price = self.tick
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

    def entry_ref(self, attempt: int) -> str:
        return f"{self.symbol}#entry{attempt}"

    # --- events ------------------------------------------------------------------

    def emit(self, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
        log_event(event, symbol=self.symbol, level=level, **fields)
        if self.on_event is not None:
            self.on_event(event, fields)

    def once(self, key: object, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
        """Log ``event`` the first time ``key`` is seen (a refusal repeated on
        every tick is one line, not thousands)."""
        if key in self._logged:
            return
        self._logged.add(key)
        self.emit(event, level=level, **fields)

    def forget(self, prefix: object) -> None:
        """Allow the one-off messages whose key starts with ``prefix`` again."""
        self._logged = {
            k for k in self._logged if not (isinstance(k, tuple) and k[:1] == (prefix,))
        }
