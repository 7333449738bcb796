"""The status snapshot: what it holds, that it matches the broker's book,
that it is written atomically, and how ``status`` prints it."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from decimal import Decimal

from live.clock import IST
from live.status import StatusWriter, main, read_status, render, take_snapshot, write_atomic
from tests.cockpit.sim_engine import sim_engine, step_until

MIX = {"NSE:SBIN": "long_win", "NSE:TCS": "short_win", "NSE:RELIANCE": "no_setup"}


def _holding(engine):
    return lambda: all(
        engine.states[k].view().position_qty and engine.states[k].view().sl_id
        for k in ("NSE:SBIN", "NSE:TCS")
    )


def test_snapshot_matches_the_brokers_book_while_holding():
    engine, sim, _ = sim_engine(MIX, seed=11)
    assert step_until(engine, sim, _holding(engine))
    snap = take_snapshot(engine, state="running", extra=lambda key: {"queue": len(key)})
    rows = {r["symbol"]: r for r in snap["symbols"]}
    assert set(rows) == set(MIX)
    for key in ("NSE:SBIN", "NSE:TCS"):
        r = rows[key]
        assert r["position_qty"] == sim.truth.net_position(key)
        assert {w["order_id"] for w in r["working_orders"]} == {
            o.order_id for o in sim.truth.working_orders(key)
        }
        (stop,) = r["working_orders"]
        assert stop["role"] == "stop" and Decimal(stop["price"]) == Decimal(r["stop_price"])
        assert r["phase"] == "HOLDING" and r["attempts_used"] == 1 and r["max_attempts"] == 2
        last, avg = Decimal(r["last_price"]), Decimal(r["avg_price"])
        assert Decimal(r["unrealized_pnl"]) == ((last - avg) * r["position_qty"]).quantize(
            Decimal("0.01")
        )
        assert r["extra"] == {"queue": len(key)}
    assert rows["NSE:SBIN"]["position_qty"] > 0 > rows["NSE:TCS"]["position_qty"]
    assert rows["NSE:RELIANCE"]["phase"] == "NOT TRADED"
    acct = snap["account"]
    assert acct["open_positions"] == 2 and acct["working_orders"] == 2
    assert Decimal(acct["total_pnl"]) == Decimal(acct["realized_pnl"]) + Decimal(
        acct["unrealized_pnl"]
    )
    assert acct["brakes"]["kill_switch"] is None and not acct["brakes"]["loss_limit_hit"]
    json.dumps(snap)  # JSON-ready: Decimals are strings


def test_snapshot_shows_a_brake():
    engine, sim, clock = sim_engine(MIX, seed=11)
    engine.risk.kill("test: trader pressed the kill switch")
    for ex in engine.states.values():
        ex.poll(clock.now())
    snap = take_snapshot(engine, state="running")
    assert "kill switch" in snap["account"]["brakes"]["kill_switch"]
    rows = {r["symbol"]: r for r in snap["symbols"]}
    assert rows["NSE:SBIN"]["brake"].startswith("brake: kill switch")
    assert "BRAKE" in render(snap)


def test_writer_replaces_the_file_atomically_and_marks_the_stop(tmp_path):
    engine, sim, _ = sim_engine(MIX, seed=11)
    w = StatusWriter(engine, tmp_path, interval=60)
    w.write_now()
    assert read_status(tmp_path)["state"] == "running"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temporary left
    w.stop("stopped")
    assert read_status(tmp_path)["state"] == "stopped"


def test_write_atomic_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    write_atomic(path, {"state": "running", "n": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("live.status.os.replace", broken_replace)
    try:
        write_atomic(path, {"state": "running", "n": 2})
    except OSError:
        pass
    assert json.loads(path.read_text())["n"] == 1


def test_render_and_cli(tmp_path, capsys):
    engine, sim, _ = sim_engine(MIX, seed=11)
    assert step_until(engine, sim, _holding(engine))
    snap = take_snapshot(engine, state="running")
    text = render(snap, now=datetime.fromisoformat(snap["written_at"]) + timedelta(seconds=3))
    assert "NSE:SBIN" in text and "HOLDING" in text and "stop:SELL 10@" in text
    assert "written 3s ago" in text
    assert "NSE:RELIANCE: not traded today" in text
    write_atomic(tmp_path / "status.json", snap)
    assert main(["--data-dir", str(tmp_path)]) == 0
    assert "NSE:TCS" in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["symbols"][0]["symbol"] == "NSE:SBIN"


def test_no_snapshot_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("status: no status snapshot in")


def test_watch_stops_when_asked(tmp_path):
    from threading import Event

    from live.status import show

    write_atomic(tmp_path / "status.json", {"state": "stopped", "symbols": [], "account": {},
                                            "written_at": datetime.now(IST).isoformat()})  # fmt: skip
    stop, out = Event(), io.StringIO()
    stop.set()
    assert show(tmp_path, watch=True, out=out, stop=stop) == 0
    assert "live8020 stopped" in out.getvalue()


class NoCalls:
    """A broker that must not be called (the snapshot reads our state only)."""

    def __getattr__(self, name):
        raise AssertionError(f"the status snapshot called the broker: {name}")


def test_the_snapshot_never_calls_the_broker_and_leaves_no_lock_held():
    engine, sim, _ = sim_engine(MIX, seed=11)
    assert step_until(engine, sim, _holding(engine))
    for ex in engine.states.values():
        ex.broker = NoCalls()
    engine.broker = NoCalls()
    snap = take_snapshot(engine, state="running")
    assert len(snap["symbols"]) == 3
    for ex in engine.states.values():
        assert ex.lock.acquire(blocking=False)
        ex.lock.release()
