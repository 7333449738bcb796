"""The trader's cockpit over real sockets: ``python live_8020.py`` in a
subprocess (``broker.kind: openalgo``) against the embedded simulator served
by this process on loopback, which keeps its book after the engine exits.

A simulated day with positions and working orders; then: the status
snapshots agree with the simulator's book; SIGTERM mid-day leaves no working
entry and every position protected by a working stop (or, with
``--flatten-on-exit``, flat), exit 0 with the summary; a second SIGINT during
the stand-down exits 130 at once.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from live.broker import Action
from live.clock import ReplayClock
from live.sim import FaultPlan, SimServer, Simulator
from live.sim.faults import HttpError, Latency
from tests.integration.harness import API_KEY, at, build_day

ROOT = Path(__file__).resolve().parents[2]
MIX = {
    "NSE:SBIN": "long_win",
    "NSE:INFY": "long_stopout_reentry",
    "NSE:TCS": "short_win",
    "NSE:RELIANCE": "no_setup",
}
SEED = 11
START, SPEED, CUTOFF = "09:55", 60.0, "10:20"
LEAD = 3.0  # wall seconds for the engine to start before the replay reaches START
USER = "trader1"


class World:
    """The broker: a simulator on loopback whose clock the engine follows (anchor)."""

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.anchor = time.time() + LEAD
        self.clock = ReplayClock(at(START), speed=SPEED, anchor=self.anchor)
        self.sim = Simulator(build_day(MIX, SEED), clock=self.clock, faults=faults,
                             telegram_users=[USER])  # fmt: skip
        self.server = SimServer(self.sim, api_key=API_KEY, http_port=0, ws_port=0).start()

    def config(self, data_dir: Path, **extra) -> Path:
        cfg = {
            "broker": {"kind": "openalgo", "host": self.server.http_url,
                       "ws_url": self.server.ws_url, "telegram_username": USER},
            "symbols": list(MIX),
            "clock": {"start": at(START).isoformat(), "speed": SPEED, "anchor": self.anchor},
            "data_dir": str(data_dir),
            "strategy": {"quantity": 10, "max_attempts": 2},
            "session": {"exit_cutoff": CUTOFF, "entry_end": CUTOFF},
            "poll_seconds": 5.0,
            "status_seconds": 0.2,
            **extra,
        }  # fmt: skip
        path = data_dir.parent / "config.yaml"
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg))
        return path

    def book(self) -> dict[str, tuple[int, set[str]]]:
        """Per symbol: the broker's net position and its working order ids."""
        t = self.sim.truth
        return {k: (t.net_position(k), {o.order_id for o in t.working_orders(k)}) for k in MIX}

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


def start_engine(config: Path, *flags: str) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "OPENALGO_API_KEY": API_KEY}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, str(ROOT / "live_8020.py"), "--config", str(config), "--quiet", *flags],
        cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def status(data: Path) -> dict | None:
    try:
        return json.loads((data / "status.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def snapshot_book(snap: dict) -> dict[str, tuple[int, set[str]]]:
    return {
        r["symbol"]: (r["position_qty"], {w["order_id"] for w in r["working_orders"]})
        for r in snap["symbols"]
    }


def wait_for(cond, proc: subprocess.Popen, wall: float = 40.0):
    deadline = time.monotonic() + wall
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"engine exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError("gave up waiting")


def holding_with_entry_working(world: World, data: Path):
    """A moment the status shows SBIN held with its stop while another
    symbol's entry works, and agrees with the broker's book on every symbol
    (positions and working order ids)."""
    snap = status(data)
    if not snap or snap.get("state") != "running":
        return None
    rows = {r["symbol"]: r for r in snap["symbols"]}
    sbin = rows["NSE:SBIN"]
    if not sbin["position_qty"] or not sbin["working_orders"]:
        return None
    if not [w for r in snap["symbols"] for w in r["working_orders"] if w["role"] == "entry"]:
        return None
    return snap if snapshot_book(snap) == world.book() else None


def reports(data: Path) -> dict[str, list[dict]]:
    folder = data / "reports" / "2026-11-20"
    assert (folder / "summary.txt").exists()
    return {
        name: list(csv.DictReader(open(folder / f"{name}.csv"))) for name in ("trades", "orders")
    }


def broker_pnl(world: World) -> Decimal:
    """What the broker's tradebook says the day made (flat: every trade closed)."""
    return sum(((t.price if t.action is Action.SELL else -t.price) * t.quantity
                for t in world.sim.truth.trades()), Decimal(0))  # fmt: skip


def check_stopped(world: World, proc: subprocess.Popen, data: Path, *, flat: bool) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "Session summary" in out and "Left at the broker:" in out, out
    truth = world.sim.truth
    for key in MIX:
        net = truth.net_position(key)
        working = truth.working_orders(key)
        # No entry of ours is working at the broker.
        assert not [o for o in working if not o.is_exit], (key, working)
        if flat:
            assert net == 0 and not working, (key, net, working)
        elif net:
            # Protected: one working stop on the closing side for the whole position.
            (stop,) = working
            assert stop.price_type.value in ("SL", "SL-M") and stop.quantity == abs(net), stop
            assert (stop.action.value == "SELL") == (net > 0)
    # The last snapshot (written after the stand-down) is the broker's book.
    snap = status(data)
    assert snap["state"] == "stopped"
    assert snapshot_book(snap) == world.book()
    return out


@pytest.mark.timeout(120)
def test_sigterm_mid_day_leaves_positions_protected_and_no_entry(world, tmp_path):
    data = tmp_path / "data"
    proc = start_engine(world.config(data))
    try:
        snap = wait_for(lambda: holding_with_entry_working(world, data), proc)
        assert snap["symbols"][0]["symbol"] == "NSE:SBIN"
        entries = [w["order_id"] for r in snap["symbols"] for w in r["working_orders"]
                   if w["role"] == "entry"]  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        out = check_stopped(world, proc, data, flat=False)
        # The entries working at the signal were cancelled, not left to fill.
        by_id = {o.order_id: o for o in world.sim.truth.orders()}
        assert entries and all(by_id[e].status.value == "cancelled" for e in entries), entries
    finally:
        if proc.poll() is None:
            proc.kill()
    assert world.sim.truth.net_position("NSE:SBIN") == 10
    assert "NSE:SBIN: long 10, protected by stop-loss 10 @" in out
    assert "Stopped cleanly" in out
    trades = reports(data)["trades"]
    assert [t["status"] for t in trades if t["symbol"] == "NSE:SBIN"] == ["open"]
    # Telegram, recorded by the simulator's telegram/notify.
    texts = [n.message for n in world.sim.notifications]
    assert {n.username for n in world.sim.notifications} == {USER}
    assert any(t.startswith("live8020 NSE:SBIN: entry filled 10 @ ") for t in texts), texts
    assert texts[-1].startswith("live8020 engine stopped (SIGTERM): realized P&L "), texts
    assert "still holding NSE:SBIN 10" in texts[-1]
    # One JSON-lines log: the run's first line, the feed's own logger, market time.
    log = [json.loads(x) for x in (data / "live8020.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "RUN_START" and log[0]["world"]["kind"] == "sim"
    feed = [x for x in log if x.get("logger") == "live.openalgo.feed"]
    assert feed and feed[0]["event"] == "FEED_LIVE" and feed[0]["ts"].startswith("2026-11-20T09:")
    assert all("wall_ts" in x for x in log)
    assert [x["event"] for x in log].count("ENGINE_STOPPED") == 1


@pytest.mark.timeout(120)
def test_sigterm_with_flatten_on_exit_leaves_everything_flat(world, tmp_path):
    data = tmp_path / "data"
    proc = start_engine(world.config(data), "--flatten-on-exit")
    try:
        wait_for(lambda: holding_with_entry_working(world, data), proc)
        proc.send_signal(signal.SIGTERM)
        out = check_stopped(world, proc, data, flat=True)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "every position closed" in out and "NSE:SBIN: flat, nothing working" in out
    # The reports: every trade closed, their P&L the broker's to the paisa.
    got = reports(data)
    assert got["trades"] and all(t["status"] == "closed" for t in got["trades"])
    gross = sum(Decimal(t["gross_pnl"]) for t in got["trades"])
    assert gross == broker_pnl(world)
    for t in got["trades"]:
        assert Decimal(t["net_pnl"]) == Decimal(t["gross_pnl"]) - Decimal(t["charges"])
        assert Decimal(t["charges"]) > 0
    assert {o["order_id"] for o in got["orders"]} == {o.order_id for o in world.sim.truth.orders()}
    texts = [n.message for n in world.sim.notifications]
    assert any(t.startswith("live8020 NSE:SBIN: entry filled 10 @ ") for t in texts), texts
    # The flatten's exit and its P&L; the exit is planned, not an ALERT.
    assert any(t.startswith("live8020 NSE:SBIN: exit filled 10 @ ") and ", P&L " in t
               for t in texts), texts  # fmt: skip
    assert not [t for t in texts if "ALERT" in t], texts
    assert texts[-1] == f"live8020 engine stopped (SIGTERM): realized P&L {gross:.2f}; flat"


@pytest.mark.timeout(120)
def test_a_second_sigint_exits_130_at_once(tmp_path):
    # Cancels take 5 wall seconds at this broker: the stand-down is still
    # waiting for them when the second Ctrl-C comes.
    w = World(FaultPlan(faults=(Latency(endpoint="cancelorder", seconds=5.0),)))
    data = tmp_path / "data"
    proc = start_engine(w.config(data, shutdown={"flatten_on_exit": True}))
    try:
        wait_for(lambda: holding_with_entry_working(w, data), proc)
        proc.send_signal(signal.SIGINT)
        line = ""
        while "stopping" not in line:
            line = proc.stderr.readline()
            assert line, "the engine never acknowledged the first SIGINT"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        took = time.monotonic() - t0
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        w.close()
    assert proc.returncode == 130, err
    assert took < 4.0, f"the second SIGINT took {took:.1f}s: not at once"
    assert "SIGINT again: exiting now" in err, (line, err)
    assert "NSE:SBIN: position 10; may be working: stop SELL 10 @" in err
    assert os.path.exists(data / "status.json")


@pytest.mark.timeout(120)
def test_a_stand_down_the_broker_will_not_confirm_exits_143(tmp_path):
    # Every cancel fails at this broker: the stop cannot be taken off, so
    # the flatten cannot close the position.
    w = World(FaultPlan(faults=(HttpError(endpoint="cancelorder", status=500, probability=1.0),)))
    data = tmp_path / "data"
    proc = start_engine(w.config(data, shutdown={"timeout_seconds": 2}), "--flatten-on-exit")
    try:
        wait_for(lambda: holding_with_entry_working(w, data), proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        w.close()
    assert proc.returncode == 143, out + err[-2000:]
    assert "The stop did NOT finish" in out, out
    assert "NSE:SBIN: long 10, protected by stop-loss 10 @" in out  # what is left, and where
    assert "Session summary" in out
