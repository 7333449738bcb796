"""P8: killed at any point and restarted, the engine re-attaches to its
orders and positions from the journal and the broker, places no duplicate
entry, and protects every open position."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta

import pytest

from live.broker import Action, PriceType
from live.clock import ManualClock
from live.config import parse_config
from live.engine import Engine
from live.execution import Phase
from live.journal import Journal
from live.sim.broker import SimBroker
from live.sim.day import SimDay
from live.sim.simulator import Simulator
from strategies.reversal_8020 import Reversal8020

DAY = date(2026, 11, 20)


class Session:
    """One simulated day; engines come and go (a crash is just dropping one)."""

    def __init__(self, scenarios, seed=3):
        self.day = SimDay.generate(DAY, scenarios, seed=seed)
        self.clock = ManualClock(self.day.open_at - timedelta(minutes=1))
        self.sim = Simulator(self.day, clock=self.clock)
        self.broker = SimBroker(self.sim)
        self.engine = None
        self.sim.on_tick(lambda t: self.engine and self.engine.on_tick(t.key, t.ltp, t.ts))
        self.broker.on_order_update(lambda u: self.engine and self.engine.on_order_update(u))
        self.cfg = parse_config({"symbols": list(scenarios), "strategy": {"quantity": 10}})

    def boot(self, journal) -> Engine:
        engine = Engine(self.cfg, self.broker, self.clock, Reversal8020, journal=journal)
        engine.prepare(DAY)
        engine.dispatcher.start()
        self.engine = engine
        return engine

    def crash(self) -> None:
        """No shutdown, no final reconcile: the process is gone."""
        self.engine.dispatcher.stop()
        self.engine = None

    def run_until(self, done, limit: datetime | None = None) -> None:
        next_poll = self.clock.now()
        while (tick := self.sim.step()) is not None:
            if self.engine is not None:
                self.engine.dispatcher.drain()
                if self.clock.now() >= next_poll:
                    self.engine.poller.run_once()
                    self.engine.dispatcher.drain()
                    next_poll = self.clock.now() + timedelta(seconds=5)
            if done() or (limit and tick.ts >= limit):
                return

    def finish(self) -> None:
        self.run_until(lambda: False)
        self.clock.set(self.day.session.close_at(DAY))
        for _ in range(3):
            self.engine.poller.run_once()
            self.engine.dispatcher.drain()


def crashed_before_the_stop(tmp_path) -> Session:
    """The engine (journal ``j.db``) dies with its entry working; the entry
    fills while it is down, so nobody has placed a stop yet."""
    s = Session({"NSE:SBIN": "long_win"})
    with Journal(tmp_path / "j.db") as j1:
        state = s.boot(j1).states["NSE:SBIN"]
        s.run_until(lambda: isinstance(state.view().entry_id, str))
        s.crash()
    s.run_until(lambda: s.sim.truth.net_position("SBIN") > 0)
    return s


def working_stops(truth, sym):
    return [
        o
        for o in truth.working_orders(sym)
        if o.action is Action.SELL and o.price_type in (PriceType.SL, PriceType.SL_M)
    ]


@pytest.mark.parametrize("crash_at", ["in_position", "entry_working"])
def test_restart_reattaches_and_never_duplicates(tmp_path, crash_at):
    s = Session({"NSE:SBIN": "long_win"})
    path = tmp_path / "journal.db"
    truth = s.sim.truth
    j1 = Journal(path)
    e1 = s.boot(j1)
    state = e1.states["NSE:SBIN"]
    if crash_at == "in_position":
        s.run_until(lambda: state.view().position_qty > 0 and isinstance(state.view().sl_id, str))
        assert truth.net_position("SBIN") == 10 and len(working_stops(truth, "SBIN")) == 1
    else:
        s.run_until(lambda: isinstance(state.view().entry_id, str))
        assert truth.max_working_entries("SBIN", Action.BUY) == 1
    s.crash()
    j1.close()

    # Ticks keep coming while the engine is down (a fill may happen unseen).
    s.run_until(lambda: False, limit=s.clock.now() + timedelta(minutes=3))

    with Journal(path) as j2:
        e2 = s.boot(j2)
        v = e2.states["NSE:SBIN"].view()
        assert v.entries_today == 1
        if truth.net_position("SBIN") > 0:
            assert v.phase is Phase.HOLDING and v.position_qty == truth.net_position("SBIN")
            assert len(working_stops(truth, "SBIN")) == 1, "exactly one stop after restart"
        s.finish()
    assert truth.max_working_entries("SBIN", Action.BUY) <= 1
    buys = [o for o in truth.orders("SBIN") if o.action is Action.BUY]
    assert len(buys) <= 2  # max_attempts across the restart
    assert truth.net_position("SBIN") == 0 and not truth.working_orders("SBIN")


def test_restart_protects_a_position_whose_stop_was_never_placed(tmp_path):
    """Killed between the entry fill and the stop placement: the restart
    finds the position at the broker and protects it at once."""
    s = crashed_before_the_stop(tmp_path)
    truth = s.sim.truth
    assert not working_stops(truth, "SBIN")
    with Journal(tmp_path / "j.db") as j2:
        s.boot(j2)
        assert len(working_stops(truth, "SBIN")) == 1
        assert working_stops(truth, "SBIN")[0].quantity == truth.net_position("SBIN")
        s.finish()
    assert truth.net_position("SBIN") == 0


def test_without_recovery_the_restart_is_unsafe(tmp_path, monkeypatch):
    """Proof the tests above can fail: with ``recover`` switched off, the
    restarted engine does not know its working stop and the position sync
    adopts the position and puts a second stop on it."""
    monkeypatch.setattr(Engine, "recover", lambda self, today: 0)
    s = Session({"NSE:SBIN": "long_win"})
    truth = s.sim.truth
    j1 = Journal(tmp_path / "j.db")
    state = s.boot(j1).states["NSE:SBIN"]
    s.run_until(lambda: state.view().position_qty > 0 and isinstance(state.view().sl_id, str))
    s.crash()
    j1.close()
    with Journal(tmp_path / "j.db") as j2:
        s.boot(j2)
        s.run_until(
            lambda: len(working_stops(truth, "SBIN")) > 1,
            limit=s.clock.now() + timedelta(minutes=2),
        )
    assert (
        len(working_stops(truth, "SBIN")) == 2
    )  # two stops for one position: a reversal waiting to happen


def test_restart_keeps_todays_realized_pnl_in_the_loss_limit(tmp_path):
    """A restart must not lift a daily loss limit that was already used."""
    s = Session({"NSE:INFY": "long_stopout_reentry"})
    path = tmp_path / "j.db"
    j1 = Journal(path)
    e1 = s.boot(j1)
    state = e1.states["NSE:INFY"]
    s.run_until(lambda: state.view().exits >= 1)
    before = state.view().realized_pnl
    assert before != 0
    s.crash()
    j1.close()
    with Journal(path) as j2:
        e2 = s.boot(j2)
        assert e2.risk.snapshot().realized_pnl == before
        s.finish()


def test_a_restarts_stop_sits_under_a_low_the_journal_never_saw(tmp_path):
    """The journal's minute bars stop where the engine went down (at most a
    poll cycle's ticks are lost, and nothing of the downtime is there). The
    day's low made meanwhile comes from one ``multiquotes`` call, so the
    80-20's stop goes under the day's real low - not under the journal's,
    where it could sit above the market and be refused."""
    s = crashed_before_the_stop(tmp_path)
    truth = s.sim.truth
    day_low = s.sim.quote("NSE:SBIN")["low"]
    # The minutes around the day's low never reached the journal.
    raw = sqlite3.connect(tmp_path / "j.db")
    with raw:
        raw.execute(
            "DELETE FROM session_bars WHERE CAST(low AS REAL) <= ?", (float(day_low) + 0.5,)
        )
    raw.close()
    with Journal(tmp_path / "j.db") as j:
        journal_low = min(b.low for b in j.session_bars(DAY)["NSE:SBIN"])
    assert journal_low > day_low
    with Journal(tmp_path / "j.db") as j2:
        s.boot(j2)
        [stop] = working_stops(truth, "SBIN")
        assert stop.trigger_price < day_low, (stop.trigger_price, day_low, journal_low)
        asked = [r.endpoint for r in s.sim.request_log()]
        assert asked.count("multiquotes") == 1
        s.finish()
    assert truth.net_position("SBIN") == 0
