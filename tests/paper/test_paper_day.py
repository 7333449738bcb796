"""Paper trading on live prices, over real sockets: an upstream simulator
(live/sim in its own server, standing in for a real OpenAlgo server)
streams a trading day's ticks over its WebSocket; the engine, with
``broker.kind: paper``, trades against its own paper book fed by those
ticks. Judged from the paper book's side with the same safety checks as a
live run (P1, P2, P3, P7, P9), and from the upstream server's side: it
recorded every REST path it received and never saw an order call."""

from __future__ import annotations

import hashlib
import io
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml

from live import logs
from live.app import Connection, run
from live.clock import ReplayClock
from live.config import parse_config
from live.execution import Phase
from live.journal import Journal, World, open_for
from live.paper import ID_PREFIX
from live.reports import main as report_main
from live.sim import FaultPlan, SimServer, Simulator, WsDrop
from strategies import REGISTRY
from tests.integration.harness import (
    API_KEY,
    CLEAN_MIX,
    CLEAN_SEED,
    DAY,
    EventLog,
    Session,
    assert_safe,
    at,
    broker_pnl,
    build_day,
    entry_orders,
    entry_time,
    sym,
)

ORDER_ENDPOINTS = {"placeorder", "modifyorder", "cancelorder", "placesmartorder",
                   "closeposition", "cancelallorder", "basketorder", "splitorder"}  # fmt: skip
# What paper trading may ask the real server: market data and the calendar.
MARKET_DATA = {"symbol", "quotes", "history", "market/holidays", "market/timings"}
FUNDS = Decimal("250000.00")
CUTOFF = "10:20"


@pytest.fixture
def paper_day(tmp_path):
    servers: list[SimServer] = []
    logs.clear_secrets()

    def start(speed: float = 400, before=None, faults=(), dry_run=False, **config):
        day = build_day(CLEAN_MIX, CLEAN_SEED)
        clock = ReplayClock(at("09:14"), speed=speed)
        upstream = Simulator(day, clock=clock, faults=FaultPlan(tuple(faults)))
        server = SimServer(upstream, api_key=API_KEY, http_port=0, ws_port=0).start()
        servers.append(server)
        data_dir = tmp_path / "data"
        if before is not None:
            before(data_dir, server)
        raw = {
            "broker": {"kind": "paper", "host": server.http_url, "ws_url": server.ws_url},
            "paper": {"funds": str(FUNDS)},
            "symbols": list(CLEAN_MIX),
            "data_dir": str(data_dir),
            "strategy": {"quantity": 10, "max_attempts": 2},
            "session": {"exit_cutoff": CUTOFF, "entry_end": CUTOFF},
            **config,
        }
        cfg = parse_config(raw, REGISTRY)
        out = io.StringIO()
        t0 = time.monotonic()
        engine = run(cfg, REGISTRY, clock=clock, quiet=True, out=out, dry_run=dry_run,
                     conn=Connection(server.http_url, server.ws_url, API_KEY))  # fmt: skip
        session = Session(
            engine=engine,
            # The paper book holds our orders (a dry run wraps the paper broker).
            sim=(engine.broker.real if dry_run else engine.broker).book,
            server=server,
            clock=clock,
            cfg=cfg,
            log=EventLog(clock),
            output=out.getvalue(),
            data_dir=data_dir,
            wall_seconds=time.monotonic() - t0,
            speed=speed,
            cutoff=at(CUTOFF),
            journal_name="paper-journal.db",
        )
        return session, upstream

    yield start
    for srv in servers:
        srv.stop()
    logs.teardown_logging()
    logs.clear_secrets()


@pytest.mark.timeout(90)
def squareoff_bound(s: Session) -> timedelta:
    """The live runs' bound for the cutoff's square-off (tests/integration:
    one poll cycle plus one 1.1 s order-rate window of wall time, in market
    time): the paper book answers at once, but the wall time between the
    stop's cancel and the market exit is the same engine's, loaded or not."""
    return s.poll_cycle + timedelta(seconds=1.1 * s.speed)


def live_journal(data_dir, server):
    """The live account's journal at the same host, as a live run left it."""
    data_dir.mkdir(parents=True)
    world = World.openalgo(server.http_url, broker="zerodha", user_id="AB1234")
    open_for(data_dir / "journal.db", world, today=DAY).journal.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_paper_day_trades_on_live_ticks_and_sends_no_order(paper_day):
    before: dict[str, str] = {}

    def keep_live_journal(data_dir, server):
        live_journal(data_dir, server)
        before["journal.db"] = digest(data_dir / "journal.db")

    s, upstream = paper_day(before=keep_live_journal)
    book = s.sim

    # Trades happened on the live ticks, in the paper book.
    views = {k: st.view() for k, st in s.engine.states.items()}
    assert set(views) == {"NSE:SBIN", "NSE:INFY", "NSE:TCS"}, s.output
    assert views["NSE:INFY"].entries_today == 2, views  # stopped out and re-entered
    assert book.truth.trades() and book.ticks_matched > 1000, book.ticks_matched
    for key, v in views.items():
        entries = entry_orders(s, key)
        assert entries and all(o.filled_quantity == 10 for o in entries), (key, entries)
        assert all(o.order_id.startswith(ID_PREFIX) for o in book.truth.orders(sym(key)))
        assert v.realized_pnl == broker_pnl(s, key), (key, v.realized_pnl, broker_pnl(s, key))
        assert v.phase is Phase.DONE and v.position_qty == 0, (key, v)
    # Every fill protected by a stop within a poll cycle, no duplicate entry,
    # on-grid prices, flat by the cutoff, every order journaled (the paper journal).
    assert_safe(s, squareoff_bound=squareoff_bound(s))
    inst = {k: book.engine.instrument(k) for k in views}
    assert all(inst[t.key].on_grid(t.price) for t in book.truth.trades()), book.truth.trades()
    # Fills came from the upstream's prices: every fill price is a price it streamed
    # (or, for a resting limit, the limit the tick traded through).
    streamed = {(t.key, t.ltp) for k in views for t in upstream.day.symbol(k).ticks}
    assert all((t.key, t.price) in streamed for t in book.truth.trades()), book.truth.trades()

    # The upstream server saw market data only: no order call ever reached it.
    seen = {r.endpoint for r in upstream.truth.requests()}
    assert seen & ORDER_ENDPOINTS == set(), seen
    assert seen <= MARKET_DATA, seen
    assert {"symbol", "quotes"} <= seen
    assert upstream.engine.orders() == [] and upstream.engine.positions() == []
    # Nor did it stream the account's own order updates to us: none subscribed.
    assert s.server.stats["ws_connections"] >= 1
    assert s.server.stats["order_subscriptions"] == 0

    # Own funds: the paper book opened with paper.funds and holds the day's P&L.
    realized = sum((v.realized_pnl for v in views.values()), Decimal(0))
    funds = book.engine.funds()
    assert funds.available_cash == FUNDS + realized and funds.utilised == 0, (funds, realized)

    # Own journal, its own world: the live account's journal.db untouched
    # (not a byte changed, not moved aside), every paper order in paper-journal.db.
    assert digest(s.data_dir / "journal.db") == before["journal.db"]
    assert sorted(p.name for p in s.data_dir.glob("*journal*.db")) == [
        "journal.db", "paper-journal.db"
    ]  # fmt: skip
    with Journal(s.data_dir / "paper-journal.db") as j:
        world = j.world()
        ids = {o.order_id for o in j.orders()}
    assert world.kind == "paper" and world.identity == book.book_id
    assert ids == {o.order_id for o in book.truth.orders()}, ids
    assert "paper trading: prices from" in s.output
    assert "Session summary (paper trading)" in s.output
    assert "Orders placed in the paper book:" in s.output
    # Its reports beside the live ones, never over them; `report` regenerates
    # them from the paper journal, given the paper config.
    folder = s.data_dir / "paper" / "reports" / "2026-11-20"
    written = (folder / "trades.csv").read_text()
    assert written.count("\n") - 1 == len(book.truth.trades()) // 2, written  # round trips
    assert not (s.data_dir / "reports").exists()
    (folder / "trades.csv").unlink()
    cfg_file = s.data_dir.parent / "paper.yaml"
    raw = {"broker": {"kind": "paper"}, "symbols": list(CLEAN_MIX), "data_dir": str(s.data_dir)}
    cfg_file.write_text(yaml.safe_dump(raw))
    assert report_main(["--config", str(cfg_file)]) == 0
    assert (folder / "trades.csv").read_text() == written
    assert not (s.data_dir / "reports").exists()


@pytest.mark.timeout(90)
def test_a_feed_drop_while_holding_pauses_paper_fills_and_nothing_is_left_bare(paper_day):
    # The paper book sees only the ticks the feed delivers: while the feed is
    # down nothing fills; after the reconnect the book matches again and the
    # engine (its poller reading the paper book meanwhile) keeps every
    # position covered.
    drop = entry_time(build_day(CLEAN_MIX, CLEAN_SEED), "NSE:SBIN") + timedelta(minutes=1)
    s, upstream = paper_day(faults=[WsDrop(at=drop.time(), abort=True)])
    book = s.sim
    assert s.server.stats["ws_dropped"] == 1 and s.engine.feed.counters().reconnects >= 1
    held = [e.position_after for e in book.truth.events(symbol="SBIN") if e.ts <= drop]
    assert held and held[-1] != 0, "the drop came while SBIN was held"
    fills_after = [t for t in book.truth.trades() if t.ts > drop]
    assert fills_after, "the paper book kept matching after the reconnect"
    assert_safe(s, squareoff_bound=squareoff_bound(s))
    assert {r.endpoint for r in upstream.truth.requests()} & ORDER_ENDPOINTS == set()
    assert all(o.order_id.startswith(ID_PREFIX) for o in book.truth.orders())


@pytest.mark.timeout(90)
def test_a_dry_run_on_paper_decides_and_places_nothing_even_on_paper(paper_day):
    s, upstream = paper_day(dry_run=True)
    book = s.sim
    placed = s.engine.broker.placed  # what the run would have sent
    assert placed, "the strategy decided to enter"
    assert book.engine.orders() == [] and book.truth.trades() == []
    assert upstream.engine.orders() == []
    assert {r.endpoint for r in upstream.truth.requests()} <= MARKET_DATA
    assert sorted(p.name for p in s.data_dir.glob("*journal*.db")) == ["dryrun-journal.db"]
    assert "Dry run: would have placed" in s.output
