"""Structured logging: JSON lines, console lines, redaction, and `tail`."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from live import logs
from live.broker import Action, OrderRequest, OrderStatus, PriceType
from live.clock import ManualClock
from live.logs import TailFilter, log_event, register_secret, setup_logging

from .helpers import at, wait_until

REPO = Path(__file__).resolve().parents[2]
API_KEY = "c0ffee5ecret1234567890abcdef"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- emitting ------------------------------------------------------------------------------


def test_event_is_one_json_line_with_typed_values(tmp_path):
    logs.set_clock(ManualClock(at(9, 20, 5)))
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    log_event(
        "ORDER_PLACED",
        symbol="NSE:SBIN",
        order_id="A1",
        price=Decimal("511.95"),
        qty=10,
        side=Action.BUY,
        status=OrderStatus.TRIGGER_PENDING,
        day=date(2026, 11, 20),
        placed=at(9, 20),
    )
    (rec,) = read_jsonl(path)
    # Stamped by the (replay) clock: the wall time is kept beside it.
    assert datetime.fromisoformat(rec.pop("wall_ts")).tzinfo is not None
    assert rec == {
        "ts": "2026-11-20T09:20:05+05:30",
        "level": "INFO",
        "event": "ORDER_PLACED",
        "symbol": "NSE:SBIN",
        "order_id": "A1",
        "price": "511.95",
        "qty": 10,
        "side": "BUY",
        "status": "trigger pending",
        "day": "2026-11-20",
        "placed": "2026-11-20T09:20:00+05:30",
    }


def test_ts_field_is_the_event_time(tmp_path):
    logs.set_clock(ManualClock(at(12, 0)))
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    log_event("FILL", symbol="NSE:SBIN", ts=at(10, 1), level=logging.WARNING)
    log_event("FILL", symbol="NSE:SBIN", ts="yesterday")  # not a datetime: kept, not used
    first, second = read_jsonl(path)
    assert first["ts"] == "2026-11-20T10:01:00+05:30" and first["level"] == "WARNING"
    assert second["ts"] == "2026-11-20T12:00:00+05:30" and second["event_ts"] == "yesterday"


def test_dataclass_fields_are_serialised(tmp_path):
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    r = OrderRequest("SBIN", "NSE", Action.SELL, 5, PriceType.SL_M, trigger_price=Decimal("498.35"))
    log_event("STOP_PLACED", symbol=r.key, request=r)
    (rec,) = read_jsonl(path)
    assert rec["request"]["trigger_price"] == "498.35"
    assert rec["request"]["price_type"] == "SL-M" and rec["request"]["price"] is None


def test_caplog_sees_events(caplog):
    caplog.set_level(logging.INFO, logger=logs.LOGGER_NAME)
    log_event("STATE_REFUSED", symbol="NSE:INFY", reason="entry working")
    (record,) = [r for r in caplog.records if r.name == logs.LOGGER_NAME]
    assert record.live_event["event"] == "STATE_REFUSED"
    assert "STATE_REFUSED NSE:INFY reason=entry working" in record.getMessage().replace('"', "")


def test_console_line_is_readable(tmp_path):
    logs.set_clock(ManualClock(at(9, 20, 5)))
    console = io.StringIO()
    setup_logging(None, console_stream=console, console_level="INFO")
    log_event("ORDER_REJECTED", symbol="NSE:SBIN", order_id="A1", reason="price band", qty=3)
    log_event("TICK", symbol="NSE:SBIN", level=logging.DEBUG)  # below console level
    assert console.getvalue() == (
        '09:20:05.000 INFO    ORDER_REJECTED NSE:SBIN order_id=A1 reason="price band" qty=3\n'
    )


def test_setup_twice_does_not_duplicate_lines(tmp_path):
    setup_logging(tmp_path, console_stream=io.StringIO())
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    log_event("FEED_STALE", symbol="NSE:SBIN")
    assert len(read_jsonl(path)) == 1


def test_bad_setup_arguments(tmp_path):
    with pytest.raises(ValueError, match="console_level"):
        setup_logging(tmp_path, console_level="LOUD")
    with pytest.raises(ValueError, match="json_file"):
        setup_logging(tmp_path, json_file="../elsewhere.jsonl")
    with pytest.raises(ValueError, match="event"):
        log_event("")


# --- redaction --------------------------------------------------------------------------------


def test_api_key_never_reaches_file_console_or_caplog(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger=logs.LOGGER_NAME)
    console = io.StringIO()
    path = setup_logging(tmp_path, console_stream=console)
    register_secret(API_KEY)
    log_event(
        "BROKER_CALL",
        apikey=API_KEY,
        api_key="x",
        X_Auth_Token="t",
        db_password="p",
        client_secret="s",
        url=f"http://127.0.0.1:5000/api/v1/placeorder?apikey={API_KEY}",
        body={"apikey": API_KEY, "nested": [f"key {API_KEY} here"], "symbol": "SBIN"},
        error=RuntimeError(f"401 for key {API_KEY}"),
    )
    log_event(f"ODD_{API_KEY}", symbol=API_KEY)
    eng = logs.get_logger("feed")
    eng.warning("connect failed with key %s", API_KEY)
    try:
        raise ValueError(f"bad key {API_KEY}")
    except ValueError:
        eng.exception("boom")

    file_text = path.read_text(encoding="utf-8")
    for text in (file_text, console.getvalue(), caplog.text):
        assert API_KEY not in text
        assert logs.MASK in text
    assert all(API_KEY not in r.getMessage() for r in caplog.records)
    rec = read_jsonl(path)[0]
    for name in ("apikey", "api_key", "X_Auth_Token", "db_password", "client_secret"):
        assert rec[name] == "***"
    assert rec["body"]["apikey"] == "***" and rec["body"]["symbol"] == "SBIN"
    assert rec["url"].endswith("apikey=***")
    assert rec["error"] == "RuntimeError: 401 for key ***"


def test_register_secret_rejects_nonsense():
    with pytest.raises(ValueError, match="secret"):
        register_secret("ab")
    with pytest.raises(ValueError, match="secret"):
        register_secret(None)  # type: ignore[arg-type]


# --- tail --------------------------------------------------------------------------------------


def _sample_log(tmp_path: Path) -> Path:
    path = tmp_path / "live8020.jsonl"
    lines = [
        {"ts": "2026-11-20T09:20:00+05:30", "level": "INFO", "event": "ORDER_PLACED",
         "symbol": "NSE:SBIN", "order_id": "A1", "price": "511.95"},
        {"ts": "2026-11-20T09:20:01+05:30", "level": "INFO", "event": "ORDER_PLACED",
         "symbol": "NSE:INFY", "order_id": "B1"},
        {"ts": "2026-11-20T09:20:02+05:30", "level": "WARNING", "event": "ORDER_REJECTED",
         "symbol": "NSE:SBIN", "order_id": "A2", "reason": "price band"},
        {"ts": "2026-11-20T09:20:03+05:30", "level": "INFO", "event": "FILL",
         "symbol": "NSE:SBIN", "order_id": "A1", "qty": 10},
        {"ts": "2026-11-20T09:20:04+05:30", "level": "WARNING", "event": "FEED_STALE",
         "symbol": None},
        {"ts": "2026-11-20T09:20:05+05:30", "level": "INFO", "event": "STOP_PLACED",
         "symbol": "BSE:SBIN", "order_id": "C1"},
    ]  # fmt: skip
    text = "\n".join(json.dumps(x) for x in lines[:4])
    text += "\n{this is not json\n[1, 2]\n"
    text += "\n".join(json.dumps(x) for x in lines[4:]) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def run_tail(*args: str) -> list[str]:
    out = io.StringIO()
    assert logs.main(["tail", "--no-follow", *args], out=out) == 0
    return out.getvalue().splitlines()


def test_tail_prints_everything_readably_and_shows_malformed_lines(tmp_path):
    path = _sample_log(tmp_path)
    lines = run_tail("--file", str(path))
    assert len(lines) == 8
    first = "2026-11-20 09:20:00.000 INFO    ORDER_PLACED NSE:SBIN order_id=A1 price=511.95"
    assert lines[0] == first
    assert lines[4] == "!! malformed log line: {this is not json"
    assert lines[5] == "!! malformed log line: [1, 2]"
    assert lines[6] == "2026-11-20 09:20:04.000 WARNING FEED_STALE"


def test_tail_event_filter(tmp_path):
    path = _sample_log(tmp_path)
    events = [ln.split()[3] for ln in run_tail("--file", str(path), "--event", "ORDER_*")
              if not ln.startswith("!!")]  # fmt: skip
    assert events == ["ORDER_PLACED", "ORDER_PLACED", "ORDER_REJECTED"]
    lines = run_tail("--file", str(path), "--event", "fill", "--event", "STOP_*")
    events = [ln.split()[3] for ln in lines if not ln.startswith("!!")]
    assert events == ["FILL", "STOP_PLACED"]


def test_tail_symbol_filter_bare_or_exchange(tmp_path):
    path = _sample_log(tmp_path)

    def ids(*args):
        return [ln.split("order_id=")[1].split()[0] for ln in run_tail("--file", str(path), *args)
                if "order_id=" in ln]  # fmt: skip

    assert ids("--symbol", "SBIN") == ["A1", "A2", "A1", "C1"]
    assert ids("--symbol", "NSE:SBIN") == ["A1", "A2", "A1"]
    assert ids("--symbol", "nse:s*") == ["A1", "A2", "A1"]
    assert ids("--symbol", "INFY", "--event", "ORDER_*") == ["B1"]
    assert ids("--symbol", "TCS") == []


def test_tail_data_dir_default_file_and_missing_file(tmp_path, capsys):
    _sample_log(tmp_path)
    assert len(run_tail("--data-dir", str(tmp_path))) == 8
    out = io.StringIO()
    assert logs.main(["tail", "--no-follow", "--file", str(tmp_path / "nope.jsonl")], out=out) == 2
    assert "does not exist" in capsys.readouterr().err


def test_filter_matches_directly():
    f = TailFilter(events=("ORDER_*",), symbols=("SBIN",))
    assert f.matches({"event": "ORDER_PLACED", "symbol": "NSE:SBIN"})
    assert not f.matches({"event": "ORDER_PLACED", "symbol": "NSE:SBINX"})
    assert not f.matches({"event": "FILL", "symbol": "NSE:SBIN"})
    assert not f.matches({"event": "ORDER_PLACED", "symbol": None})


def test_tail_follow_prints_appended_lines(tmp_path):
    path = tmp_path / "live8020.jsonl"
    path.write_text(json.dumps({"ts": "2026-11-20T09:20:00+05:30", "level": "INFO",
                                "event": "ORDER_PLACED", "symbol": "NSE:SBIN"}) + "\n")  # fmt: skip

    class Sink(io.StringIO):
        lock = threading.Lock()

        def write(self, s):
            with self.lock:
                return super().write(s)

        def text(self):
            with self.lock:
                return self.getvalue()

    out, stop = Sink(), threading.Event()
    flt = TailFilter(symbols=("SBIN",))
    t = threading.Thread(
        target=logs.tail,
        args=(path,),
        kwargs=dict(flt=flt, follow=True, out=out, stop=stop, poll_interval=0.01),
        daemon=True,
    )
    t.start()
    try:
        wait_until(lambda: "ORDER_PLACED" in out.text(), what="existing line")
        line = json.dumps({"ts": "2026-11-20T09:21:00+05:30", "level": "INFO",
                           "event": "FILL", "symbol": "NSE:SBIN", "qty": 10})  # fmt: skip
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": "FILL", "symbol": "NSE:INFY"}) + "\n")  # filtered out
            f.write(line[:20])  # a writer caught mid-line: nothing printed yet
            f.flush()
            wait_until(lambda: t.is_alive(), what="tail alive")
            f.write(line[20:] + "\n")
            f.write("garbage\n")
        wait_until(lambda: "garbage" in out.text(), what="appended lines")
        lines = out.text().splitlines()
        assert lines[1] == "2026-11-20 09:21:00.000 INFO    FILL NSE:SBIN qty=10"
        assert lines[2] == "!! malformed log line: garbage"
        assert len(lines) == 3
    finally:
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()


def test_tail_cli_as_a_process(tmp_path):
    path = _sample_log(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-m", "live.logs", "tail", "--no-follow", "--file", str(path),
         "--event", "FILL"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "FILL NSE:SBIN order_id=A1 qty=10" in r.stdout
    assert "ORDER_PLACED" not in r.stdout


def test_logging_writes_what_tail_reads(tmp_path):
    register_secret(API_KEY)
    path = setup_logging(tmp_path, console_stream=io.StringIO())
    log_event("ORDER_PLACED", symbol="NSE:SBIN", ts=at(9, 20), price=Decimal("1.05"), token=API_KEY)
    logs.teardown_logging()
    (line,) = run_tail("--file", str(path), "--symbol", "SBIN")
    assert line == "2026-11-20 09:20:00.000 INFO    ORDER_PLACED NSE:SBIN price=1.05 token=***"
