"""The day's plan and the session's minute bars in the journal; the plan
read from the broker (instrument master first, ``symbol`` as fallback)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D

from live.broker import Bar, BrokerError, Instrument, InvalidRequest
from live.clock import IST, MarketSession
from live.dayplan import load_day_plan
from live.journal import Journal, MinuteBar, PlanRow
from live.sessionbars import SessionBars

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)


def test_plan_round_trip_and_bars_widen_on_upsert():
    with Journal.in_memory() as j:
        sbin = Instrument("SBIN", "NSE", D("0.05"), 1, "State Bank")
        bars = (Bar(date(2026, 11, 19), D("500"), D("510.5"), D("495"), D("505.05"), 7),)
        j.record_plan(DAY, {"NSE:SBIN": PlanRow(sbin, bars)})
        assert j.plan(DAY) == {"NSE:SBIN": PlanRow(sbin, bars)}
        assert j.plan(DAY + timedelta(days=1)) == {}
        j.record_bars(DAY, [MinuteBar("NSE:SBIN", T0, D("500"), D("501"), D("499.5"), D("500.5"))])
        j.record_bars(DAY, [MinuteBar("NSE:SBIN", T0, D("500.5"), D("502"), D("500"), D("501"))])
        [bar] = j.session_bars(DAY)["NSE:SBIN"]
        assert (bar.open, bar.high, bar.low, bar.close) == (
            D("500"),
            D("502"),
            D("499.5"),
            D("501"),
        )


def test_session_bars_from_ticks_keep_every_minute_until_taken():
    sb = SessionBars()
    for s, p in [(0, "10"), (20, "11"), (40, "9.5"), (61, "12"), (62, "11.5")]:
        sb.on_tick("NSE:A", D(p), T0 + timedelta(seconds=s))
    first, second = sb.take()
    assert (first.minute, first.open, first.high, first.low, first.close) == (
        T0, D("10"), D("11"), D("9.5"), D("9.5"))  # fmt: skip
    assert (second.minute, second.high, second.low, second.close) == (
        T0 + timedelta(minutes=1), D("12"), D("11.5"), D("11.5"))  # fmt: skip
    assert sb.take() == []


class Broker:
    def __init__(self, master: bool):
        self.master, self.calls = master, []

    def instruments(self, exchange):
        self.calls.append(("instruments", exchange))
        if not self.master:
            raise InvalidRequest("instruments: HTTP 404 NOT FOUND", code=404)
        return {"NSE:A": Instrument("A", "NSE", D("0.05"), 1)}

    def instrument(self, sym, ex):
        self.calls.append(("symbol", sym))
        if sym == "BAD":
            raise BrokerError("symbol: not found")
        return Instrument(sym, ex, D("0.10"), 1)

    def daily_bars(self, sym, ex, start, end):
        self.calls.append(("history", sym))
        return []


def test_the_plan_reads_the_master_once_and_falls_back_per_symbol():
    keys = ["NSE:A", "NSE:B", "NSE:BAD"]
    with Journal.in_memory() as j:
        b = Broker(master=True)
        plan = load_day_plan(b, j, keys, daily_bars=10, session=MarketSession(), today=DAY)
        assert b.calls.count(("instruments", "NSE")) == 1
        assert [c for c in b.calls if c[0] == "symbol"] == [("symbol", "B"), ("symbol", "BAD")]
        assert set(plan.rows) == {"NSE:A", "NSE:B"} and set(plan.failed) == {"NSE:BAD"}
        again = Broker(master=True)
        plan = load_day_plan(again, j, keys[:2], daily_bars=10, session=MarketSession(), today=DAY)
        assert again.calls == [] and plan.from_journal == 2
    old = Broker(master=False)  # an older server: no instruments endpoint
    plan = load_day_plan(old, None, keys[:2], daily_bars=0, session=MarketSession(), today=DAY)
    assert old.calls == [("instruments", "NSE"), ("symbol", "A"), ("symbol", "B")]
