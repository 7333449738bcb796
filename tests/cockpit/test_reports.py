"""Charges and the end-of-day reports from the journal."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal

from live.broker import Action, OrderStatus, OrderUpdate, PriceType
from live.charges import OrderValue, estimate
from live.config import ChargesSettings, parse_config
from live.journal import Journal
from live.reports import main, round_trips, trades_rows, write_reports
from tests.core.helpers import T0

D = Decimal
RATES = ChargesSettings()


def test_charges_of_a_sample_intraday_trade():
    # Buy 100 @ 500, sell 100 @ 510: turnover 1,01,000.
    c = estimate([OrderValue("BUY", D(50_000)), OrderValue("SELL", D(51_000))], RATES)
    assert c.brokerage == D("30.30")  # 0.03% of each order: below the 20 cap
    assert c.stt == D("12.75")  # 0.025% of the sell value
    assert c.exchange == D("3.00")  # 0.00297% of 1,01,000 = 2.9997
    assert c.sebi == D("0.10")  # 10 per crore
    assert c.gst == D("6.01")  # 18% of 30.30 + 2.9997 + 0.101
    assert c.stamp == D("1.50")  # 0.003% of the buy value
    assert c.total == D("53.66")


def test_brokerage_is_capped_per_order_and_rates_come_from_config():
    c = estimate([OrderValue("BUY", D(500_000)), OrderValue("SELL", D(510_000))], RATES)
    assert c.brokerage == D("40.00")
    zero = parse_config({"charges": {"brokerage_per_order": 0}}).charges
    assert estimate([OrderValue("BUY", D(500_000))], zero).brokerage == D("0.00")


def _journal(tmp_path) -> Journal:
    return Journal(tmp_path / "journal.db")


def _order(j, key, role, action, qty, price_type, trigger, ts):
    from live.broker import OrderRequest, Product

    sym, ex = key.split(":")[1], key.split(":")[0]
    req = OrderRequest(sym, ex, action, qty, price_type, Product.MIS, trigger_price=trigger)
    detail = {"trigger": str(trigger) if trigger else None}
    if role == "entry":
        _order.attempts[key] = _order.attempts.get(key, 0) + 1
        intent = j.claim_entry(key, ts.date(), _order.attempts[key], ts, detail)
    else:
        intent = j.record_intent(key, role, ts, detail)
    oid = f"{role}-{sym}-{ts:%H%M%S}"
    j.record_order(intent, key, role, oid, req, ts)
    return oid, req


_order.attempts = {}


def _fill(j, key, oid, req, qty, avg, ts, status=OrderStatus.COMPLETE):
    sym, ex = key.split(":")[1], key.split(":")[0]
    j.record_update(OrderUpdate(order_id=oid, symbol=sym, exchange=ex, action=req.action,
                                status=status, quantity=req.quantity, filled_quantity=qty,
                                average_price=avg, trigger_price=req.trigger_price or D(0),
                                price_type=req.price_type, timestamp=ts, source="test"), ts)  # fmt: skip


def _day(j):
    """SBIN long 10 @ 100 (stop 99, trailed), out @ 102; TCS short 5 @ 200,
    half out @ 198, still open; a cancelled entry."""
    _order.attempts.clear()
    t = T0
    e, er = _order(j, "NSE:SBIN", "entry", Action.BUY, 10, PriceType.SL_M, D(100), t)
    _fill(j, "NSE:SBIN", e, er, 10, D(100), t + timedelta(seconds=5))
    s, sr = _order(
        j, "NSE:SBIN", "stop", Action.SELL, 10, PriceType.SL_M, D(99), t + timedelta(seconds=5)
    )
    _fill(j, "NSE:SBIN", s, sr, 10, D(102), t + timedelta(minutes=9))
    e2, er2 = _order(
        j, "NSE:TCS", "entry", Action.SELL, 5, PriceType.SL_M, D(200), t + timedelta(minutes=1)
    )
    _fill(j, "NSE:TCS", e2, er2, 5, D(200), t + timedelta(minutes=2))
    x, xr = _order(
        j, "NSE:TCS", "exit", Action.BUY, 5, PriceType.MARKET, None, t + timedelta(minutes=3)
    )
    _fill(j, "NSE:TCS", x, xr, 2, D(198), t + timedelta(minutes=4), OrderStatus.PARTIAL)
    c, cr = _order(j, "NSE:INFY", "entry", Action.BUY, 3, PriceType.SL_M, D(50), t)
    j.record_update(OrderUpdate(order_id=c, symbol="INFY", exchange="NSE", action=Action.BUY,
                                status=OrderStatus.CANCELLED, quantity=3, filled_quantity=0,
                                average_price=D(0), timestamp=t + timedelta(minutes=5),
                                source="test"), t + timedelta(minutes=5))  # fmt: skip


def test_round_trips_r_and_open_positions(tmp_path):
    with _journal(tmp_path) as j:
        _day(j)
        day = T0.date()
        trades = round_trips(j.fills(day=day), j.orders(day=day), j.intents(day=day))
    sbin, tcs = trades
    assert (sbin.symbol, sbin.side, sbin.closed, sbin.entry_qty) == ("NSE:SBIN", "long", True, 10)
    assert sbin.gross == D("20.00") and sbin.initial_stop == D(99) and sbin.r_multiple() == D(2)
    assert (tcs.side, tcs.closed, tcs.exit_qty) == ("short", False, 2)
    assert tcs.gross == D("4.00")  # 2 units closed 2 below the short's 200


def test_a_fill_through_zero_opens_the_other_side():
    class F:
        def __init__(self, oid, action, qty, price, ts):
            self.order_id, self.key, self.action, self.quantity = oid, "NSE:SBIN", action, qty
            self.price = self.average_price = D(price)
            self.ts = ts

    fills = [F("a", Action.BUY, 10, 100, T0), F("b", Action.SELL, 15, 101, T0 + timedelta(1))]
    long_, short = round_trips(fills, [])
    assert long_.closed and long_.gross == D("10.00")
    assert (short.side, short.entry_qty, short.closed) == ("short", 5, False)


def test_files_are_written_and_regenerated_by_the_command(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    with Journal(data / "journal.db") as j:
        _day(j)
        folder = write_reports(j, T0.date(), data, RATES, session="Session summary\nX")
    assert folder == data / "reports" / "2026-11-20"
    trades = list(csv.DictReader(open(folder / "trades.csv")))
    assert [t["symbol"] for t in trades] == ["NSE:SBIN", "NSE:TCS"]
    sbin = trades[0]
    assert sbin["gross_pnl"] == "20.00" and sbin["r"] == "2.00"
    charges = estimate([OrderValue("BUY", D(1000)), OrderValue("SELL", D(1020))], RATES)
    assert D(sbin["charges"]) == charges.total
    assert D(sbin["net_pnl"]) == D("20.00") - charges.total
    assert trades[1]["status"] == "open" and trades[1]["exit_price"] == "198.00"
    orders = list(csv.DictReader(open(folder / "orders.csv")))
    assert len(orders) == 5
    cancelled = next(o for o in orders if o["symbol"] == "NSE:INFY")
    assert cancelled["status"] == "cancelled" and cancelled["filled_quantity"] == "0"
    stop = next(o for o in orders if o["role"] == "stop")
    assert stop["first_fill_at"] == (T0 + timedelta(minutes=9)).isoformat()
    text = (folder / "summary.txt").read_text()
    assert "TOTAL" in text and "Session summary" in text
    before = (folder / "trades.csv").read_bytes()
    (folder / "trades.csv").unlink()
    assert main(["--data-dir", str(data), "--date", "2026-11-20"]) == 0
    assert (folder / "trades.csv").read_bytes() == before
    assert "Reports: " in capsys.readouterr().out
    assert main(["--data-dir", str(data)]) == 0  # the journal's last day


def test_report_without_a_journal_is_one_line(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["--data-dir", str(tmp_path), "--date", "20-11-2026"]) == 2


def test_an_empty_day(tmp_path):
    with _journal(tmp_path) as j:
        folder = write_reports(j, date(2026, 11, 20), tmp_path, RATES)
    assert (folder / "trades.csv").read_text().startswith("symbol,side")


def test_rows_show_prices_to_the_paisa_and_never_a_negative_zero():
    """A scratch trade (out where it went in) is 0.00 P&L and 0.00 R, not
    "-0.00"; a stop of 3686.1 reads 3686.10 like every other price."""

    class F:
        def __init__(self, oid, action, price, ts):
            self.order_id, self.key, self.action, self.quantity = oid, "NSE:TCS", action, 10
            self.price = self.average_price = D(price)
            self.ts = ts

    fills = [F("a", Action.SELL, "165.80", T0), F("b", Action.BUY, "165.80", T0 + timedelta(1))]
    [trade] = round_trips(fills, [])
    trade.initial_stop = D("165.9")
    [row] = trades_rows([trade], ChargesSettings())
    assert (row["gross_pnl"], row["r"], row["initial_stop"]) == ("0.00", "0.00", "165.90")
    assert not [k for k, v in row.items() if v.startswith("-0")]
