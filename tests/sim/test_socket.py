"""Protocol compatibility over real sockets on 127.0.0.1: the unmodified
openalgo SDK 1.0.47 (REST + its WebSocket feed), raw websocket-client, and
the socket-level faults."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal as D

import pytest
import requests
import websocket
from openalgo import api

from live.sim import (
    FaultPlan,
    Latency,
    RateLimits,
    SimServer,
    Simulator,
    Timeout,
    WsDrop,
    WsStall,
)

from .conftest import KEY, at, wait_for


def test_sdk_rest_roundtrip(serve):
    srv = serve()
    sim = srv.sim
    c = api(api_key=KEY, host=srv.http_url, timeout=5)
    sim.advance_to(at("09:20"))
    ltp = sim.engine.ltp("NSE:SBIN")
    tick = sim.engine.instrument("NSE:SBIN").tick_for(ltp)

    r = c.placeorder(
        strategy="t",
        symbol="SBIN",
        action="BUY",
        exchange="NSE",
        price_type="MARKET",
        product="MIS",
        quantity=10,
    )
    assert r["status"] == "success"
    st = c.orderstatus(order_id=r["orderid"], strategy="t")["data"]
    assert st["order_status"] == "complete" and st["average_price"] == float(ltp)
    assert st["quantity"] == 10 and st["pricetype"] == "MARKET"
    assert st["timestamp"] == "20-Nov-2026 09:20:00"

    lim = c.placeorder(
        strategy="t",
        symbol="SBIN",
        action="BUY",
        exchange="NSE",
        price_type="LIMIT",
        product="MIS",
        quantity=2,
        price=str(ltp - 20 * tick),
    )
    slo = c.placeorder(
        strategy="t",
        symbol="SBIN",
        action="SELL",
        exchange="NSE",
        price_type="SL",
        product="MIS",
        quantity=10,
        price=str(ltp - 12 * tick),
        trigger_price=str(ltp - 10 * tick),
    )
    slm = c.placeorder(
        strategy="t",
        symbol="SBIN",
        action="BUY",
        exchange="NSE",
        price_type="SL-M",
        product="MIS",
        quantity=1,
        trigger_price=str(ltp + 30 * tick),
    )
    for x in (lim, slo, slm):
        assert x["status"] == "success", x
    status = {o["orderid"]: o["order_status"] for o in c.orderbook()["data"]["orders"]}
    assert status[slo["orderid"]] == "trigger pending" and status[lim["orderid"]] == "open"

    m = c.modifyorder(
        order_id=slm["orderid"],
        strategy="t",
        symbol="SBIN",
        action="BUY",
        exchange="NSE",
        price_type="SL-M",
        product="MIS",
        quantity=1,
        price="0",
        trigger_price=str(ltp + 40 * tick),
    )
    assert m == {"status": "success", "orderid": slm["orderid"]}
    assert D(str(c.orderstatus(order_id=slm["orderid"])["data"]["trigger_price"])) == (
        ltp + 40 * tick
    )
    assert c.cancelorder(order_id=lim["orderid"], strategy="t")["status"] == "success"
    assert c.orderstatus(order_id=lim["orderid"])["data"]["order_status"] == "cancelled"

    pb = c.positionbook()["data"]
    assert pb[0]["quantity"] == "10" and pb[0]["average_price"] == f"{ltp:.2f}"
    assert c.openposition(strategy="t", symbol="SBIN", exchange="NSE", product="MIS") == {
        "quantity": "10",
        "status": "success",
    }
    funds = c.funds()["data"]
    assert set(funds) == {
        "availablecash",
        "collateral",
        "m2mrealized",
        "m2munrealized",
        "utiliseddebits",
    }
    assert D(funds["utiliseddebits"]) > 0
    assert c.tradebook()["data"][0]["orderid"] == r["orderid"]

    sym = c.symbol(symbol="SBIN", exchange="NSE")["data"]
    assert sym["tick_size"] == float(sim.engine.instrument("NSE:SBIN").tick_size)
    assert sym["lotsize"] == 1
    hist = c.history(
        symbol="SBIN", exchange="NSE", interval="D", start_date="2026-10-01", end_date="2026-11-19"
    )
    assert len(hist) == 20 and str(hist.index[-1].date()) == "2026-11-19"  # naive = IST date
    prior = sim.day.symbol("NSE:SBIN").prior_bars[-1]
    assert hist.iloc[-1]["low"] == float(prior.low)
    assert c.quotes(symbol="SBIN", exchange="NSE")["data"]["ltp"] == float(ltp)

    ca = c.cancelallorder(strategy="t")
    assert sorted(ca["canceled_orders"]) == sorted([slo["orderid"], slm["orderid"]])
    assert c.closeposition(strategy="t")["status"] == "success"
    assert sim.truth.net_position("SBIN") == 0
    assert c.ping()["data"]["message"] == "pong" if hasattr(c, "ping") else True


def test_sdk_errors_auth_validation_unknown(serve):
    srv = serve()
    bad = api(api_key="wrong", host=srv.http_url, timeout=5).funds()
    assert bad["code"] == 403 and "Invalid openalgo apikey" in bad["message"]
    c = api(api_key=KEY, host=srv.http_url, timeout=5)
    r = c.placeorder(symbol="SBIN", action="HOLD", exchange="NSE", quantity=1)
    assert r["code"] == 400 and "action" in r["message"]
    assert c.orderstatus(order_id="42")["code"] == 404
    assert c.symbol(symbol="NOPE", exchange="NSE")["code"] == 404
    # the key never lands in the request record
    assert all("apikey" not in rec.payload for rec in srv.sim.truth.requests())


def test_sdk_websocket_feed_receives_ticks(serve):
    srv = serve()
    c = api(api_key=KEY, host=srv.http_url, ws_url=srv.ws_url, timeout=5)
    got = []
    assert c.connect()
    try:
        assert c.subscribe_ltp([{"symbol": "SBIN", "exchange": "NSE"}], on_data_received=got.append)
        srv.sim.advance_to(at("09:16"))  # 12 SBIN ticks at 5 s
        assert wait_for(lambda: len(got) >= 12)
        assert got[0]["symbol"] == "SBIN" and got[0]["data"]["timestamp"] == int(
            at("09:15").timestamp() * 1000
        )
        assert got[-1]["data"]["ltp"] == float(srv.sim.engine.ltp("NSE:SBIN"))
        assert all(g["symbol"] == "SBIN" for g in got)
    finally:
        c.disconnect()


def test_http_rate_limit_429(serve):
    srv = serve(rate_limits=RateLimits(others_per_window=3, window_seconds=60))
    s = requests.Session()
    codes = [
        s.post(f"{srv.http_url}/api/v1/funds", json={"apikey": KEY}, timeout=5).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    body = s.post(f"{srv.http_url}/api/v1/funds", json={"apikey": KEY}, timeout=5).json()
    assert body["retry_after"] == 60 and body["message"].startswith("Rate limit exceeded")


def test_float_noise_price_is_caught_exactly(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    raw = (
        '{"apikey": "KEY", "strategy": "t", "symbol": "SBIN", "exchange": "NSE", '
        '"action": "BUY", "pricetype": "LIMIT", "product": "MIS", "quantity": "1", '
        '"price": 100.05000000000001}'
    )
    r = requests.post(
        f"{srv.http_url}/api/v1/placeorder",
        data=raw.replace("KEY", KEY),  # the float's exact text must reach the server
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 400 and "tick size" in r.json()["message"]
    (og,) = srv.sim.truth.off_grid_prices()
    assert og.value == D("100.05000000000001")


def test_placeorder_timeout_after_accept_over_http(serve):
    srv = serve(FaultPlan((Timeout(endpoint="placeorder", calls=(1,), delay=3.0),)))
    srv.sim.advance_to(at("09:20"))
    c = api(api_key=KEY, host=srv.http_url, timeout=0.5)
    r = c.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=3)
    assert r["error_type"] == "timeout_error"
    (o,) = srv.sim.truth.orders()  # the order exists although the client never heard
    assert o.quantity == 3 and o.status.value == "complete"


def test_latency_fault_delays_reply(serve):
    srv = serve(FaultPlan((Latency(endpoint="funds", seconds=0.6),)))
    c = api(api_key=KEY, host=srv.http_url, timeout=0.2)
    assert c.funds()["error_type"] == "timeout_error"
    assert api(api_key=KEY, host=srv.http_url, timeout=5).funds()["status"] == "success"


# --- raw websocket-client ----------------------------------------------------------


def ws_open(srv, timeout=5):
    ws = websocket.create_connection(srv.ws_url, timeout=timeout)
    return ws


def recv(ws):
    return json.loads(ws.recv())


def auth(ws):
    ws.send(json.dumps({"action": "authenticate", "api_key": KEY}))
    msg = recv(ws)
    assert msg["type"] == "auth" and msg["status"] == "success"


def test_ws_auth_errors_have_no_type_and_unauth_closed_4401(serve):
    srv = serve(auth_timeout=0.3)
    ws = ws_open(srv)
    ws.send(json.dumps({"action": "subscribe", "symbol": "SBIN", "exchange": "NSE", "mode": 1}))
    err = recv(ws)
    assert "type" not in err and err["code"] == "NOT_AUTHENTICATED"
    ws.send(json.dumps({"action": "authenticate", "api_key": "nope"}))
    err = recv(ws)
    assert "type" not in err and err == {
        "status": "error",
        "code": "AUTHENTICATION_ERROR",
        "message": "Invalid API key",
    }
    op, data = ws.recv_data(control_frame=True)
    assert op == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 4401
    ws.close()
    ok = ws_open(srv)
    auth(ok)
    time.sleep(0.5)  # past the deadline: an authenticated socket stays open
    ok.send(json.dumps({"action": "ping"}))
    assert recv(ok)["type"] == "pong"
    ok.close()


def test_ws_both_subscribe_forms_unsubscribe_and_orders(serve):
    srv = serve()
    sim = srv.sim
    ws = ws_open(srv)
    auth(ws)
    ws.send(
        json.dumps(
            {
                "action": "subscribe",
                "mode": 1,
                "symbols": [
                    {"symbol": "SBIN", "exchange": "NSE"},
                    {"symbol": "NOPE", "exchange": "NSE"},
                ],
            }
        )
    )
    ack = recv(ws)
    assert ack["type"] == "subscribe" and ack["status"] == "partial"
    ws.send(
        json.dumps(
            {"action": "subscribe", "symbol": "INFY", "exchange": "NSE", "mode": 1, "depth": 5}
        )
    )
    assert recv(ws)["status"] == "success"
    ws.send(json.dumps({"action": "subscribe_orders"}))
    assert recv(ws)["type"] == "subscribe_orders"
    sim.step(), sim.step(), sim.step()  # 09:15 ticks for SBIN, INFY, TCS
    ticks = [recv(ws), recv(ws)]
    assert [(t["type"], t["symbol"], t["mode"]) for t in ticks] == [
        ("market_data", "SBIN", 1),
        ("market_data", "INFY", 1),
    ]
    assert set(ticks[0]["data"]) == {"ltp", "timestamp", "ltt"}
    ws.send(json.dumps({"action": "unsubscribe", "symbol": "INFY", "exchange": "NSE", "mode": 1}))
    assert recv(ws)["type"] == "unsubscribe"
    c = api(api_key=KEY, host=srv.http_url, timeout=5)
    oid = c.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=2)["orderid"]
    ups = [recv(ws), recv(ws)]
    assert [(u["type"], u["orderid"], u["order_status"], u["filled_quantity"]) for u in ups] == [
        ("order_update", oid, "open", 0),
        ("order_update", oid, "complete", 2),
    ]
    need = {
        "orderid",
        "symbol",
        "exchange",
        "action",
        "quantity",
        "price",
        "trigger_price",
        "pricetype",
        "product",
        "order_status",
        "filled_quantity",
        "pending_quantity",
        "average_price",
        "rejection_reason",
        "mode",
    }
    assert need <= set(ups[1])
    sim.step(), sim.step(), sim.step()
    assert recv(ws)["symbol"] == "SBIN"  # INFY is gone
    ws.send(json.dumps({"action": "ping"}))
    assert recv(ws)["type"] == "pong"
    ws.close()


def test_ws_drop_fault_closes_socket(serve):
    srv = serve(FaultPlan((WsDrop(after_messages=3),)))
    ws = ws_open(srv)
    auth(ws)
    ws.send(json.dumps({"action": "subscribe", "symbol": "SBIN", "exchange": "NSE", "mode": 1}))
    recv(ws)
    srv.sim.advance_to(at("09:16"))
    got = []
    while True:
        op, data = ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
        got.append(json.loads(data))
    assert len(got) == 3 and int.from_bytes(data[:2], "big") == 1011
    assert srv.stats["ws_dropped"] == 1
    again = ws_open(srv)  # a reconnect works and is not dropped again
    auth(again)
    again.close()


def test_ws_silent_stall_then_resumes(serve):
    srv = serve(FaultPlan((WsStall(after_messages=2, seconds=30),)))
    ws = ws_open(srv, timeout=10)
    auth(ws)
    ws.send(json.dumps({"action": "subscribe", "symbol": "SBIN", "exchange": "NSE", "mode": 1}))
    recv(ws)
    srv.sim.advance_to(at("09:15:05"))  # 2 ticks: the second starts the stall
    first = [recv(ws), recv(ws)]
    srv.sim.advance_to(at("09:15:30"))  # inside the stall: nothing arrives
    assert wait_for(lambda: srv.stats["ws_stalled_messages"] >= 5)
    ws.send(json.dumps({"action": "ping"}))
    assert wait_for(lambda: srv.stats["ws_stalled_messages"] >= 6)  # even the pong is lost
    srv.sim.advance_to(at("09:15:45"))  # stall over (09:15:05 + 30 s)
    nxt = recv(ws)
    assert nxt["data"]["timestamp"] == int(at("09:15:35").timestamp() * 1000)  # at stall end
    assert first[1]["data"]["timestamp"] == int(at("09:15:05").timestamp() * 1000)
    ws.close()


def test_pump_replays_with_replay_clock(scenario_day):
    from datetime import timedelta

    from live.clock import ReplayClock

    clock = ReplayClock(at("09:15") - timedelta(seconds=1), speed=3000)
    sim = Simulator(scenario_day, clock=clock)
    with SimServer(sim, api_key=KEY) as srv:
        seen = []
        done = threading.Event()
        sim.on_tick(lambda t: (seen.append(t), len(seen) >= 300 and done.set()))
        assert done.wait(10)
        assert srv.http_port and srv.ws_port
    assert [t.ts for t in seen] == sorted(t.ts for t in seen)


def test_server_binds_loopback_only(scenario_day):
    with pytest.raises(ValueError, match="loopback"):
        SimServer(Simulator(scenario_day), host="0.0.0.0")
