"""``python live_8020.py``: run one session of the configured strategy.

With the default config.yaml the broker is the embedded OpenAlgo-compatible
simulator, started here on ephemeral loopback ports and replaying a trading
day at high speed; the engine talks to it through the same REST and
WebSocket code it uses against a real OpenAlgo server. With
``broker.kind: openalgo`` it trades live; with ``broker.kind: paper`` it
trades on paper against the live prices (live/paper).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from live.calendar import broker_calendar, market_session
from live.clock import Clock, ReplayClock, WallClock
from live.config import Config, ConfigError, load_config
from live.engine import Engine
from live.execution.dryrun import DryRunBroker
from live.journal import Journal, JournalInUseError, open_for
from live.logs import log_event, register_secret, run_start, set_clock, setup_logging
from live.openalgo import Feed, FeedState, OpenAlgoBroker, Timeouts
from live.paper import PaperBook, PaperBroker
from live.preflight import StartupError, check
from live.ratelimit import RateLimits
from live.reports import reports_base, write_reports
from live.shutdown import Shutdown, left_behind, stand_down
from live.shutdown import report as stop_report
from live.status import StatusWriter
from live.strategy import Registry
from live.summary import render, summarize

DESCRIPTION = """\
Runs one trading session of the configured strategy (strategy.name:
reversal_8020 by default, or orb) through OpenAlgo.
The default config.yaml runs against the embedded simulator (no broker
account needed); set broker.kind: openalgo, host, ws_url and export the API
key named by broker.api_key_env to trade live."""


@dataclass
class Connection:
    host: str
    ws_url: str
    api_key: str
    server: object | None = None  # the embedded simulator's server, when used
    sim: object | None = None


COMMANDS = """\
other commands (each with --help):
  python live_8020.py status [--watch] [--json]   positions, orders and P&L, live or after the run
  python live_8020.py report [--date YYYY-MM-DD]  data_dir/reports/<date>/ from the journal
  python -m live.logs tail [--level WARNING]      the JSON-lines log, readable

Ctrl-C or SIGTERM stops cleanly (entries cancelled, positions left to their
stop-loss or, with --flatten-on-exit, closed); a second Ctrl-C exits at once."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python live_8020.py",
        description=DESCRIPTION,
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--config", default="config.yaml", metavar="PATH", help="YAML config (default: config.yaml)"
    )
    ap.add_argument("--dry-run", action="store_true", help="decide and log, place no orders")
    ap.add_argument("--quiet", action="store_true", help="no progress lines, summary only")
    ap.add_argument(
        "--flatten-on-exit",
        action="store_true",
        default=None,
        help="on Ctrl-C / SIGTERM close open positions at market (default: leave them "
        "protected by their working stop-loss; config shutdown.flatten_on_exit)",
    )
    return ap.parse_args(argv)


def make_clock(cfg: Config) -> Clock:
    if cfg.clock.start is not None:
        if cfg.clock.anchor is not None:
            return ReplayClock(cfg.clock.start, speed=cfg.clock.speed, anchor=cfg.clock.anchor)
        return ReplayClock(cfg.clock.start, speed=cfg.clock.speed, held=True)
    return WallClock()


def connect(cfg: Config, clock: Clock) -> Connection:
    """For ``sim``: start the embedded simulator on loopback; for
    ``openalgo``: the configured server. Either way, host + ws + key."""
    if cfg.broker.kind != "sim":
        key = cfg.api_key()
        return Connection(cfg.broker.host, cfg.broker.ws_url, key)
    from live.sim.day import SimDay
    from live.sim.models import EngineConfig
    from live.sim.server import SimServer
    from live.sim.simulator import Simulator

    session = market_session(cfg)
    day = clock.now().date()
    if not session.is_trading_day(day):
        raise ConfigError(
            f"clock.start: {day} is not a trading day; pick a weekday that is not a holiday"
        )
    scenarios = dict(cfg.sim.scenarios)
    symbols = {k: scenarios.get(k, "random") for k in cfg.symbols}
    sim_day = SimDay.generate(day, symbols, seed=cfg.sim.seed, session=session)
    sim = Simulator(sim_day, clock=clock, config=EngineConfig(opening_cash=cfg.sim.cash))
    key = cfg.api_key()
    server = SimServer(sim, api_key=key, http_port=0, ws_port=0).start()
    return Connection(server.http_url, server.ws_url, key, server=server, sim=sim)


def run(
    cfg: Config,
    registry: Registry,
    *,
    dry_run: bool = False,
    quiet: bool = False,
    out=sys.stdout,
    clock: Clock | None = None,
    conn: Connection | None = None,
    shutdown: Shutdown | None = None,
    flatten_on_exit: bool | None = None,
) -> Engine:
    """One session, start to summary. Tests pass their own clock and an
    already started simulator (with a fault plan) as ``conn``. With
    ``shutdown`` (signal handling installed by ``main``) a SIGINT/SIGTERM
    ends the session early with a stand-down."""
    shutdown = shutdown or Shutdown()
    flatten = cfg.shutdown.flatten_on_exit if flatten_on_exit is None else flatten_on_exit
    clock = clock or make_clock(cfg)
    if isinstance(clock, ReplayClock):
        set_clock(clock)  # log lines in market time (wall time beside it)
    owns_server = conn is None
    conn = conn or connect(cfg, clock)
    register_secret(conn.api_key)
    speed = getattr(clock, "speed", 1.0)
    broker = OpenAlgoBroker(
        conn.host,
        conn.api_key,
        strategy=cfg.strategy.tag,
        clock=clock,
        timeouts=Timeouts(
            connect=cfg.broker.timeout_seconds,
            read=cfg.broker.timeout_seconds,
            order=cfg.broker.timeout_seconds,
        ),
        tick_sizes=dict(cfg.tick_sizes),
        rate_limits=RateLimits(orders=cfg.broker.order_rate),
    )
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    session = broker_calendar(broker, market_session(cfg), clock.now().date())
    paper = _paper_broker(cfg, broker, clock, session, out)
    orders = paper or broker
    # A dry run keeps its own journal: its attempt claims and DRY- orders
    # must never be restored by a live run of the same day; paper trading
    # too (its world is its in-process book). A journal of another broker
    # world (yesterday's simulator, another account) is moved aside, never
    # applied.
    world = orders.world()
    run_start(cfg, world, dry_run=dry_run)
    try:
        opened = open_for(
            cfg.journal_path(dry_run=dry_run),
            world,
            today=clock.now().date(),
        )
    except BaseException as exc:
        broker.close()
        if conn.server is not None and owns_server:
            conn.server.stop()
        raise _journal_mistake(exc) or exc from None
    journal = opened.journal
    if opened.message:
        log_event("JOURNAL", message=opened.message)
        print(opened.message, file=out)
    trading = DryRunBroker(orders) if dry_run else orders
    strategy = registry.get(cfg.strategy.name)
    engine = Engine(cfg, trading, clock, strategy, journal=journal, session=session)
    feed = None
    status = None
    try:
        # One startup sequence: the feed streams first (ticks build the
        # session's bars while the day's plan is read - paced history
        # calls, a minute for 2,000 symbols), then the plan, warm-up and
        # recovery (Engine.prepare), then the executors run. A held replay
        # clock waits for all of it (_start_the_replay).
        feed = Feed(
            conn.ws_url,
            conn.api_key,
            list(cfg.symbols),
            on_tick=_tick_sink(engine, paper),
            # Paper: the account's own order updates are not ours to follow.
            on_order_update=engine.on_order_update if paper is None else None,
            order_updates=paper is None,
            on_reconnect=engine.on_reconnect,
            clock=clock,
            is_market_open=engine.session.is_open,
            # The feed measures silence on the session clock: N wall seconds.
            stale_after=cfg.feed_stale_seconds * speed,
            subscribe_form=cfg.broker.subscribe_mode,
        )
        engine.feed = feed
        feed.start()
        engine.prepare()
        # From here on only the symbols that trade today stream (the 80-20
        # trades a few percent of them).
        feed.narrow(engine.states)
        # Timers run on the wall: the broker's rate limits are per wall second.
        engine.poller.interval = max(cfg.poll_seconds / speed, 0.25)
        if paper is not None:
            paper.on_order_update(engine.on_order_update)
        engine.start()
        # The scale work adds per-symbol fields (queue depth, tick age) here.
        status = StatusWriter(engine, cfg.data_dir, interval=cfg.status_seconds,
                              extra=getattr(engine, "status_extra", None)).start()  # fmt: skip
        shutdown.last_snapshot = lambda: status.last
        _start_the_replay(clock, feed)
        _wait_for_close(engine, clock, speed, quiet, out, shutdown.requested)
        if shutdown.requested.is_set():
            engine.stopped_cleanly = stand_down(
                engine, flatten=flatten, timeout=cfg.shutdown.timeout_seconds
            )
            print(stop_report(left_behind(engine), ok=engine.stopped_cleanly, flatten=flatten),
                  file=out)  # fmt: skip
    finally:
        if feed is not None:
            feed.stop()
        engine.stop()
        if engine.poller is not None:
            engine.poller.run_once()  # final reconcile for the summary
        if status is not None:
            status.stop("stopped")
        _engine_stopped(engine, shutdown)  # before the broker closes: it sends the alert
        max_bare = _max_unprotected(paper.book if paper is not None else conn.sim, engine)
        if conn.server is not None and owns_server:
            conn.server.stop()
        broker.close()
        journal.close()
    engine.summary = summarize(engine, max_bare, dry_run=dry_run, paper=paper is not None)
    text = render(engine.summary)
    print(text, file=out)
    if not dry_run:  # a dry run has no fills; its reports would overwrite the day's real ones
        _write_reports(cfg, opened.journal.path, clock.now().date(), text, out)
    return engine


def _engine_stopped(engine: Engine, shutdown: Shutdown) -> None:
    """The last alert of a run: why it stopped, its P&L, what it still holds."""
    if shutdown.requested.is_set():
        why = shutdown.name + ("" if engine.stopped_cleanly else ", stand-down did not finish")
    else:
        why = "session over"
    views = [s.view() for s in engine.states.values()]
    pnl = sum((v.realized_pnl for v in views), Decimal(0)).quantize(Decimal("0.01"))
    held = [f"{v.symbol} {v.position_qty}" for v in views if v.position_qty]
    log_event("ENGINE_STOPPED", reason=why, realized_pnl=pnl, positions=held)
    text = f"engine stopped ({why}): realized P&L {pnl}; " + (
        f"still holding {', '.join(held)}" if held else "flat"
    )
    engine.alerts.send("engine_stopped", text)
    engine.alerts.close(timeout=5.0)


def _write_reports(cfg: Config, journal_path: Path, day, session: str, out) -> None:
    """The day's reports from the journal; a failure is logged, never fatal."""
    try:
        with Journal(journal_path) as j:
            base = reports_base(cfg.data_dir, cfg.broker.kind)
            folder = write_reports(j, day, base, cfg.charges, session)
    except Exception as exc:  # noqa: BLE001 - the session is over; keep its exit status
        log_event("REPORTS_FAILED", level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")
        print(f"Reports could not be written: {exc}", file=out)
        return
    log_event("REPORTS_WRITTEN", folder=folder)
    print(f"Reports: {folder}", file=out)


def _paper_broker(cfg: Config, real: OpenAlgoBroker, clock: Clock, session, out):
    """``broker.kind: paper``: a paper book on the real feed's prices."""
    if cfg.broker.kind != "paper":
        return None
    book = PaperBook(clock=clock, funds=cfg.paper.funds, margin_rate=cfg.strategy.margin_rate,
                     session=session)  # fmt: skip
    log_event("PAPER", book=book.book_id, funds=cfg.paper.funds, prices=real.host)
    print(
        f"paper trading: prices from {real.host}, orders matched in paper book "
        f"{book.book_id[:8]} with funds {cfg.paper.funds}; nothing is sent to the broker",
        file=out,
    )
    return PaperBroker(real, book)


def _tick_sink(engine: Engine, paper: PaperBroker | None):
    """Feed ticks to the engine; in paper mode the paper book sees each
    tick first, as the exchange matches before the tick is published."""
    if paper is None:
        return lambda t: engine.on_tick(t.key, t.ltp, t.ts)

    def sink(t) -> None:
        paper.on_tick(t.key, t.ltp, t.ts)
        engine.on_tick(t.key, t.ltp, t.ts)

    return sink


def _journal_mistake(exc: BaseException) -> StartupError | None:
    """A journal the user must deal with (in use by another engine, written
    by a newer version) as one line; anything else stays an error."""
    if isinstance(exc, JournalInUseError) or (
        isinstance(exc, ValueError) and str(exc).startswith("journal ")
    ):
        return StartupError(str(exc))
    return None


def _start_the_replay(clock: Clock, feed: Feed, timeout: float = 10.0) -> None:
    """A held replay clock starts once the feed streams (or after ``timeout``)."""
    release = getattr(clock, "release", None)
    if release is None:
        return
    deadline = time.monotonic() + timeout
    while feed.state is not FeedState.LIVE and time.monotonic() < deadline:
        time.sleep(0.02)
    release()


def _wait_for_close(
    engine: Engine, clock: Clock, speed: float, quiet: bool, out, stop: threading.Event
) -> None:
    session = engine.session
    close = session.close_at(clock.now().date())
    last = 0.0
    while True:
        now = clock.now()
        if engine.finished() or now >= close + timedelta(minutes=1) or stop.is_set():
            return
        if time.monotonic() - last >= 2.0:
            last = time.monotonic()
            engine.supervise()
            if not quiet:
                print(_progress(engine, now), file=out, flush=True)
        stop.wait(min(0.2, max(0.01, 1.0 / speed)))


def _progress(engine: Engine, now: datetime) -> str:
    views = [s.view() for s in engine.states.values()]
    holding = sum(1 for v in views if v.position_qty)
    pnl = sum((v.realized_pnl for v in views), start=0)
    entries = sum(v.entries_today for v in views)
    return (
        f"{now:%H:%M:%S} IST  ticks {engine.ticks_seen:>6}  entries {entries:>2}  "
        f"open positions {holding}  realized P&L {pnl:.2f}"
    )


def _max_unprotected(book, engine: Engine) -> timedelta | None:
    """From the book that holds our orders (the simulator's or the paper
    book), when this process can see it."""
    if book is None:
        return None
    truth = book.truth
    worst = timedelta(0)
    for key in engine.states:
        worst = max(worst, truth.max_unprotected(key.split(":")[1]))
    return worst


def main(registry: Registry, argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["status"]:
        from live import status

        return status.main(argv[1:])
    if argv[:1] == ["report"]:
        from live import reports

        return reports.main(argv[1:])
    args = parse_args(argv)
    try:
        cfg = load_config(Path(args.config), registry)
        clock = make_clock(cfg)
        # Before anything is written or started: a mistake is one line.
        check(cfg, clock, dry_run=args.dry_run)
        setup_logging(cfg.data_dir, console_level="WARNING", rotate=cfg.logs.rotate_daily,
                      keep=cfg.logs.keep_days)  # fmt: skip
        shutdown = Shutdown().install()
        engine = run(cfg, registry, dry_run=args.dry_run, quiet=args.quiet, shutdown=shutdown,
                     flatten_on_exit=args.flatten_on_exit, clock=clock)  # fmt: skip
        if shutdown.requested.is_set() and not engine.stopped_cleanly:
            return shutdown.exit_code
        return 0
    except ConfigError as exc:
        for line in exc.problems:
            print(f"live_8020: {line}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"live_8020: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log_event("INTERRUPTED")
        return 130
