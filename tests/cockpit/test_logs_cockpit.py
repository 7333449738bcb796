"""The one JSON-lines log: every engine logger in it, market time with the
wall beside it, RUN_START, --level, daily rotation, FILL_KNOWN on restart."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

from live import logs
from live.clock import IST, ManualClock
from live.config import parse_config
from live.execution import Role
from live.logs import DailyFileHandler, TailFilter, log_event, run_start, setup_logging, tail
from tests.core.helpers import T0, D, make_state, trigger_and_enter


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_plain_engine_loggers_reach_the_json_log_and_console(tmp_path):
    console = io.StringIO()
    logs.set_clock(ManualClock(datetime(2026, 11, 20, 10, 5, tzinfo=IST)))
    path = setup_logging(tmp_path, console_stream=console, console_level="INFO")
    logging.getLogger("live.openalgo.feed").warning("FEED_DISCONNECTED ws://127.0.0.1:1: gone")
    logging.getLogger("live.openalgo.broker").info("plain words")
    a, b = lines(path)
    assert a["event"] == "FEED_DISCONNECTED" and a["logger"] == "live.openalgo.feed"
    assert a["msg"] == "ws://127.0.0.1:1: gone" and a["level"] == "WARNING"
    assert a["ts"] == "2026-11-20T10:05:00+05:30"  # market time of the replay
    assert datetime.fromisoformat(a["wall_ts"]).date() == datetime.now(IST).date()
    assert b["event"] == "LOG" and b["msg"] == "plain words"
    first = console.getvalue().splitlines()[0]
    assert first.startswith("10:05:00.000 WARNING")
    assert first.endswith("FEED_DISCONNECTED ws://127.0.0.1:1: gone")


def test_wall_clock_runs_have_no_second_timestamp(tmp_path):
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    log_event("X_Y")
    assert "wall_ts" not in lines(path)[0]


def test_run_start_digest_leaves_secrets_out(tmp_path):
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    a = parse_config({"broker": {"api_key": "secret-one-1234"}})
    b = parse_config({"broker": {"api_key": "secret-two-5678"}})
    c = parse_config({"symbols": ["NSE:INFY"]})
    da = run_start(a, {"kind": "sim"})["config_digest"]
    assert da == run_start(b, {"kind": "sim"})["config_digest"]
    assert da != run_start(c, {"kind": "sim"})["config_digest"]
    text = path.read_text()
    assert "secret-one" not in text and "secret-two" not in text
    first = lines(path)[0]
    assert first["event"] == "RUN_START" and first["version"] and first["world"] == {"kind": "sim"}


def test_tail_level_filter():
    flt = TailFilter(min_level=logging.WARNING)
    assert not flt.matches({"level": "INFO", "event": "A"})
    assert flt.matches({"level": "WARNING", "event": "A"})
    assert flt.matches({"level": "ERROR", "event": "A"})
    out = io.StringIO()
    from live.logs import main

    assert main(["tail", "--file", "nowhere", "--level", "LOUD"], out=out) == 2


def test_daily_rotation_keeps_n_files(tmp_path):
    day = [date(2026, 11, 20)]
    h = DailyFileHandler(tmp_path / "live8020.jsonl", keep=2, today=lambda: day[0])
    lg = logging.getLogger("test.rotation")
    lg.addHandler(h)
    lg.propagate = False
    try:
        for i in range(4):
            lg.warning("day %d", i)
            day[0] += timedelta(days=1)
        lg.warning("today")
    finally:
        lg.removeHandler(h)
        h.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["live8020.2026-11-22.jsonl", "live8020.2026-11-23.jsonl", "live8020.jsonl"]
    assert (tmp_path / "live8020.jsonl").read_text() == "today\n"
    assert (tmp_path / "live8020.2026-11-23.jsonl").read_text() == "day 3\n"


def test_a_file_from_an_earlier_day_is_rolled_at_start(tmp_path):
    path = tmp_path / "live8020.jsonl"
    path.write_text('{"event":"OLD"}\n')
    old = time.time() - 3 * 86400
    os.utime(path, (old, old))
    DailyFileHandler(path, keep=7).close()
    rolled = [p for p in tmp_path.iterdir() if p.name != "live8020.jsonl"]
    assert len(rolled) == 1 and rolled[0].read_text() == '{"event":"OLD"}\n'
    assert path.read_text() == ""


def test_tail_follows_across_a_roll(tmp_path):
    path = tmp_path / "live8020.jsonl"
    path.write_text('{"event":"A","level":"INFO"}\n')
    out, stop = io.StringIO(), threading.Event()
    t = threading.Thread(target=tail, args=(path,), kwargs={"follow": True, "out": out,
                         "stop": stop, "poll_interval": 0.01})  # fmt: skip
    t.start()
    deadline = time.monotonic() + 5
    while "A" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(path, "a") as f:
        f.write('{"event":"B","level":"INFO"}\n')
    os.replace(path, tmp_path / "live8020.2026-11-20.jsonl")
    path.write_text('{"event":"C","level":"INFO"}\n')
    while "C" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join(5)
    events = [line.split()[2] for line in out.getvalue().splitlines()]
    assert events == ["A", "B", "C"]


def _events(caplog, name):
    return [r.live_event for r in caplog.records
            if getattr(r, "live_event", {}).get("event") == name]  # fmt: skip


def _restored(caplog, known: int, filled: int = 10):
    state, broker = make_state()
    entry_id = trigger_and_enter(state, broker)
    update = broker.fill(entry_id, qty=filled, price=D("100.00"))
    fresh, _ = make_state()  # a restarted engine: nothing applied yet
    with caplog.at_level(logging.INFO, logger="live8020"):
        fresh.restore([(entry_id, Role.ENTRY, update)], filled, T0, {entry_id: known})
    return _events(caplog, "FILL"), _events(caplog, "FILL_KNOWN")


def test_a_restart_logs_journaled_fills_as_known(caplog):
    fills, known = _restored(caplog, known=10)
    assert fills == [] and [k["qty"] for k in known] == [10]


def test_a_fill_learnt_while_down_is_a_new_fill(caplog):
    fills, known = _restored(caplog, known=6)
    assert [k["qty"] for k in known] == [6] and [f["qty"] for f in fills] == [4]
    assert Decimal(fills[0]["price"]) == D("100.00")
