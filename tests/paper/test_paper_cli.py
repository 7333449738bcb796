"""``python live_8020.py`` with ``broker.kind: paper`` as a user runs it: a
subprocess with a config file and the API key in the environment, against
an OpenAlgo-compatible server in this process (live/sim, standing in for
the trader's OpenAlgo) that replays a day on a clock both processes share
(``clock.anchor``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from live.clock import ReplayClock
from live.journal import Journal
from live.sim import SimDay, SimServer, Simulator
from tests.integration.harness import API_KEY, DAY, at

from .test_paper_day import MARKET_DATA, ORDER_ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
MIX = {"NSE:SBIN": "long_win", "NSE:TCS": "short_win", "NSE:RELIANCE": "no_setup"}


@pytest.mark.timeout(90)
def test_the_cli_trades_on_paper_and_the_server_sees_no_order(tmp_path):
    speed, start = 400, at("09:52")
    anchor = time.time() + 4  # the replay starts once the engine had time to start
    upstream = Simulator(SimDay.generate(DAY, MIX, seed=11),
                         clock=ReplayClock(start, speed=speed, anchor=anchor))  # fmt: skip
    server = SimServer(upstream, api_key=API_KEY, http_port=0, ws_port=0).start()
    data = tmp_path / "data"
    cfg = {
        "broker": {"kind": "paper", "host": server.http_url, "ws_url": server.ws_url,
                   "api_key_env": "MY_OPENALGO_KEY"},
        "paper": {"funds": 300000},
        "symbols": list(MIX),
        "clock": {"start": start.isoformat(), "speed": speed, "anchor": anchor},
        "data_dir": str(data),
        "strategy": {"quantity": 10, "max_attempts": 2},
        "session": {"exit_cutoff": "10:12", "entry_end": "10:12"},
    }  # fmt: skip
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg))
    try:
        r = subprocess.run(
            [sys.executable, str(ROOT / "live_8020.py"), "--config", str(path), "--quiet"],
            cwd=tmp_path, capture_output=True, text=True, timeout=80,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                 "PYTHONDONTWRITEBYTECODE": "1", "MY_OPENALGO_KEY": API_KEY},
        )  # fmt: skip
    finally:
        server.stop()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "paper trading: prices from" in r.stdout
    assert "Session summary (paper trading)" in r.stdout
    assert API_KEY not in r.stdout + r.stderr  # the key is never printed
    seen = {x.endpoint for x in upstream.truth.requests()}
    assert seen & ORDER_ENDPOINTS == set() and seen <= MARKET_DATA | {"ping"}, seen
    assert upstream.engine.orders() == []
    with Journal(data / "paper-journal.db") as j:
        orders = j.orders()
        assert j.world().kind == "paper"
    assert orders and all(o.order_id.startswith("PAPER-") for o in orders)
    assert {o.key for o in orders} == {"NSE:SBIN", "NSE:TCS"}
    assert not (data / "journal.db").exists()
    assert (data / "paper" / "reports" / DAY.isoformat() / "trades.csv").exists()
