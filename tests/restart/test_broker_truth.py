"""Broker truth over real sockets: restarts against a broker that keeps its
state, and a trader who trades at the terminal. The broker is the truth for
what exists; the journal for what is ours (issue 9, cases 2-8)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from live.broker import Action, PriceType, Product
from live.execution import Phase
from live.risk import SlotState

from .harness import BrokerWorld, EngineRun

SEED = 11
SBIN = {"NSE:SBIN": "long_win"}
INFY = {"NSE:INFY": "long_stopout_reentry"}


@pytest.fixture
def world():
    made: list[BrokerWorld] = []

    def make(mix=SBIN, **kw) -> BrokerWorld:
        made.append(BrokerWorld(mix, SEED, **kw))
        return made[-1]

    yield make
    for w in made:
        w.close()


def stops(w: BrokerWorld, sym: str, *, working: bool = True):
    orders = w.truth.working_orders(sym) if working else w.truth.orders(sym)
    return [o for o in orders if o.price_type in (PriceType.SL, PriceType.SL_M) and o.is_exit]


def holding(run: EngineRun, key: str = "NSE:SBIN") -> bool:
    v = run.state(key).view()
    return v.position_qty != 0 and v.sl_id is not None


def engine_orders(w: BrokerWorld, sym: str):
    return [o for o in w.truth.orders(sym) if o.strategy != "manual"]


def lowest_position(w: BrokerWorld, sym: str) -> int:
    return min((ev.position_after for ev in w.truth.events(symbol=sym)
                if ev.position_after is not None), default=0)  # fmt: skip


def broker_pnl(w: BrokerWorld, sym: str, *, strategy: str | None = None) -> Decimal:
    ids = {o.order_id for o in w.truth.orders(sym) if strategy is None or o.strategy == strategy}
    return sum(
        ((t.price if t.action is Action.SELL else -t.price) * t.quantity
         for t in w.truth.trades(sym) if t.order_id in ids),
        Decimal(0),
    )  # fmt: skip


def logged_fills(w: BrokerWorld, key: str) -> int:
    return sum(e["qty"] for e in w.log.events("FILL", key))


def traded(w: BrokerWorld, sym: str) -> int:
    return sum(t.quantity for t in w.truth.trades(sym))


@pytest.mark.timeout(90)
def test_trader_flattens_by_hand_the_engine_takes_its_stop_off(world, tmp_path):
    """Case 3: flattened at the terminal with the engine's stop working.
    Before, the stop stayed and later sold again: a short held past the
    cutoff (sync_position never let a smaller broker position reduce ours)."""
    w = world()
    run = EngineRun(w, tmp_path / "d")
    w.wait(lambda: holding(run))
    w.manual("SBIN", Action.SELL, 10)
    w.wait(lambda: not stops(w, "SBIN"), wall=15)
    v = run.state().view()
    assert v.position_qty == 0 and v.phase is Phase.DONE, v
    assert [e for e in w.log.events("ALERT", "NSE:SBIN") if "broker" in e["reason"]]
    run.run_to_close()
    assert w.truth.net_position("SBIN") == 0 and not w.truth.working_orders("SBIN")
    assert lowest_position(w, "SBIN") >= 0, "a stop of ours opened a short (P10)"


@pytest.mark.timeout(90)
def test_a_manual_cnc_buy_of_the_same_symbol_is_never_protected_or_sold(world, tmp_path):
    """Case 4: the trader buys 5 SBIN for delivery while the engine holds 10
    MIS. Before, positions were summed over products and the engine put an
    MIS stop on the trader's shares."""
    w = world()
    run = EngineRun(w, tmp_path / "d")
    w.wait(lambda: holding(run))
    w.manual("SBIN", Action.BUY, 5, Product.CNC)
    time.sleep(1.5)  # several poll cycles
    run.run_to_close()
    mine = engine_orders(w, "SBIN")
    assert all(o.quantity == 10 and o.product is Product.MIS for o in mine), mine
    held = {p.product: p.quantity for p in w.trader.positions() if p.symbol == "SBIN"}
    assert held.get(Product.CNC) == 5 and held.get(Product.MIS, 0) == 0, held
    assert not w.log.events("POSITION_SYNC")


@pytest.mark.timeout(120)
def test_same_day_restart_after_the_day_is_done_places_nothing(world, tmp_path):
    """Case 2: stopped out, re-entered, squared off; the engine dies before
    its final reconcile and restarts. Before, it replayed the entry fills but
    not the exits, believed it was long, put fresh stops on flat symbols and
    they opened positions nobody asked for."""
    w = world(INFY, start="09:54")
    run = EngineRun(w, tmp_path / "d")
    w.wait(lambda: run.engine.finished(), wall=40)
    placed = len(engine_orders(w, "INFY"))
    pnl = run.state("NSE:INFY").view().realized_pnl
    run.crash()
    again = EngineRun(w, tmp_path / "d")
    time.sleep(1.5)
    v = again.state("NSE:INFY").view()
    assert v.position_qty == 0 and v.phase is Phase.DONE, v
    again.run_to_close()
    assert len(engine_orders(w, "INFY")) == placed, "the restart placed orders"
    assert w.truth.net_position("INFY") == 0 and not w.truth.working_orders("INFY")
    assert again.engine.risk.snapshot().realized_pnl == pnl == broker_pnl(w, "INFY")
    assert len(w.log.events("POSITION_MISMATCH")) + len(w.log.events("POSITION_FOREIGN")) <= 1
    # The restart re-applied the day's fills from the journal: logged as
    # FILL_KNOWN, so the log's FILL lines sum to the broker's trades once.
    assert logged_fills(w, "NSE:INFY") == traded(w, "INFY")
    assert w.log.events("FILL_KNOWN", "NSE:INFY")


@pytest.mark.timeout(120)
def test_a_stop_filled_while_down_counts_toward_the_loss_limit(world, tmp_path):
    """Case 6: killed while holding; the stop fills while the engine is down.
    Before, the journal still said "trigger pending", the loss was missing
    and the engine re-entered past its daily loss limit."""
    w = world(INFY, start="09:54")
    limit = {"risk": {"daily_loss_limit": 1}}
    run = EngineRun(w, tmp_path / "d", **limit)
    w.wait(lambda: holding(run, "NSE:INFY"))
    run.crash()
    w.wait(lambda: w.truth.net_position("INFY") == 0, wall=30)  # stopped out while down
    again = EngineRun(w, tmp_path / "d", **limit)
    loss = broker_pnl(w, "INFY")
    assert loss < 0
    snap = again.engine.risk.snapshot()
    assert snap.realized_pnl == loss and snap.loss_limit_hit, snap
    again.run_to_close()
    entries = [o for o in engine_orders(w, "INFY") if not o.is_exit]
    assert len(entries) == 1, f"re-entered past the loss limit: {entries}"
    # The entry's fill was known (FILL_KNOWN); the stop's, learnt at the
    # restart, is a new FILL: each of the broker's trades logged once.
    assert logged_fills(w, "NSE:INFY") == traded(w, "INFY")


@pytest.mark.timeout(90)
def test_stop_cancelled_and_position_sold_by_hand_while_down(world, tmp_path):
    """Case 7: killed while holding; the trader cancels the engine's stop and
    sells at the terminal. Before, the restart placed a fresh SELL stop for
    10 on a flat account."""
    w = world()
    run = EngineRun(w, tmp_path / "d")
    w.wait(lambda: holding(run))
    run.crash()
    [stop] = stops(w, "SBIN")
    w.trader.cancel_order(stop.order_id)
    w.manual("SBIN", Action.SELL, 10)
    again = EngineRun(w, tmp_path / "d")
    time.sleep(1.0)
    assert not w.truth.working_orders("SBIN"), w.truth.working_orders("SBIN")
    v = again.state().view()
    assert v.position_qty == 0 and v.phase is Phase.DONE, v
    assert w.log.events("ALERT", "NSE:SBIN")
    again.run_to_close()
    assert w.truth.net_position("SBIN") == 0 and lowest_position(w, "SBIN") >= 0


@pytest.mark.timeout(90)
def test_killed_between_placeorder_and_journaling_the_id_places_no_second_entry(world, tmp_path):
    """Case 5: the entry reached the broker; the engine died before writing
    its id. Before, the restart never looked at the unbound intent and placed
    a second entry (20 bought for 10)."""
    w = world()
    stuck = threading.Event()

    def die_before_journaling(run: EngineRun) -> None:
        real = run.journal.record_order

        def record_order(intent_id, key, role, *args, **kw):
            if role == "entry":
                stuck.wait()  # the process is gone before this write
            return real(intent_id, key, role, *args, **kw)

        run.journal.record_order = record_order

    run = EngineRun(w, tmp_path / "d", before_start=die_before_journaling)
    w.wait(lambda: [o for o in engine_orders(w, "SBIN") if not o.is_exit])
    time.sleep(0.05)
    run.crash()
    again = EngineRun(w, tmp_path / "d")
    assert w.log.events("INTENT_BOUND", "NSE:SBIN")
    again.run_to_close()
    stuck.set()
    entries = [o for o in engine_orders(w, "SBIN") if not o.is_exit]
    assert len(entries) == 1, f"a second entry was placed: {entries}"
    assert stops(w, "SBIN", working=False), "the entry's fill was never protected"
    assert w.truth.net_position("SBIN") == 0


@pytest.mark.timeout(90)
def test_a_reattached_working_entry_holds_its_risk_slot(world, tmp_path):
    """Case 8: restarted with an entry working. Before, it held no slot and
    max_open_positions could be exceeded."""
    w = world()
    limits = {"risk": {"max_open_positions": 1}}
    run = EngineRun(w, tmp_path / "d", **limits)
    w.wait(lambda: run.state().view().entry_id is not None or holding(run))
    run.crash()
    again = EngineRun(w, tmp_path / "d", **limits)
    slots = dict(again.engine.risk.snapshot().slots)
    assert slots.get("NSE:SBIN") in (SlotState.RESERVED, SlotState.OPEN), slots
    assert again.engine.risk.try_open("NSE:INFY", 10, w.clock.now()).code.value == "max_positions"
    again.run_to_close()
