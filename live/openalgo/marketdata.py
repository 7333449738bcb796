"""OpenAlgo's market-data, instrument and calendar reads, for the broker.

Quotes (one symbol, or the day's range of many in one ``multiquotes``
call), history (daily and intraday bars), the instrument master (one call
per exchange, or ``symbol`` per symbol) with a sanity-checked tick size, and
the exchange calendar. Nothing here places, changes or reads orders: that is
``broker``'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

from live.broker import Bar, BrokerError, Instrument, InvalidRequest, Quote, split_key

from .convert import (
    Candle,
    bar_from_dict,
    candle_from_dict,
    parse_decimal,
    parse_int,
    parse_timestamp,
    sane_tick_size,
)
from .replies import as_list, convert, show_error
from .transport import Transport

__all__ = ["MarketData"]

log = logging.getLogger(__name__)


class MarketData:
    """The reads a strategy's plan and warm-up need. Thread-safe; the tick
    caches are guarded by ``_lock``, never held during I/O."""

    def __init__(self, transport: Transport, tick_overrides: Mapping[str, Decimal]):
        self.transport = transport
        self._lock = threading.Lock()
        self._ticks: dict[str, Decimal] = {}
        self._tick_overrides: dict[str, Decimal] = dict(tick_overrides)

    def quote(self, symbol: str, exchange: str) -> Quote:
        reply = self.transport.read("quotes", {"symbol": symbol, "exchange": exchange})
        d = reply.get("data")
        if not isinstance(d, Mapping):
            raise BrokerError("quotes.data: expected an object")
        ltp = convert(parse_decimal, d.get("ltp"), "ltp", ctx="quotes.data")
        extra = {}
        for k in ("open", "high", "low", "prev_close", "bid", "ask"):
            if d.get(k) not in (None, ""):
                extra[k] = convert(parse_decimal, d.get(k), k, ctx="quotes.data")
        return Quote(symbol=symbol, exchange=exchange, ltp=ltp, extra=extra)

    def day_ranges(self, keys: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
        """Today's high and low so far for every ``EXCHANGE:SYMBOL``, in one
        ``multiquotes`` call. A symbol the reply leaves out or garbles is
        simply absent (counted in ``rows_skipped``)."""
        pairs = [split_key(k) for k in keys]
        if not pairs:
            return {}
        reply = self.transport.read(
            "multiquotes", {"symbols": [{"symbol": s, "exchange": e} for s, e in pairs]}
        )
        results = reply.get("results", (reply.get("data") or {}).get("results"))
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for i, row in enumerate(as_list(results or [], "multiquotes.results")):
            ctx = f"multiquotes.results[{i}]"
            try:
                if not isinstance(row, Mapping) or not isinstance(row.get("data"), Mapping):
                    raise ValueError(f"{ctx}: no data ({show_error(row)})")
                d = row["data"]
                key = f"{str(row.get('exchange', '')).upper()}:{str(row.get('symbol', '')).upper()}"
                high = parse_decimal(d.get("high"), "high", ctx=f"{ctx}.data")
                low = parse_decimal(d.get("low"), "low", ctx=f"{ctx}.data")
                if not 0 < low <= high:
                    raise ValueError(f"{ctx}.data: low {low} and high {high} are not a range")
            except ValueError as e:
                self.transport.count("rows_skipped")
                log.warning("ROW_SKIPPED %s", e)
                continue
            out[key] = (high, low)
        return out

    def _history(self, symbol: str, exchange: str, interval: str, start: date, end: date) -> list:
        if start > end:
            raise ValueError(f"start: {start} is after end {end}")
        reply = self.transport.read(
            "history",
            {
                "symbol": symbol,
                "exchange": exchange,
                "interval": interval,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
            },
        )
        return as_list(reply.get("data") or [], "history.data")

    def daily_bars(self, symbol: str, exchange: str, start: date, end: date) -> list[Bar]:
        rows = self._history(symbol, exchange, "D", start, end)
        bars = [convert(bar_from_dict, r, ctx=f"history.data[{i}]") for i, r in enumerate(rows)]
        return sorted({b.day: b for b in bars}.values(), key=lambda b: b.day)

    def intraday_bars(
        self, symbol: str, exchange: str, interval: str, start: date, end: date
    ) -> list[Candle]:
        rows = self._history(symbol, exchange, interval, start, end)
        return [convert(candle_from_dict, r, ctx=f"history.data[{i}]") for i, r in enumerate(rows)]

    # --- instruments ------------------------------------------------------------

    def tick_size(self, symbol: str, exchange: str) -> Decimal | None:
        key = f"{exchange}:{symbol}".upper()
        with self._lock:
            return self._tick_overrides.get(key) or self._ticks.get(key)

    def instrument(
        self, symbol: str, exchange: str, *, reference_price: Decimal | None = None
    ) -> Instrument:
        """Instrument data with a sanity-checked tick (see ``sane_tick_size``).
        Without a ``reference_price`` the adapter asks ``quotes`` for one when
        the tick needs checking. The tick is remembered and every later order
        price for the symbol is checked against it."""
        reply = self.transport.read("symbol", {"symbol": symbol, "exchange": exchange})
        d = reply.get("data")
        if not isinstance(d, Mapping):
            raise BrokerError("symbol.data: expected an object")
        return self._instrument(d, symbol, exchange, reference_price, "symbol.data", ask=True)

    def remember_instrument(self, inst: Instrument) -> None:
        """An instrument read earlier today (the journal's day plan): order
        prices for it are checked against its tick as if just read."""
        with self._lock:
            self._ticks[inst.key.upper()] = inst.tick_size

    def instruments(self, exchange: str) -> dict[str, Instrument]:
        """The exchange's instrument master in one call (OpenAlgo's
        ``GET /api/v1/instruments?exchange=``), as EXCHANGE:SYMBOL ->
        Instrument. A row whose tick cannot be trusted without a price (a
        whole-number tick that may be paise) or cannot be read is left out,
        logged: the caller asks ``symbol`` for those. An older server
        without the endpoint raises InvalidRequest (HTTP 404)."""
        reply = self.transport.read("instruments", {"exchange": exchange}, method="GET")
        out: dict[str, Instrument] = {}
        skipped = 0
        for i, row in enumerate(as_list(reply.get("data") or [], "instruments.data")):
            if not isinstance(row, Mapping):
                skipped += 1
                continue
            sym, ex = row.get("symbol"), row.get("exchange") or exchange
            if not isinstance(sym, str) or not sym or not isinstance(ex, str):
                skipped += 1
                continue
            try:
                inst = self._instrument(row, sym, ex, None, f"instruments.data[{i}]", ask=False)
            except BrokerError:
                skipped += 1
                continue
            out[inst.key.upper()] = inst
        if skipped:
            log.warning("INSTRUMENTS_SKIPPED %s: %d rows unreadable or with an unverifiable "
                        "tick (asked per symbol instead)", exchange, skipped)  # fmt: skip
        return out

    def _instrument(
        self,
        d: Mapping,
        symbol: str,
        exchange: str,
        reference_price: Decimal | None,
        ctx: str,
        *,
        ask: bool,
    ) -> Instrument:
        """One instrument row -> Instrument with a sanity-checked tick
        (``ask``: fetch a reference price from ``quotes`` when needed)."""
        key = f"{exchange}:{symbol}".upper()
        lot = d.get("lotsize", d.get("lot_size"))
        lot_size = 1
        if lot not in (None, ""):
            lot_size = convert(parse_int, lot, "lotsize", ctx=ctx)
        if lot_size <= 0:
            raise BrokerError(f"{ctx}.lotsize: {lot_size} must be > 0")
        with self._lock:
            override = self._tick_overrides.get(key)
        if override is not None:
            tick = override
        else:
            raw = d.get("tick_size")
            raw_dec = convert(parse_decimal, raw, "tick_size", ctx=ctx)
            ref = reference_price
            if ref is None and raw_dec >= 1 and ask:
                ref = self._reference_price(symbol, exchange)
            try:
                tick = sane_tick_size(raw, ref, exchange, ctx=f"{ctx}.tick_size ({key})")
            except ValueError as e:
                raise InvalidRequest(str(e)) from None
            if tick != raw_dec:
                log.warning(
                    "TICK_SIZE_PAISE %s broker gave %s, using ₹%s (price %s)", key, raw, tick, ref
                )
        with self._lock:
            self._ticks[key] = tick
        name = d.get("name")
        return Instrument(
            symbol=symbol,
            exchange=exchange,
            tick_size=tick,
            lot_size=lot_size,
            name=name if isinstance(name, str) else "",
        )

    def _reference_price(self, symbol: str, exchange: str) -> Decimal | None:
        try:
            q = self.quote(symbol, exchange)
        except BrokerError as e:
            log.warning("no reference price for %s:%s: %s", exchange, symbol, e)
            return None
        if q.ltp > 0:
            return q.ltp
        prev = q.extra.get("prev_close")
        return prev if prev and prev > 0 else None

    # --- calendar ----------------------------------------------------------------

    def holidays(self, year: int, exchange: str = "NSE") -> frozenset[date] | None:
        """Trading holidays of ``exchange`` in ``year``; None when the server
        has no such endpoint (older servers: HTTP 404) so the caller falls
        back to its configured calendar."""
        try:
            reply = self.transport.read("market/holidays", {"year": int(year)})
        except InvalidRequest as e:
            if e.code == 404:
                return None
            raise
        days = set()
        for i, row in enumerate(as_list(reply.get("data") or [], "market/holidays.data")):
            if not isinstance(row, Mapping):
                continue
            closed = row.get("closed_exchanges") or []
            if not isinstance(closed, list):
                raise BrokerError(f"market/holidays.data[{i}].closed_exchanges: expected a list")
            if exchange.upper() not in [str(x).upper() for x in closed if isinstance(x, str)]:
                continue
            try:
                days.add(date.fromisoformat(row.get("date")))
            except (TypeError, ValueError):
                raise BrokerError(
                    f"market/holidays.data[{i}].date: {row.get('date')!r:.40} is not YYYY-MM-DD"
                ) from None
        return frozenset(days)

    def timings(self, day: date, exchange: str = "NSE") -> tuple[datetime, datetime] | None:
        """(open, close) of ``exchange`` on ``day`` as aware IST datetimes;
        None when the endpoint is missing (404) or the exchange is closed."""
        try:
            reply = self.transport.read("market/timings", {"date": day.isoformat()})
        except InvalidRequest as e:
            if e.code == 404:
                return None
            raise
        for i, row in enumerate(as_list(reply.get("data") or [], "market/timings.data")):
            if isinstance(row, Mapping) and str(row.get("exchange", "")).upper() == exchange:
                ctx = f"market/timings.data[{i}]"
                start = convert(parse_timestamp, row.get("start_time"), "start_time", ctx=ctx)
                end = convert(parse_timestamp, row.get("end_time"), "end_time", ctx=ctx)
                if start and end:
                    return start, end
        return None
