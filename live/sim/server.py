"""``SimServer``: OpenAlgo's REST (``POST /api/v1/<endpoint>``) and WebSocket
protocols on 127.0.0.1, served by aiohttp on one asyncio loop in a background
thread, over a ``Simulator``. A pump thread applies each scheduled tick when
the simulator's clock reaches its timestamp.

    with SimServer(sim, api_key="k").start() as srv:
        client = openalgo.api(api_key="k", host=srv.http_url, ws_url=srv.ws_url)
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from aiohttp import WSMsgType, web

from live.broker import InvalidRequest
from live.clock import IST, WallClock

from .faults import WsDrop, WsStall
from .models import OrderEvent, RejectionReply, SimTick
from .ratelimit import RateLimiter, RateLimits
from .simulator import Simulator
from .wire import (
    SchemaError,
    daily_bar_json,
    funds_json,
    order_json,
    orderbook_json,
    parse_modify,
    parse_place,
    position_json,
    quote_json,
    symbol_json,
    trade_json,
    update_json,
)

__all__ = ["SimServer", "DEFAULT_API_KEY"]

# A fixed, documented key for the local simulator. It guards nothing real;
# SIM_API_KEY or --api-key override it.
DEFAULT_API_KEY = "sim-dev-key-0000000000000000000000000000000000000000000000000000"

DEFAULT_RATE_LIMITS = RateLimits()  # OpenAlgo defaults: orders 10/s, others 50/s
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MODES = {"1": 1, "2": 2, "3": 3, "ltp": 1, "quote": 2, "depth": 3}
_MODE_LABEL = {1: "LTP", 2: "Quote", 3: "Depth"}
_INTRADAY = {"1m": 60, "3m": 180, "5m": 300, "10m": 600, "15m": 900, "30m": 1800, "1h": 3600}


def _dumps(obj) -> str:
    return json.dumps(obj, default=str)


def _err(status: int, message) -> tuple[int, dict]:
    return status, {"status": "error", "message": message}


def _missing(payload: dict, *names: str) -> dict | None:
    bad = {n: ["Missing data for required field."] for n in names if not payload.get(n)}
    return bad or None


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    queue: asyncio.Queue
    authed: bool = False
    orders: bool = False
    subs: set = field(default_factory=set)  # {(key, mode)}


class SimServer:
    def __init__(
        self,
        sim: Simulator,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        http_port: int = 0,
        ws_port: int = 0,
        auth_timeout: float = 15.0,
        rate_limits: RateLimits | None = DEFAULT_RATE_LIMITS,
        pump: bool = True,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"host: the simulator binds loopback only (127.0.0.1), got {host!r}")
        if not api_key:
            raise ValueError("api_key: must be a non-empty string")
        if auth_timeout <= 0:
            raise ValueError(f"auth_timeout: must be > 0 seconds, got {auth_timeout}")
        self.sim = sim
        self._api_key = api_key
        self.host = host
        self.http_port, self.ws_port = http_port, ws_port
        self.auth_timeout = auth_timeout
        self._limiter = RateLimiter(rate_limits) if rate_limits else None
        self._pump_enabled = pump
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pump_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._runners: list[web.AppRunner] = []
        self._clients: set[_Client] = set()
        self._closing: asyncio.Event | None = None
        self._sent = 0  # data messages sent over all connections
        self._stall_until: datetime | None = None
        self._fired: dict[int, int] = {}  # id(fault) -> times fired
        self.stats = {"ws_dropped": 0, "ws_stalled_messages": 0, "ws_connections": 0}
        self._handlers: dict[str, Callable[[dict, int], tuple[int, dict]]] = {
            "placeorder": self._placeorder,
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
            "funds": lambda p, i: (
                200,
                {"status": "success", "data": funds_json(self.sim.engine.funds())},
            ),
            "quotes": self._quotes,
            "history": self._history,
            "symbol": self._symbol,
            "ping": lambda p, i: (
                200,
                {"status": "success", "data": {"message": "pong", "broker": "sim"}},
            ),
            "market/holidays": self._holidays,
            "market/timings": self._timings,
        }

    # --- lifecycle -----------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    def start(self) -> SimServer:
        if self._thread is not None:
            raise RuntimeError("SimServer already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sim-server", daemon=True
        )
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        self.sim.on_tick(self._tick_from_any_thread)
        self.sim.on_order_event(self._event_from_any_thread)
        if self._pump_enabled:
            self._pump_thread = threading.Thread(target=self._pump, name="sim-pump", daemon=True)
            self._pump_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
            self._pump_thread = None
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
            except Exception:  # noqa: BLE001 - best effort: the loop stops below anyway
                pass
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = None

    def __enter__(self) -> SimServer:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._closing = asyncio.Event()
        http = web.Application(client_max_size=1 << 20)
        http.router.add_post("/api/v1/{endpoint:.+}", self._http)
        wsapp = web.Application()
        wsapp.router.add_get("/{tail:.*}", self._ws)
        for app, attr in ((http, "http_port"), (wsapp, "ws_port")):
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, self.host, getattr(self, attr))
            await site.start()
            self._runners.append(runner)
            setattr(self, attr, runner.addresses[0][1])
        self._fault_task = asyncio.ensure_future(self._fault_clock())

    async def _astop(self) -> None:
        if self._closing is not None:
            self._closing.set()
        self._fault_task.cancel()
        for c in list(self._clients):
            await c.ws.close(code=1001, message=b"server shutdown")
        for r in self._runners:
            await r.cleanup()

    # --- the pump --------------------------------------------------------------------

    def _pump(self) -> None:
        clock = self.sim.clock
        speed = getattr(clock, "speed", None)
        while not self._stop.is_set():
            self.sim.pump_due()
            nxt = self.sim.next_tick_time()
            if nxt is None:
                wait = 0.05
            else:
                delta = (nxt - clock.now()).total_seconds()
                if speed:
                    wait = delta / speed
                elif isinstance(clock, WallClock):
                    wait = delta
                else:
                    wait = 0.005  # a manual clock: poll for the test moving it
            self._stop.wait(min(max(wait, 0.0), 0.05))

    # --- REST -------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"].strip("/")
        handler = self._handlers.get(endpoint)
        if handler is None:
            return web.json_response(
                {"status": "error", "message": f"Endpoint {endpoint} not found"}, status=404
            )
        if self._limiter is not None and not self._limiter.allow(endpoint):
            body = {
                "status": "error",
                "message": "Rate limit exceeded. Please slow down your requests.",
                "retry_after": self._limiter.limits.retry_after,
            }
            self.sim.record_request(endpoint, {}, 429, body, fault="rate_limit")
            return web.json_response(body, status=429)
        try:
            payload = json.loads(await request.text(), parse_float=Decimal)
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            body = {"status": "error", "message": "Invalid JSON body: expected an object"}
            self.sim.record_request(endpoint, {}, 400, body)
            return web.json_response(body, status=400)
        key = payload.get("apikey")
        if not key:
            status, body = _err(400, str({"apikey": ["Missing data for required field."]}))
            self.sim.record_request(endpoint, payload, status, body)
            return web.json_response(body, status=status)
        if key != self._api_key:
            status, body = _err(403, "Invalid openalgo apikey")
            self.sim.record_request(endpoint, payload, status, body)
            return web.json_response(body, status=status)
        index, rf = self.sim.faults.on_request(endpoint)
        if rf.latency:
            await self._sleep(rf.latency)
        if rf.http_status:
            if rf.http_status == 429:
                body = {
                    "status": "error",
                    "message": rf.http_message or "Rate limit exceeded. Please slow down.",
                    "retry_after": 60,
                }
            else:
                body = {"status": "error", "message": rf.http_message or "Internal server error"}
            self.sim.record_request(endpoint, payload, rf.http_status, body, fault=rf.label)
            return web.json_response(body, status=rf.http_status)
        try:
            status, body = handler(payload, index)
        except SchemaError as e:
            status, body = _err(400, str(e.messages))
        except InvalidRequest as e:
            status, body = _err(e.code or 400, str(e))
        self.sim.record_request(endpoint, payload, status, body, fault=rf.label)
        if rf.timeout_delay is not None:
            # Applied already: now hold the reply past the client's timeout.
            await self._sleep(rf.timeout_delay)
        return web.json_response(body, status=status, dumps=_dumps)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            pass

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
        bars: dict[int, list] = {}
        for t in self.sim.applied_ticks(key):
            if not start <= t.ts.date() <= end:
                continue
            epoch = int(t.ts.timestamp()) // secs * secs  # UTC epoch seconds
            b = bars.get(epoch)
            if b is None:
                bars[epoch] = [t.ltp, t.ltp, t.ltp, t.ltp, 1]
            else:
                b[1], b[2], b[3], b[4] = max(b[1], t.ltp), min(b[2], t.ltp), t.ltp, b[4] + 1
        return [
            {
                "timestamp": e,
                "open": float(o),
                "high": float(h),
                "low": float(lo),
                "close": float(c),
                "volume": v,
                "oi": 0,
            }
            for e, (o, h, lo, c, v) in sorted(bars.items())
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

    # --- WebSocket ---------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = _Client(ws, asyncio.Queue())
        self._clients.add(client)
        self.stats["ws_connections"] += 1
        writer = asyncio.ensure_future(self._writer(client))
        deadline = asyncio.ensure_future(self._auth_deadline(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_ws_text(client, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            deadline.cancel()
            self._clients.discard(client)
            client.queue.put_nowait(None)
            try:
                await asyncio.wait_for(writer, timeout=1)
            except (TimeoutError, asyncio.CancelledError, ConnectionError):
                writer.cancel()
        return ws

    async def _auth_deadline(self, client: _Client) -> None:
        await asyncio.sleep(self.auth_timeout)
        if not client.authed and not client.ws.closed:
            await client.ws.close(code=4401, message=b"auth timeout")

    async def _writer(self, client: _Client) -> None:
        while True:
            item = await client.queue.get()
            if item is None or client.ws.closed:
                return
            # Judge the stall by when the message was produced, not when this
            # coroutine gets to it: the market clock may have moved on meanwhile.
            text, is_data, made_at = item
            if self._stall_until is not None and made_at < self._stall_until:
                self.stats["ws_stalled_messages"] += 1
                continue  # a silent feed loses what it does not send
            try:
                await client.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            if is_data:
                self._sent += 1
                await self._count_faults(made_at)

    def _send(self, client: _Client, msg: dict, *, data: bool = False) -> None:
        client.queue.put_nowait((_dumps(msg), data, self.sim.clock.now()))

    def _error(self, client: _Client, code: str, message: str) -> None:
        # OpenAlgo's error replies carry no "type" field.
        self._send(client, {"status": "error", "code": code, "message": message})

    def _on_ws_text(self, client: _Client, text: str) -> None:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            self._error(client, "INVALID_JSON", "Invalid JSON message")
            return
        action = data.get("action") or data.get("type")
        if action in ("authenticate", "auth"):
            key = data.get("api_key") or data.get("apikey")
            if not key:
                self._error(client, "AUTHENTICATION_ERROR", "API key is required")
            elif key != self._api_key:
                self._error(client, "AUTHENTICATION_ERROR", "Invalid API key")
            else:
                client.authed = True
                self._send(
                    client,
                    {
                        "type": "auth",
                        "status": "success",
                        "message": "Authentication successful",
                        "broker": "sim",
                        "user_id": "sim-user",
                        "supported_features": {"ltp": True, "quote": True, "depth": True},
                    },
                )
            return
        if action == "ping":
            msg = {
                "type": "pong",
                "status": "success",
                "server_timestamp": int(datetime.now(UTC).timestamp() * 1000),
            }
            if data.get("timestamp") is not None:
                msg["client_timestamp"] = data["timestamp"]
            self._send(client, msg)
            return
        if action not in (
            "subscribe",
            "unsubscribe",
            "unsubscribe_all",
            "subscribe_orders",
            "unsubscribe_orders",
        ):
            self._error(client, "INVALID_ACTION", f"Invalid action: {action}")
            return
        if not client.authed:
            self._error(client, "NOT_AUTHENTICATED", "You must authenticate first")
            return
        if action == "subscribe_orders":
            client.orders = True
            self._send(
                client,
                {
                    "type": "subscribe_orders",
                    "status": "success",
                    "message": "Subscribed to order updates",
                },
            )
        elif action == "unsubscribe_orders":
            client.orders = False
            self._send(
                client,
                {
                    "type": "unsubscribe_orders",
                    "status": "success",
                    "message": "Unsubscribed from order updates",
                },
            )
        elif action == "subscribe":
            self._subscribe(client, data)
        else:
            self._unsubscribe(client, data, every=action == "unsubscribe_all")

    @staticmethod
    def _mode(raw) -> int:
        mode = _MODES.get(str(raw).strip().lower())
        if mode is None:
            raise ValueError(f"Invalid mode {raw!r}: use 1/2/3 or LTP/Quote/Depth")
        return mode

    def _symbols(self, data: dict) -> list[dict]:
        symbols = data.get("symbols") or []
        if not symbols and data.get("symbol") and data.get("exchange"):
            symbols = [{"symbol": data["symbol"], "exchange": data["exchange"]}]
        return [s for s in symbols if isinstance(s, dict)]

    def _subscribe(self, client: _Client, data: dict) -> None:
        try:
            mode = self._mode(data.get("mode", "Quote"))
        except ValueError as e:
            self._error(client, "INVALID_MODE", str(e))
            return
        symbols = self._symbols(data)
        if not symbols:
            self._error(client, "INVALID_PARAMETERS", "At least one symbol must be specified")
            return
        out, ok = [], True
        known = self.sim.engine.instruments
        for s in symbols:
            sym, exch = str(s.get("symbol", "")), str(s.get("exchange", ""))
            if not sym or not exch:
                continue
            key = f"{exch.upper()}:{sym.upper()}"
            if key in known:
                client.subs.add((key, mode))
                out.append(
                    {
                        "symbol": sym,
                        "exchange": exch,
                        "status": "success",
                        "mode": _MODE_LABEL[mode],
                        "depth": data.get("depth", 5),
                        "broker": "sim",
                    }
                )
            else:
                ok = False
                out.append(
                    {
                        "symbol": sym,
                        "exchange": exch,
                        "status": "error",
                        "message": f"Symbol {sym} not found on {exch}",
                        "broker": "sim",
                    }
                )
        self._send(
            client,
            {
                "type": "subscribe",
                "status": "success" if ok else "partial",
                "subscriptions": out,
                "message": "Subscription processing complete",
                "broker": "sim",
            },
        )

    def _unsubscribe(self, client: _Client, data: dict, *, every: bool) -> None:
        if every:
            gone = sorted(client.subs)
            client.subs.clear()
        else:
            symbols = self._symbols(data)
            if not symbols:
                self._error(
                    client, "INVALID_PARAMETERS", "Either symbols or unsubscribe_all is required"
                )
                return
            gone = []
            for s in symbols:
                try:
                    mode = self._mode(s.get("mode", data.get("mode", 2)))
                except ValueError as e:
                    self._error(client, "INVALID_MODE", str(e))
                    return
                key = f"{str(s.get('exchange', '')).upper()}:{str(s.get('symbol', '')).upper()}"
                if (key, mode) in client.subs:
                    client.subs.discard((key, mode))
                    gone.append((key, mode))
        self._send(
            client,
            {
                "type": "unsubscribe",
                "status": "success",
                "message": "Unsubscription processing complete",
                "successful": [
                    {
                        "symbol": k.split(":", 1)[1],
                        "exchange": k.split(":", 1)[0],
                        "status": "success",
                        "broker": "sim",
                    }
                    for k, _ in gone
                ],
                "failed": [],
            },
        )

    # --- fan-out (called from any thread) ------------------------------------------------

    def _tick_from_any_thread(self, tick: SimTick) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fanout_tick, tick)

    def _event_from_any_thread(self, ev: OrderEvent) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fanout_update, ev)

    def _fanout_tick(self, tick: SimTick) -> None:
        ms = int(tick.ts.timestamp() * 1000)
        quote = None
        for c in list(self._clients):
            if not c.authed:
                continue
            for mode in (1, 2, 3):
                if (tick.key, mode) not in c.subs:
                    continue
                if mode == 1:
                    data = {"ltp": float(tick.ltp), "timestamp": ms, "ltt": ms}
                else:
                    quote = quote or self.sim.quote(tick.key)
                    data = {
                        "ltp": float(tick.ltp),
                        "open": float(quote["open"]),
                        "high": float(quote["high"]),
                        "low": float(quote["low"]),
                        "close": float(quote["prev_close"]),
                        "volume": quote["volume"],
                        "timestamp": ms,
                        "ltt": ms,
                    }
                    if mode == 3:
                        data["depth"] = {
                            "buy": [{"price": float(quote["bid"]), "quantity": 100, "orders": 1}],
                            "sell": [{"price": float(quote["ask"]), "quantity": 100, "orders": 1}],
                        }
                self._send(
                    c,
                    {
                        "type": "market_data",
                        "symbol": tick.symbol,
                        "exchange": tick.exchange,
                        "mode": mode,
                        "data": data,
                    },
                    data=True,
                )

    def _fanout_update(self, ev: OrderEvent) -> None:
        msg = update_json(ev)
        for c in list(self._clients):
            if c.authed and c.orders:
                self._send(c, msg, data=True)

    # --- WebSocket faults -------------------------------------------------------------

    async def _count_faults(self, at: datetime) -> None:
        for f in self.sim.faults.plan.of(WsDrop):
            if f.after_messages is not None and self._sent >= f.after_messages:
                await self._fire_drop(f)
        for f in self.sim.faults.plan.of(WsStall):
            if f.after_messages is not None and self._sent >= f.after_messages:
                self._fire_stall(f, at)

    async def _fault_clock(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            now = self.sim.clock.now()
            for f in self.sim.faults.plan.of(WsDrop):
                if f.at is not None and now.timetz().replace(tzinfo=None) >= f.at:
                    await self._fire_drop(f)
            for f in self.sim.faults.plan.of(WsStall):
                if f.at is not None and now.timetz().replace(tzinfo=None) >= f.at:
                    self._fire_stall(f, now)

    def _once(self, f, times: int = 1) -> bool:
        n = self._fired.get(id(f), 0)
        if n >= times:
            return False
        self._fired[id(f)] = n + 1
        return True

    async def _fire_drop(self, f: WsDrop) -> None:
        if not self._clients or not self._once(f, f.times):
            return
        self.stats["ws_dropped"] += 1
        for c in list(self._clients):
            if f.abort:
                transport = c.ws._req.transport if c.ws._req is not None else None
                if transport is not None:
                    transport.abort()
            else:
                await c.ws.close(code=1011, message=b"simulated drop")

    def _fire_stall(self, f: WsStall, at: datetime) -> None:
        if self._once(f):
            self._stall_until = at + timedelta(seconds=f.seconds)
