"""Kill the engine at every point of a trading day, restart it, check P1-P10.

``python -m tests.restart_matrix`` runs the whole matrix; CI runs a
representative subset (tests/restart/test_kill_matrix.py).

The broker is the embedded simulator served on loopback by *this* process:
it keeps every order, fill and position while the engine - a separate
process, ``tests.restart.kill_engine`` running ``live_8020.py``'s main with
``broker.kind: openalgo`` against it - is SIGKILLed at one point and started
again. The points come from a clean run's trace: every broker order call
and every journal write of the day (entry claim, placement, binding, fill,
stop intent, stop, trail, cutoff cancel, exit), each killed right before
and right after the call. After the restarted engine has finished the day,
the simulator's book and the journal must show:

* P1 - at most ``max_attempts`` entries, never two working at once, none
  placed while holding; P8 - no more entries than the clean day had;
* P2 - no position left unprotected longer than the restart took plus one
  poll cycle (and none at all before the kill);
* P7 - flat and nothing working after the cutoff;
* P9 - every order at the broker is in the journal, with the broker's
  final state;
* P10 - the long setup's position never goes below zero;
* the realized P&L from the journal's fills equals the broker's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from live.broker import Action, OrderStatus, PriceType
from live.clock import ReplayClock
from live.engine import realized_from_fills
from live.journal import IntentState, Journal
from live.sim import SimServer, Simulator
from tests.integration.harness import API_KEY, at, build_day

ROOT = Path(__file__).resolve().parents[1]
MIX = {"NSE:SBIN": "long_win"}
SEED = 11
START, SPEED, CUTOFF = "09:53", 200.0, "10:06"
LEAD = 2.5  # wall seconds before the replay reaches START (the engine's start-up)
POLL = 5.0


@dataclass
class Case:
    point: str | None
    problems: list[str]
    orders: int
    seconds: float
    # False: the day made fewer calls of that kind than the clean run traced
    # (the count of journal updates near the close varies with timing), so
    # the engine finished the day unkilled; the day is still checked.
    reached: bool = True


class World:
    def __init__(self) -> None:
        self.anchor = time.time() + LEAD
        self.clock = ReplayClock(at(START), speed=SPEED, anchor=self.anchor)
        self.sim = Simulator(build_day(MIX, SEED), clock=self.clock)
        self.server = SimServer(self.sim, api_key=API_KEY, http_port=0, ws_port=0).start()

    def config(self, data_dir: Path) -> Path:
        cfg = {
            "broker": {"kind": "openalgo", "host": self.server.http_url,
                       "ws_url": self.server.ws_url},
            "symbols": list(MIX),
            "clock": {"start": at(START).isoformat(), "speed": SPEED, "anchor": self.anchor},
            "data_dir": str(data_dir),
            # Trailing early, so the day has a trailing modify to be killed around.
            "strategy": {"quantity": 10, "max_attempts": 2, "trail_start_r": 0.5,
                         "trail_distance_r": 1.0, "trail_step_r": 0.1},
            "session": {"exit_cutoff": CUTOFF, "entry_end": CUTOFF},
            "poll_seconds": POLL,
        }  # fmt: skip
        path = data_dir.parent / f"{data_dir.name}.yaml"
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg))
        return path

    def close(self) -> None:
        self.server.stop()


def engine(
    config: Path, *, kill: str | None = None, trace: Path | None = None, ready: Path | None = None,
    timeout=60,
):  # fmt: skip
    args = [sys.executable, "-m", "tests.restart.kill_engine", "--config", str(config)]
    if kill:
        args += ["--kill", kill]
    if trace:
        args += ["--trace", str(trace)]
    env = {**os.environ, "OPENALGO_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)}
    if ready is not None:
        env["LIVE8020_READY_FILE"] = str(ready)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def points(trace: Path) -> list[str]:
    calls = [x for x in trace.read_text().splitlines() if x]
    return [f"{c}:{side}" for c in calls for side in ("before", "after")]


def run_case(point: str | None, workdir: Path) -> Case:
    t0 = time.monotonic()
    world = World()
    try:
        data = workdir / "data"
        cfg = world.config(data)
        down = None
        if point is not None:
            first = engine(cfg, kill=point)
            if first.returncode == 0:
                problems = check(world, data, None)
                return Case(point, problems, len(world.sim.truth.orders("SBIN")),
                            time.monotonic() - t0, reached=False)  # fmt: skip
            if first.returncode != -9:
                return Case(point, [f"the engine exited {first.returncode} before the kill at "
                                    f"{point}: {first.stderr[-400:]}"], 0, time.monotonic() - t0)  # fmt: skip
            down = world.clock.now()
        ready = workdir / "ready.txt"
        done = engine(cfg, ready=ready)
        if down is not None and ready.exists():
            down = (down, datetime.fromisoformat(ready.read_text()))
        elif down is not None:
            down = (down, world.clock.now())
        problems = [] if done.returncode == 0 else [f"restart exited {done.returncode}: "
                                                     f"{done.stderr[-600:]}"]  # fmt: skip
        problems += check(world, data, down)
        return Case(point, problems, len(world.sim.truth.orders("SBIN")), time.monotonic() - t0)
    finally:
        world.close()


def check(world: World, data: Path, down: tuple | None) -> list[str]:
    """``down``: (killed, restarted engine up), market time, for a killed run."""
    truth, out = world.sim.truth, []
    orders = truth.orders("SBIN")
    entries = [o for o in orders if not o.is_exit]
    if len(entries) > 2:
        out.append(f"P1: {len(entries)} entries > max_attempts 2")
    if truth.max_working_entries("SBIN", Action.BUY) > 1:
        out.append("P1: two entries working at once")
    pos = 0
    for ev in truth.events(symbol="SBIN"):
        if ev.position_after is not None and ev.kind.name == "FILL":
            pos = ev.position_after
        if ev.kind.name == "ACCEPTED" and not ev.order.is_exit and pos != 0:
            out.append(f"P1: entry {ev.order.order_id} placed while holding {pos}")
        if pos < 0:
            out.append(f"P10: position {pos}: a stop or exit of ours went short")
            break
    with Journal(data / "journal.db") as j:
        claimed = {i.id for i in j.intents(key="NSE:SBIN") if i.role == "entry"}
        bound = [o for o in j.orders(key="NSE:SBIN") if o.role == "entry"]
    if (
        len(bound) != len(entries)
        or len({o.intent_id for o in bound}) != len(bound)
        or not {o.intent_id for o in bound} <= claimed
    ):
        out.append(f"P8: {len(entries)} entries at the broker, {len(bound)} bound to distinct "
                   "attempt claims: a duplicate after the restart")  # fmt: skip
    cutoff = at(CUTOFF)
    # One poll cycle of market time (the poller's timer has a 0.25 s wall
    # floor, so at replay speed a cycle is longer than poll_seconds), twice.
    bound = timedelta(seconds=2 * max(POLL, 0.25 * SPEED))
    for iv in truth.unprotected_intervals("SBIN"):
        if iv.start >= cutoff:
            continue  # the square-off: stop cancelled, confirmed, then the exit
        end = iv.end or world.clock.now()
        allowed = bound
        if down is not None and iv.start <= down[1] and end >= down[0]:
            # Bare across the restart: nobody can protect it until the new
            # engine is up; from then on one poll cycle at most.
            allowed = max(bound, down[1] - iv.start + bound)
        if end - iv.start > allowed:
            out.append(f"P2: unprotected {end - iv.start} from {iv.start:%H:%M:%S}")
    if truth.net_position("SBIN") != 0 or truth.working_orders("SBIN"):
        out.append(f"P7: net {truth.net_position('SBIN')}, working {truth.working_orders('SBIN')}")
    with Journal(data / "journal.db") as j:
        jorders = {o.order_id: o for o in j.orders(include_unbound=True)}
        fills = j.fills(key="NSE:SBIN")
        failed = [i for i in j.intents(key="NSE:SBIN") if i.state is IntentState.FAILED]
    # A placement refused in its reply (HTTP 400) never told the engine its
    # id, though the broker lists it as rejected: the journal holds a failed
    # intent for each instead (as tests/integration/harness.py counts them).
    told = {str(r.reply.get("orderid")) for r in truth.requests(endpoint="placeorder")}
    refused = [o for o in orders if o.order_id not in told and o.order_id not in jorders
               and o.status is OrderStatus.REJECTED]  # fmt: skip
    if len(failed) < len(refused):
        out.append(f"P9: {len(refused)} placements refused, the journal records {len(failed)}")
    for o in orders:
        jo = jorders.get(o.order_id)
        if jo is None and o in refused:
            continue
        if jo is None:
            out.append(f"P9: broker order {o.order_id} ({o.action.value} {o.price_type.value}) "
                       "missing from the journal")  # fmt: skip
        elif jo.status.is_terminal != o.status.is_terminal or (
            o.status is OrderStatus.COMPLETE and jo.status is not OrderStatus.COMPLETE
        ):
            out.append(f"P9: {o.order_id} journal {jo.status.value}, broker {o.status.value}")
    broker_pnl = sum(((t.price if t.action is Action.SELL else -t.price) * t.quantity
                      for t in truth.trades("SBIN")), Decimal(0))  # fmt: skip
    ours = realized_from_fills(fills)
    if ours != broker_pnl:
        out.append(f"P&L: journal {ours} != broker {broker_pnl}")
    if not [o for o in orders if o.price_type in (PriceType.SL, PriceType.SL_M) and o.is_exit]:
        out.append("P2: no stop was ever placed")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.restart_matrix")
    ap.add_argument("--only", nargs="*", help="kill points to run (default: every point)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    import tempfile

    root = Path(args.workdir or tempfile.mkdtemp(prefix="restart-matrix-"))
    clean_dir = root / "clean"
    trace = root / "trace.txt"
    world = World()
    try:
        cfg = world.config(clean_dir / "data")
        first = engine(cfg, trace=trace)
        assert first.returncode == 0, first.stderr[-2000:]
        baseline = check(world, clean_dir / "data", None)
    finally:
        world.close()
    todo = args.only or points(trace)
    print(f"clean run: {len(trace.read_text().splitlines())} calls, problems {baseline}")
    failed = unreached = 0
    for i, point in enumerate(todo):
        case = run_case(point, root / f"case{i:03d}")
        failed += bool(case.problems)
        unreached += not case.reached
        verdict = "ok" if not case.problems else "; ".join(case.problems)
        if not case.reached:
            verdict += " (not reached: this day made fewer such calls)"
        print(f"{point:40s} {case.orders:2d} orders {case.seconds:5.1f}s  {verdict}", flush=True)
    print(f"{len(todo)} kill points, {failed} failing, {unreached} not reached")
    return 1 if failed or baseline else 0


if __name__ == "__main__":
    sys.exit(main())
