"""The paper book: our paper orders, matched against live ticks.

It is the simulator's matching engine (live/sim/engine.py: the same rules
for MARKET, LIMIT, SL and SL-M, the same margin and funds arithmetic), fed
with the ticks the real OpenAlgo feed streams instead of a simulated day.
Ticks are put on the instrument's tick grid before they meet the book, so
every fill price is a tick multiple even when a feed sends float noise.

The book lives in this process: ``book_id`` (new on every run) names it,
and the journal it is written to belongs to it alone.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from live.broker import Product
from live.clock import Clock, MarketSession
from live.sim.engine import MatchingEngine
from live.sim.models import EngineConfig, OrderEvent, RequestRecord, SimInstrument
from live.sim.truth import GroundTruth
from live.ticks import Rounding

__all__ = ["PaperBook", "ID_PREFIX"]

ID_PREFIX = "PAPER-"


class PaperBook:
    def __init__(
        self,
        *,
        clock: Clock,
        funds: Decimal,
        margin_rate: Decimal,
        session: MarketSession | None = None,
    ) -> None:
        if not isinstance(funds, Decimal) or not funds.is_finite() or funds <= 0:
            raise ValueError(f"paper.funds: must be a Decimal > 0, got {funds!r}")
        self.book_id = uuid.uuid4().hex
        self.clock = clock
        config = EngineConfig(
            opening_cash=funds,
            # Intraday margin as the executor reserves it, so the engine's
            # buying power and the book's never disagree.
            margin_rates=(
                (Product.MIS, margin_rate),
                (Product.CNC, Decimal(1)),
                (Product.NRML, Decimal(1)),
            ),  # fmt: skip
        )
        self.engine = MatchingEngine(
            (), now=clock.now, config=config, session=session, id_prefix=ID_PREFIX
        )
        self._instruments: dict[str, SimInstrument] = {}  # read per tick, no copy
        self._requests: list[RequestRecord] = []
        self._req_lock = threading.Lock()
        self.ticks_matched = 0

    # --- instruments and ticks -------------------------------------------------------

    def add_instrument(self, inst: SimInstrument) -> None:
        if self.engine.add_instrument(inst):
            self._instruments[inst.key] = inst

    def on_tick(self, key: str, ltp: Decimal, ts: datetime) -> None:
        """One live tick. Symbols the book does not trade are ignored."""
        inst = self._instruments.get(key)
        if inst is None:
            return
        price = inst.tick_table.round(ltp, Rounding.NEAREST)
        if price <= 0:
            return
        self.engine.on_tick(key, price, ts)
        self.ticks_matched += 1

    def on_order_event(self, cb: Callable[[OrderEvent], None]) -> None:
        self.engine.add_listener(cb)

    # --- the record the ground-truth queries read ---------------------------------------

    def record_request(self, endpoint: str, payload: dict, status: int, reply=None) -> None:
        with self._req_lock:
            self._requests.append(
                RequestRecord(
                    seq=len(self._requests) + 1,
                    ts=self.clock.now(),
                    endpoint=endpoint,
                    payload=dict(payload),
                    status=status,
                    reply=dict(reply or {}),
                )
            )

    def request_log(self) -> list[RequestRecord]:
        with self._req_lock:
            return list(self._requests)

    @property
    def truth(self) -> GroundTruth:
        """The same questions the simulator answers (orders, trades,
        unprotected intervals, off-grid prices), about the paper book."""
        return GroundTruth(self)
