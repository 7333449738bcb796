"""A restart the same day, over real sockets: the day's plan (instruments,
prior bars) and the session's minute bars come from the journal, so the
restarted engine asks the broker for no ``symbol``, ``history`` or
``instruments`` at all, and the position the first engine left bare is
protected within one poll cycle of the restart (issue 12)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from live.broker import Action, BrokerTimeout, PriceType

from .harness import BrokerWorld, EngineRun

SEED = 11
MIX = {"NSE:SBIN": "long_win", "NSE:INFY": "random", "NSE:TCS": "no_setup"}
PER_SYMBOL = {"symbol", "history", "instruments"}


def calls(w: BrokerWorld, since: int = 0) -> list:
    return [r for r in w.sim.request_log() if r.seq > since]


def stops(w: BrokerWorld, sym: str) -> list:
    return [o for o in w.truth.working_orders(sym)
            if o.price_type in (PriceType.SL, PriceType.SL_M) and o.is_exit]  # fmt: skip


@pytest.mark.timeout(120)
def test_restart_the_same_day_makes_no_per_symbol_call_and_protects_in_one_cycle(tmp_path):
    w = BrokerWorld(MIX, SEED)
    gone = threading.Event()
    try:

        def dies_before_its_stop(run: EngineRun) -> None:
            # The first engine "dies" between the entry's fill and its stop:
            # every SELL (stop, or the bare-position exit) hangs, then fails.
            real = run.broker.place_order

            def place(request):
                if request.action is Action.SELL:
                    gone.wait(10)
                    raise BrokerTimeout("the engine died before this call")
                return real(request)

            run.broker.place_order = place

        first = EngineRun(w, tmp_path / "d", before_start=dies_before_its_stop)
        opening = [r.endpoint for r in calls(w)]
        # First start: the instrument master in one call for the exchange, no
        # `symbol` per symbol; the 80-20's prior bars one history call each.
        assert opening.count("instruments") == 1 and "symbol" not in opening
        assert opening.count("history") >= len(MIX)
        w.wait(lambda: w.truth.net_position("SBIN") > 0, wall=40)
        assert not stops(w, "SBIN")
        # A poll cycle journals the session's minute bars before the crash.
        w.wait(lambda: first.journal.session_bars(w.clock.now().date()), wall=10)
        first.crash()

        seq = w.sim.request_log()[-1].seq
        restarted_at = w.clock.now()
        second = EngineRun(w, tmp_path / "d")
        # One poll cycle of the restarted engine, in market time (its timers
        # run on the wall: poll_seconds / speed, at least 0.25 s).
        poll = timedelta(seconds=second.engine.poller.interval * w.speed)
        w.wait(lambda: stops(w, "SBIN"), wall=20)
        after = calls(w, seq)
        asked = sorted({r.endpoint for r in after} & PER_SYMBOL)
        assert asked == [], f"the restart asked the broker for {asked}"
        # The day's high and low for every symbol (the minutes it was down
        # for), in one call.
        assert [r.endpoint for r in after].count("multiquotes") == 1
        stop = next(r for r in after if r.endpoint == "placeorder"
                    and r.payload.get("symbol") == "SBIN" and r.payload.get("action") == "SELL")  # fmt: skip
        assert stop.ts - restarted_at <= poll, (stop.ts, restarted_at)
        assert stops(w, "SBIN")[0].quantity == w.truth.net_position("SBIN")
        views = {k: s.view() for k, s in second.engine.states.items()}
        assert views["NSE:SBIN"].position_qty == w.truth.net_position("SBIN")
        assert second.engine.day_plan.from_journal == len(MIX)
        second.run_to_close()
    finally:
        gone.set()
        w.close()
