"""OpenAlgo's REST endpoints over a ``Simulator``: one handler per
endpoint, ``(payload, call_index) -> (http_status, body)``. The HTTP layer
(auth, rate limits, fault plan, JSON) is ``SimServer``'s; shapes are checked
against the server source (marketcalls/openalgo ``restx_api/`` and
``services/``), noted per handler where it is not obvious.

A body may be a ``RawReply`` (the CSV form of ``instruments``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from live.broker import InvalidRequest, Product
from live.clock import IST

from .models import RejectionReply
from .simulator import Simulator
from .wire import (
    VALID_EXCHANGES,
    SchemaError,
    daily_bar_json,
    depth_json,
    funds_json,
    holdings_json,
    instrument_json,
    order_json,
    orderbook_json,
    pair_errors,
    parse_bool,
    parse_modify,
    parse_place,
    parse_smart,
    position_json,
    quote_json,
    symbol_json,
    trade_json,
)

__all__ = ["RestApi", "RawReply", "ORDER_REPLY_ENDPOINTS"]

_INTRADAY = {"1m": 60, "3m": 180, "5m": 300, "10m": 600, "15m": 900, "30m": 1800, "1h": 3600}

# Replies that carry "mode": "analyze" while the analyzer is on.
ORDER_REPLY_ENDPOINTS = frozenset(
    {"placeorder", "placesmartorder", "modifyorder", "cancelorder", "cancelallorder",
     "closeposition"}
)  # fmt: skip

Reply = tuple[int, dict]


@dataclass(frozen=True)
class RawReply:
    text: str
    content_type: str = "text/plain"
    headers: dict = field(default_factory=dict)


def _err(status: int, message) -> Reply:
    return status, {"status": "error", "message": message}


def _missing(payload: dict, *names: str) -> dict | None:
    bad = {n: ["Missing data for required field."] for n in names if not payload.get(n)}
    return bad or None


def _key(p: dict) -> str:
    return f"{str(p['exchange']).upper()}:{str(p['symbol']).upper()}"


class RestApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.handlers: dict[str, Callable[[dict, int], Reply]] = {
            "placeorder": self._placeorder,
            "placesmartorder": self._placesmartorder,
            "modifyorder": self._modifyorder,
            "cancelorder": self._cancelorder,
            "cancelallorder": self._cancelallorder,
            "closeposition": self._closeposition,
            "orderstatus": self._orderstatus,
            "openposition": self._openposition,
            "orderbook": lambda p, i: (
                200,
                {"status": "success", "data": orderbook_json(self.sim.engine.orders())},
            ),
            "tradebook": lambda p, i: (
                200,
                {"status": "success", "data": [trade_json(t) for t in self.sim.engine.trades()]},
            ),
            "positionbook": lambda p, i: (
                200,
                {
                    "status": "success",
                    "data": [position_json(x) for x in self.sim.engine.positions()],
                },
            ),
            "holdings": self._holdings,
            "funds": lambda p, i: (
                200,
                {"status": "success", "data": funds_json(self.sim.engine.funds())},
            ),
            "quotes": self._quotes,
            "multiquotes": self._multiquotes,
            "depth": self._depth,
            "margin": self._margin,
            "history": self._history,
            "symbol": self._symbol,
            "search": self._search,
            "instruments": self._instruments,
            "ping": self._ping,
            "analyzer": self._analyzer,
            "analyzer/toggle": self._analyzer_toggle,
            "telegram/notify": self._telegram_notify,
            "market/holidays": self._holidays,
            "market/timings": self._timings,
        }

    def _placeorder(self, p: dict, index: int) -> tuple[int, dict]:
        req = parse_place(p)
        self.sim.engine.instrument(req.key)  # unknown symbol -> 404 before any order
        forced = self.sim.faults.rejection(p, index)
        view = self.sim.engine.place(req, forced_rejection=forced)
        if (
            view.status.value == "rejected"
            and self.sim.engine.config.rejection_reply is RejectionReply.ERROR
        ):
            return _err(400, view.rejection_reason)
        return 200, {"status": "success", "orderid": view.order_id}

    def _modifyorder(self, p: dict, index: int) -> tuple[int, dict]:
        order_id, mod = parse_modify(p)
        self.sim.engine.modify(order_id, mod)
        return 200, {"status": "success", "orderid": order_id}

    def _cancelorder(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "orderid", "strategy")
        if bad:
            raise SchemaError(bad)
        self.sim.engine.cancel(str(p["orderid"]))
        return 200, {"status": "success", "orderid": str(p["orderid"])}

    def _cancelallorder(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "strategy")
        if bad:
            raise SchemaError(bad)
        done, failed = self.sim.engine.cancel_all()
        return 200, {
            "status": "success",
            "canceled_orders": done,
            "failed_cancellations": failed,
            "message": f"Canceled {len(done)} orders. Failed to cancel {len(failed)} orders.",
        }

    def _closeposition(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "strategy")
        if bad:
            raise SchemaError(bad)
        self.sim.engine.close_positions()
        return 200, {"status": "success", "message": "All Open Positions Squared Off"}

    def _orderstatus(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "orderid")
        if bad:
            raise SchemaError(bad)
        try:
            view = self.sim.engine.order(str(p["orderid"]))
        except InvalidRequest:
            return _err(404, f"Order {p['orderid']} not found")
        return 200, {"status": "success", "data": order_json(view)}

    def _openposition(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "strategy", "symbol", "exchange", "product")
        if bad:
            raise SchemaError(bad)
        key = f"{str(p['exchange']).upper()}:{str(p['symbol']).upper()}"
        qty = sum(
            x.quantity
            for x in self.sim.engine.positions()
            if x.key == key and x.product.value == str(p["product"]).upper()
        )
        return 200, {"quantity": str(qty), "status": "success"}

    def _quotes(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "symbol", "exchange")
        if bad:
            raise SchemaError(bad)
        key = f"{str(p['exchange']).upper()}:{str(p['symbol']).upper()}"
        return 200, {"status": "success", "data": quote_json(self.sim.quote(key))}

    def _symbol(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "symbol", "exchange")
        if bad:
            raise SchemaError(bad)
        key = f"{str(p['exchange']).upper()}:{str(p['symbol']).upper()}"
        keys = list(self.sim.engine.instruments)
        if key not in keys:
            return _err(404, f"Symbol {p['symbol']} not found in exchange {p['exchange']}")
        return 200, {
            "status": "success",
            "data": symbol_json(self.sim.engine.instrument(key), keys.index(key) + 1),
        }

    def _history(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "symbol", "exchange", "interval", "start_date", "end_date")
        if bad:
            raise SchemaError(bad)
        try:
            start = date.fromisoformat(str(p["start_date"]))
            end = date.fromisoformat(str(p["end_date"]))
        except ValueError:
            raise SchemaError({"start_date": ["Dates must be YYYY-MM-DD."]}) from None
        key = f"{str(p['exchange']).upper()}:{str(p['symbol']).upper()}"
        self.sim.engine.instrument(key)
        interval = str(p["interval"])
        if interval == "D":
            bars = self.sim.daily_bars(key, start, end)
            return 200, {"status": "success", "data": [daily_bar_json(b) for b in bars]}
        if interval not in _INTRADAY:
            raise SchemaError({"interval": [f"Must be one of: D, {', '.join(_INTRADAY)}."]})
        return 200, {
            "status": "success",
            "data": self._intraday(key, _INTRADAY[interval], start, end),
        }

    def _intraday(self, key: str, secs: int, start: date, end: date) -> list[dict]:
        return [
            {
                "timestamp": e,  # UTC epoch seconds
                "open": float(o),
                "high": float(h),
                "low": float(lo),
                "close": float(c),
                "volume": v,
                "oi": 0,
            }
            for e, o, h, lo, c, v in self.sim.intraday_bars(key, secs, start, end)
        ]

    def _holidays(self, p: dict, index: int) -> tuple[int, dict]:
        year = int(p.get("year") or self.sim.clock.now().year)
        rows = [
            {
                "date": d.isoformat(),
                "description": "Trading holiday (simulated)",
                "holiday_type": "TRADING_HOLIDAY",
                "closed_exchanges": ["NSE", "BSE"],
                "open_exchanges": [],
            }
            for d in sorted(self.sim.day.session.holidays)
            if d.year == year
        ]
        return 200, {"status": "success", "year": year, "timezone": "Asia/Kolkata", "data": rows}

    def _timings(self, p: dict, index: int) -> tuple[int, dict]:
        bad = _missing(p, "date")
        if bad:
            raise SchemaError(bad)
        try:
            d = date.fromisoformat(str(p["date"]))
        except ValueError:
            return _err(400, "Invalid date format. Use YYYY-MM-DD")
        session = self.sim.day.session
        if not session.is_trading_day(d):
            return 200, {"status": "success", "data": []}
        ms = lambda t: int(datetime.combine(d, t, tzinfo=IST).timestamp() * 1000)  # noqa: E731
        rows = [
            {"exchange": ex, "start_time": ms(session.open), "end_time": ms(session.close)}
            for ex in ("NSE", "BSE")
        ]
        return 200, {"status": "success", "data": rows}

    # --- endpoints added for the ORB engine and friends ---------------------------------

    def _ping(self, p: dict, index: int) -> Reply:
        # services/ping_service.py: data {message, broker}; "session" is ours:
        # the identity of this simulated broker world (a fresh Simulator gets
        # a new one).
        return 200, {
            "status": "success",
            "data": {"message": "pong", "broker": "sim", "session": self.sim.session_id},
        }

    def _placesmartorder(self, p: dict, index: int) -> Reply:
        # restx_api/schemas.py SmartOrderSchema + broker/*/api/order_api.py
        # place_smartorder_api: trade the difference between position_size and
        # the open position of (symbol, exchange, product).
        smart = parse_smart(p)
        self.sim.engine.instrument(smart.key)
        current = sum(
            x.quantity
            for x in self.sim.engine.positions()
            if x.key == smart.key and x.product.value == smart.product
        )
        target = smart.position_size
        if target == 0 and current == 0:
            action, qty = smart.action, smart.quantity
        elif target > current:
            action, qty = "BUY", target - current
        else:
            action, qty = "SELL", current - target
        if qty <= 0:
            return 200, {
                "status": "success",
                "message": "Positions Already Matched. No Action needed.",
            }
        req = smart.request(action, qty)
        forced = self.sim.faults.rejection({**p, "action": action}, index)
        view = self.sim.engine.place(req, forced_rejection=forced)
        if (
            view.status.value == "rejected"
            and self.sim.engine.config.rejection_reply is RejectionReply.ERROR
        ):
            return _err(400, view.rejection_reason)
        return 200, {"status": "success", "orderid": view.order_id}

    def _unknown_symbol(self, s: dict) -> str | None:
        # services/quotes_service.py validate_symbol_exchange
        sym, exch = str(s.get("symbol") or ""), str(s.get("exchange") or "")
        if not sym or not exch:
            return "Missing symbol or exchange in request"
        if exch.upper() not in VALID_EXCHANGES:
            return f"Invalid exchange '{exch}'. Must be one of: {', '.join(VALID_EXCHANGES)}"
        if f"{exch.upper()}:{sym.upper()}" not in self.sim.engine.instruments:
            return (
                f"Symbol '{sym}' not found for exchange '{exch}'. Please verify the symbol "
                "name and ensure master contracts are downloaded."
            )
        return None

    def _multiquotes(self, p: dict, index: int) -> Reply:
        # restx_api/multiquotes.py + services/quotes_service.py get_multiquotes:
        # {"results": [{symbol, exchange, data} | {symbol, exchange, error}]},
        # invalid symbols first; none valid -> 400 with invalid_symbols.
        symbols = p.get("symbols")
        if not isinstance(symbols, list) or not symbols:
            raise SchemaError(
                {"symbols": ["Missing data for required field." if symbols is None
                             else "Shorter than minimum length 1."]},
                raw=True,
            )  # fmt: skip
        bad = {str(i): e for i, s in enumerate(symbols) if (e := pair_errors(s))}
        if bad:
            raise SchemaError({"symbols": bad}, raw=True)
        invalid, valid = [], []
        for s in symbols:
            problem = self._unknown_symbol(s)
            row = {"symbol": s.get("symbol"), "exchange": s.get("exchange")}
            (invalid if problem else valid).append({**row, "error": problem} if problem else row)
        if not valid:
            return 400, {
                "status": "error",
                "message": invalid[0]["error"],
                "invalid_symbols": invalid,
            }
        results = invalid + [
            {**row, "data": quote_json(self.sim.quote(_key(row)))} for row in valid
        ]
        return 200, {"status": "success", "results": results}

    def _depth(self, p: dict, index: int) -> Reply:
        # broker/zerodha/api/data.py get_market_depth: 5 asks/bids + the quote.
        bad = pair_errors(p)
        if bad:
            raise SchemaError(bad, raw=True)
        problem = self._unknown_symbol(p)
        if problem:
            return _err(400, problem)
        key = _key(p)
        q = self.sim.quote(key)
        tick = self.sim.engine.instrument(key).tick_for(q["ltp"])
        return 200, {"status": "success", "data": depth_json(q, tick)}

    def _margin(self, p: dict, index: int) -> Reply:
        # restx_api/margin.py + services/margin_service.py: positions (<= 50)
        # -> data {total_margin_required, span_margin, exposure_margin}.
        rows = p.get("positions")
        if not isinstance(rows, list) or not rows or len(rows) > 50:
            return _err(400, "positions: a list of 1 to 50 positions is required")
        total = Decimal(0)
        for row in rows:
            if not isinstance(row, dict):
                return _err(400, "positions: each position must be an object")
            problem = self._unknown_symbol(row)
            if problem:
                return _err(400, problem)
            key = _key(row)
            try:
                qty = int(str(row.get("quantity")))
                price = Decimal(str(row.get("trigger_price") or row.get("price") or 0))
                product = Product(str(row.get("product", "MIS")).upper())
            except (ValueError, ArithmeticError):
                return _err(400, "positions: quantity, price and product must be valid")
            if price <= 0:
                price = self.sim.engine.ltp(key) or self.sim.engine.instruments[key].prior_close
            total += price * qty * self.sim.engine.config.margin_rate(product)
        total = total.quantize(Decimal("0.01"))
        return 200, {"status": "success", "data": {"total_margin_required": float(total),
                     "span_margin": 0.0, "exposure_margin": float(total)}}  # fmt: skip

    def _holdings(self, p: dict, index: int) -> Reply:
        # services/holdings_service.py: {"holdings": [...], "statistics": {...}}
        rows = []
        for h in self.sim.holdings:
            inst = self.sim.engine.instruments.get(h.key)
            ltp = h.average_price
            if inst is not None:
                ltp = self.sim.engine.ltp(h.key) or inst.prior_close
            rows.append((h, ltp))
        return 200, {"status": "success", "data": holdings_json(rows)}

    def _analyzer(self, p: dict, index: int) -> Reply:
        # services/analyzer_service.py get_analyzer_status_with_auth
        on = self.sim.analyze_mode
        return 200, {
            "status": "success",
            "data": {
                "mode": "analyze" if on else "live",
                "analyze_mode": on,
                "total_logs": self.sim.analyzer_logs,
            },
        }

    def _analyzer_toggle(self, p: dict, index: int) -> Reply:
        # restx_api/account_schema.py AnalyzerToggleSchema (mode: Bool, required)
        on = parse_bool(p, "mode")
        self.sim.set_analyze_mode(on)
        name = "analyze" if on else "live"
        return 200, {
            "status": "success",
            "data": {
                "mode": name,
                "analyze_mode": on,
                "total_logs": self.sim.analyzer_logs,
                "message": f"Analyzer mode switched to {name}",
            },
        }

    def _telegram_notify(self, p: dict, index: int) -> Reply:
        # restx_api/telegram_bot.py SendNotification: username + message,
        # priority 1-10 (else 5); wait_for_delivery picks the reply text.
        try:
            priority = int(p.get("priority", 5))
        except (TypeError, ValueError):
            priority = 5
        username, message = p.get("username"), p.get("message")
        self.sim.notify(
            str(username) if username else "", str(message) if message else "", priority
        )
        if p.get("wait_for_delivery"):
            return 200, {"status": "success", "message": "Notification sent successfully"}
        return 200, {"status": "success", "message": "Notification queued for delivery"}

    def _master_rows(self, exchange: str | None) -> list[dict]:
        keys = list(self.sim.engine.instruments)
        return [
            instrument_json(self.sim.engine.instrument(k), i + 1)
            for i, k in enumerate(keys)
            if exchange is None or k.split(":", 1)[0] == exchange
        ]

    def _instruments(self, p: dict, index: int) -> Reply:
        # restx_api/instruments.py (GET, query apikey/exchange/format) +
        # services/instruments_service.py get_instruments.
        exchange = p.get("exchange") or None
        fmt = str(p.get("format") or "json").lower()
        errors = {}
        if exchange is not None and exchange not in VALID_EXCHANGES:
            errors["exchange"] = ["Must be one of: " + ", ".join(VALID_EXCHANGES) + "."]
        if fmt not in ("json", "csv"):
            errors["format"] = ["Must be one of: json, csv."]
        if errors:
            raise SchemaError(errors, raw=True)
        rows = self._master_rows(exchange)
        if fmt == "csv":
            buf = io.StringIO()
            if rows:
                writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            name = f"instruments_{exchange or 'all'}.csv"
            return 200, RawReply(
                buf.getvalue(),
                "text/csv",
                {"Content-Disposition": f"attachment; filename={name}"},
            )
        if not rows:
            return 200, {"status": "success", "message": "No instruments found", "data": []}
        return 200, {
            "status": "success",
            "message": f"Found {len(rows)} instruments",
            "data": rows,
        }

    def _search(self, p: dict, index: int) -> Reply:
        # services/search_service.py: every term must match the symbol, name
        # or token; rows as the instrument master plus freeze_qty.
        if "query" not in p:
            raise SchemaError({"query": ["Missing data for required field."]}, raw=True)
        exchange = p.get("exchange") or None
        if exchange is not None and exchange not in VALID_EXCHANGES:
            raise SchemaError(
                {"exchange": ["Must be one of: " + ", ".join(VALID_EXCHANGES) + "."]}, raw=True
            )
        terms = str(p["query"]).upper().split()
        if not terms:
            return _err(400, "Query parameter is required and cannot be empty")
        rows = []
        for row in self._master_rows(exchange):
            hay = (str(row["symbol"]), str(row["name"]).upper(), str(row["token"]))
            if all(any(t in h for h in hay) for t in terms):
                rows.append({**row, "freeze_qty": 1})
        if not rows:
            return 200, {"status": "success", "message": "No matching symbols found", "data": []}
        return 200, {
            "status": "success",
            "message": f"Found {len(rows)} matching symbols",
            "data": rows,
        }
