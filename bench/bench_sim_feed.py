"""How many ticks a second the embedded simulator generates and delivers
over its WebSocket, and how late they arrive.

    python bench/bench_sim_feed.py                       # N = 100, 500, 2000 at 3 ticks/s
    python bench/bench_sim_feed.py --counts 2000 --rates 3 6 12 --seconds 15
    python bench/bench_sim_feed.py --validate-utf8       # websocket-client's default reader

For each (N, R): the simulator runs in this process on loopback (a
synthetic day of N symbols at R ticks per symbol per second, replayed at
speed 1 so market time is wall time); one plain websocket-client reader in
a child process authenticates and subscribes to all N symbols (LTP mode)
and reads as fast as it can. Measured over a window that starts 3 s after
the open:

* generated: ticks the simulator applied per wall second;
* delivered: market_data messages the reader received per second (those
  stamped inside the window);
* sim CPU: CPU seconds of this process (the simulator's pump and event-loop
  threads; the main thread sleeps) per wall second, as % of one core, with
  the split between the two threads;
* lag: receive time - the tick's timestamp mapped to wall time, p50 / p99 /
  max in ms (it includes the reader's own queueing: a reader that cannot
  keep up shows as growing lag, not as lost ticks).

The reader runs in its own process so its CPU does not count against the
simulator and the two do not share one GIL. By default it skips
websocket-client's pure-Python UTF-8 validation of every text frame
(``skip_utf8_validation=True``), which otherwise costs the reader ~4x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = "bench-key"
DAY = date(2026, 11, 20)
WARMUP = 3.0  # market seconds after the open before the window starts


# --- the reader (child process) ----------------------------------------------------------


def reader(args: argparse.Namespace) -> None:
    import websocket

    ws = websocket.create_connection(
        args.url, timeout=30, skip_utf8_validation=not args.validate_utf8
    )
    ws.send(json.dumps({"action": "authenticate", "api_key": KEY}))
    assert json.loads(ws.recv())["status"] == "success"
    symbols = [{"symbol": s, "exchange": "NSE"} for s in args.symbols.split(",")]
    ws.send(json.dumps({"action": "subscribe", "mode": 1, "symbols": symbols}))
    ack = json.loads(ws.recv())
    assert ack["type"] == "subscribe" and ack["status"] == "success", ack
    print("READY", flush=True)
    t1_ms, t2_ms = args.window_start_ms, args.window_end_ms
    # market epoch ms -> wall epoch s: wall0 + (ms/1000 - market0) / speed
    wall0, market0, speed = args.wall0, args.market0, args.speed
    lags, n_in = [], 0
    give_up = wall0 + (t2_ms / 1000 - market0) / speed + 20
    key = '"timestamp": '
    while True:
        raw = ws.recv()
        now = time.time()
        # The simulator's LTP messages put the timestamp at a fixed key; a
        # slice is much cheaper than json.loads and keeps the reader fast.
        i = raw.find(key)
        ts = int(raw[i + len(key) : raw.index(",", i)]) if i >= 0 else 0
        if ts > t2_ms or now > give_up:
            break
        if ts >= t1_ms:
            n_in += 1
            lags.append(now - (wall0 + (ts / 1000 - market0) / speed))
    ws.close()
    print(json.dumps({"received": n_in, "lags": lags[:: max(1, len(lags) // 20000)]}), flush=True)


# --- the simulator side (this process) -------------------------------------------------


def _thread_cpu(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(count: int, rate: float, seconds: float, validate_utf8: bool) -> dict:
    from live.clock import ReplayClock
    from live.sim import SimDay, SimServer, Simulator

    t_gen = time.perf_counter()
    day = SimDay.synthetic(DAY, count, rate, seed=1)
    gen_s = time.perf_counter() - t_gen
    lead = 6.0  # market seconds before the open: time to connect and subscribe
    start = day.open_at - timedelta(seconds=lead)
    wall0 = time.time()
    clock = ReplayClock(start, speed=1.0)
    market0 = start.timestamp()
    sim = Simulator(day, clock=clock)
    srv = SimServer(sim, api_key=KEY, rate_limits=None).start()
    t1 = day.open_at + timedelta(seconds=WARMUP)
    t2 = t1 + timedelta(seconds=seconds)
    cmd = [
        sys.executable,
        __file__,
        "--reader",
        "--url",
        srv.ws_url,
        "--symbols",
        ",".join(s.instrument.symbol for s in day.symbols),
        "--window-start-ms",
        str(int(t1.timestamp() * 1000)),
        "--window-end-ms",
        str(int(t2.timestamp() * 1000)),
        "--wall0",
        repr(wall0),
        "--market0",
        repr(market0),
        "--speed",
        "1",
    ] + (["--validate-utf8"] if validate_utf8 else [])
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY", "reader failed to subscribe"
        if clock.now() >= t1:
            raise RuntimeError("subscribing took longer than the lead before the window")

        def wait_until(ts):
            while (d := (ts - clock.now()).total_seconds()) > 0:
                time.sleep(min(d, 0.2))

        wait_until(t1)
        w_a, c_a, n_a = time.perf_counter(), time.process_time(), sim.ticks_applied
        pump_id, loop_id = srv._pump_thread.native_id, srv._thread.native_id
        p_a, l_a = _thread_cpu(pump_id), _thread_cpu(loop_id)
        wait_until(t2)
        w_b, c_b, n_b = time.perf_counter(), time.process_time(), sim.ticks_applied
        p_b, l_b = _thread_cpu(pump_id), _thread_cpu(loop_id)
        out = json.loads(child.stdout.readline())
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        srv.stop()
    wall = w_b - w_a
    lags = sorted(x * 1000 for x in out["lags"]) or [float("nan")]
    return {
        "N": count,
        "rate": rate,
        "target": count * rate,
        "generated": (n_b - n_a) / wall,
        "delivered": out["received"] / seconds,
        "cpu_pct": 100 * (c_b - c_a) / wall,
        "pump_pct": 100 * (p_b - p_a) / wall,
        "loop_pct": 100 * (l_b - l_a) / wall,
        "lag_p50": statistics.median(lags),
        "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max": lags[-1],
        "setup_s": gen_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--counts", type=int, nargs="+", default=[100, 500, 2000])
    ap.add_argument("--rates", type=float, nargs="+", default=[3.0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    ap.add_argument("--validate-utf8", action="store_true")
    # reader-process arguments
    ap.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--symbols", help=argparse.SUPPRESS)
    ap.add_argument("--window-start-ms", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--window-end-ms", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--wall0", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--market0", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--speed", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader:
        reader(args)
        return
    print(
        f"{'N':>5} {'R/s':>4} {'target':>7} {'generated':>9} {'delivered':>9} "
        f"{'simCPU%':>7} {'(pump':>6} {'loop)':>6} {'lag p50':>8} {'p99':>7} {'max':>7}  setup"
    )
    for count in args.counts:
        for rate in args.rates:
            r = run_one(count, rate, args.seconds, args.validate_utf8)
            print(
                f"{r['N']:>5} {r['rate']:>4g} {r['target']:>7.0f} {r['generated']:>9.0f} "
                f"{r['delivered']:>9.0f} {r['cpu_pct']:>7.1f} {r['pump_pct']:>6.1f} "
                f"{r['loop_pct']:>6.1f} {r['lag_p50']:>6.1f}ms {r['lag_p99']:>5.1f}ms "
                f"{r['lag_max']:>5.0f}ms  {r['setup_s']:.1f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
