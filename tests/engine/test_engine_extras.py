"""The engine's calendar from the broker, dry runs, and alerts."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

from live.broker import BrokerError
from live.calendar import broker_calendar
from live.clock import IST, ManualClock, MarketSession
from live.config import parse_config
from live.engine import Engine
from live.execution.dryrun import DryRunBroker
from live.sim.broker import SimBroker
from live.sim.day import SimDay
from live.sim.simulator import Simulator
from strategies.reversal_8020 import Reversal8020

DAY = date(2026, 11, 20)


class CalendarBroker:
    def __init__(self, holidays=None, hours=None, error=None):
        self._h, self._t, self._e = holidays, hours, error

    def holidays(self, year):
        if self._e:
            raise self._e
        return self._h

    def timings(self, day):
        return self._t


def test_calendar_takes_the_brokers_holidays_and_special_session():
    close = datetime.combine(DAY, time(13, 0), tzinfo=IST)
    opened = datetime.combine(DAY, time(9, 15), tzinfo=IST)
    s = broker_calendar(
        CalendarBroker(frozenset({date(2026, 11, 24)}), (opened, close)), MarketSession(), DAY
    )
    assert date(2026, 11, 24) in s.holidays
    assert s.close == time(13, 0) and s.exit_cutoff == time(12, 45)
    assert s.entry_end <= s.exit_cutoff


def test_calendar_falls_back_to_config_without_endpoints_or_on_error():
    base = MarketSession.with_holidays(["2026-11-24"])
    assert broker_calendar(CalendarBroker(None, None), base, DAY) == base
    assert broker_calendar(CalendarBroker(error=BrokerError("HTTP 500")), base, DAY) == base
    assert broker_calendar(object(), base, DAY) == base  # a broker without the endpoints


def _run(dry_run: bool, broker_wrapper=None):
    sim_day = SimDay.generate(DAY, {"NSE:SBIN": "long_stopout"}, seed=5)
    clock = ManualClock(sim_day.open_at - timedelta(minutes=1))
    sim = Simulator(sim_day, clock=clock)
    broker = SimBroker(sim)
    if broker_wrapper:
        broker = broker_wrapper(broker)
    cfg = parse_config(
        {
            "symbols": ["NSE:SBIN"],
            "strategy": {"quantity": 10, "stop_retry_limit": 1},
            "broker": {"telegram_username": "trader1"},
        }
    )
    engine = Engine(cfg, DryRunBroker(broker) if dry_run else broker, clock, Reversal8020)
    engine.prepare(DAY)
    state = engine.states["NSE:SBIN"]
    broker.on_order_update(lambda u: state.on_order_update(u, clock.now()))
    while (t := sim.step()) is not None:
        state.process_tick(t.ltp, t.ts)
    return engine, sim


def test_dry_run_decides_and_logs_but_places_nothing(caplog):
    engine, sim = _run(dry_run=True)
    v = engine.states["NSE:SBIN"].view()
    assert v.entries_today >= 1  # it did decide to enter
    assert sim.truth.orders() == []  # and nothing reached the broker
    assert not sim.truth.requests(endpoint="placeorder")


class NotifyingBroker:
    """A SimBroker whose stop placements are all rejected, with notify()."""

    def __init__(self, inner):
        self._inner = inner
        self.sent = []
        self.sent_event = threading.Event()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def place_order(self, request):
        if request.price_type.value == "SL-M" and request.action.value == "SELL":
            from live.broker import OrderRejected

            raise OrderRejected("RMS: stop-loss orders blocked")
        return self._inner.place_order(request)

    def notify(self, message, *, username, priority=5):
        self.sent.append((username, message))
        self.sent_event.set()
        return True


def test_an_unprotectable_position_is_closed_and_alerted_by_telegram():
    holder = {}

    def wrap(inner):
        holder["b"] = NotifyingBroker(inner)
        return holder["b"]

    engine, sim = _run(dry_run=False, broker_wrapper=wrap)
    broker = holder["b"]
    assert broker.sent_event.wait(5)
    username, message = broker.sent[0]
    assert username == "trader1" and "NSE:SBIN" in message
