"""``python -m live.sim`` as a real process: one broker world for as long as
the process lives, so a client that restarts against it finds the same
session, orders and positions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from openalgo import api

ROOT = Path(__file__).resolve().parents[2]
KEY = "cli-test-key"


def start(*args: str) -> tuple[subprocess.Popen, str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SIM_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "live.sim", "--port", "0", "--ws-port", "0", "--api-key", KEY]
        + list(args),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"REST (http://\S+)\s+WebSocket (ws://\S+)", line)
        if m:
            return proc, m.group(1), m.group(2)
    proc.kill()
    raise AssertionError(f"live.sim did not start: {''.join(lines)}")


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def ping(http: str) -> str:
    r = requests.post(f"{http}/api/v1/ping", json={"apikey": KEY}, timeout=5).json()
    return r["data"]["session"]


@pytest.mark.timeout(120)
def test_standalone_sim_keeps_one_world_across_client_restarts():
    proc, http, ws = start("--date", "2026-11-20", "--speed", "600", "--symbols", "NSE:SBIN")
    try:
        sid = ping(http)
        first = api(api_key=KEY, host=http, ws_url=ws, timeout=5)
        oid = first.placeorder(symbol="SBIN", action="BUY", exchange="NSE", quantity=2)["orderid"]
        end = time.monotonic() + 20
        while first.orderstatus(order_id=oid)["data"]["order_status"] != "complete":
            assert time.monotonic() < end, "the market order never filled"
            time.sleep(0.05)
        del first
        again = api(api_key=KEY, host=http, ws_url=ws, timeout=5)  # a restarted client
        assert ping(http) == sid
        assert [o["orderid"] for o in again.orderbook()["data"]["orders"]] == [oid]
        assert again.positionbook()["data"][0]["quantity"] == "2"
    finally:
        assert stop(proc) == 0
    proc2, http2, _ = start("--date", "2026-11-20", "--symbols", "NSE:SBIN")
    try:
        assert ping(http2) != sid  # a new process is a new world
        assert api(api_key=KEY, host=http2, timeout=5).orderbook()["data"]["orders"] == []
    finally:
        assert stop(proc2) == 0


@pytest.mark.timeout(120)
def test_standalone_synthetic_market():
    proc, http, ws = start(
        "--date", "2026-11-20", "--symbols-count", "20", "--tick-rate", "2", "--speed", "4"
    )
    try:
        c = api(api_key=KEY, host=http, ws_url=ws, timeout=5)
        df = c.instruments(exchange="NSE")
        assert list(df["symbol"]) == [f"SYM{i:04d}" for i in range(1, 21)]
        got = []
        assert c.connect()
        try:
            c.subscribe_ltp(
                [{"symbol": s, "exchange": "NSE"} for s in df["symbol"]],
                on_data_received=got.append,
            )
            end = time.monotonic() + 30
            while len({g["symbol"] for g in got}) < 20 and time.monotonic() < end:
                time.sleep(0.05)
        finally:
            c.disconnect()
        assert len({g["symbol"] for g in got}) == 20
    finally:
        assert stop(proc) == 0
