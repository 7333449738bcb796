"""A small OpenAlgo REST stub on 127.0.0.1 (ephemeral port) for wire tests.

It speaks the reply shapes of OPENALGO.md and the server source: success
``{"status":"success",...}``, errors ``{"status":"error","message":...}`` with
400/403/404/500, 429 with ``retry_after`` (always 60, as app.py does), HTTP
200 with ``"status":"error"``. Order endpoints are stateful (placeorder puts a
row in the orderbook) so placement-ambiguity tests can count real orders.

Scripted faults: ``stub.script(endpoint, fault, ...)`` queues one fault per
future call to that endpoint; a fault is ``(status, body)`` for a canned
reply, ``("delay", seconds)`` to process the call normally but answer late
(after the client's read timeout), or ``("drop",)`` to process it and close
the connection without answering.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from live.clock import IST

API_KEY = "k3y-s3cr3t-0123456789abcdef"


class StubOpenAlgo:
    def __init__(self, api_key: str = API_KEY, *, keep_tags: bool = True):
        self.api_key = api_key
        self.keep_tags = keep_tags  # False: behave like Zerodha (tag forced to "openalgo")
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict]] = []
        self.orders: dict[str, dict] = {}
        self.replies: dict[str, tuple[int, dict]] = {}
        self.faults: dict[str, deque] = defaultdict(deque)
        self._next_id = 1000
        self._stop = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so the client can pool
            # Headers and body go out in two writes: without TCP_NODELAY the
            # body waits for the client's delayed ACK (~40 ms a reply).
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                stub._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # --- test controls -----------------------------------------------------

    def script(self, endpoint: str, *faults: tuple) -> None:
        with self.lock:
            self.faults[endpoint].extend(faults)

    def calls(self, endpoint: str) -> list[dict]:
        with self.lock:
            return [body for ep, body in self.requests if ep == endpoint]

    def add_order(self, **fields) -> str:
        with self.lock:
            oid = self._new_id()
            row = {
                "orderid": oid,
                "order_status": "open",
                "price": 0.0,
                "trigger_price": 0.0,
                "average_price": 0.0,
                "product": "MIS",
                "strategy": "other",
                "timestamp": datetime.now(IST).strftime("%d-%b-%Y %H:%M:%S"),
                **fields,
            }
            self.orders[oid] = row
            return oid

    # --- server side ---------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return f"25112000{self._next_id}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        endpoint = h.path.removeprefix("/api/v1/")
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(h, 400, {"status": "error", "message": "Invalid JSON"})
        with self.lock:
            self.requests.append((endpoint, body))
            fault = self.faults[endpoint].popleft() if self.faults[endpoint] else None
        if fault is not None and fault[0] not in ("delay", "drop"):
            return self._send(h, fault[0], fault[1])
        if body.get("apikey") != self.api_key:
            return self._send(h, 403, {"status": "error", "message": "Invalid openalgo apikey"})
        status, reply = self._respond(endpoint, body)
        if fault is not None and fault[0] == "delay":
            self._stop.wait(fault[1])
        if fault is not None and fault[0] == "drop":
            h.close_connection = True
            return
        self._send(h, status, reply)

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the client gave up (read timeout): nothing to do

    def _respond(self, endpoint: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            if endpoint in self.replies:
                return self.replies[endpoint]
            if endpoint == "placeorder":
                for f in ("symbol", "exchange", "action", "pricetype", "quantity", "strategy"):
                    if not body.get(f):
                        return 400, {"status": "error", "message": f"Missing field {f}"}
                oid = self._new_id()
                self.orders[oid] = {
                    "orderid": oid,
                    "symbol": body["symbol"],
                    "exchange": body["exchange"],
                    "action": body["action"],
                    "quantity": body["quantity"],
                    "pricetype": body["pricetype"],
                    "product": body.get("product", "MIS"),
                    "price": float(body.get("price") or 0),
                    "trigger_price": float(body.get("trigger_price") or 0),
                    "average_price": 0.0,
                    "order_status": "trigger pending"
                    if body["pricetype"] in ("SL", "SL-M")
                    else "open",
                    "strategy": body["strategy"] if self.keep_tags else "openalgo",
                    "timestamp": datetime.now(IST).strftime("%d-%b-%Y %H:%M:%S"),
                }
                return 200, {"status": "success", "orderid": oid}
            if endpoint == "orderbook":
                return 200, {
                    "status": "success",
                    "data": {"orders": list(self.orders.values()), "statistics": {}},
                }
            if endpoint == "orderstatus":
                row = self.orders.get(str(body.get("orderid")))
                if row is None:
                    return 404, {"status": "error", "message": "Order not found"}
                return 200, {"status": "success", "data": row}
            if endpoint in ("cancelorder", "modifyorder"):
                row = self.orders.get(str(body.get("orderid")))
                if row is None:
                    return 400, {"status": "error", "message": "Order not found"}
                if endpoint == "cancelorder":
                    row["order_status"] = "cancelled"
                return 200, {"status": "success", "orderid": row["orderid"]}
            if endpoint == "funds":
                return 200, {
                    "status": "success",
                    "data": {
                        "availablecash": "100000.00",
                        "collateral": "0.00",
                        "m2mrealized": "0.00",
                        "m2munrealized": "0.00",
                        "utiliseddebits": "0.00",
                    },
                }
            return 404, {"status": "error", "message": f"Not Found: {endpoint}"}
