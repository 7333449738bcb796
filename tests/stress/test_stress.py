"""Real-thread stress: no scheduler, the OS and the GIL pick the interleavings.

Four symbols share one BuyingPowerLedger with cash for two entries at once.
Each symbol has the engine's two threads hammering its real executor, once
with each shipped strategy (tests/plays.py: the 80-20 and the two-sided
opening-range breakout):

* feed: random-walk ticks (trigger, resting, through the entry, trailing,
  back down), and the order stream: the exchange's fills, partial fills,
  RMS cancels and rejections, each delivered at once, some twice, and old
  updates replayed out of order;
* poller: cycles as live/poller.py runs them - orderbook (in random order,
  with stale replays) -> on_order_update, positionbook -> sync_position,
  pushed cancel confirmations, poll(); sometimes a status check.

The broker also fails some calls (HTTP 500 on placement, errors on modify
and cancel). Every few operations each thread checks what must never break
(no exception, entries <= max_attempts, never two working entries, never
reversed, and - P5 from the broker's side - our working entries and open
positions never tie up more than the account holds); the pollers refresh
funds as live/poller.py does (epoch read before the broker's figure). At the end the book is settled before the
cutoff (P1-P4, P6 from tests/races/properties.py: a holding has exactly one
stop for its quantity, a flat book no working exit order) and then flattened
by the cutoff (P7), after which one more funds refresh must leave the ledger
at exactly the opening cash with no reservation left (none leaked).

The RNG choices are seeded (each thread's own Random); the thread
interleaving is not, so a failure prints the seed and the operation log
tail of the failing symbol.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest

from live.broker import (
    BrokerError,
    OrderStatus,
    OrderUpdate,
    PriceType,
    TransientBrokerError,
)
from live.execution import SymbolExecutor
from live.ledger import BuyingPowerLedger
from tests.core.helpers import T0, D, at
from tests.fakes import FakeBroker
from tests.plays import PLAY_8020, PLAYS, Play
from tests.races.naive import NaiveSymbolState
from tests.races.properties import entry_orders, net_of, transient, violations

SYMBOLS = ("SBIN", "INFY", "TCS", "RELIANCE")
FEED_OPS = 700  # per symbol and day; each symbol is done for the day well before
MAX_ATTEMPTS = 3
QTY = 10
MARGIN = D("100.00") * QTY * D("0.2")  # one entry's margin (buy stop 100.00)
CASH = 2 * MARGIN + D("50")  # two entries at once, never three
JOIN = 60.0  # seconds; a thread still alive then is a hang, not a slow run
TICK = D("0.05")


class StressBroker(FakeBroker):
    """FakeBroker plus atomic exchange events: check-and-change under the
    broker's own lock, so the exchange never fills a cancelled order."""

    def exchange(self, order_id: str, how: str, rng: random.Random) -> OrderUpdate | None:
        with self._lock:
            o = self.orders.get(order_id)
            if o is None or not o.status.is_working:
                return None
            r = o.request
            # Fills at the order's own trigger (no slippage), so the ledger's
            # margin accounting can be checked to the paisa at the end.
            price = r.trigger_price or r.price or D("100.00")
            if how == "fill":
                o.filled = r.quantity
            elif how == "partial":
                left = r.quantity - o.filled
                o.filled += max(1, left // 2) if left > 1 else left
            elif how == "cancel":
                o.status = OrderStatus.CANCELLED
                return self._update(o, "RMS")
            elif how == "reject":
                o.status = OrderStatus.REJECTED
                return self._update(o, "RMS: margin shortfall")
            # Cumulative average over partial fills at the same price.
            o.average_price = price
            o.status = OrderStatus.COMPLETE if o.filled == r.quantity else OrderStatus.PARTIAL
            return self._update(o)

    def working_ids(self) -> list[str]:
        with self._lock:
            return [oid for oid, o in self.orders.items() if o.status.is_working]

    def net(self) -> int:
        """Signed net position (long > 0), as a positionbook shows it."""
        with self._lock:
            return net_of(list(self.orders.values()))


class Clock:
    """Market time shared by a symbol's two threads; the feed moves it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._now = T0

    def now(self):
        with self._lock:
            return self._now

    def advance(self, seconds: int):
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


@dataclass
class Symbol:
    name: str
    state: SymbolExecutor
    raw: StressBroker
    clock: Clock = field(default_factory=Clock)
    updates: deque = field(default_factory=lambda: deque(maxlen=40))  # for stale replays
    feed_done: threading.Event = field(default_factory=threading.Event)
    log: deque = field(default_factory=lambda: deque(maxlen=60))
    peers: list = field(default_factory=list)  # every symbol sharing the account


def build(
    play: Play, cls: type = SymbolExecutor, cash: Decimal = CASH
) -> tuple[list[Symbol], BuyingPowerLedger]:
    ledger = BuyingPowerLedger(cash)
    out = []
    for name in SYMBOLS:
        raw = StressBroker()
        state, _ = play.build(cls, name, raw, ledger=ledger, quantity=QTY,
                              max_attempts=MAX_ATTEMPTS, entry_timeout=timedelta(minutes=3))  # fmt: skip
        out.append(Symbol(name, state, raw))
    for sym in out:
        sym.peers = out
    return out, ledger


def committed(peers: list[Symbol]) -> Decimal:
    """Margin the broker holds for us now: working entries and open
    positions, every symbol (fills are at the trigger, 100.00)."""
    total = Decimal(0)
    for sym in peers:
        rate = sym.state.config.margin_rate
        with sym.raw._lock:
            for o in entry_orders(sym.raw, sym.state):
                if o.status.is_working:
                    left = o.request.quantity - o.filled
                    total += (o.request.trigger_price or D("100.00")) * left * rate
            net = net_of(list(sym.raw.orders.values()))
            held = [o for o in entry_orders(sym.raw, sym.state) if o.filled]
        if net and held:
            price = max(o.request.trigger_price for o in held)
            total += abs(net) * price * rate
    return total


# --- what must hold at every moment -------------------------------------------


def always(sym: Symbol, ledger: BuyingPowerLedger) -> list[str]:
    with sym.raw._lock:
        out = [f"{sym.name}: {v}" for v in transient(sym.raw, sym.state)]
    # P5 from the broker's side: what our orders and positions tie up never
    # exceeds the account (sampled symbol by symbol, so never over-stated).
    tied = committed(sym.peers)
    if tied > CASH:
        out.append(f"P5: orders and positions tie up {tied}, the account has {CASH}")
    return out


class Failures:
    def __init__(self):
        self._lock = threading.Lock()
        self.items: list[str] = []

    def add(self, what: str) -> None:
        with self._lock:
            if len(self.items) < 20:
                self.items.append(what)


# --- the two threads -------------------------------------------------------------


def deliver(sym: Symbol, u: OrderUpdate | None, rng: random.Random, ts) -> None:
    if u is None:
        return
    sym.updates.append(u)
    sym.state.on_order_update(u, ts)
    if rng.random() < 0.15:
        sym.state.on_order_update(u, ts)  # duplicated by the stream


def feed(sym: Symbol, ledger, seed: int, failures: Failures, stop: threading.Event) -> None:
    try:
        _feed(sym, ledger, seed, failures, stop)
    finally:
        sym.feed_done.set()


def _feed(sym: Symbol, ledger, seed: int, failures: Failures, stop: threading.Event) -> None:
    rng = random.Random(seed)
    ltp = D("100.40")
    for i in range(FEED_OPS):
        if stop.is_set():
            return
        time.sleep(0)  # let the other threads in: interleave, do not run in bursts
        ts = sym.clock.advance(1)
        r = rng.random()
        try:
            if r < 0.55:
                # Random walk with a pull toward the setup's levels, so the
                # trigger (99.75), the buy stop (100.00) and the trail all happen.
                step = rng.choice((-6, -4, -2, -1, 1, 2, 4, 6)) * TICK
                pull = TICK * (1 if ltp < D("99.40") else -1 if ltp > D("101.60") else 0)
                ltp = max(D("98.50"), ltp + step + pull)
                sym.log.append(f"feed tick {ltp} @{ts.time()}")
                sym.state.process_tick(ltp, ts)
            elif r < 0.85:
                ids = sym.raw.working_ids()
                if ids:
                    oid = rng.choice(ids)
                    how = rng.choices(("fill", "partial", "cancel", "reject"), (5, 2, 2, 1))[0]
                    sym.log.append(f"feed exchange {how} {oid}")
                    deliver(sym, sym.raw.exchange(oid, how, rng), rng, ts)
            elif r < 0.95 and sym.updates:
                u = rng.choice(list(sym.updates))
                sym.log.append(f"feed stale {u.order_id} {u.status.value} {u.filled}")
                sym.state.on_order_update(u, ts)
            else:
                method, err = rng.choice(
                    (
                        ("place_order", TransientBrokerError("HTTP 500", code=500)),
                        ("modify_order", BrokerError("HTTP 400 modify refused", code=400)),
                        ("cancel_order", TransientBrokerError("timeout", code=504)),
                    )
                )
                if not sym.raw.fail.get(method):  # one outage at a time
                    sym.log.append(f"feed broker will fail {method}")
                    sym.raw.fail_next(method, err)
        except Exception as exc:  # noqa: BLE001 - every exception is a finding
            failures.add(f"{sym.name} feed op {i} (seed {seed}) raised {exc!r}")
            stop.set()
            return
        if i % 5 == 0:
            for v in always(sym, ledger):
                failures.add(f"op {i} (seed {seed}): {v}")
                stop.set()


def poller(sym: Symbol, ledger, seed: int, failures: Failures, stop: threading.Event) -> None:
    rng = random.Random(seed)
    i = 0
    # Cycle for as long as the feed runs (and once more), like the 5 s timer.
    while not stop.is_set():
        last = sym.feed_done.is_set()
        i += 1
        time.sleep(0)
        ts = sym.clock.now()
        try:
            book = sym.raw.orderbook()
            rng.shuffle(book)  # the orderbook is not in event order
            if sym.updates and rng.random() < 0.3:
                book.append(rng.choice(list(sym.updates)))  # a stale reply
            sym.log.append(f"poller cycle {i}: {len(book)} rows")
            for u in book:
                sym.state.on_order_update(u, ts)
            for u in sym.raw.drain():
                sym.updates.append(u)
                sym.state.on_order_update(u, ts)
            epoch = sym.state.fill_epoch() if hasattr(sym.state, "fill_epoch") else None
            sym.state.sync_position(sym.raw.net(), ts, epoch)
            sym.state.poll(ts)
            if rng.random() < 0.2:
                for oid, _role in sym.state.working_order_ids():
                    sym.state.on_order_update(sym.raw.order_status(oid), ts)
            if rng.random() < 0.3:  # the funds refresh: epoch first, then the broker
                epoch = ledger.epoch
                ledger.refresh(CASH - committed(sym.peers), epoch=epoch)
        except Exception as exc:  # noqa: BLE001
            failures.add(f"{sym.name} poller cycle {i} (seed {seed}) raised {exc!r}")
            stop.set()
            return
        for v in always(sym, ledger):
            failures.add(f"cycle {i} (seed {seed}): {v}")
            stop.set()
        if last:
            return


# --- settling -----------------------------------------------------------------------


def settle(sym: Symbol, ts, *, finish_partials: bool) -> None:
    """A few quiet poll cycles: the exchange finishes what is half done
    (partially filled orders complete, market orders fill), the poller
    delivers the book and runs its checks."""
    for _ in range(4):
        for oid in sym.raw.working_ids():
            with sym.raw._lock:
                o = sym.raw.orders[oid]
                market = o.request.price_type is PriceType.MARKET
                partial = o.status is OrderStatus.PARTIAL
            if market or (finish_partials and partial):
                u = sym.raw.exchange(oid, "fill", random.Random(0))
                if u is not None:
                    sym.state.on_order_update(u, ts)
        for u in sym.raw.orderbook():
            sym.state.on_order_update(u, ts)
        for u in sym.raw.drain():
            sym.state.on_order_update(u, ts)
        epoch = sym.state.fill_epoch() if hasattr(sym.state, "fill_epoch") else None
        sym.state.sync_position(sym.raw.net(), ts, epoch)
        sym.state.poll(ts)


def run(
    seed: int, play: Play = PLAY_8020, cls: type = SymbolExecutor
) -> tuple[list[Symbol], BuyingPowerLedger, list[str]]:
    syms, ledger = build(play, cls)
    failures = Failures()
    stop = threading.Event()
    threads = []
    for k, sym in enumerate(syms):
        for role, body in (("feed", feed), ("poller", poller)):
            s = seed * 1000 + k * 10 + (role == "poller")
            t = threading.Thread(
                target=body,
                args=(sym, ledger, s, failures, stop),
                name=f"{role}-{sym.name}",
                daemon=True,
            )
            threads.append(t)
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN)
        if t.is_alive():
            failures.add(f"thread {t.name} still running after {JOIN}s (seed {seed}): hang")
    return syms, ledger, failures.items


def report(seed: int, problems: list[str], syms: list[Symbol]) -> str:
    lines = [f"stress seed {seed}: {len(problems)} problem(s)"] + problems[:10]
    for sym in syms:
        if any(sym.name in p for p in problems):
            lines.append(f"-- {sym.name} last operations:")
            lines.extend("   " + x for x in list(sym.log)[-25:])
    return "\n".join(lines)


SEEDS = tuple(range(1, 9))  # eight trading days


@pytest.mark.parametrize("play", PLAYS, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
def test_stress_symbols_share_a_ledger(seed, play):
    syms, ledger, problems = run(seed, play)
    assert not problems, report(seed, problems, syms)

    # Settled before the cutoff: every property from the broker's book.
    quiet = at(14, 0)
    for sym in syms:
        sym.raw.fail.clear()  # the network has recovered
        settle(sym, quiet, finish_partials=True)
    for sym in syms:
        problems += [f"{sym.name} settled: {v}" for v in violations(sym.raw, sym.state)]
        problems += [f"settled: {v}" for v in always(sym, ledger)]
    assert not problems, report(seed, problems, syms)

    # Flat by the close (P7), and the ledger back to the opening cash.
    cutoff = at(15, 16)
    for sym in syms:
        sym.state.process_tick(D("100.00"), cutoff)
        settle(sym, cutoff, finish_partials=True)
    for sym in syms:
        if sym.raw.net() != 0:
            problems.append(f"{sym.name}: P7 not flat after the cutoff: net {sym.raw.net()}")
        if sym.raw.working_ids():
            left = [
                (o.order_id, o.request.action.value, o.request.price_type.value, o.status.value)
                for o in sym.raw.orders.values()
                if o.status.is_working
            ]
            problems.append(f"{sym.name}: P7 orders still working: {left}; {sym.state.view()}")
        problems += [f"{sym.name} closed: {v}" for v in violations(sym.raw, sym.state)]
    # The poller's next funds refresh: flat everywhere, the broker shows the
    # opening cash, and it retires every reservation whose order it saw.
    # One that is left was never placed: a leak.
    ledger.refresh(CASH, epoch=ledger.epoch)
    snap = ledger.snapshot()
    if snap.reservations or snap.available != CASH:
        problems.append(f"ledger after the close: {snap} (opening cash {CASH})")
    assert not problems, report(seed, problems, syms)

    # The run really exercised the engine (else it proves nothing).
    placed = [o for s in syms for o in s.raw.orders.values()]
    entries = [o for s in syms for o in entry_orders(s.raw, s.state)]
    print(
        f"seed {seed}: {len(placed)} orders, {len(entries)} entries, "
        f"{sum(1 for o in entries if o.filled)} filled, "
        f"{sum(1 for o in placed if o.status is OrderStatus.REJECTED)} rejected"
    )
    assert len(entries) >= len(SYMBOLS)
    assert any(o.filled for o in entries)
    assert any(o.filled for o in placed if o not in entries)  # stops or exits filled too


def test_stress_catches_the_naive_state():
    """Proof the stress invariants can fail: the pre-fix code of
    shared/seeds/003 (tests/races/naive.py) under the same load."""
    caught = []
    for seed in SEEDS[:3]:
        syms, ledger, problems = run(seed, PLAY_8020, NaiveSymbolState)
        if not problems:
            for sym in syms:
                settle(sym, at(14, 0), finish_partials=True)
                problems += violations(sym.raw, sym.state)
        caught.append(bool(problems))
        print(f"naive seed {seed}:", problems[:2])
    assert all(caught), caught


def test_cutoff_releases_the_reservation_of_a_pending_retry():
    """Found by this stress test (fixed): the cutoff dropped a pending entry
    retry without releasing the reservation its failed placement took."""
    ledger = BuyingPowerLedger(D("300"))
    raw = StressBroker()
    state, _ = PLAY_8020.build(SymbolExecutor, "SBIN", raw, ledger=ledger, quantity=QTY)
    raw.fail_next("place_order", TransientBrokerError("HTTP 500", code=500))
    state.process_tick(D("99.70"), T0)  # reserved 200, placement failed: retry pending
    state.process_tick(D("99.70"), at(15, 16))  # the cutoff drops the retry
    state.poll(at(15, 16))
    assert ledger.snapshot().reservations == ()
