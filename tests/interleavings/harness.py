"""Shared pieces of the race catalogue: build a symbol, settle it, check it.

Every scenario builds its state *inside* ``scenario()`` (so the SymbolState's
and the ledger's locks are the scheduler's controlled locks) and wraps the
fake broker in ``CheckpointedBroker``, so every broker call is a point where
the explorer may switch threads. The raw ``FakeBroker`` stays the truth the
properties are read from.

Exchange-side events (a stop filling, the RMS cancelling an order) happen
inside the thread that learns of them, right after an ``exchange.*``
checkpoint: the explorer can put the event anywhere between the other
thread's steps, and the learning thread delivers it the way its role would
(the feed's order stream, the poller's orderbook).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from live.broker import Action, OrderStatus, PriceType
from live.execution import Role
from live.ledger import BuyingPowerLedger
from live.testing import CheckpointedBroker, Scenario, checkpoint
from tests.core.helpers import T0
from tests.fakes import FakeBroker
from tests.plays import PLAY_8020, Play
from tests.races.naive import NaiveSymbolState
from tests.races.properties import entry_orders, net_of, role_of, transient, violations


@dataclass
class Sym:
    """One symbol: its state, the raw broker (truth) and the wrapped one."""

    state: object
    raw: FakeBroker
    broker: CheckpointedBroker
    play: Play = PLAY_8020

    @property
    def name(self) -> str:
        return self.state.symbol


@dataclass
class Ctx:
    """What a scenario's threads share and what the check reads."""

    syms: list[Sym]
    ledger: BuyingPowerLedger | None = None
    cash: Decimal | None = None
    settle_at: datetime = T0 + timedelta(minutes=1)
    # Actions the next poll cycles / ticks perform before the properties are
    # read (e.g. the seed's follow-up tick); run on the checking thread.
    after: list[Callable[[], None]] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @property
    def sym(self) -> Sym:
        return self.syms[0]

    @property
    def state(self):
        return self.syms[0].state

    @property
    def raw(self) -> FakeBroker:
        return self.syms[0].raw


def new_symbol(
    cls: type,
    name: str = "SBIN",
    *,
    play: Play = PLAY_8020,
    ledger: BuyingPowerLedger | None = None,
    **config,
) -> Sym:
    """``play``'s strategy for ``NSE:<name>`` on a fresh FakeBroker (the 80-20:
    a long setup on yesterday's low 100.00).

    Call only inside ``scenario()``: the state's lock must be created while
    the scheduler is installed.
    """
    raw = FakeBroker()
    broker = CheckpointedBroker(raw)
    state, _ = play.build(cls, name, broker, ledger=ledger, **config)
    return Sym(state, raw, broker, play)


# --- driving the symbol (setup steps run on the scenario-building thread) ------


def working(raw: FakeBroker, action: Action) -> list:
    return [o for o in raw.orders.values() if o.status.is_working and o.request.action is action]


def enter(sym: Sym, ts: datetime = T0) -> str:
    """The trigger print places the entry (both, for a two-sided strategy);
    return the id of the one on the side the scenario fills."""
    sym.state.process_tick(sym.play.trigger, ts)
    [entry] = working(sym.raw, sym.play.entry_side)
    return entry.order_id


def hold(sym: Sym, ts: datetime = T0) -> str:
    """Enter, fill the entry and return the protective stop's id (the other
    side's entry, if any, is cancelled and confirmed)."""
    entry = enter(sym, ts)
    sym.state.on_order_update(sym.raw.fill(entry, price=sym.play.entry_fill), ts)
    deliver_pushed(sym, ts)
    [stop] = [o for o in working(sym.raw, sym.play.exit_side) if role_of(sym.state, o) is Role.STOP]
    return stop.order_id


def exchange(event: str) -> None:
    """Mark the moment an exchange-side event happens (a scheduling point)."""
    checkpoint(f"exchange.{event}")


def exchange_fill(sym: Sym, order_id: str, price: Decimal):
    """The exchange fills ``order_id`` now, if it is still working; returns
    the update the broker would report, or None (a cancelled or filled order
    cannot fill)."""
    exchange("fill")
    o = sym.raw.orders.get(order_id)
    if o is None or not o.status.is_working:
        return None
    return sym.raw.fill(order_id, price=price)


def exchange_set(sym: Sym, order_id: str, status: OrderStatus, reason: str = ""):
    """The exchange/RMS moves a working order to ``status`` (cancel, reject)."""
    exchange(status.value.lower().replace(" ", "-"))
    o = sym.raw.orders.get(order_id)
    if o is None or not o.status.is_working:
        return None
    return sym.raw.set_status(order_id, status, reason)


def deliver(sym: Sym, update, ts: datetime) -> None:
    if update is not None:
        sym.state.on_order_update(update, ts)


def deliver_pushed(sym: Sym, ts: datetime) -> None:
    for u in sym.raw.drain():
        sym.state.on_order_update(u, ts)


def fill_market_orders(sym: Sym, ts: datetime) -> None:
    """Market orders fill at once on a liquid NSE name."""
    for o in list(sym.raw.orders.values()):
        if o.status.is_working and o.request.price_type is PriceType.MARKET:
            sym.state.on_order_update(sym.raw.fill(o.order_id, price=sym.play.stop_fill), ts)


def book_cycle(sym: Sym, ts: datetime) -> None:
    """One poller cycle's orderbook: every row handed to the state (a state
    drops what it has seen; an order it lost track of is in there too)."""
    for u in sym.raw.orderbook():
        sym.state.on_order_update(u, ts)
    sym.state.book_seen(ts)


def settle(sym: Sym, ts: datetime) -> None:
    """What the next poll cycles do: deliver the broker's pushed updates
    (cancel confirmations), fill market exits, and let the poller run."""
    for _ in range(3):
        deliver_pushed(sym, ts)
        fill_market_orders(sym, ts)
        sym.state.poll(ts)
    deliver_pushed(sym, ts)
    fill_market_orders(sym, ts)


def status_check(sym: Sym, ts: datetime) -> None:
    """The poller's order-status check, as each implementation does it."""
    state = sym.state
    if isinstance(state, NaiveSymbolState):
        state.check_entry_status(ts)
        return
    for order_id, _role in state.working_order_ids():
        state.on_order_update(sym.broker.order_status(order_id), ts)


def positions_snapshot(sym: Sym) -> tuple[int, int | None]:
    """The positionbook as the broker reports it at this moment, with the
    state's fill count read before the call as the poller reads it (a broker
    call: the explorer may run the other thread between read and use)."""
    epoch = epoch_of(sym.state)
    checkpoint("broker.positions")
    qty = net_of(sym.raw.orders.values())
    checkpoint("broker.positions:done")
    return qty, epoch


def epoch_of(state) -> int | None:
    """The executor's fill count (a naive variant keeps none)."""
    return state.fill_epoch() if hasattr(state, "fill_epoch") else None


# --- properties ------------------------------------------------------------


def entry_margin(o, rate: Decimal) -> Decimal:
    """Cash an entry order ties up: what the executor reserves for it."""
    return (o.request.trigger_price or o.request.price) * o.request.quantity * rate


def open_margin(ctx: Ctx) -> Decimal:
    """Margin held by open positions at the broker, all symbols."""
    total = Decimal(0)
    for s in ctx.syms:
        net = net_of(s.raw.orders.values())
        if net == 0:
            continue
        side = Action.BUY if net > 0 else Action.SELL
        fills = [o for o in entry_orders(s.raw, s.state) if o.request.action is side and o.filled]
        qty = sum(o.filled for o in fills)
        if qty:
            avg = sum(o.average_price * o.filled for o in fills) / qty
            total += avg * abs(net) * s.state.config.margin_rate
    return total


def working_margin(ctx: Ctx) -> Decimal:
    """Margin of entry orders working at the broker, all symbols."""
    return sum(
        (
            entry_margin(o, s.state.config.margin_rate)
            for s in ctx.syms
            for o in entry_orders(s.raw, s.state)
            if o.status.is_working
        ),
        Decimal(0),
    )


def broker_funds(ctx: Ctx, *, blocks_working: bool = True) -> Decimal:
    """The broker's available cash now (margin accounting only, P&L left
    out): the opening cash less the margin of open positions and, if
    ``blocks_working`` (as the embedded simulator and Indian brokers do),
    of working entry orders. A checkpointed broker call, so the explorer can
    apply the reply after the book has moved on."""
    checkpoint("broker.funds")
    cash = ctx.cash - open_margin(ctx) - (working_margin(ctx) if blocks_working else 0)
    checkpoint("broker.funds:done")
    return cash


def transient_violations(ctx: Ctx) -> list[str]:
    """What must hold at *every* scheduling point, not only once settled:
    one working entry per side, attempts within max_attempts, never
    reversed, and (with a ledger) never more entries than the cash covers."""
    out = [f"{s.name}: {v}" for s in ctx.syms for v in transient(s.raw, s.state)]
    if ctx.cash is not None:
        committed = working_margin(ctx) + open_margin(ctx)
        if committed > ctx.cash:
            out.append(f"P5: entries tie up {committed} with only {ctx.cash} cash")
    return out


def invariant(ctx: Ctx) -> None:
    found = transient_violations(ctx)
    assert not found, "; ".join(found)


def check(ctx: Ctx) -> None:
    """After the schedule: run the follow-ups, settle every symbol, then read
    every property from the broker's book (and the ledger's)."""
    for action in ctx.after:
        action()
    for s in ctx.syms:
        settle(s, ctx.settle_at)
    found = transient_violations(ctx)
    for s in ctx.syms:
        found += [f"{s.name}: {v}" for v in violations(s.raw, s.state)]
    if ctx.ledger is not None:
        snap = ctx.ledger.snapshot()
        # The ledger may be conservative for a moment (a funds reply that
        # already counts an order whose acceptance it has not yet been told
        # of): negative is allowed then, optimistic never.
        # P5 needs the ledger never to believe in more cash than is free at
        # the broker, or the next entries exceed the buying power (000).
        free = ctx.cash - open_margin(ctx) - working_margin(ctx)
        if snap.available > free:
            found.append(f"P5: ledger says {snap.available} available, the broker has {free} free")
        # The next poll's funds refresh retires every reservation whose order
        # the broker has seen; one left over was never placed: a leak that
        # would starve other symbols all day.
        ctx.ledger.refresh(broker_funds(ctx), epoch=ctx.ledger.epoch)
        leftover = ctx.ledger.snapshot()
        if leftover.reservations:
            found.append(f"P5: reservations left after a funds refresh: {leftover.reservations}")
        if leftover.available < 0:
            found.append(f"P5: ledger available {leftover.available} < 0 after a refresh")
        if leftover.available != free:
            found.append(f"P5: after a refresh the ledger says {leftover.available}, broker {free}")
    expect = ctx.notes.get("expect_entries")
    if expect is not None:
        # Not fewer either: a leaked reservation would starve a symbol.
        placed = [
            o.order_id
            for s in ctx.syms
            for o in entry_orders(s.raw, s.state)
            if o.status.is_working or o.filled
        ]
        if len(placed) != expect:
            found.append(f"P5: {len(placed)} entries live or filled, cash covers exactly {expect}")
    assert not found, "; ".join(found)


def scenario_of(ctx: Ctx, threads: dict[str, Callable[[], None]]) -> Scenario:
    return Scenario(threads=threads, state=ctx, check=check, invariant=invariant)
