"""Alerts: what is sent, from a worker thread, failures never raised."""

from __future__ import annotations

import logging
import threading

from live.alerts import Alerter, FeedWatch, message_for
from tests.cockpit.sim_engine import sim_engine, step_until


def test_messages_for_the_events_a_trader_wants():
    assert message_for("NSE:SBIN", "FILL", {"role": "entry", "qty": 10, "price": "558.00"},
                       stop_moved=False) == "NSE:SBIN: entry filled 10 @ 558.00"  # fmt: skip
    assert (
        message_for(
            "NSE:SBIN",
            "FILL",
            {"role": "stop", "qty": 10, "price": "559.25", "pnl": "12.5"},
            stop_moved=False,
        )  # fmt: skip
        == "NSE:SBIN: stop filled 10 @ 559.25, P&L +12.50"
    )
    moved = {"trigger": "559.00", "previous": "558.20"}
    assert message_for("K", "STOP_MODIFIED", moved, stop_moved=False) is None
    assert "stop moved to 559.00" in message_for("K", "STOP_MODIFIED", moved, stop_moved=True)
    assert "mismatch: ours 10, broker 0" in message_for(
        "K", "POSITION_MISMATCH", {"ours": 10, "broker": 0}, stop_moved=False
    )
    assert "ALERT stop-loss could not be kept (qty 10)" in message_for(
        "K", "ALERT", {"reason": "stop-loss could not be kept", "qty": 10}, stop_moved=False
    )
    assert message_for("K", "ORDER_PLACED", {}, stop_moved=False) is None


def test_sent_from_a_worker_one_brake_message_per_reason():
    sent, release = [], threading.Event()

    def notify(text):
        release.wait(5)  # a slow Telegram must not hold the caller
        sent.append(text)
        return True

    a = Alerter(notify)
    for key in ("NSE:SBIN", "NSE:TCS", "NSE:INFY"):
        a.on_event(key, "BRAKE", {"reason": "kill switch engaged", "on_brake": "hold"})
    a.on_event("NSE:SBIN", "FILL", {"role": "entry", "qty": 1, "price": "1"})
    assert sent == []  # the producers returned at once
    release.set()
    a.close()
    assert sent == ["live8020 brake engaged: kill switch engaged (positions: hold)",
                    "live8020 NSE:SBIN: entry filled 1 @ 1"]  # fmt: skip
    assert a.sent == 2


def test_a_failing_notify_is_logged_never_raised(caplog):
    def boom(text):
        raise ConnectionError("telegram down")

    a = Alerter(boom)
    with caplog.at_level(logging.INFO, logger="live8020"):
        a.send("alert", "x")
        a.close()
    events = [r.live_event["event"] for r in caplog.records if hasattr(r, "live_event")]
    assert "ALERT_FAILED" in events and "ALERT_SENT" in events
    assert a.failed == 1


def test_without_telegram_alerts_go_to_the_log(caplog):
    a = Alerter(None)
    with caplog.at_level(logging.INFO, logger="live8020"):
        a.send("engine_stopped", "engine stopped")
        a.close()
    [row] = [r.live_event for r in caplog.records if getattr(r, "live_event", {}).get("event") == "ALERT_SENT"]  # fmt: skip
    assert row["message"] == "live8020 engine stopped" and row["telegram"] is False


def test_feed_watch_alerts_once_after_n_seconds_and_once_when_back():
    sent = []
    a = Alerter(lambda t: sent.append(t))
    w = FeedWatch(a, after=30)
    w.check(False, 0)  # connecting at start: not a disconnect
    w.check(True, 1)
    w.check(False, 10)
    w.check(False, 39)
    w.check(False, 41)
    w.check(False, 60)
    w.check(True, 70)
    a.close()
    assert sent == ["live8020 market data feed down for 31s; stop-losses stay at the broker",
                    "live8020 market data feed is back"]  # fmt: skip


def test_the_engine_alerts_through_the_simulators_telegram_notify():
    engine, sim, _ = sim_engine({"NSE:SBIN": "long_win"}, seed=11,
                                broker={"telegram_username": "trader1"})  # fmt: skip
    assert step_until(engine, sim, lambda: engine.states["NSE:SBIN"].view().position_qty)
    engine.alerts.close()
    notes = sim.notifications
    assert [n.username for n in notes] == ["trader1"]
    assert notes[0].message.startswith("live8020 NSE:SBIN: entry filled 10 @ ")
