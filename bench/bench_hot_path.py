"""Cost of one tick, end to end inside the engine: parse (the WebSocket
text -> ``Feed.handle`` -> ``Tick``), route (``Engine.on_tick`` -> the
dispatcher's hand-off -> a worker), decide (``SymbolExecutor.process_tick``
with the opening-range breakout measuring its range: a tick that changes
no decision, the common case).

    python bench/bench_hot_path.py                  # µs per tick, by stage
    python bench/bench_hot_path.py --profile 25     # plus cProfile's top 25 (inline path)

Stages, each over the same ``--ticks`` messages for ``--symbols`` symbols
(CPU time of the whole process, all threads, per tick):

* decide only: ``process_tick`` called directly;
* parse + decide inline: the feed's reading and the engine's routing, the
  handler called on the feed's thread (no hand-off);
* parse + route + decide, per dispatcher kind (pool, threads, single): the
  real hand-off to worker threads, then drained.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import pstats
import random
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live.clock import IST, ManualClock  # noqa: E402
from live.config import parse_config  # noqa: E402
from live.dispatch import make_dispatcher  # noqa: E402
from live.engine import Engine  # noqa: E402
from live.openalgo import Feed  # noqa: E402
from strategies import REGISTRY  # noqa: E402
from tests.fakes import FakeBroker  # noqa: E402

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, 16, tzinfo=IST)  # inside the 15-minute opening range


def build(n: int, kind: str) -> tuple[Engine, Feed]:
    keys = [f"NSE:SYM{i:04d}" for i in range(1, n + 1)]
    raw = {"symbols": keys, "strategy": {"name": "orb", "quantity": 1},
           "risk": {"max_open_positions": n}, "dispatch": {"kind": kind}}  # fmt: skip
    cfg = parse_config(raw, REGISTRY)
    engine = Engine(cfg, FakeBroker(), ManualClock(NOW), REGISTRY.get("orb"))
    engine.prepare(DAY)
    feed = Feed("ws://127.0.0.1:1", "k", keys, on_tick=lambda t: engine.on_tick(t.key, t.ltp, t.ts),
                clock=engine.clock)  # fmt: skip
    return engine, feed


def messages(n: int, count: int) -> list[str]:
    """The simulator's LTP text (live.sim.ticktext) as its synthetic market
    sends it: symbols ticked in steps of ~n/50 sharing one timestamp, each
    price a random walk on the tick grid (unchanged 40% of the time)."""
    rnd = random.Random(1)
    out = []
    ms = int(NOW.timestamp() * 1000)
    group = max(1, n // 50)
    k = [10_000] * n  # price in ticks of 0.05
    for i in range(count):
        s = i % n
        r = rnd.random()
        k[s] += 0 if r >= 0.6 else (1 if r < 0.3 else -1)
        step_ms = ms + 20 * (i // group)
        ltp = repr(float(k[s] * 5) / 100)
        out.append('{"type": "market_data", "symbol": "SYM' + f"{s + 1:04d}" + '", '
                   '"exchange": "NSE", "mode": 1, "data": {"ltp": ' + ltp + ', "timestamp": '
                   + str(step_ms) + ', "ltt": ' + str(step_ms) + "}}")  # fmt: skip
    return out


def decide_only(engine: Engine, msgs: list[str]) -> float:
    items = []
    for m in msgs:
        d = json.loads(m)
        items.append((engine.states["NSE:" + d["symbol"]], Decimal(repr(d["data"]["ltp"]))))
    ts = NOW + timedelta(seconds=1)
    t0 = time.process_time()
    for state, ltp in items:
        state.process_tick(ltp, ts)
    return (time.process_time() - t0) / len(items) * 1e6


def inline(engine: Engine, feed: Feed, msgs: list[str], profile: cProfile.Profile | None) -> float:
    handler = engine._handle_tick

    class Inline:  # the handler on the feed's thread: parse + route + decide, no hand-off
        def submit_tick(self, key, ltp, ts):
            handler(key, ltp, ts)

    real, engine.dispatcher = engine.dispatcher, Inline()
    loads, handle = json.loads, feed.handle
    if profile is not None:
        profile.enable()
    t0 = time.process_time()
    for m in msgs:
        handle(loads(m))
    spent = time.process_time() - t0
    if profile is not None:
        profile.disable()
    engine.dispatcher = real
    return spent / len(msgs) * 1e6


def dispatched(engine: Engine, feed: Feed, msgs: list[str]) -> float:
    engine.dispatcher.start()
    loads, handle = json.loads, feed.handle
    t0 = time.process_time()
    for m in msgs:
        handle(loads(m))
    engine.dispatcher.drain(60)
    spent = time.process_time() - t0
    engine.dispatcher.stop()
    return spent / len(msgs) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench_hot_path", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--ticks", type=int, default=60_000)
    ap.add_argument("--profile", type=int, default=0, metavar="TOP")
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)
    msgs = messages(args.symbols, args.ticks)
    engine, feed = build(args.symbols, "pool")
    rows = [("decide only (process_tick)", decide_only(engine, msgs))]
    rows.append(("parse + route + decide, inline", inline(engine, feed, msgs, None)))
    profile = None
    if args.profile:  # a second pass: the profiler's own cost stays out of the figures
        profile = cProfile.Profile()
        inline(engine, feed, msgs, profile)
    for kind in ("pool", "threads", "single"):
        engine, feed = build(args.symbols, kind)
        engine.dispatcher = make_dispatcher(kind, list(engine.states), workers=4,
                                            coalesce_after=None, tick_handler=engine._handle_tick)  # fmt: skip
        rows.append((f"parse + route + decide, dispatch {kind}", dispatched(engine, feed, msgs)))
    base = rows[0][1]
    print(f"{args.ticks} ticks over {args.symbols} symbols (ORB, range forming), CPU µs per tick")
    for name, us in rows:
        print(f"  {name:44s} {us:8.1f} µs   x{us / base:6.1f}")
    if profile is not None:
        print()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
