"""``SimServer``: OpenAlgo's REST (``POST /api/v1/<endpoint>``, plus ``GET
/api/v1/instruments``) and WebSocket protocols on 127.0.0.1, served by aiohttp
on one asyncio loop in a background thread, over a ``Simulator``. The
endpoints themselves are live/sim/rest.py. A pump thread applies the
scheduled ticks the simulator's clock has reached, in batches.

Fan-out: ticks and order updates (from any thread) join one ordered outbox;
the loop drains it in batches into each subscriber's pending list (an LTP
message is encoded once per tick, whoever subscribed), and each client's
writer sends its batch as plain text frames in a single socket write. When
the fault plan counts messages (a drop or stall after N), the writer sends
one message at a time through aiohttp instead, so the fault fires exactly
after the Nth.

    with SimServer(sim, api_key="k").start() as srv:
        client = openalgo.api(api_key="k", host=srv.http_url, ws_url=srv.ws_url)
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiohttp import WSMsgType, web

from live.broker import InvalidRequest
from live.clock import WallClock

from .faults import WsDrop, WsStall
from .models import OrderEvent, SimTick
from .ratelimit import RateLimiter, RateLimits
from .rest import ORDER_REPLY_ENDPOINTS, RawReply, RestApi
from .simulator import Simulator
from .ticktext import LtpText
from .wire import SchemaError, update_json

__all__ = ["SimServer", "DEFAULT_API_KEY"]

# A fixed, documented key for the local simulator. It guards nothing real;
# SIM_API_KEY or --api-key override it.
DEFAULT_API_KEY = "sim-dev-key-0000000000000000000000000000000000000000000000000000"

DEFAULT_RATE_LIMITS = RateLimits()  # OpenAlgo defaults: orders 10/s, others 50/s
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MODES = {"1": 1, "2": 2, "3": 3, "ltp": 1, "quote": 2, "depth": 3}
_MODE_LABEL = {1: "LTP", 2: "Quote", 3: "Depth"}


def _dumps(obj) -> str:
    return json.dumps(obj, default=str)


def _err(status: int, message) -> tuple[int, dict]:
    return status, {"status": "error", "message": message}


def _json(body: dict, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


_HIGH_WATER = 1 << 20  # bytes buffered for one WebSocket before its writer waits


def _text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (RFC 6455 5.2) as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # (text, is_data, made_at) for the writer; None closes it
    pending: list = field(default_factory=list)
    authed: bool = False
    orders: bool = False
    subs: set = field(default_factory=set)  # {(key, mode)}
    by_key: dict = field(default_factory=dict)  # key -> modes, derived from subs

    def push(self, item) -> None:
        self.pending.append(item)
        self.wake.set()

    def resubscribed(self) -> None:
        modes: dict[str, list[int]] = {}
        for key, mode in self.subs:
            modes.setdefault(key, []).append(mode)
        self.by_key = {k: tuple(sorted(v)) for k, v in modes.items()}


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
        self._fault_task: asyncio.Task | None = None
        self._sent = 0  # data messages sent over all connections
        self._outbox: list = []
        self._outbox_lock = threading.Lock()
        self._flush_scheduled = False
        self._ltp_text = LtpText()
        # Faults counted per message sent: skipped entirely when there are none.
        self._counted_faults = any(
            getattr(f, "after_messages", None) is not None
            for f in sim.faults.plan.of(WsDrop) + sim.faults.plan.of(WsStall)
        )
        self._stall_until: datetime | None = None
        self._fired: dict[int, int] = {}  # id(fault) -> times fired
        self.stats = {"ws_dropped": 0, "ws_stalled_messages": 0, "ws_connections": 0,
                      "order_subscriptions": 0}  # fmt: skip
        self.rest = RestApi(sim)

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
        http.router.add_get("/api/v1/instruments", self._http_get)
        http.router.add_get("/api/v1/instruments/", self._http_get)
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
        timed = self.sim.faults.plan.of(WsDrop) + self.sim.faults.plan.of(WsStall)
        if any(f.at is not None for f in timed):
            self._fault_task = asyncio.ensure_future(self._fault_clock())

    async def _astop(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._fault_task is not None:
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
        if endpoint == "instruments":
            return _json(_err(405, "The method is not allowed for the requested URL.")[1], 405)
        try:
            text = await request.text()
        except ConnectionResetError:
            # The client went away mid-request (an engine killed, a Ctrl-C):
            # nothing to answer, and nothing worth a traceback in the console.
            return web.Response(status=400)
        try:
            payload = json.loads(text, parse_float=Decimal)
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            payload = None
        return await self._serve(endpoint, payload)

    async def _http_get(self, request: web.Request) -> web.Response:
        # instruments is OpenAlgo's one GET endpoint: parameters in the query.
        return await self._serve("instruments", dict(request.query))

    async def _serve(self, endpoint: str, payload: dict | None) -> web.Response:
        handler = self.rest.handlers.get(endpoint)
        if handler is None:
            return _json({"status": "error", "message": f"Endpoint {endpoint} not found"}, 404)
        if self._limiter is not None and not self._limiter.allow(endpoint):
            body = {
                "status": "error",
                "message": "Rate limit exceeded. Please slow down your requests.",
                "retry_after": self._limiter.limits.retry_after,
            }
            self.sim.record_request(endpoint, {}, 429, body, fault="rate_limit")
            return _json(body, 429)
        if payload is None:
            body = {"status": "error", "message": "Invalid JSON body: expected an object"}
            self.sim.record_request(endpoint, {}, 400, body)
            return _json(body, 400)
        key = payload.get("apikey")
        if endpoint.startswith("telegram/") and key != self._api_key:
            # restx_api/telegram_bot.py answers 401 for a missing or bad key.
            status, body = _err(401, "Invalid or missing API key")
            self.sim.record_request(endpoint, payload, status, body)
            return _json(body, status)
        if not key:
            status, body = _err(400, str({"apikey": ["Missing data for required field."]}))
            self.sim.record_request(endpoint, payload, status, body)
            return _json(body, status)
        if key != self._api_key:
            status, body = _err(403, "Invalid openalgo apikey")
            self.sim.record_request(endpoint, payload, status, body)
            return _json(body, status)
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
            return _json(body, rf.http_status)
        try:
            status, body = handler(payload, index)
        except SchemaError as e:
            status, body = _err(400, e.reply_message)
        except InvalidRequest as e:
            status, body = _err(e.code or 400, str(e))
        if isinstance(body, dict) and endpoint in ORDER_REPLY_ENDPOINTS and self.sim.analyze_mode:
            body = {**body, "mode": "analyze"}
        record = body if isinstance(body, dict) else {"format": "csv"}
        self.sim.record_request(endpoint, payload, status, record, fault=rf.label)
        if rf.timeout_delay is not None:
            # Applied already: now hold the reply past the client's timeout.
            await self._sleep(rf.timeout_delay)
        if isinstance(body, RawReply):
            return web.Response(
                text=body.text, status=status, content_type=body.content_type, headers=body.headers
            )
        return _json(body, status)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # --- WebSocket ---------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        # No permessage-deflate: the batched writer sends plain frames itself.
        ws = web.WebSocketResponse(autoping=True, compress=False)
        await ws.prepare(request)
        client = _Client(ws, request.transport)
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
            client.push(None)
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
        ws = client.ws
        while True:
            await client.wake.wait()
            client.wake.clear()
            batch, client.pending = client.pending, []
            if self._counted_faults or client.transport is None:
                if not await self._send_one_by_one(ws, batch):
                    return
            elif not await self._send_batch(client, batch):
                return

    def _stalled(self, made_at: datetime) -> bool:
        # Judged by when the message was produced, not when the writer gets to
        # it: the market clock may have moved on meanwhile.
        if self._stall_until is not None and made_at < self._stall_until:
            self.stats["ws_stalled_messages"] += 1
            return True  # a silent feed loses what it does not send
        return False

    async def _send_one_by_one(self, ws: web.WebSocketResponse, batch: list) -> bool:
        """Through aiohttp, counting each message against the fault plan
        (a drop after N messages must cut exactly there)."""
        for item in batch:
            if item is None or ws.closed:
                return False
            text, is_data, made_at = item
            if self._stalled(made_at):
                continue
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return False
            if is_data:
                self._sent += 1
                if self._counted_faults:
                    await self._count_faults(made_at)
        return True

    async def _send_batch(self, client: _Client, batch: list) -> bool:
        """The whole batch as unmasked text frames in one transport write:
        one syscall per batch instead of one per tick. Safe because the
        socket never negotiates compression and the loop writes whole frames."""
        transport = client.transport
        frames, alive = [], True
        for item in batch:
            if item is None:
                alive = False
                break
            text, is_data, made_at = item
            if self._stalled(made_at):
                continue
            frames.append(_text_frame(text.encode()))
            if is_data:
                self._sent += 1
        if frames and not client.ws.closed and not transport.is_closing():
            transport.write(b"".join(frames))
            # A reader that falls behind: wait for the kernel to take the bytes.
            while transport.get_write_buffer_size() > _HIGH_WATER and not transport.is_closing():
                await asyncio.sleep(0.005)
        return alive and not client.ws.closed

    def _send(self, client: _Client, msg: dict) -> None:
        client.push((_dumps(msg), False, self.sim.clock.now()))

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
                        # ours: the simulated broker world's identity (see ping)
                        "session": self.sim.session_id,
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
            self.stats["order_subscriptions"] += 1
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
        client.resubscribed()
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
        client.resubscribed()
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

    # --- fan-out ------------------------------------------------------------------------
    # Ticks and order updates arrive on the simulator's threads; they join one
    # ordered outbox and the loop drains it in batches (one wake-up per batch,
    # not per tick), appending to each subscriber's pending list.

    def _tick_from_any_thread(self, tick: SimTick) -> None:
        self._enqueue(tick)

    def _event_from_any_thread(self, ev: OrderEvent) -> None:
        self._enqueue(ev)

    def _enqueue(self, item) -> None:
        with self._outbox_lock:
            self._outbox.append(item)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("not serving")
            loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # stopped (or not started): nobody to send to
            with self._outbox_lock:
                self._outbox = []
                self._flush_scheduled = False

    def _flush(self) -> None:
        with self._outbox_lock:
            items = self._outbox
            self._outbox = []
            self._flush_scheduled = False
        clients = [c for c in self._clients if c.authed]
        if not clients:
            return
        touched: set[_Client] = set()
        for item in items:
            if isinstance(item, SimTick):
                self._fanout_tick(item, clients, touched)
            else:
                self._fanout_update(item, clients, touched)
        for c in touched:
            c.wake.set()

    def _fanout_tick(self, tick: SimTick, clients: list[_Client], touched: set) -> None:
        key = f"{tick.exchange}:{tick.symbol}"
        text = quote = None
        for c in clients:
            modes = c.by_key.get(key)
            if not modes:
                continue
            touched.add(c)
            for mode in modes:
                if mode == 1:
                    text = text or self._ltp_text(tick)
                    c.pending.append((text, True, tick.ts))
                    continue
                quote = quote or self.sim.quote(key)
                ms = int(tick.ts.timestamp() * 1000)
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
                msg = {
                    "type": "market_data",
                    "symbol": tick.symbol,
                    "exchange": tick.exchange,
                    "mode": mode,
                    "data": data,
                }
                c.pending.append((_dumps(msg), True, tick.ts))

    def _fanout_update(self, ev: OrderEvent, clients: list[_Client], touched: set) -> None:
        text = None
        for c in clients:
            if c.orders:
                text = text or _dumps(
                    update_json(ev, "analyze" if self.sim.analyze_mode else "live")
                )
                c.pending.append((text, True, ev.ts))
                touched.add(c)

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
