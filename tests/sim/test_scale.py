"""The scale path: lazy synthetic days, the tick streams, the batched
fan-out (over real sockets, time moved by an injected clock), the LTP text
fast path and intraday bars built from applied ticks."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
import websocket
from openalgo import api

from live.sim import SimDay, SimServer, SimTick, Simulator
from live.sim.orb import orb_truth
from live.sim.stream import LazyStream, ListStream
from live.sim.ticktext import LtpText

from .conftest import DAY, KEY, at, wait_for


def synth(count=40, rate=2.0, **kw) -> SimDay:
    kw.setdefault("seed", 3)
    return SimDay.synthetic(DAY, count, rate, **kw)


def test_synthetic_day_shape_and_rate():
    day = synth(40, 2.0, setup_share=0.25)
    assert [s.instrument.symbol for s in day.symbols[:2]] == ["SYM0001", "SYM0002"]
    assert all(s.ticks == () for s in day.symbols)  # nothing materialised up front
    kinds = [s.scenario for s in day.symbols]
    assert kinds.count("walk") == 30
    assert {"long_win", "orb_up", "short_win", "orb_down"} <= set(kinds)
    ticks = day.tick_stream().pop_until(
        day.open_at + timedelta(seconds=10) - timedelta(microseconds=1)
    )
    assert len(ticks) == 40 * 2 * 10  # every symbol, rate times a second
    per = {}
    for t in ticks:
        per.setdefault(t.symbol, []).append(t)
    assert all(len(v) == 20 for v in per.values())
    assert [t.ts for t in ticks] == sorted(t.ts for t in ticks)
    assert len({t.ts for t in ticks}) > 40  # staggered, not one burst per interval
    by_key = {s.instrument.symbol: s.instrument for s in day.symbols}
    assert all(by_key[t.symbol].on_grid(t.ltp) and isinstance(t.ltp, D) for t in ticks)


def test_synthetic_days_are_deterministic_and_each_stream_is_fresh():
    a, b = synth(seed=9), synth(seed=9)
    end = a.open_at + timedelta(seconds=30)
    first = a.tick_stream().pop_until(end)
    assert first == a.tick_stream().pop_until(end) == b.tick_stream().pop_until(end)
    assert first != synth(seed=10).tick_stream().pop_until(end)


def test_walks_stay_near_the_prior_close_on_their_grid():
    day = synth(30, 1.0, setup_share=0.0)
    stream = day.tick_stream()
    ticks = stream.pop_until(day.open_at + timedelta(hours=2))
    close = {s.instrument.symbol: s.instrument.prior_close for s in day.symbols}
    assert all(abs(t.ltp - close[t.symbol]) <= close[t.symbol] * D("0.031") for t in ticks)
    assert len({t.ltp for t in ticks if t.symbol == "SYM0001"}) > 10  # it does move
    bar = day.symbols[0].prior_bars[-1]
    assert bar.low <= bar.close == day.symbols[0].instrument.prior_close <= bar.high


def test_replayed_scenarios_keep_their_ground_truth_at_the_fine_rate():
    day = synth(8, 1.0, setup_share=1.0, seed=2)
    orb = [s for s in day.symbols if s.scenario.startswith("orb_")]
    assert len(orb) == 4
    ticks = day.tick_stream().pop_until(day.open_at + timedelta(hours=6, minutes=15))
    for sd in orb:
        mine = [t for t in ticks if t.symbol == sd.instrument.symbol]
        fine = orb_truth(mine, day.open_at)
        coarse = sd.orb
        assert (fine.high, fine.low, fine.breakout) == (coarse.high, coarse.low, coarse.breakout)
        if coarse.breakout:
            # shown from its coarse time on, by the symbol's next fine tick
            assert timedelta(0) <= fine.breakout_at - coarse.breakout_at < timedelta(seconds=1)
    long_ = next(s for s in day.symbols if s.scenario == "long_win")
    lows = [t.ltp for t in ticks if t.symbol == long_.instrument.symbol]
    assert min(lows) == long_.levels.trigger_extreme


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="symbols_count"):
        SimDay.synthetic(DAY, 0, 1.0)
    with pytest.raises(ValueError, match="tick_rate"):
        SimDay.synthetic(DAY, 5, 0)
    with pytest.raises(ValueError, match="setup_share"):
        SimDay.synthetic(DAY, 5, 1.0, setup_share=2)
    with pytest.raises(ValueError, match="trading day"):
        SimDay.synthetic(DAY + timedelta(days=1), 5, 1.0)


def _tk(sec, sym="A"):
    return SimTick(sym, "NSE", D("100.00"), at("09:15") + timedelta(seconds=sec))


@pytest.mark.parametrize("kind", ["list", "lazy"])
def test_streams_pop_peek_and_pop_until_agree(kind):
    ticks = [_tk(0), _tk(0, "B"), _tk(1), _tk(3), _tk(3, "B")]

    class Steps:
        times = sorted({t.ts for t in ticks})

        def step_time(self, k):
            return self.times[k] if k < len(self.times) else None

        def step(self, k):
            return [t for t in ticks if t.ts == self.times[k]]

    s = ListStream(ticks) if kind == "list" else LazyStream(Steps())
    assert s.peek_time() == at("09:15")
    assert s.pop() == ticks[0]
    assert s.pop_until(at("09:15:02")) == ticks[1:3]
    assert s.pop_until(at("09:15:02")) == []
    assert s.peek_time() == at("09:15:03")
    assert s.pop_until(at("09:16")) == ticks[3:]
    assert s.pop() is None and s.peek_time() is None


def test_ltp_text_is_the_json_the_encoder_would_write():
    enc = LtpText()
    for sym, ltp in (("SBIN", "500.05"), ('M&"M', "1150.10"), ("X", "0.01")):
        t = SimTick(sym, "NSE", D(ltp), at("09:15:01"))
        ms = int(t.ts.timestamp() * 1000)
        want = {
            "type": "market_data",
            "symbol": sym,
            "exchange": "NSE",
            "mode": 1,
            "data": {"ltp": float(ltp), "timestamp": ms, "ltt": ms},
        }
        assert enc(t) == json.dumps(want) and json.loads(enc(t)) == want


def test_simulator_replays_a_synthetic_day_in_process(clock):
    day = synth(10, 1.0, setup_share=0.0)
    sim = Simulator(day, clock=clock)
    assert sim.next_tick_time() == day.open_at
    assert sim.step().symbol == "SYM0001"
    # symbol i ticks at 0.1 * (i - 1) s past each second: SYM0001 on the second
    assert sim.advance_to(at("09:16")) == 61 + 9 * 60 - 1
    assert clock.now() == at("09:16")
    bars = sim.intraday_bars("NSE:SYM0001", 60, DAY, DAY)
    assert [b[0] for b in bars] == [int(at("09:15").timestamp()), int(at("09:16").timestamp())]
    assert bars[0][5] == 60 and bars[1][5] == 1


def test_batched_fanout_delivers_every_tick_in_order_over_a_socket(clock):
    """200 symbols at 5 ticks/s, one reader subscribed to all, time moved by
    the test: every tick arrives, per symbol in order, and an order update
    produced between ticks keeps its place in the stream."""
    day = synth(200, 5.0, setup_share=0.0)
    clock.set(day.open_at - timedelta(seconds=1))
    sim = Simulator(day, clock=clock)
    with SimServer(sim, api_key=KEY, pump=True, rate_limits=None) as srv:
        ws = websocket.create_connection(srv.ws_url, timeout=10)
        ws.send(json.dumps({"action": "authenticate", "api_key": KEY}))
        assert json.loads(ws.recv())["session"] == sim.session_id
        syms = [{"symbol": s.instrument.symbol, "exchange": "NSE"} for s in day.symbols]
        ws.send(json.dumps({"action": "subscribe", "mode": 1, "symbols": syms}))
        assert json.loads(ws.recv())["status"] == "success"
        ws.send(json.dumps({"action": "subscribe_orders"}))
        assert json.loads(ws.recv())["type"] == "subscribe_orders"
        clock.set(day.open_at + timedelta(seconds=2) - timedelta(microseconds=1))
        assert wait_for(lambda: sim.ticks_applied == 200 * 5 * 2)
        c = api(api_key=KEY, host=srv.http_url, timeout=5)
        oid = c.placeorder(symbol="SYM0001", action="BUY", exchange="NSE", quantity=1)["orderid"]
        clock.set(day.open_at + timedelta(seconds=3) - timedelta(microseconds=1))
        msgs = [json.loads(ws.recv()) for _ in range(200 * 5 * 3 + 2)]
        ws.close()
    ticks = [m for m in msgs if m["type"] == "market_data"]
    updates = [i for i, m in enumerate(msgs) if m["type"] == "order_update"]
    assert len(ticks) == 3000 and len(updates) == 2
    assert all(m["orderid"] == oid for m in (msgs[i] for i in updates))
    assert updates[0] == 2000  # after the 2 s of ticks, before the third second's
    per = {}
    for m in ticks:
        per.setdefault(m["symbol"], []).append(m["data"]["timestamp"])
    assert len(per) == 200 and all(v == sorted(v) and len(v) == 15 for v in per.values())
