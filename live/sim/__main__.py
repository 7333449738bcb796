"""``python -m live.sim``: run the simulator standalone until Ctrl-C."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from datetime import date, datetime, timedelta

from live.clock import IST, MarketSession, ReplayClock

from .day import SCENARIOS, SimDay
from .faults import FaultPlan
from .server import DEFAULT_API_KEY, SimServer
from .simulator import Simulator


def _trading_day(session: MarketSession, raw: str | None) -> date:
    if raw:
        return date.fromisoformat(raw)
    today = datetime.now(IST).date()
    return today if session.is_trading_day(today) else session.previous_trading_day(today)


def _bind_problem(e: OSError, port: int, ws_port: int) -> str:
    """Which of the two ports could not be bound, and what to do."""
    text = str(e)
    flag, which = ("--ws-port", ws_port) if f", {ws_port})" in text else ("--port", port)
    if e.errno == errno.EADDRINUSE:
        why = "is already in use (another simulator or OpenAlgo server?)"
    elif e.errno == errno.EACCES:
        why = "needs privileges (ports below 1024)"
    else:
        why = f"cannot be opened ({e.strerror})"
    return f"127.0.0.1:{which} {why}; pick another with {flag}, or {flag} 0 for any free port"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m live.sim", description=__doc__)
    ap.add_argument("--port", type=int, default=5000, help="REST port (0: ephemeral)")
    ap.add_argument("--ws-port", type=int, default=8765, help="WebSocket port (0: ephemeral)")
    ap.add_argument("--api-key", default=None, help="default: $SIM_API_KEY, else the dev key")
    ap.add_argument("--symbols", default="NSE:SBIN,NSE:INFY")
    ap.add_argument(
        "--scenarios",
        default=None,
        help=f"comma list matching --symbols; one of {', '.join(SCENARIOS)}",
    )
    ap.add_argument(
        "--speed",
        type=float,
        default=None,
        help="market seconds per wall second (default 60; 1 with --symbols-count)",
    )
    ap.add_argument(
        "--symbols-count",
        type=int,
        default=None,
        metavar="N",
        help="synthetic market of N symbols (SYM0001...) instead of --symbols",
    )
    ap.add_argument(
        "--tick-rate",
        type=float,
        default=1.0,
        metavar="R",
        help="with --symbols-count: ticks per symbol per market second (at --speed 1, per "
        "wall second); default 1",
    )
    ap.add_argument(
        "--setup-share",
        type=float,
        default=0.05,
        help="with --symbols-count: the share of symbols replaying 80-20 / ORB scenario days",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--date", default=None, help="YYYY-MM-DD (default: latest trading day)")
    ap.add_argument("--faults", default=None, help="fault plan YAML file")
    args = ap.parse_args(argv)

    session = MarketSession()
    try:
        day = _trading_day(session, args.date)
        speed = (
            args.speed if args.speed is not None else (60.0 if args.symbols_count is None else 1.0)
        )
        if not speed > 0:
            raise ValueError(
                f"--speed: must be > 0 (market seconds per wall second), got {speed:g}"
            )
        for flag, port in (("--port", args.port), ("--ws-port", args.ws_port)):
            if not 0 <= port <= 65535:
                raise ValueError(
                    f"{flag}: {port} is not a port; give 1-65535, or 0 for any free one"
                )
        if args.symbols_count is not None:
            if args.scenarios:
                raise ValueError("--scenarios: not with --symbols-count (use --setup-share)")
            simday = SimDay.synthetic(
                day,
                args.symbols_count,
                args.tick_rate,
                seed=args.seed,
                setup_share=args.setup_share,
                session=session,
            )
        else:
            keys = [k.strip() for k in args.symbols.split(",") if k.strip()]
            if args.scenarios:
                kinds = [s.strip() for s in args.scenarios.split(",")]
                if len(kinds) != len(keys):
                    raise ValueError("--scenarios: give one scenario per symbol")
                symbols = dict(zip(keys, kinds, strict=True))
            else:
                symbols = keys
            simday = SimDay.generate(day, symbols, seed=args.seed, session=session)
        faults = FaultPlan.from_yaml(args.faults) if args.faults else None
    except (ValueError, OSError) as e:
        print(f"live.sim: {e}", file=sys.stderr)
        return 2

    if args.api_key:
        key, source = args.api_key, "--api-key"
    elif os.environ.get("SIM_API_KEY"):
        key, source = os.environ["SIM_API_KEY"], "environment SIM_API_KEY"
    else:
        key, source = DEFAULT_API_KEY, None
    # A minute before the open to connect in; a synthetic market only needs seconds.
    lead = timedelta(minutes=1) if args.symbols_count is None else timedelta(seconds=5)
    clock = ReplayClock(simday.open_at - lead, speed=speed)
    sim = Simulator(simday, clock=clock, faults=faults)
    try:
        server = SimServer(sim, api_key=key, http_port=args.port, ws_port=args.ws_port).start()
    except OSError as e:
        print(f"live.sim: {_bind_problem(e, args.port, args.ws_port)}", file=sys.stderr)
        return 1
    print(f"live.sim: REST {server.http_url}  WebSocket {server.ws_url}")
    if source is None:
        # The dev key is public (it is in the source): printed for the client to use.
        print(
            f"live.sim: api key {key} (the built-in dev key; --api-key or SIM_API_KEY to set one)"
        )
    else:
        print(f"live.sim: api key from {source}")
    print(f"live.sim: session {sim.session_id} (ping's data.session; kept until exit)")
    setups = [s for s in simday.symbols if s.scenario not in ("walk", "random")]
    if args.symbols_count is not None:
        print(
            f"live.sim: {day} at {speed:g}x: {len(simday.symbols)} synthetic symbols "
            f"({simday.symbols[0].instrument.symbol}..{simday.symbols[-1].instrument.symbol}) "
            f"at {args.tick_rate:g} ticks/s each, {len(setups)} replaying scenario days"
        )
    else:
        print(
            f"live.sim: {day} at {speed:g}x: "
            + ", ".join(f"{s.key}={s.scenario}" for s in simday.symbols)
        )
    print("live.sim: Ctrl-C to stop", flush=True)  # seen at once through a pipe, too
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
