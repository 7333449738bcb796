"""A small OpenAlgo WebSocket stub (aiohttp, 127.0.0.1, ephemeral port).

Replies follow websocket_proxy/server.py: auth ack ``{"type":"auth",...}``,
errors ``{"status":"error","code":..,"message":..}`` with no ``type``,
``{"type":"subscribe","status":"success","subscriptions":[...]}``,
``{"type":"subscribe_orders","status":"success"}``, ``{"type":"pong"}``.
Knobs make it behave like older servers: ``list_form`` (True | "error" |
"silent") and ``orders`` (True | "error" | "silent").
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.wire.stub_rest import API_KEY


@dataclass
class Conn:
    ws: web.WebSocketResponse
    received: list[dict] = field(default_factory=list)
    authenticated: bool = False


class StubFeedServer:
    def __init__(self, api_key: str = API_KEY, *, list_form=True, orders=True):
        self.api_key = api_key
        self.list_form = list_form
        self.orders = orders
        self.conns: list[Conn] = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.url = f"ws://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/", self._handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop():
            for c in list(self.conns):
                await c.ws.close()
            await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    # --- test controls -------------------------------------------------------

    def received(self, conn_index: int = -1) -> list[dict]:
        with self.lock:
            return list(self.conns[conn_index].received) if self.conns else []

    def n_conns(self) -> int:
        with self.lock:
            return len(self.conns)

    def push(self, msg) -> None:
        """Send to every authenticated connection (a dict is JSON-encoded,
        a str goes out as-is, so tests can send garbage)."""
        text = msg if isinstance(msg, str) else json.dumps(msg)

        async def _push():
            for c in list(self.conns):
                if c.authenticated and not c.ws.closed:
                    await c.ws.send_str(text)

        asyncio.run_coroutine_threadsafe(_push(), self.loop).result(5)

    def drop_all(self) -> None:
        async def _drop():
            for c in list(self.conns):
                await c.ws.close(code=1011, message=b"server restart")

        asyncio.run_coroutine_threadsafe(_drop(), self.loop).result(5)

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    # --- server side -----------------------------------------------------------

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Conn(ws)
        with self.lock:
            self.conns.append(conn)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            with self.lock:
                conn.received.append(data)
            for reply in self._replies(conn, data):
                await ws.send_json(reply)
        return ws

    @staticmethod
    def _error(code: str, message: str) -> dict:
        return {"status": "error", "code": code, "message": message}

    def _replies(self, conn: Conn, data: dict) -> list[dict]:
        action = data.get("action") or data.get("type")
        if action in ("authenticate", "auth"):
            if data.get("api_key") != self.api_key:
                return [self._error("AUTHENTICATION_ERROR", "Invalid API key")]
            conn.authenticated = True
            return [{"type": "auth", "status": "success", "broker": "stub", "user_id": "u1"}]
        if not conn.authenticated:
            return [self._error("NOT_AUTHENTICATED", "You must authenticate first")]
        if action == "subscribe":
            if "symbols" in data:
                if self.list_form == "silent":
                    return []
                if self.list_form == "error":
                    return [
                        self._error("INVALID_PARAMETERS", "At least one symbol must be specified")
                    ]
                symbols = data["symbols"]
            else:
                symbols = [{"symbol": data.get("symbol"), "exchange": data.get("exchange")}]
            subs = [dict(s, status="success", mode="LTP") for s in symbols]
            return [{"type": "subscribe", "status": "success", "subscriptions": subs}]
        if action == "subscribe_orders":
            if self.orders == "silent":
                return []
            if self.orders == "error":
                return [self._error("INVALID_ACTION", "Invalid action: subscribe_orders")]
            return [
                {
                    "type": "subscribe_orders",
                    "status": "success",
                    "message": "Subscribed to order updates",
                }
            ]
        if action == "ping":
            return [{"type": "pong", "status": "success"}]
        return [self._error("INVALID_ACTION", f"Invalid action: {action}")]
