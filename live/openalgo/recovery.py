"""Finding a placement whose reply was lost, without ever guessing.

Order placement is never retried blindly: OpenAlgo has no client order id,
so after a failure that may have reached the broker (read timeout,
connection reset after sending, 5xx, success without an id) we look in the
orderbook for an order we did not know that matches the request and was
placed after the attempt began: exactly one found -> its id; none, several,
an identical placement in flight on another thread, or an unreadable
orderbook -> ``AmbiguousOrderError``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from live.broker import AmbiguousOrderError, BrokerError, OrderRequest

from .convert import order_update_from_dict

__all__ = ["AmbiguityPolicy", "PlacementRecovery"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AmbiguityPolicy:
    """How hard to look for an order whose placement reply was lost: the
    order may reach the orderbook after our first look (slow broker)."""

    lookups: int = 3
    delay: float = 0.5
    clock_skew: float = 5.0  # seconds of skew tolerated between us and the broker

    def __post_init__(self) -> None:
        if not isinstance(self.lookups, int) or self.lookups < 1:
            raise ValueError(f"ambiguity.lookups: must be an int >= 1, got {self.lookups!r}")
        if self.delay < 0 or self.clock_skew < 0:
            raise ValueError("ambiguity.delay/clock_skew: must be >= 0 seconds")


def _shape(request: OrderRequest) -> tuple:
    return (
        request.exchange,
        request.symbol,
        request.action,
        request.quantity,
        request.price_type,
        request.price,
        request.trigger_price,
    )


class PlacementRecovery:
    """The ids we know and the placements in flight, and the lookup itself.
    Thread-safe; the lock is never held during I/O."""

    def __init__(
        self,
        policy: AmbiguityPolicy,
        *,
        strategy: str,
        orderbook_rows: Callable[[], list],
        sleep: Callable[[float], object],
        count: Callable[[str], None],
    ):
        self.policy = policy
        self.strategy = strategy
        self._orderbook_rows = orderbook_rows
        self._sleep = sleep
        self._count = count
        self._lock = threading.Lock()
        self._known_ids: set[str] = set()
        self._inflight: Counter[tuple] = Counter()

    def remember(self, order_ids: Iterable[str]) -> None:
        with self._lock:
            self._known_ids.update(str(i) for i in order_ids)

    @contextmanager
    def in_flight(self, request: OrderRequest) -> Iterator[None]:
        shape = _shape(request)
        with self._lock:
            self._inflight[shape] += 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight[shape] -= 1
                if not self._inflight[shape]:
                    del self._inflight[shape]

    def find(self, request: OrderRequest, started: datetime, cause: BrokerError) -> str:
        log.warning("ORDER_AMBIGUOUS %s: %s; looking in the orderbook", request.key, cause)
        since = started - timedelta(seconds=self.policy.clock_skew)
        shape = _shape(request)
        last_problem = "no matching order"
        for attempt in range(self.policy.lookups):
            if attempt:
                self._sleep(self.policy.delay)
            try:
                rows = self._orderbook_rows()
            except BrokerError as e:
                last_problem = f"orderbook unreadable: {e}"
                continue
            with self._lock:
                known = set(self._known_ids)
                concurrent = self._inflight[shape] > 1
            found = _matching_orders(rows, request, self.strategy, since, known)
            if concurrent and found:
                # Another thread is placing the same order right now: the
                # match may be theirs. Let it finish (its id becomes known).
                last_problem = "an identical placement is in flight"
                continue
            if len(found) == 1:
                self._count("ambiguous_recovered")
                log.warning(
                    "ORDER_RECOVERED id=%s %s found in the orderbook", found[0], request.key
                )
                return found[0]
            if len(found) > 1:
                last_problem = f"{len(found)} matching orders {found}"
                break
        self._count("ambiguous_unresolved")
        raise AmbiguousOrderError(
            f"placeorder {request.key} {request.action.value} x{request.quantity}: outcome "
            f"unknown ({cause}); {last_problem}; reconcile before placing again",
            code=cause.code,
        ) from cause


def _matching_orders(
    rows: list, request: OrderRequest, strategy: str, since: datetime, known: set[str]
) -> list[str]:
    """Ids of orderbook rows that could be the lost placement."""
    # Brokers that keep the tag show it on our other orders; brokers that
    # overwrite it (Zerodha: "openalgo") show it on none, and then it says nothing.
    keeps_tags = any(isinstance(r, Mapping) and r.get("strategy") == strategy for r in rows)
    found = []
    for i, row in enumerate(rows):
        try:
            u = order_update_from_dict(row, source="orderbook", ctx=f"orderbook[{i}]")
        except ValueError:
            continue
        if u.order_id in known:
            continue
        if keeps_tags and row.get("strategy") != strategy:
            continue
        if (u.symbol.upper(), u.exchange) != (request.symbol.upper(), request.exchange.upper()):
            continue
        if u.action is not request.action or u.quantity != request.quantity:
            continue
        if u.price_type is not request.price_type:
            continue
        if request.price is not None and u.price != request.price:
            continue
        if request.trigger_price is not None and u.trigger_price != request.trigger_price:
            continue
        if u.timestamp is not None and u.timestamp < since:
            continue
        found.append(u.order_id)
    return found
