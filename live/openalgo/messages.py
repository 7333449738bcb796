"""What arrives on OpenAlgo's WebSocket, read: ticks and order updates.

``Inbox.read`` takes one decoded message and returns what the engine should
hear about: a ``Tick``, an ``OrderUpdate`` that is news, or nothing (an ack,
a duplicate or stale update, a message it cannot read). It never raises:
a message it cannot read is dropped, logged with the field named and
counted, so one bad message can never end the feed thread.

Order updates have no sequence numbers; the server repeats and reorders
them. Whether one is news is decided by the project's one ordering rule
(``live.orders``), the same rule every other holder of order state uses: a
repeat of the state already delivered is a *duplicate*, an older state is
*stale*, and neither is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from live.broker import OrderUpdate
from live.orders import Known, advance, is_news, is_older

from .convert import epoch_to_ist, order_update_from_dict, parse_decimal

__all__ = ["Inbox", "Tick", "is_error", "parse_tick"]

log = logging.getLogger(__name__)

_ACK_TYPES = frozenset({"auth", "subscribe", "subscribe_orders", "unsubscribe", "pong"})


@dataclass(frozen=True)
class Tick:
    key: str  # "EXCHANGE:SYMBOL"
    ltp: Decimal
    ts: datetime  # aware IST

    @property
    def symbol(self) -> str:
        return self.key.partition(":")[2]

    @property
    def exchange(self) -> str:
        return self.key.partition(":")[0]


def is_error(msg: dict) -> bool:
    """Server errors come with no ``type`` field."""
    return "type" not in msg and str(msg.get("status", "")).lower() == "error"


def parse_tick(msg: Any, known: frozenset[str] | set[str], now: datetime) -> Tick:
    """A ``market_data`` message -> Tick, or ValueError naming what is wrong.
    A missing exchange timestamp falls back to ``now`` (receive time), as
    some adapters omit it; a present but bad one is an error."""
    if not isinstance(msg, dict):
        raise ValueError(f"market_data: expected an object, got {type(msg).__name__}")
    symbol, exchange = msg.get("symbol"), msg.get("exchange")
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValueError("market_data.symbol: missing")
    if not isinstance(exchange, str) or not exchange.strip():
        raise ValueError("market_data.exchange: missing")
    key = _key_of(msg)
    if key not in known:
        raise ValueError(f"market_data.symbol: {key[:60]!r} is not a subscribed symbol")
    data = msg.get("data")
    if not isinstance(data, dict):
        raise ValueError(f"market_data.data: missing for {key}")
    ltp = parse_decimal(data.get("ltp"), "ltp", ctx="market_data.data")
    if ltp <= 0:
        raise ValueError(f"market_data.data.ltp: {ltp} must be > 0 ({key})")
    raw_ts = data.get("timestamp")
    if raw_ts is None or (isinstance(raw_ts, str) and not raw_ts.strip()):
        ts = now
    else:  # milliseconds, tolerating seconds
        ts = epoch_to_ist(raw_ts, "timestamp", ctx="market_data.data")
    return Tick(key=key, ltp=ltp, ts=ts)


def _key_of(msg: dict) -> str | None:
    """A market_data message's "EXCHANGE:SYMBOL" (None without both names)."""
    sym, ex = msg.get("symbol"), msg.get("exchange")
    if isinstance(sym, str) and isinstance(ex, str):
        return f"{ex.strip().upper()}:{sym.strip().upper()}"
    return None


class Inbox:
    """The reading side of one feed; used by the feed thread only.
    ``count`` is the feed's (thread-safe) counter."""

    def __init__(self, known: frozenset[str], count: Callable[[str], None]):
        self._known = known
        self._count = count
        self._orders: dict[str, Known] = {}
        # The tick fast path (thousands a second): a subscribed symbol's key
        # by its raw (symbol, exchange), each symbol's last raw LTP with its
        # Decimal (an unchanged price is not converted again), and the last
        # raw timestamp with its datetime (a batch of ticks shares one).
        self._keys: dict[tuple[str, str], str] = {}
        self._ltp: dict[str, tuple[Any, Decimal]] = {}
        self._ts: tuple[Any, datetime | None] = (None, None)
        self._retired: frozenset[str] = frozenset()  # unsubscribed: ticks in flight ignored
        self.ticks = 0  # read by the feed's counters (this thread writes it)

    def narrow(self, keep: frozenset[str]) -> None:
        """Read ticks of ``keep`` only. Ticks of the others still in flight
        after their unsubscribe are ignored quietly, not counted as malformed."""
        self._retired = self._retired | (self._known - keep)
        self._known = keep
        self._keys = {raw: key for raw, key in self._keys.items() if key in keep}

    def drop(self, why: str) -> None:
        self._count("dropped_malformed")
        log.warning("FEED_DROPPED %s", why)

    def read(self, msg: Any, now: datetime) -> Tick | OrderUpdate | None:
        if not isinstance(msg, dict):
            return self.drop(f"not a JSON object: {type(msg).__name__}")
        kind = msg.get("type")
        if kind is not None and not isinstance(kind, str):
            return self.drop(f"type: expected text, got {type(kind).__name__}")
        if kind == "market_data":
            tick = self._fast_tick(msg)
            if tick is None:
                try:
                    tick = parse_tick(msg, self._known, now)
                except ValueError as e:
                    if self._retired and _key_of(msg) in self._retired:
                        return None
                    return self.drop(str(e))
                sym, ex = msg["symbol"], msg["exchange"]
                self._keys[(sym, ex)] = tick.key
            self.ticks += 1
            return tick
        if kind == "order_update":
            try:
                update = order_update_from_dict(msg, source="ws")
            except ValueError as e:
                return self.drop(str(e))
            return update if self._is_news(update) else None
        if is_error(msg):
            log.warning("FEED_ERROR %.40s %.200s", msg.get("code"), msg.get("message"))
        elif kind not in _ACK_TYPES:
            log.debug("FEED_IGNORED message type %.40r", kind)
        return None

    def _fast_tick(self, msg: dict) -> Tick | None:
        """A well-formed tick of a symbol seen before, read with the caches;
        None for anything else (``parse_tick`` then reads it, or names what
        is wrong with it)."""
        sym, ex, data = msg.get("symbol"), msg.get("exchange"), msg.get("data")
        if type(sym) is not str or type(ex) is not str or type(data) is not dict:
            return None
        key = self._keys.get((sym, ex))
        if key is None:
            return None
        raw = data.get("ltp")
        last = self._ltp.get(key)
        if last is not None and type(raw) is type(last[0]) and raw == last[0]:
            ltp = last[1]
        else:
            try:
                ltp = parse_decimal(raw, "ltp", ctx="market_data.data")
            except ValueError:
                return None
            if ltp <= 0:
                return None
            self._ltp[key] = (raw, ltp)
        raw_ts = data.get("timestamp")
        seen, ts = self._ts
        if ts is None or type(raw_ts) is not type(seen) or raw_ts != seen:
            if type(raw_ts) is not int:
                return None  # absent, text, seconds as float: the full reading
            try:
                ts = epoch_to_ist(raw_ts, "timestamp", ctx="market_data.data")
            except ValueError:
                return None
            self._ts = (raw_ts, ts)
        return Tick(key, ltp, ts)

    def _is_news(self, u: OrderUpdate) -> bool:
        known = self._orders.get(u.order_id)
        if is_news(u, known):
            self._orders[u.order_id] = advance(u, known)
            self._count("order_updates")
            return True
        if known is not None and is_older(u, known):
            self._count("stale_updates")
            log.info(
                "FEED_STALE_UPDATE %s %s/%s after %s/%d",
                u.order_id,
                u.status.value,
                u.filled_quantity,
                known.status.value,
                known.filled,
            )
        else:
            self._count("duplicate_updates")
        return False
