"""The race catalogue: every race of shared/seeds as a schedule-exploring scenario.

Each entry builds fresh state and the racing threads for one implementation
(``SymbolState`` or a naive variant). Threads play the engine's real roles:

* ``feed`` - the symbol's worker: ``process_tick`` and the order stream's
  ``on_order_update``; ``feed-new`` is a second tick handler (the old and the
  new feed thread around a reconnect, or one more task of a fresh runner);
  ``feed-<SYM>`` is the worker of another symbol;
* ``poller`` - ``poll``, ``sync_position``, the orderbook's and the status
  check's ``on_order_update``, the funds refresh.

The explorer decides where the threads switch; ``harness.check`` settles the
symbols (pushed updates delivered, market exits filled, three poll cycles)
and reads P1-P6 from the broker's book after every schedule, and
``harness.invariant`` checks at every scheduling point what may never be
broken even for a moment (two working entries, attempts over the limit, a
reversed position, entries beyond the cash).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from live.broker import Action, OrderStatus, TransientBrokerError
from live.execution import SymbolExecutor
from live.ledger import BuyingPowerLedger
from live.testing import Event, Scenario
from tests.core.helpers import T0, D, at
from tests.interleavings.harness import (
    Ctx,
    Sym,
    book_cycle,
    broker_funds,
    deliver,
    enter,
    exchange,
    exchange_fill,
    exchange_set,
    hold,
    new_symbol,
    positions_snapshot,
    scenario_of,
    status_check,
    working,
)
from tests.interleavings.naive_ledger import NaiveLedgerSymbolState
from tests.interleavings.naive_oco import NaiveOcoState
from tests.plays import PLAY_8020, PLAY_ORB, PLAYS, Play
from tests.races.naive import NaiveSymbolState

S = timedelta(seconds=1)
M = timedelta(minutes=1)


# --- 003: RACE #1-#10 -----------------------------------------------------------


def race1_stale_cancel(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #1: the feed cancels a stale entry X. While the cancel is in
    flight the poller's status check learns X is cancelled and the next tick
    places entry Y; the naive feed then clears ``entry_order_id`` - Y is
    forgotten, and the follow-up tick places a third order beside it."""
    sym = new_symbol(cls, play=play, entry_timeout=5 * M, max_attempts=3)
    x = enter(sym)
    stale = T0 + 6 * M
    ctx = Ctx([sym], settle_at=T0 + 7 * M)
    ctx.after.append(lambda: sym.state.process_tick(play.rest2, T0 + 7 * M))

    def feed():
        sym.state.process_tick(play.rest, stale)

    def poller():
        sym.state.on_order_update(sym.broker.order_status(x), stale)

    def feed_new():
        sym.state.process_tick(play.rest, stale + S)

    return scenario_of(ctx, {"feed": feed, "poller": poller, "feed-new": feed_new})


def race2_trail_vs_stop_fill(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #2: the feed trails the stop; the stop fills meanwhile and the
    poller's orderbook reports the position flat. The naive feed's failed
    modify "repairs" itself with a fresh stop: a working SELL on a flat book."""
    sym = new_symbol(cls, play=play)
    stop = hold(sym)
    t = T0 + M
    ctx = Ctx([sym], settle_at=t + M)

    def feed():
        sym.state.process_tick(play.trail, t)

    def poller():
        deliver(sym, exchange_fill(sym, stop, play.stop_fill), t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race3_trigger_twice(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #3: the trigger print reaches two tick handlers at once (old and
    new feed thread around a reconnect). Only one entry may be placed."""
    sym = new_symbol(cls, play=play)
    ctx = Ctx([sym], settle_at=T0 + S)

    def feed():
        sym.state.process_tick(play.trigger, T0)

    def feed_new():
        sym.state.process_tick(play.trigger, T0)

    return scenario_of(ctx, {"feed": feed, "feed-new": feed_new})


def race4_reentry_vs_stale_positionbook(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #4: the poller read the positionbook (flat) just before the entry
    filled and applies that snapshot, over two cycles, only after the fill
    was applied; the next tick's re-entry check must not then see "flat, no
    entry": no second BUY while holding."""
    sym = new_symbol(cls, play=play)
    x = enter(sym)
    stale_qty_epoch = positions_snapshot(sym)  # read before the fill: 0
    fill_applied = Event("fill-applied")  # the seed's premise: snapshot lands after the fill
    ctx = Ctx([sym], settle_at=T0 + 10 * S)

    def feed():
        deliver(sym, exchange_fill(sym, x, play.entry_fill), T0 + 5 * S)
        fill_applied.set()
        sym.state.process_tick(play.hold, T0 + 6 * S)

    def poller():
        fill_applied.wait()
        qty, epoch = stale_qty_epoch
        sym.state.sync_position(qty, T0 + 5 * S, epoch)
        sym.state.sync_position(qty, T0 + 10 * S, epoch)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race4b_positionbook_ahead_of_fill(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #4, the other way round: the positionbook shows the fill for two
    poll cycles before the order stream delivers it (the feed is slow). Two
    polls of one position and its fill must still count it once."""
    sym = new_symbol(cls, play=play)
    x = enter(sym)
    ctx = Ctx([sym], settle_at=T0 + 10 * S)

    def poller():
        qty, epoch = positions_snapshot(sym)
        sym.state.sync_position(qty, T0 + 5 * S, epoch)
        qty, epoch = positions_snapshot(sym)
        sym.state.sync_position(qty, T0 + 10 * S, epoch)

    def feed():
        deliver(sym, exchange_fill(sym, x, play.entry_fill), T0 + 5 * S)
        sym.state.process_tick(play.hold, T0 + 6 * S)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race5_cutoff_vs_stop_fill(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #5: at the cutoff the feed cancels the stop to exit at market;
    the stop fills while the cancel is in flight. Selling at market after
    that reverses the position."""
    sym = new_symbol(cls, play=play)
    stop = hold(sym)
    cut = at(15, 15)
    ctx = Ctx([sym], settle_at=at(15, 16))

    def feed():
        sym.state.process_tick(play.trigger, cut)

    def poller():
        deliver(sym, exchange_fill(sym, stop, play.stop_fill), cut)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race6_emergency_twice(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #6: the RMS cancels our stop; the order stream (feed) and the
    orderbook (poller) both report it, and both threads find the position
    without a stop: at most one emergency stop may go in."""
    sym = new_symbol(cls, play=play)
    stop = hold(sym)
    u = sym.raw.set_status(stop, OrderStatus.CANCELLED, "RMS")
    t = T0 + S
    ctx = Ctx([sym], settle_at=t + S)

    def feed():
        sym.state.on_order_update(u, t)
        sym.state.process_tick(play.hold, t)

    def poller():
        sym.state.on_order_update(u, t)
        sym.state.poll(t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race7_fill_outruns_reply(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #7: the entry is at the broker and fills; the poller's orderbook
    reports the fill before ``place_order`` has returned the id to the feed.
    The naive code drops the update as "not ours": the position is never
    protected."""
    sym = new_symbol(cls, play=play)
    ctx = Ctx([sym], settle_at=T0 + 5 * S)

    def feed():
        sym.state.process_tick(play.trigger, T0)

    def poller():
        exchange("orderbook")
        for o in working(sym.raw, play.entry_side):
            deliver(sym, exchange_fill(sym, o.order_id, play.entry_fill), T0)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race8_trail_vs_stop_replaced(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #8: the feed modifies the stop; meanwhile the RMS cancels it and
    the poller puts an emergency stop in. The naive modify fails and places
    a third: two stops for one position."""
    sym = new_symbol(cls, play=play)
    stop = hold(sym)
    t = T0 + M
    ctx = Ctx([sym], settle_at=t + M)

    def feed():
        sym.state.process_tick(play.trail, t)

    def poller():
        deliver(sym, exchange_set(sym, stop, OrderStatus.CANCELLED, "RMS"), t)
        sym.state.poll(t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race9_retry_vs_tick(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #9: the entry placement failed (HTTP 500); the poller retries it
    while the feed's tick also sees "no entry working"."""
    sym = new_symbol(cls, play=play)
    sym.raw.fail_next("place_order", TransientBrokerError("HTTP 500", code=500))
    sym.state.process_tick(play.trigger, T0)
    assert not working(sym.raw, play.entry_side)
    t = T0 + 5 * S
    ctx = Ctx([sym], settle_at=t + 5 * S)

    def poller():
        sym.state.poll(t)

    def feed():
        sym.state.process_tick(play.rest, t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def race10_status_vs_new_entry(cls: type, play: Play = PLAY_8020) -> Scenario:
    """RACE #10: the poller asks for entry X's status; before its reply is
    applied X is cancelled and the feed places entry Y. The reply ("X
    cancelled") must not clear Y."""
    sym = new_symbol(cls, play=play, max_attempts=3)
    x = enter(sym)
    t = T0 + 5 * S
    ctx = Ctx([sym], settle_at=t + S)
    ctx.after.append(lambda: sym.state.process_tick(play.rest2, t + S))

    def poller():
        status_check(sym, t)

    def feed():
        deliver(sym, exchange_set(sym, x, OrderStatus.CANCELLED), t)
        sym.state.process_tick(play.rest, t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


# --- 002: the duplicate BUY --------------------------------------------------------


def dup_buy_several_tasks(cls: type, play: Play = PLAY_8020) -> Scenario:
    """002: after a stop-out, three actors look at the symbol at once - two
    tick handlers (a fresh runner's tasks, or the old and new feed thread)
    and the poller checking order status and retries - and each sees "no
    position, no order". One entry only."""
    sym = new_symbol(cls, play=play, max_attempts=3)
    stop = hold(sym)
    sym.state.on_order_update(sym.raw.fill(stop, price=play.stop_fill), T0)
    t = T0 + M
    ctx = Ctx([sym], settle_at=t + S)

    def feed():
        sym.state.process_tick(play.rest, t)

    def feed_new():
        sym.state.process_tick(play.rest, t)

    def poller():
        status_check(sym, t)
        sym.state.poll(t)

    return scenario_of(ctx, {"poller": poller, "feed": feed, "feed-new": feed_new})


# --- 000 / 001: buying power shared by several symbols -----------------------------

MARGIN = D("100.00") * 10 * D("0.2")  # one entry's margin: buy stop 100.00 x 10 at 20%


def _two_symbols_one_entry(cls: type, play: Play):
    """SBIN and INFY trigger together with cash for one entry; SBIN's entry
    fills at once if placed. Returns the context and the two feed threads."""
    cash = MARGIN + D("100")
    ledger = getattr(cls, "ledger_cls", BuyingPowerLedger)(cash)
    a = new_symbol(cls, "SBIN", play=play, ledger=ledger)
    b = new_symbol(cls, "INFY", play=play, ledger=ledger)
    ctx = Ctx([a, b], ledger=ledger, cash=cash, settle_at=T0 + 5 * S)
    ctx.notes["expect_entries"] = 1

    def feed_sbin():
        a.state.process_tick(play.trigger, T0)
        for o in working(a.raw, play.entry_side):
            deliver(a, exchange_fill(a, o.order_id, play.entry_fill), T0)

    def feed_infy():
        b.state.process_tick(play.trigger, T0)

    return ctx, {"feed-SBIN": feed_sbin, "feed-INFY": feed_infy}


def bp_two_symbols(cls: type, play: Play = PLAY_8020) -> Scenario:
    """000: SBIN and INFY trigger together with cash for one entry; SBIN's
    entry may fill (consuming the cash) before INFY's check. Never more
    entries than the cash covers, and exactly one is placed."""
    ctx, threads = _two_symbols_one_entry(cls, play)
    return scenario_of(ctx, threads)


def bp_refresh_vs_fill(cls: type, play: Play = PLAY_8020) -> Scenario:
    """000 with the poller's funds refresh: as bp_two_symbols, while the
    poller replaces the ledger's cash with the broker's figure (the epoch
    read before the call). The ledger is never optimistic, and after the
    next refresh it agrees with the broker exactly."""
    ctx, threads = _two_symbols_one_entry(cls, play)
    ledger = ctx.ledger

    def poller():
        epoch = ledger.epoch
        ledger.refresh(broker_funds(ctx), epoch=epoch)

    return scenario_of(ctx, {**threads, "poller": poller})


def bp_exit_refresh(cls: type, play: Play = PLAY_8020) -> Scenario:
    """000, cash coming back: SBIN holds (its margin spent), cash for one
    more entry. SBIN's stop fills and frees its margin while the poller
    refreshes funds and INFY triggers. The freed margin may be counted once:
    the ledger never believes in more cash than the broker has free (else
    the next entries exceed the buying power)."""
    cash = MARGIN + MARGIN
    ledger = getattr(cls, "ledger_cls", BuyingPowerLedger)(cash)
    a = new_symbol(cls, "SBIN", play=play, ledger=ledger)
    stop = hold(a)
    b = new_symbol(cls, "INFY", play=play, ledger=ledger)
    ctx = Ctx([a, b], ledger=ledger, cash=cash, settle_at=T0 + M + S)
    t = T0 + M

    def feed_sbin():
        deliver(a, exchange_fill(a, stop, play.entry_fill), t)

    def feed_infy():
        b.state.process_tick(play.trigger, t)

    def poller():
        epoch = ledger.epoch
        ledger.refresh(broker_funds(ctx), epoch=epoch)

    return scenario_of(ctx, {"feed-SBIN": feed_sbin, "feed-INFY": feed_infy, "poller": poller})


def bp_same_bar_three(cls: type, play: Play = PLAY_8020) -> Scenario:
    """001: three symbols signal on the same bar with cash for two entries;
    each sizes on the cash it sees. Exactly two may be placed."""
    cash = 2 * MARGIN + D("100")
    ledger = getattr(cls, "ledger_cls", BuyingPowerLedger)(cash)
    syms = [new_symbol(cls, name, play=play, ledger=ledger) for name in ("SBIN", "INFY", "TCS")]
    ctx = Ctx(syms, ledger=ledger, cash=cash, settle_at=T0 + S)
    ctx.notes["expect_entries"] = 2

    def worker(state):
        return lambda: state.process_tick(play.trigger, T0)

    return scenario_of(ctx, {f"feed-{s.name.split(':')[1]}": worker(s.state) for s in syms})


# --- OCO: two-sided entries ----------------------------------------------------------

ORB_BUY_FILL, ORB_SELL_FILL = D("101.05"), D("99.95")


def _both_entries(cls: type, play: Play) -> tuple[Sym, str, str]:
    sym = new_symbol(cls, play=play)
    sym.state.process_tick(play.trigger, T0)  # inside the range: both stops go in
    [buy] = working(sym.raw, Action.BUY)
    [sell] = working(sym.raw, Action.SELL)
    return sym, buy.order_id, sell.order_id


def oco_both_fill(cls: type, play: Play = PLAY_ORB) -> Scenario:
    """OCO: a fast market runs through both levels in one tick; the buy
    side's fill reaches the symbol's worker (feed), the sell side's the
    poller's orderbook. Whatever the order: at most one position, the other
    entry cancelled or its fill offset and flattened, never a stop left on a
    flat book."""
    sym, buy, sell = _both_entries(cls, play)
    t = T0 + S
    ctx = Ctx([sym], settle_at=t + M)
    ctx.after.append(lambda: book_cycle(sym, t + M))

    def feed():
        deliver(sym, exchange_fill(sym, buy, ORB_BUY_FILL), t)

    def poller():
        deliver(sym, exchange_fill(sym, sell, ORB_SELL_FILL), t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


def oco_fill_during_fill(cls: type, play: Play = PLAY_ORB) -> Scenario:
    """OCO: the buy side fills and its worker handles it (stop, cancel the
    sell side); the sell side fills at the exchange somewhere inside that
    handling - before the cancel, while it is in flight, after it. Nobody
    pushes the sell fill: the symbol must learn it from the failed cancel or
    the next orderbook, and protect and flatten what it opened."""
    sym, buy, sell = _both_entries(cls, play)
    t = T0 + S
    ctx = Ctx([sym], settle_at=t + M)
    ctx.after.append(lambda: book_cycle(sym, t + M))

    def feed():
        deliver(sym, exchange_fill(sym, buy, ORB_BUY_FILL), t)

    def poller():
        exchange_fill(sym, sell, ORB_SELL_FILL)
        sym.state.poll(t)

    return scenario_of(ctx, {"feed": feed, "poller": poller})


# --- the catalogue ------------------------------------------------------------------


@dataclass(frozen=True)
class Race:
    key: str  # short id used in test ids and the report
    seed: str  # which incident report / race
    build: Callable[[type, Play], Scenario]
    naive: type = NaiveSymbolState
    real: type = SymbolExecutor
    # The strategies the real executor is explored with (the naive variants
    # are the pre-fix 80-20 code, so they run with the 80-20's play).
    plays: tuple[Play, ...] = tuple(PLAYS)
    pct_depth: int = 2
    pct_runs: int = 500
    # A real bug the explorer found in the real code (an xfail reason), until fixed.
    real_bug: str | None = None
    # False where the naive variant can break the property even run alone
    # (its sync_position forgets a working entry on a flat positionbook; its
    # ledger use books cash after placing, and a refresh wipes that).
    naive_needs_race: bool = True
    # The preemption bound the test suite explores the real code with. Every
    # race is explored at 2 by ``python -m tests.interleavings.report``
    # (RESULTS.md); the three-actor ledger races (7,000+ schedules, 90 s
    # at 2) run at 1 in the suite, which still reaches every bug they pin
    # (each needed one preemption). LIVE8020_FULL_BOUND=1 runs them at 2.
    suite_bound: int = 2

    def scenario(self, cls: type, play: Play | None = None) -> Callable[[], Scenario]:
        """Scenarios for ``cls`` with ``play`` (default: the race's first)."""
        chosen = play or self.plays[0]
        return lambda: self.build(cls, chosen)


# Real bugs the explorer found, kept as the record of what the regression
# tests in test_real_bugs.py pin (all three fixed).
BUG_ADOPT_TWICE = (
    "SymbolState.sync_position adopted a broker position while the entry order "
    "that made it is still working; the entry's fill update then adds the same "
    "quantity again (position 20 for 10 bought) and the stop is resized to 20"
)
BUG_REFRESH_DOUBLE_COUNT = (
    "BuyingPowerLedger.refresh accepts a funds reply read after an entry filled "
    "at the broker but applied before the fill's local consume (the epoch has "
    "not moved yet); the consume then deducts the margin a second time: available < 0"
)

BUG_REFRESH_OVERCOUNT = (
    "BuyingPowerLedger.refresh accepts a funds reply read after an exit freed "
    "margin at the broker but applied before the exit's local credit (the epoch "
    "has not moved yet); the credit then adds the freed margin a second time"
)

# The buying-power scenarios are about the ledger shared by several symbols,
# not about a strategy: their cash figures are sized for one 80-20 entry each.
BP_PLAYS = (PLAY_8020,)

RACES: tuple[Race, ...] = (
    Race("race1", "003 RACE #1 stale cancel vs poller", race1_stale_cancel),
    Race("race2", "003 RACE #2 trailing stop vs position clear", race2_trail_vs_stop_fill),
    Race("race3", "003 RACE #3 trigger twice", race3_trigger_twice),
    Race(
        "race4",
        "003 RACE #4 re-entry vs fill, stale positionbook",
        race4_reentry_vs_stale_positionbook,
    ),
    Race(
        "race4b",
        "003 RACE #4 positionbook ahead of the fill",
        race4b_positionbook_ahead_of_fill,
        naive_needs_race=False,
    ),
    Race("race5", "003 RACE #5 auto-exit vs stop fill", race5_cutoff_vs_stop_fill),
    Race("race6", "003 RACE #6 emergency stop twice", race6_emergency_twice),
    Race("race7", "003 RACE #7 fill outruns the placement reply", race7_fill_outruns_reply),
    Race("race8", "003 RACE #8 stop update vs stop replaced", race8_trail_vs_stop_replaced),
    Race("race9", "003 RACE #9 poller retry vs tick", race9_retry_vs_tick),
    Race("race10", "003 RACE #10 status check vs new entry", race10_status_vs_new_entry),
    Race("dup-buy", "002 duplicate BUY, three actors", dup_buy_several_tasks),
    Race(
        "bp-two",
        "000 buying power, 2 symbols",
        bp_two_symbols,
        naive=NaiveLedgerSymbolState,
        plays=BP_PLAYS,
    ),
    Race(
        "bp-refresh",
        "000 buying power + funds refresh",
        bp_refresh_vs_fill,
        naive=NaiveLedgerSymbolState,
        plays=BP_PLAYS,
        naive_needs_race=False,
        suite_bound=1,
    ),
    Race(
        "bp-exit",
        "000 cash freed by an exit vs funds refresh",
        bp_exit_refresh,
        naive=NaiveLedgerSymbolState,
        plays=BP_PLAYS,
        naive_needs_race=False,
        suite_bound=1,
    ),
    Race(
        "bp-three",
        "001 same-bar cash, 3 symbols",
        bp_same_bar_three,
        naive=NaiveLedgerSymbolState,
        plays=BP_PLAYS,
        suite_bound=1,
    ),
)

RACES += (
    Race("oco-both", "OCO: both sides fill in one tick", oco_both_fill, naive=NaiveOcoState,
         plays=(PLAY_ORB,)),
    # The naive code also fails when side B fills before side A's fill is
    # handled at all (no thread switch needed): cancel-and-forget drops B's
    # fill either way.
    Race("oco-during", "OCO: side B fills during side A's fill handling", oco_fill_during_fill,
         naive=NaiveOcoState, plays=(PLAY_ORB,), naive_needs_race=False),
)  # fmt: skip

BY_KEY = {r.key: r for r in RACES}
