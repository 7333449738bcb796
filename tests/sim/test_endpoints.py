"""The endpoints added for the ORB engine, over real loopback sockets with
the unmodified openalgo SDK 1.0.47 where it has a method (raw HTTP where it
has none): ping + session identity, telegram/notify, placesmartorder,
multiquotes, depth, holdings, analyzer, instruments, search, tradebook."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal as D

import requests
import websocket
from openalgo import api

from live.sim import RateLimits, SimHolding, Simulator

from .conftest import KEY, at, wait_for


def sdk(srv, **kw):
    return api(api_key=KEY, host=srv.http_url, ws_url=srv.ws_url, timeout=5, **kw)


def post(srv, endpoint, **body):
    r = requests.post(f"{srv.http_url}/api/v1/{endpoint}", json={"apikey": KEY, **body}, timeout=5)
    return r.status_code, r.json()


# --- session identity ------------------------------------------------------------------


def test_ping_carries_the_session_and_keeps_openalgos_shape(serve, scenario_day):
    srv = serve()
    status, body = post(srv, "ping")
    assert status == 200
    assert body == {
        "status": "success",
        "data": {"message": "pong", "broker": "sim", "session": srv.sim.session_id},
    }
    sid = body["data"]["session"]
    assert len(sid) == 32 and int(sid, 16) >= 0
    assert Simulator(scenario_day).session_id != sid  # every fresh simulator: a new world
    assert post(srv, "ping")[1]["data"]["session"] == sid  # stable for the instance
    r = requests.post(f"{srv.http_url}/api/v1/ping", json={"apikey": "bad"}, timeout=5)
    assert r.status_code == 403 and r.json()["message"] == "Invalid openalgo apikey"


def test_ws_auth_reply_carries_the_session(serve):
    srv = serve()
    ws = websocket.create_connection(srv.ws_url, timeout=5)
    ws.send(json.dumps({"action": "authenticate", "api_key": KEY}))
    msg = json.loads(ws.recv())
    ws.close()
    assert msg["type"] == "auth" and msg["status"] == "success"
    assert msg["session"] == srv.sim.session_id and msg["broker"] == "sim"


def test_a_restarted_client_sees_the_same_world(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    first = sdk(srv)
    oid = first.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=4)["orderid"]
    sid = post(srv, "ping")[1]["data"]["session"]
    del first  # the client "restarts": a new SDK object, new connections
    again = sdk(srv)
    assert [o["orderid"] for o in again.orderbook()["data"]["orders"]] == [oid]
    assert again.positionbook()["data"][0]["quantity"] == "4"
    assert post(srv, "ping")[1]["data"]["session"] == sid
    got = []
    assert again.connect()
    try:
        again.subscribe_ltp([{"symbol": "SBIN", "exchange": "NSE"}], on_data_received=got.append)
        srv.sim.advance_to(at("09:21"))
        assert wait_for(lambda: len(got) >= 12)
    finally:
        again.disconnect()


# --- telegram/notify ---------------------------------------------------------------------


def test_telegram_notify_records_every_message(serve):
    srv = serve()
    srv.sim.advance_to(at("09:30"))
    c = sdk(srv)
    r = c.telegram(username="trader", message="Stop hit on SBIN\nqty 10", priority=9)
    assert r == {"status": "success", "message": "Notification queued for delivery"}
    r = c.telegram(username="trader", message="second", priority=42, wait_for_delivery=True)
    assert r == {"status": "success", "message": "Notification sent successfully"}
    notes = srv.sim.notifications
    assert [(n.username, n.message, n.priority) for n in notes] == [
        ("trader", "Stop hit on SBIN\nqty 10", 9),
        ("trader", "second", 5),  # out-of-range priority falls back to 5, as the server does
    ]
    assert notes[0].ts == at("09:30") and [n.seq for n in notes] == [1, 2]
    assert all(r.endpoint == "telegram/notify" for r in srv.sim.truth.requests("telegram/notify"))


def test_telegram_notify_errors_match_the_server(serve):
    srv = serve(sim_kw={"telegram_users": ["trader"]})
    c = sdk(srv)
    bad = api(api_key="nope", host=srv.http_url, timeout=5).telegram(username="trader", message="x")
    assert bad["code"] == 401 and "Invalid or missing API key" in bad["message"]
    assert c.telegram(username="trader", message="")["code"] == 400
    assert c.telegram(username="stranger", message="x")["code"] == 404
    srv.sim.telegram_bot_active = False
    stopped = c.telegram(username="trader", message="x")
    assert stopped["code"] == 409 and "bot is stopped" in stopped["message"]
    assert srv.sim.notifications == []


def test_telegram_has_its_own_per_minute_limit(serve):
    srv = serve(rate_limits=RateLimits(telegram_per_minute=3))
    c = sdk(srv)
    codes = [c.telegram(username="u", message=str(i)).get("code", 200) for i in range(4)]
    assert codes == [200, 200, 200, 429]
    assert c.funds()["status"] == "success"  # other endpoints are not throttled by it
    assert len(srv.sim.notifications) == 3


# --- placesmartorder -------------------------------------------------------------------------


def smart(c, size, action="BUY", qty=1, product="MIS", **kw):
    return c.placesmartorder(
        strategy="orb",
        symbol="SBIN",
        action=action,
        exchange="NSE",
        product=product,
        quantity=qty,
        position_size=size,
        **kw,
    )


def net(srv, product="MIS"):
    return sum(
        p.quantity
        for p in srv.sim.engine.positions()
        if p.key == "NSE:SBIN" and p.product.value == product
    )


def test_placesmartorder_trades_the_difference_to_the_target(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = sdk(srv)
    r = smart(c, 10, qty=3)
    assert set(r) == {"status", "orderid"} and net(srv) == 10
    assert smart(c, 10) == {
        "status": "success",
        "message": "Positions Already Matched. No Action needed.",
    }
    smart(c, -5, action="BUY")  # the request's action does not matter: SELL 15
    assert net(srv) == -5
    last = srv.sim.truth.orders()[-1]
    assert (last.action.value, last.quantity) == ("SELL", 15)
    smart(c, 0)  # flatten: BUY 5
    assert net(srv) == 0
    smart(c, 0, action="SELL", qty=2)  # both zero: the request's action and quantity
    assert net(srv) == -2
    smart(c, 0, qty=0)  # BUY 2 to flatten... then nothing more
    assert net(srv) == 0
    assert smart(c, 0, qty=0)["message"].startswith("Positions Already Matched")
    smart(c, 7, product="CNC")  # the position is per product
    assert (net(srv, "CNC"), net(srv)) == (7, 0)


def test_placesmartorder_limit_and_validation(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = sdk(srv)
    ltp = srv.sim.engine.ltp("NSE:SBIN")
    tick = srv.sim.engine.instrument("NSE:SBIN").tick_for(ltp)
    r = smart(c, 5, price_type="LIMIT", price=str(ltp - 10 * tick))
    o = srv.sim.engine.order(r["orderid"])
    assert (o.status.value, o.price, o.quantity) == ("open", ltp - 10 * tick, 5)
    missing = requests.post(
        f"{srv.http_url}/api/v1/placesmartorder",
        json={"apikey": KEY, "strategy": "s", "symbol": "SBIN", "exchange": "NSE",
              "action": "BUY", "quantity": "1"},
        timeout=5,
    )  # fmt: skip
    assert missing.status_code == 400 and "position_size" in missing.json()["message"]
    assert smart(c, "1.5")["code"] == 400
    assert smart(c, 5, price_type="LIMIT", price="100.03")["code"] == 400  # off the grid
    assert (
        c.placesmartorder(symbol="NOPE", action="BUY", exchange="NSE", position_size=1)["code"]
        == 404
    )


# --- market data ------------------------------------------------------------------------------


def test_multiquotes_results_and_unknown_symbols(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = sdk(srv)
    r = c.multiquotes(
        symbols=[
            {"symbol": "SBIN", "exchange": "NSE"},
            {"symbol": "NOPE", "exchange": "NSE"},
            {"symbol": "INFY", "exchange": "NSE"},
        ]
    )
    assert r["status"] == "success"
    rows = r["results"]
    assert [x["symbol"] for x in rows] == ["NOPE", "SBIN", "INFY"]  # invalid ones first
    assert "not found for exchange 'NSE'" in rows[0]["error"] and "data" not in rows[0]
    q = rows[1]["data"]
    assert set(q) == {"ask", "bid", "high", "low", "ltp", "open", "prev_close", "volume", "oi"}
    assert q["ltp"] == float(srv.sim.engine.ltp("NSE:SBIN"))
    assert q == c.quotes(symbol="SBIN", exchange="NSE")["data"]
    bad = c.multiquotes(symbols=[{"symbol": "NOPE", "exchange": "NSE"}])
    assert bad["code"] == 400
    status, body = post(srv, "multiquotes", symbols=[{"symbol": "NOPE", "exchange": "NSE"}])
    assert body["invalid_symbols"][0]["symbol"] == "NOPE"
    status, body = post(srv, "multiquotes", symbols=[])
    assert status == 400 and isinstance(body["message"], dict)


def test_depth_five_levels_around_the_ltp(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = sdk(srv)
    d = c.depth(symbol="SBIN", exchange="NSE")["data"]
    ltp = srv.sim.engine.ltp("NSE:SBIN")
    tick = srv.sim.engine.instrument("NSE:SBIN").tick_for(ltp)
    assert len(d["asks"]) == len(d["bids"]) == 5
    assert (
        D(str(d["asks"][0]["price"])) == ltp + tick and D(str(d["bids"][0]["price"])) == ltp - tick
    )
    assert [a["price"] for a in d["asks"]] == sorted(a["price"] for a in d["asks"])
    assert d["totalbuyqty"] == sum(b["quantity"] for b in d["bids"])
    q = c.quotes(symbol="SBIN", exchange="NSE")["data"]
    assert (d["ltp"], d["asks"][0]["price"], d["bids"][0]["price"]) == (
        q["ltp"],
        q["ask"],
        q["bid"],
    )
    assert {"high", "low", "open", "prev_close", "volume", "oi", "ltq"} <= set(d)
    assert c.depth(symbol="NOPE", exchange="NSE")["code"] == 400


def test_instruments_one_exchange_all_exchanges_and_csv(serve):
    srv = serve()
    c = sdk(srv)
    df = c.instruments(exchange="NSE")
    assert sorted(df["symbol"]) == ["INFY", "SBIN", "TCS"]
    assert list(df.columns) == [
        "symbol", "brsymbol", "name", "exchange", "brexchange", "token", "expiry",
        "strike", "lotsize", "instrumenttype", "tick_size",
    ]  # fmt: skip
    sbin = df[df["symbol"] == "SBIN"].iloc[0]
    assert sbin["tick_size"] == float(srv.sim.engine.instrument("NSE:SBIN").tick_size)
    assert len(c.instruments()) == 3  # one GET per exchange, empty ones skipped
    assert c.instruments(exchange="BSE")["error_type"] == "no_data"
    r = requests.get(
        f"{srv.http_url}/api/v1/instruments",
        params={"apikey": KEY, "exchange": "NSE", "format": "csv"},
        timeout=5,
    )
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "instruments_NSE.csv" in r.headers["Content-Disposition"]
    assert [row["symbol"] for row in csv.DictReader(io.StringIO(r.text))] == list(df["symbol"])
    bad = requests.get(f"{srv.http_url}/api/v1/instruments", params={"apikey": "x"}, timeout=5)
    assert bad.status_code == 403
    odd = requests.get(
        f"{srv.http_url}/api/v1/instruments", params={"apikey": KEY, "exchange": "XX"}, timeout=5
    )
    assert odd.status_code == 400 and "exchange" in odd.json()["message"]
    assert (
        requests.post(f"{srv.http_url}/api/v1/instruments", json={}, timeout=5).status_code == 405
    )


def test_search_matches_every_term(serve):
    srv = serve()
    c = sdk(srv)
    r = c.search(query="sbi")
    assert r["status"] == "success" and [x["symbol"] for x in r["data"]] == ["SBIN"]
    assert r["data"][0]["freeze_qty"] == 1
    assert c.search(query="zzz")["data"] == []
    assert c.search(query="  ")["code"] == 400
    assert c.search(query="S", exchange="BSE")["data"] == []


# --- account ---------------------------------------------------------------------------------


def test_holdings_with_pnl_and_statistics(serve):
    holding = SimHolding("SBIN", "NSE", 10, D("400.00"))
    srv = serve(sim_kw={"holdings": [holding]})
    c = sdk(srv)
    empty = sdk(serve()).holdings()["data"]
    assert empty == {
        "holdings": [],
        "statistics": {
            "totalholdingvalue": 0.0,
            "totalinvvalue": 0.0,
            "totalprofitandloss": 0.0,
            "totalpnlpercentage": 0.0,
        },
    }
    srv.sim.advance_to(at("09:20"))
    ltp = srv.sim.engine.ltp("NSE:SBIN")
    data = c.holdings()["data"]
    (row,) = data["holdings"]
    assert row == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "quantity": 10,
        "product": "CNC",
        "average_price": 400.0,
        "pnl": round(float((ltp - 400) * 10), 2),
        "pnlpercent": round(float((ltp - 400) / 400 * 100), 2),
    }
    assert data["statistics"]["totalinvvalue"] == 4000.0
    assert data["statistics"]["totalholdingvalue"] == round(float(ltp * 10), 2)


def test_analyzer_status_toggle_and_mode_tags(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = sdk(srv)
    assert c.analyzerstatus() == {
        "status": "success",
        "data": {"mode": "live", "analyze_mode": False, "total_logs": 0},
    }
    assert c.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=1).get("mode") is None
    on = c.analyzertoggle(mode=True)
    assert on["data"]["mode"] == "analyze" and on["data"]["analyze_mode"] is True
    assert on["data"]["message"] == "Analyzer mode switched to analyze"
    ws = websocket.create_connection(srv.ws_url, timeout=5)
    ws.send(json.dumps({"action": "authenticate", "api_key": KEY}))
    json.loads(ws.recv())
    ws.send(json.dumps({"action": "subscribe_orders"}))
    json.loads(ws.recv())
    r = c.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=1)
    assert r["mode"] == "analyze" and r["status"] == "success"
    update = json.loads(ws.recv())
    ws.close()
    assert update["type"] == "order_update" and update["mode"] == "analyze"
    status = c.analyzerstatus()["data"]
    assert status["analyze_mode"] is True and status["total_logs"] == 2  # placeorder + status
    assert c.analyzertoggle(mode=False)["data"]["mode"] == "live"
    code, body = post(srv, "analyzer/toggle")
    assert code == 400 and "mode" in body["message"]
    code, body = post(srv, "analyzer/toggle", mode="maybe")
    assert code == 400 and "Not a valid boolean" in body["message"]


def test_tradebook_rows_have_the_servers_fields(serve):
    srv = serve()
    srv.sim.advance_to(at("09:20"))
    c = sdk(srv)
    oid = c.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=3)["orderid"]
    (row,) = c.tradebook()["data"]
    ltp = srv.sim.engine.ltp("NSE:SBIN")
    assert row == {
        "symbol": "SBIN",
        "exchange": "NSE",
        "product": "MIS",
        "action": "BUY",
        "quantity": 3,
        "average_price": float(ltp),
        "trade_value": round(float(ltp * 3), 2),
        "orderid": oid,
        "timestamp": "20-Nov-2026 09:20:00",
    }


def test_intraday_history_from_the_applied_ticks(serve):
    srv = serve()
    srv.sim.advance_to(at("09:27"))
    c = sdk(srv)
    df = c.history(
        symbol="SBIN", exchange="NSE", interval="5m", start_date="2026-11-20", end_date="2026-11-20"
    )
    assert len(df) == 3  # 09:15, 09:20, 09:25 (forming)
    ticks = [t for t in srv.sim.day.symbol("NSE:SBIN").ticks if t.ts <= at("09:27")]
    first = [t.ltp for t in ticks if t.ts < at("09:20")]
    row = df.iloc[0]
    assert (row["open"], row["high"], row["low"], row["close"]) == tuple(
        float(x) for x in (first[0], max(first), min(first), first[-1])
    )
    assert row["volume"] == len(first) == 60
    one = c.history(
        symbol="SBIN", exchange="NSE", interval="1m", start_date="2026-11-20", end_date="2026-11-20"
    )
    assert len(one) == 13 and one["volume"].sum() == len(ticks)
