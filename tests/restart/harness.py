"""A broker that keeps its state while engines come and go, over real sockets.

``BrokerWorld`` is the embedded simulator served on loopback (REST +
WebSocket) with its own replay clock: it keeps every order, fill and
position for the whole test, the way a real OpenAlgo server does while the
trader's engine crashes and restarts. ``EngineRun`` is one engine process's
worth of parts wired as ``live.app.run`` wires them (OpenAlgo adapter,
journal opened for the broker's world, engine, feed, poller). ``crash()``
drops it without any shutdown step - no cancel, no final reconcile, the
journal connection just gone - as a killed process would. ``trader`` is the
trader's own terminal: another client of the same broker placing orders by
hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live.broker import Action, OrderRequest, PriceType, Product
from live.calendar import market_session
from live.clock import ReplayClock
from live.config import parse_config
from live.engine import Engine
from live.journal import open_for
from live.openalgo import Feed, OpenAlgoBroker
from live.sim import SimServer, Simulator
from strategies import REGISTRY
from tests.integration.harness import API_KEY, EventLog, _install, _uninstall, at, build_day


class BrokerWorld:
    def __init__(self, mix: dict[str, str], seed: int, *, start: str = "09:54", speed: float = 300):
        self.mix, self.speed = mix, speed
        self.day = build_day(mix, seed)
        self.clock = ReplayClock(at(start), speed=speed)
        self.sim = Simulator(self.day, clock=self.clock)
        self.server = SimServer(self.sim, api_key=API_KEY, http_port=0, ws_port=0).start()
        self.trader = OpenAlgoBroker(self.server.http_url, API_KEY, strategy="manual",
                                     clock=self.clock)  # fmt: skip
        self.log = EventLog(self.clock)
        self._saved = _install(self.log)

    @property
    def truth(self):
        return self.sim.truth

    def manual(self, symbol: str, action: Action, qty: int, product: Product = Product.MIS) -> str:
        """The trader, at the terminal: a market order of their own."""
        return self.trader.place_order(
            OrderRequest(symbol, "NSE", action, qty, PriceType.MARKET, product, strategy="manual")
        )

    def wait(self, done: Callable[[], bool], wall: float = 20.0) -> None:
        deadline = time.monotonic() + wall
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting after {wall}s (market {self.clock.now()})")
            time.sleep(0.01)

    def close(self) -> None:
        _uninstall(self.log, self._saved)
        self.trader.close()
        self.server.stop()


class EngineRun:
    def __init__(
        self,
        world: BrokerWorld,
        data_dir: Path,
        *,
        before_start: Callable[[EngineRun], None] | None = None,
        **overrides: Any,
    ):
        self.world = world
        strategy = {"quantity": 10, "max_attempts": 2, **overrides.pop("strategy", {})}
        raw = {
            "symbols": list(world.mix),
            "data_dir": str(data_dir),
            "strategy": strategy,
            "session": {"exit_cutoff": "10:30", "entry_end": "10:30"},
            **overrides,
        }
        cfg = self.cfg = parse_config(raw, REGISTRY)
        clock = world.clock
        self.broker = OpenAlgoBroker(world.server.http_url, API_KEY, strategy=cfg.strategy.tag,
                                     clock=clock)  # fmt: skip
        data_dir.mkdir(parents=True, exist_ok=True)
        opened = open_for(data_dir / "journal.db", self.broker.world(), today=clock.now().date())
        self.journal = opened.journal
        e = self.engine = Engine(cfg, self.broker, clock, REGISTRY.get(cfg.strategy.name),
                                 journal=self.journal, session=market_session(cfg))  # fmt: skip
        self.feed = Feed(
            world.server.ws_url,
            API_KEY,
            list(cfg.symbols),
            on_tick=lambda t: e.on_tick(t.key, t.ltp, t.ts),
            on_order_update=e.on_order_update,
            on_reconnect=e.on_reconnect,
            clock=clock,
            is_market_open=e.session.is_open,
            stale_after=cfg.feed_stale_seconds * world.speed,
        )
        self.feed.start()  # first, as live.app.run starts it
        e.prepare()
        e.poller.interval = max(cfg.poll_seconds / world.speed, 0.25)
        if before_start is not None:
            before_start(self)
        e.start()

    def state(self, key: str = "NSE:SBIN"):
        return self.engine.states[key]

    def crash(self) -> None:
        """Gone at once: nothing cancelled, nothing reconciled or flushed."""
        logging.getLogger("live8020").info("TEST_CRASH")
        self.feed.stop()
        self.engine.poller.stop()
        self.engine.dispatcher.stop(timeout=1)
        self.broker.close()
        self.journal.close()

    def run_to_close(self) -> None:
        """Until the cutoff's square-off is done, then a normal stop."""
        session = self.engine.session
        self.world.wait(
            lambda: (
                self.engine.finished()
                or self.world.clock.now() >= session.close_at(self.world.clock.now().date())
            ),
            wall=60,
        )
        self.feed.stop()
        self.engine.stop()
        self.engine.poller.run_once()
        self.broker.close()
        self.journal.close()
