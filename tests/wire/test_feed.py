"""Feed against the stub WebSocket server over real sockets on 127.0.0.1.

Waits are bounded polls on observable state (never assertions about time)."""

from __future__ import annotations

import logging
import queue
import random
from datetime import datetime
from decimal import Decimal

import pytest

from live.broker import OrderStatus
from live.clock import IST, ManualClock
from live.openalgo import Backoff, Feed, FeedState, SubscribeForm, Tick
from tests.wire.stub_rest import API_KEY
from tests.wire.stub_ws import StubFeedServer

SYMBOLS = ["NSE:SBIN", "NSE:INFY"]
T0 = datetime(2025, 11, 20, 10, 0, tzinfo=IST)


@pytest.fixture
def server():
    s = StubFeedServer()
    yield s
    s.stop()


class Rig:
    """A feed wired to queues, stopped in the fixture finalizer."""

    def __init__(self, url: str, **kw):
        self.ticks: queue.Queue = queue.Queue()
        self.updates: queue.Queue = queue.Queue()
        self.reconnects: queue.Queue = queue.Queue()
        kw.setdefault("backoff", Backoff(base=0.01, cap=0.05))
        kw.setdefault("poll_interval", 0.05)
        kw.setdefault("reply_timeout", 2.0)
        kw.setdefault("rng", random.Random(3))
        self.feed = Feed(
            url,
            kw.pop("api_key", API_KEY),
            kw.pop("symbols", SYMBOLS),
            on_tick=self.ticks.put,
            on_order_update=self.updates.put,
            on_reconnect=lambda: self.reconnects.put(True),
            **kw,
        )

    def start(self, server: StubFeedServer, live: bool = True) -> Rig:
        self.feed.start()
        if live:
            assert server.wait_for(lambda: self.feed.state is FeedState.LIVE)
        return self


@pytest.fixture
def rig_factory():
    rigs = []

    def make(url, **kw):
        r = Rig(url, **kw)
        rigs.append(r)
        return r

    yield make
    for r in rigs:
        r.feed.stop(timeout=5)
        assert not r.feed.is_alive()


def tick_msg(symbol="SBIN", ltp=512.35, ts_ms=1763613000000, exchange="NSE"):
    return {
        "type": "market_data",
        "symbol": symbol,
        "exchange": exchange,
        "mode": 1,
        "data": {"ltp": ltp, "timestamp": ts_ms, "ltt": ts_ms},
    }


def update_msg(status, filled, oid="O1", qty=10):
    return {
        "type": "order_update",
        "orderid": oid,
        "symbol": "SBIN",
        "exchange": "NSE",
        "action": "BUY",
        "quantity": qty,
        "price": 512.4,
        "trigger_price": 512.35,
        "pricetype": "SL",
        "product": "MIS",
        "order_status": status,
        "filled_quantity": filled,
        "pending_quantity": qty - filled,
        "average_price": 512.4 if filled else 0,
        "rejection_reason": "",
        "mode": "live",
    }


def test_auth_list_subscribe_and_ticks(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    sent = server.received()
    assert sent[0] == {"action": "authenticate", "api_key": API_KEY}
    sub = sent[1]
    assert sub["action"] == "subscribe" and sub["mode"] == 1
    assert sub["symbols"] == [
        {"symbol": "SBIN", "exchange": "NSE"},
        {"symbol": "INFY", "exchange": "NSE"},
    ]
    assert sent[2] == {"action": "subscribe_orders"}
    assert rig.feed.order_updates_supported is True
    assert rig.feed.subscribe_form is SubscribeForm.LIST
    server.push(tick_msg(ltp=512.35, ts_ms=1763613000123))
    tick = rig.ticks.get(timeout=5)
    assert tick == Tick(
        key="NSE:SBIN", ltp=Decimal("512.35"), ts=datetime.fromtimestamp(1763613000.123, IST)
    )
    assert str(tick.ltp) == "512.35" and tick.ts.tzinfo is IST
    assert rig.feed.counters().ticks == 1


def test_auth_failure_stops_without_hammering(server, rig_factory):
    rig = rig_factory(server.url, api_key="wrong-key").start(server, live=False)
    assert server.wait_for(lambda: rig.feed.state is FeedState.AUTH_FAILED)
    rig.feed._thread.join(timeout=5)
    assert not rig.feed.is_alive()
    assert server.n_conns() == 1


@pytest.mark.parametrize("old_server", ["error", "silent"])
def test_falls_back_to_one_message_per_symbol(rig_factory, old_server):
    server = StubFeedServer(list_form=old_server)
    try:
        rig = rig_factory(server.url, reply_timeout=0.5).start(server)
        assert rig.feed.subscribe_form is SubscribeForm.SINGLE
        singles = [m for m in server.received() if m.get("action") == "subscribe" and "symbol" in m]
        assert [(m["symbol"], m["exchange"], m["mode"]) for m in singles] == [
            ("SBIN", "NSE", 1),
            ("INFY", "NSE", 1),
        ]
        server.push(tick_msg(symbol="INFY", ltp="1520.1"))
        assert rig.ticks.get(timeout=5).key == "NSE:INFY"
    finally:
        rig.feed.stop()
        server.stop()


def test_configured_single_form_never_sends_the_list(server, rig_factory):
    rig_factory(server.url, subscribe_form="single", mode=2).start(server)
    subs = [m for m in server.received() if m.get("action") == "subscribe"]
    assert len(subs) == 2 and all("symbols" not in m and m["mode"] == 2 for m in subs)


def test_malformed_messages_dropped_and_counted(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    bad = [
        "not json {",
        "[1, 2]",
        {"type": "market_data", "symbol": "SBIN", "exchange": "NSE", "mode": 1},
        {"type": "market_data", "exchange": "NSE", "mode": 1, "data": {"ltp": 1}},
        tick_msg(ltp="abc"),
        tick_msg(ltp=-5),
        tick_msg(ltp=0),
        tick_msg(symbol="TCS"),  # not subscribed
        {"type": "market_data", "symbol": "SBIN", "exchange": "NSE", "data": {"ltp": None}},
        {"type": "order_update", "orderid": "X", "order_status": "open"},  # no quantity
    ]
    for m in bad:
        server.push(m)
    server.push(tick_msg(ltp=600))
    assert rig.ticks.get(timeout=5).ltp == Decimal("600")
    assert rig.ticks.empty() and rig.updates.empty()
    c = rig.feed.counters()
    assert c.dropped_malformed == len(bad) and c.ticks == 1
    assert rig.feed.state is FeedState.LIVE


def test_order_updates_deduplicated_and_stale_ignored(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    for m in [
        update_msg("trigger pending", 0),
        update_msg("trigger pending", 0),  # duplicate
        update_msg("open", 4),  # -> PARTIAL
        update_msg("trigger pending", 0),  # older state arriving late
        update_msg("open", 4),  # duplicate partial
        update_msg("open", 2),  # fewer fills than already seen: stale
        update_msg("complete", 10),
        update_msg("open", 4),  # after terminal
        update_msg("cancelled", 10),  # a different terminal after complete: stale
        update_msg("open", 0, oid="O2"),  # another order goes through
    ]:
        server.push(m)
    got = []
    while len(got) < 4:
        got.append(rig.updates.get(timeout=5))
    assert [(u.order_id, u.status, u.filled_quantity) for u in got] == [
        ("O1", OrderStatus.TRIGGER_PENDING, 0),
        ("O1", OrderStatus.PARTIAL, 4),
        ("O1", OrderStatus.COMPLETE, 10),
        ("O2", OrderStatus.OPEN, 0),
    ]
    assert got[1].average_price == Decimal("512.4") and got[1].source == "ws"
    c = rig.feed.counters()
    assert (c.order_updates, c.duplicate_updates, c.stale_updates) == (4, 2, 4)


def test_server_drop_reconnects_resubscribes_and_reports(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    server.drop_all()
    assert rig.reconnects.get(timeout=5) is True
    assert server.n_conns() == 2
    again = server.received(1)
    assert again[0]["action"] == "authenticate"
    assert any(m.get("action") == "subscribe" and m.get("symbols") for m in again)
    assert {"action": "subscribe_orders"} in again
    assert rig.feed.counters().reconnects == 1
    server.push(tick_msg(ltp=513))
    assert rig.ticks.get(timeout=5).ltp == Decimal("513")


def test_silent_feed_is_detected_and_reconnected(server, rig_factory, caplog):
    caplog.set_level(logging.INFO, logger="live.openalgo.feed")
    clock = ManualClock(T0)
    rig = rig_factory(server.url, clock=clock, stale_after=30).start(server)
    clock.advance(31)  # 31 s of market time without a message
    assert rig.reconnects.get(timeout=5) is True
    assert rig.feed.counters().stale_events == 1
    assert "FEED_STALE" in caplog.text
    assert server.n_conns() == 2


def test_silence_while_market_closed_is_not_stale(server, rig_factory):
    clock = ManualClock(T0)
    open_now = {"v": False}
    rig = rig_factory(
        server.url, clock=clock, stale_after=30, is_market_open=lambda ts: open_now["v"]
    ).start(server)
    clock.advance(3600)
    # let the feed poll a few times at the advanced clock, then open the market
    server.push({"type": "pong"})  # does not count as data
    server.wait_for(lambda: False, timeout=0.3)
    open_now["v"] = True
    clock.advance(10)
    server.push(tick_msg())
    assert rig.ticks.get(timeout=5)
    assert rig.feed.counters().stale_events == 0 and server.n_conns() == 1


@pytest.mark.parametrize("mode", ["error", "silent"])
def test_server_without_order_updates(rig_factory, mode):
    server = StubFeedServer(orders=mode)
    try:
        rig = rig_factory(server.url, reply_timeout=0.4).start(server)
        assert rig.feed.order_updates_supported is False
        server.push(tick_msg())  # market data still flows
        assert rig.ticks.get(timeout=5)
    finally:
        rig.feed.stop()
        server.stop()


def test_bad_callback_neither_kills_feed_nor_loses_later_messages(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    seen = []

    def on_tick(t):
        seen.append(t.ltp)
        if len(seen) == 1:
            raise RuntimeError("strategy bug")

    rig.feed.on_tick = on_tick
    for p in (500, 501, 502):
        server.push(tick_msg(ltp=p))
    assert server.wait_for(lambda: len(seen) == 3)
    assert seen == [Decimal(500), Decimal(501), Decimal(502)]
    assert rig.feed.counters().callback_errors == 1


def test_stop_closes_and_joins(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    rig.feed.stop(timeout=5)
    assert not rig.feed.is_alive() and rig.feed.state is FeedState.STOPPED
    assert server.wait_for(lambda: server.conns[0].ws.closed)


def test_api_key_not_in_repr_or_logs(server, rig_factory, caplog):
    caplog.set_level(logging.DEBUG)
    rig = rig_factory(server.url, api_key="wrong-" + API_KEY).start(server, live=False)
    assert server.wait_for(lambda: rig.feed.state is FeedState.AUTH_FAILED)
    assert API_KEY not in repr(rig.feed)
    assert "FEED_AUTH_FAILED" in caplog.text and API_KEY not in caplog.text


def test_bad_arguments_named():
    with pytest.raises(ValueError, match="ws_url"):
        Feed("http://x", API_KEY, SYMBOLS)
    with pytest.raises(ValueError, match="mode"):
        Feed("ws://x", API_KEY, SYMBOLS, mode=3)
    with pytest.raises(ValueError, match="EXCHANGE:SYMBOL"):
        Feed("ws://x", API_KEY, ["SBIN"])


def test_pongs_alone_do_not_keep_a_silent_feed_alive(server, rig_factory):
    clock = ManualClock(T0)
    rig = rig_factory(server.url, clock=clock, stale_after=30).start(server)
    clock.advance(31)
    server.push({"type": "pong", "status": "success"})
    assert rig.reconnects.get(timeout=5) is True
    assert rig.feed.counters().stale_events == 1


def test_on_reconnect_runs_after_resubscribing(server, rig_factory):
    rig = rig_factory(server.url).start(server)
    seen_at_callback = []
    rig.feed.on_reconnect = lambda: seen_at_callback.append(server.received(-1))
    server.drop_all()
    assert server.wait_for(lambda: seen_at_callback)
    actions = [m.get("action") for m in seen_at_callback[0]]
    assert actions == ["authenticate", "subscribe", "subscribe_orders"]


def test_slow_callbacks_are_counted_and_nothing_is_lost(server, rig_factory):
    rig = rig_factory(server.url, slow_callback=0.0).start(server)
    got = []
    rig.feed.on_tick = lambda t: (got.append(t.ltp), server.wait_for(lambda: False, 0.05))
    for p in range(500, 510):
        server.push(tick_msg(ltp=p))
    assert server.wait_for(lambda: len(got) == 10)
    assert got == [Decimal(p) for p in range(500, 510)]
    assert server.wait_for(lambda: rig.feed.counters().slow_callbacks == 10)


def test_narrow_unsubscribes_the_rest_and_ignores_their_ticks_in_flight(server, rig_factory):
    """Every configured symbol streams while the day's plan is read; then
    only those that trade today. Ticks of the others still in flight are
    not news and not malformed; a reconnect subscribes only what was kept."""
    rig = rig_factory(server.url).start(server)
    server.push(tick_msg(symbol="INFY", ltp=1500))
    assert rig.ticks.get(timeout=5).key == "NSE:INFY"
    rig.feed.narrow(["NSE:SBIN"])
    assert server.wait_for(lambda: any(m.get("action") == "unsubscribe"
                                       for m in server.received()))  # fmt: skip
    [unsub] = [m for m in server.received() if m.get("action") == "unsubscribe"]
    assert unsub == {"action": "unsubscribe", "mode": 1,
                     "symbols": [{"symbol": "INFY", "exchange": "NSE"}]}  # fmt: skip
    server.push(tick_msg(symbol="INFY", ltp=1501))  # in flight before the server stopped
    server.push(tick_msg(symbol="SBIN", ltp=512.40))
    assert rig.ticks.get(timeout=5).key == "NSE:SBIN"
    assert rig.ticks.empty()
    assert rig.feed.counters().dropped_malformed == 0
    server.drop_all()
    assert server.wait_for(lambda: server.n_conns() == 2 and len(server.received()) >= 2)
    assert server.received()[1]["symbols"] == [{"symbol": "SBIN", "exchange": "NSE"}]
