"""CheckpointedBroker: every broker call is bracketed by named checkpoints."""

from __future__ import annotations

from decimal import Decimal

import pytest

from live import interleave
from live.broker import Broker, TransientBrokerError
from live.testing import CheckpointedBroker, Scenario, exhaustive, explore, replay


class Recorder:
    def __init__(self):
        self.calls = []

    def checkpoint(self, name):
        self.calls.append(name)


class TinyBroker:
    tick = Decimal("0.05")

    def __init__(self):
        self.placed = []

    def place_order(self, symbol, qty=1):
        self.placed.append((symbol, qty))
        return f"O{len(self.placed)}"

    def cancel_order(self, order_id):
        raise TransientBrokerError(f"timeout cancelling {order_id}")

    def _private(self):
        return "private"


def test_calls_are_bracketed_and_results_pass_through(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(interleave, "_scheduler", rec)
    raw = TinyBroker()
    b = CheckpointedBroker(raw)
    assert b.place_order("SBIN", qty=5) == "O1"
    assert raw.placed == [("SBIN", 5)]
    assert rec.calls == ["broker.place_order", "broker.place_order:done"]


def test_errors_are_bracketed_then_reraised(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(interleave, "_scheduler", rec)
    b = CheckpointedBroker(TinyBroker(), prefix="oa")
    with pytest.raises(TransientBrokerError, match="timeout cancelling O9"):
        b.cancel_order("O9")
    assert rec.calls == ["oa.cancel_order", "oa.cancel_order:error"]


def test_attributes_and_private_names_pass_through_unwrapped(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(interleave, "_scheduler", rec)
    raw = TinyBroker()
    b = CheckpointedBroker(raw)
    assert b.tick == Decimal("0.05")
    assert b._private() == "private"
    assert b.wrapped is raw
    b.tick = Decimal("0.10")
    assert raw.tick == Decimal("0.10")
    assert rec.calls == []


def test_without_scheduler_the_wrapper_only_forwards():
    b = CheckpointedBroker(TinyBroker())
    assert b.place_order("INFY") == "O1"
    assert b.place_order is b.place_order  # cached after the first lookup


def test_bad_prefix_is_rejected():
    with pytest.raises(ValueError, match="prefix"):
        CheckpointedBroker(TinyBroker(), prefix="")


def test_still_satisfies_the_broker_protocol():
    class Full:
        def place_order(self, request): ...
        def modify_order(self, order_id, request): ...
        def cancel_order(self, order_id): ...
        def order_status(self, order_id): ...
        def orderbook(self): ...
        def positions(self): ...
        def funds(self): ...
        def instrument(self, symbol, exchange): ...
        def daily_bars(self, symbol, exchange, start, end): ...

    assert isinstance(CheckpointedBroker(Full()), Broker)


def test_broker_labels_drive_the_scheduler():
    def scenario():
        b = CheckpointedBroker(TinyBroker())
        return Scenario(
            threads={
                "feed": lambda: b.place_order("SBIN"),
                "poller": lambda: b.place_order("INFY"),
            },
            state=b.wrapped,
        )

    # Pin: feed stops right before its broker call, poller's order lands first.
    result = explore(
        scenario,
        lambda raw: raw.placed == [("INFY", 1), ("SBIN", 1)],
        strategy=replay(["feed@broker.place_order", "poller"]),
    )
    result.assert_ok()
    both = explore(scenario, strategy=exhaustive(1))
    assert both.schedules_run == 6  # 2 first-thread choices x (1 + 2 preemption points)
