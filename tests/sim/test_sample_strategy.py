"""OpenAlgo's own sample strategy against the simulator, unmodified in its
calls: ``strategies/examples/simple_ema_strategy.py`` of marketcalls/openalgo
(1-minute ``history`` over a 7-day range, a 5/10 EMA crossover on the
last closed candle, ``placesmartorder(price_type="MARKET", quantity,
position_size=±quantity)``), with the status lines the sample prints made
from ``quotes``/``multiquotes``/``depth`` and an ``analyzerstatus`` check
at start, as OpenAlgo's other samples do. The loop runs once a simulated
minute through the openalgo SDK 1.0.47 over real loopback sockets; the
simulator's book must follow the sample's idea of its position exactly."""

from __future__ import annotations

from datetime import timedelta

from openalgo import api

from live.sim import SimDay

from .conftest import DAY, KEY, at

FAST, SLOW, QUANTITY = 5, 10, 3


def signals(df):
    # The sample's calculate_ema_signals, reduced to the two flags it reads.
    close = df["close"].round(2)
    fast = close.ewm(span=FAST, adjust=False).mean()
    slow = close.ewm(span=SLOW, adjust=False).mean()
    up = (fast.shift(1) < slow.shift(1)) & (fast > slow)
    down = (fast.shift(1) > slow.shift(1)) & (fast < slow)
    return bool(up.iloc[-2]), bool(down.iloc[-2])  # -2: skip the forming candle


def test_openalgos_ema_sample_trades_the_simulator(serve):
    srv = serve(day=SimDay.generate(DAY, {"NSE:SBIN": "random", "NSE:INFY": "random"}, seed=3))
    client = api(api_key=KEY, host=srv.http_url, ws_url=srv.ws_url, timeout=5)
    assert client.analyzerstatus()["data"]["mode"] == "live"
    position, orders, lines = 0, [], []
    now = at("09:15")
    while now < at("11:15"):
        now += timedelta(minutes=1)
        srv.sim.advance_to(now)
        day = now.date().isoformat()
        start = (now.date() - timedelta(days=7)).isoformat()
        df = client.history(symbol="SBIN", exchange="NSE", interval="1m",
                            start_date=start, end_date=day)  # fmt: skip
        if len(df) < SLOW + 2:
            continue
        up, down = signals(df)
        if up and position <= 0:
            position = QUANTITY
        elif down and position >= 0:
            position = -QUANTITY
        else:
            lines.append(client.quotes(symbol="SBIN", exchange="NSE")["data"]["ltp"])
            continue
        r = client.placesmartorder(strategy="EMA Crossover Python", symbol="SBIN",
                                   action="BUY" if position > 0 else "SELL", exchange="NSE",
                                   price_type="MARKET", product="MIS", quantity=QUANTITY,
                                   position_size=position)  # fmt: skip
        assert r["status"] == "success" and "orderid" in r, r
        orders.append(r["orderid"])
        held = sum(p.quantity for p in srv.sim.engine.positions() if p.key == "NSE:SBIN")
        assert held == position, (now, held, position)
        # What the sample prints each cycle, from the same market.
        many = client.multiquotes(symbols=[{"symbol": "SBIN", "exchange": "NSE"},
                                           {"symbol": "INFY", "exchange": "NSE"}])  # fmt: skip
        depth = client.depth(symbol="SBIN", exchange="NSE")["data"]
        assert (
            many["results"][0]["data"]["ltp"]
            == depth["ltp"]
            == float(srv.sim.engine.ltp("NSE:SBIN"))
        )
    # The crossover traded both ways: first an open, then reversals of twice the size.
    assert len(orders) >= 4, orders
    book = {o.order_id: o for o in srv.sim.engine.orders()}
    sizes = [book[i].quantity for i in orders]
    assert sizes[0] == QUANTITY and set(sizes[1:]) == {2 * QUANTITY}
    assert all(book[i].status.value == "complete" for i in orders)
    actions = [book[i].action.value for i in orders]
    assert all(a != b for a, b in zip(actions, actions[1:], strict=False)), actions
    assert lines  # cycles without a signal read the quote
    # A repeated signal at the target changes nothing at the broker.
    again = client.placesmartorder(strategy="EMA Crossover Python", symbol="SBIN",
                                   action="BUY", exchange="NSE", price_type="MARKET",
                                   product="MIS", quantity=QUANTITY,
                                   position_size=position)  # fmt: skip
    assert again == {"status": "success", "message": "Positions Already Matched. No Action needed."}
    assert len(srv.sim.engine.orders()) == len(orders)
