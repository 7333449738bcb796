"""The WebSocket feed thread: OpenAlgo's WS protocol, reconnect, resubscribe, staleness.

One daemon thread owns one ``websocket-client`` connection and runs the whole
protocol itself (no WebSocketApp callbacks, so there is exactly one thread to
reason about):

1. connect, authenticate (``{"action":"authenticate","api_key":..}``; errors
   come back with no ``type`` field; a wrong key ends the feed in
   ``AUTH_FAILED`` instead of hammering the server);
2. subscribe every symbol — the list form first, falling back to one message
   per symbol when an older server answers the list form with an error or not
   at all (``subscribe_form="auto"``);
3. ``{"action":"subscribe_orders"}``; an error reply or no ack means the
   server has no order stream: ``order_updates_supported`` becomes False and
   the engine relies on the poller;
4. read: ticks -> ``on_tick(Tick)``, order updates -> ``on_order_update(
   OrderUpdate)`` only when it is news (``messages.Inbox``: the project's
   one ordering rule; repeats count as duplicates, older states as stale);
5. on a drop, an error or a silent feed (no message for ``stale_after``
   seconds of clock time while the market is open: FEED_STALE), reconnect
   with bounded exponential backoff and jitter, redo 1-3, then call
   ``on_reconnect()`` — updates missed while away are never replayed, so the
   poller must reconcile from the orderbook.

Callbacks run on the feed thread, one at a time, in arrival order. They must
be cheap (take a lock, copy, return); a slow one delays later messages (they
wait in the socket buffer, they are not lost) and is logged and counted. A
callback that raises is logged and counted and the feed carries on. A
message the feed cannot read (not JSON, wrong shape, a field out of range)
is dropped, logged with the field named and counted; it never ends the thread.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import websocket

from live.broker import OrderUpdate, split_key
from live.clock import Clock, WallClock

from .messages import Inbox, Tick, is_error

__all__ = ["Backoff", "Feed", "FeedCounters", "FeedState", "SubscribeForm"]

log = logging.getLogger(__name__)


class FeedState(Enum):
    NEW = "new"
    CONNECTING = "connecting"
    LIVE = "live"
    BACKOFF = "backoff"
    AUTH_FAILED = "auth_failed"  # terminal: the key was refused
    STOPPED = "stopped"


class SubscribeForm(Enum):
    AUTO = "auto"  # list form, falling back to per-symbol on error / no ack
    LIST = "list"
    SINGLE = "single"


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: min(cap, base * 2**attempt), jittered down by up to
    ``jitter`` of itself so a fleet of clients does not reconnect in step."""

    base: float = 1.0
    cap: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= self.base):
            raise ValueError(f"backoff: need 0 < base <= cap, got base={self.base} cap={self.cap}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff.jitter: must be within 0..1, got {self.jitter}")

    def delay(self, attempt: int, rnd: float) -> float:
        raw = min(self.cap, self.base * (2 ** min(attempt, 30)))
        return raw * (1 - self.jitter * rnd)


@dataclass(frozen=True)
class FeedCounters:
    ticks: int
    order_updates: int
    duplicate_updates: int
    stale_updates: int
    dropped_malformed: int
    reconnects: int
    stale_events: int
    callback_errors: int
    slow_callbacks: int


class _ReadAhead:
    """The feed's socket with a read-ahead buffer. websocket-client asks for
    each frame's header, length and payload in separate ``recv()`` calls:
    three system calls a frame, most of the feed thread's time at thousands
    of ticks a second. Here they come out of one large read (a server sends
    its frames in batches). Everything else passes through to the socket."""

    _CHUNK = 1 << 16

    def __init__(self, sock) -> None:
        self._sock = sock
        self._view = memoryview(b"")
        self._pos = 0

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._view):
            data = self._sock.recv(max(n, self._CHUNK))
            if not data:
                return data
            self._view, self._pos = memoryview(data), 0
        p = self._pos
        self._pos = min(p + n, len(self._view))
        return self._view[p : self._pos].tobytes()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _Reconnect(Exception):
    """This connection is done; back off and connect again."""


class _AuthRefused(Exception):
    pass


# What ends a session in the normal course of things (no traceback logged).
_EXPECTED = (_Reconnect, OSError, websocket.WebSocketException, ValueError)
_AUTH_REFUSED_CODES = frozenset({"AUTHENTICATION_ERROR", "INVALID_API_KEY", "UNAUTHORIZED"})


class Feed:
    def __init__(
        self,
        url: str,
        api_key: str,
        symbols: Iterable[str],
        *,
        mode: int = 1,
        on_tick: Callable[[Tick], object] | None = None,
        on_order_update: Callable[[OrderUpdate], object] | None = None,
        on_reconnect: Callable[[], object] | None = None,
        order_updates: bool = True,
        subscribe_form: SubscribeForm | str = SubscribeForm.AUTO,
        stale_after: float = 30.0,
        is_market_open: Callable[[datetime], bool] | None = None,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], object] | None = None,
        connect_timeout: float = 5.0,
        reply_timeout: float = 5.0,
        poll_interval: float = 0.2,
        ping_interval: float = 20.0,
        slow_callback: float = 0.05,
        name: str = "feed",
    ):
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"ws_url: {url!r} must start with ws:// or wss://")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key: empty; set it in the environment (broker.api_key_env)")
        if mode not in (1, 2):
            raise ValueError(f"mode: {mode!r} must be 1 (LTP) or 2 (quote)")
        if not stale_after > 0:
            raise ValueError(f"stale_after: must be > 0 seconds, got {stale_after!r}")
        keys = []
        for k in symbols:
            sym, exch = split_key(k)
            keys.append(f"{exch}:{sym}")
        self.url = url
        self._api_key = api_key.strip()
        self.keys: tuple[str, ...] = tuple(dict.fromkeys(keys))
        self.mode = mode
        self.on_tick = on_tick
        self.on_order_update = on_order_update
        self.on_reconnect = on_reconnect
        self.want_order_updates = order_updates
        self.subscribe_form = SubscribeForm(subscribe_form)
        self.stale_after = float(stale_after)
        self._is_market_open = is_market_open or (lambda _ts: True)
        self.clock: Clock = clock or WallClock()
        self.backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.poll_interval = poll_interval
        self.ping_interval = ping_interval
        self.slow_callback = slow_callback
        self._lock = threading.Lock()  # counters and state only
        self._n: Counter[str] = Counter()
        self._state = FeedState.NEW
        self.order_updates_supported: bool | None = None
        self._inbox = Inbox(frozenset(self.keys), self._count)
        self._narrow_to: frozenset[str] | None = (
            None  # asked by narrow(), applied by the feed thread
        )
        self._ws: websocket.WebSocket | None = None
        self._last_data_at = self.clock.now()
        self._connected_once = False
        self._went_live = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __repr__(self) -> str:
        return f"Feed(url={self.url!r}, symbols={len(self.keys)}, state={self.state.value})"

    # --- public ------------------------------------------------------------------

    @property
    def state(self) -> FeedState:
        with self._lock:
            return self._state

    def counters(self) -> FeedCounters:
        with self._lock:
            n = self._n
            return FeedCounters(
                ticks=self._inbox.ticks,  # written by the feed thread alone: no lock per tick
                order_updates=n["order_updates"],
                duplicate_updates=n["duplicate_updates"],
                stale_updates=n["stale_updates"],
                dropped_malformed=n["dropped_malformed"],
                reconnects=n["reconnects"],
                stale_events=n["stale_events"],
                callback_errors=n["callback_errors"],
                slow_callbacks=n["slow_callbacks"],
            )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the socket and join the thread (bounded by ``timeout``)."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("FEED_STOP_TIMEOUT the feed thread did not end within %.1fs", timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    # --- the thread --------------------------------------------------------------

    def _set_state(self, state: FeedState) -> None:
        with self._lock:
            self._state = state

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._n[name] += n

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                self._set_state(FeedState.CONNECTING)
                self._went_live = False
                try:
                    self._session()
                except _AuthRefused as e:
                    log.error("FEED_AUTH_FAILED %s: the server refused the API key", e)
                    self._set_state(FeedState.AUTH_FAILED)
                    return
                except Exception as e:  # noqa: BLE001 - the feed thread must outlive any session
                    if self._stop.is_set():
                        break
                    if not isinstance(e, _EXPECTED):
                        # A bug, not a network event: say so loudly, then
                        # reconnect rather than let ticks stop for the day.
                        log.exception("FEED_INTERNAL_ERROR reconnecting after %r", e)
                    if self._went_live:
                        attempt = 0  # a session that worked: start backing off afresh
                        log.warning("FEED_DISCONNECTED %s: %s", self.url, e)
                    delay = self.backoff.delay(attempt, self._rng.random())
                    attempt += 1
                    log.info("FEED_BACKOFF attempt=%d reconnect in %.2fs (%s)", attempt, delay, e)
                    self._set_state(FeedState.BACKOFF)
                    self._close()
                    self._sleep(delay)
                finally:
                    self._close()
        finally:
            if self.state is not FeedState.AUTH_FAILED:
                self._set_state(FeedState.STOPPED)

    def _close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except Exception:  # noqa: BLE001 - already broken; closing is best effort
                pass

    def narrow(self, keys: Iterable[str]) -> None:
        """Keep only ``keys`` subscribed: the symbols that trade today, once
        the day's plan is read (every configured symbol streams until then).
        Any thread may call it; the feed thread unsubscribes the others
        between two reads, and a reconnect subscribes only what is kept."""
        keep = set()
        for k in keys:
            sym, exch = split_key(k)
            keep.add(f"{exch}:{sym}")
        with self._lock:
            self._narrow_to = frozenset(keep)

    def _apply_narrow(self, *, subscribed: bool) -> None:
        if self._narrow_to is None:
            return  # the usual case, once per message: no lock taken
        with self._lock:
            keep, self._narrow_to = self._narrow_to, None
        if keep is None:
            return
        gone = [k for k in self.keys if k not in keep]
        if not gone:
            return
        self.keys = tuple(k for k in self.keys if k in keep)
        self._inbox.narrow(frozenset(self.keys))
        if subscribed and self._ws is not None:
            pairs = [split_key(k) for k in gone]
            self._send({"action": "unsubscribe", "mode": self.mode,
                        "symbols": [{"symbol": s, "exchange": e} for s, e in pairs]})  # fmt: skip
        log.info("FEED_NARROWED %d symbols kept, %d unsubscribed", len(self.keys), len(gone))

    def _session(self) -> None:
        # skip_utf8_validation: websocket-client's pure-Python check of every
        # text frame cost more than the rest of the read; a frame that is not
        # UTF-8 still cannot pass json.loads and is dropped as malformed.
        ws = websocket.create_connection(
            self.url, timeout=self.connect_timeout, skip_utf8_validation=True
        )
        if not isinstance(ws.sock, ssl.SSLSocket):
            ws.sock = _ReadAhead(ws.sock)
        self._ws = ws
        ws.settimeout(self.poll_interval)
        self._authenticate()
        self._apply_narrow(subscribed=False)
        self._subscribe_market_data()
        if self.want_order_updates:
            self._subscribe_orders()
        self._last_data_at = self.clock.now()
        reconnected = self._connected_once
        self._connected_once = True
        self._went_live = True
        self._set_state(FeedState.LIVE)
        log.info(
            "FEED_LIVE %s symbols=%d orders=%s",
            self.url,
            len(self.keys),
            self.order_updates_supported,
        )
        if reconnected:
            self._count("reconnects")
            self._call(self.on_reconnect)
        self._read_loop()

    def _send(self, msg: dict) -> None:
        assert self._ws is not None
        self._ws.send(json.dumps(msg))

    def _recv(self) -> dict | None:
        """One message, or None when nothing arrived within poll_interval.
        Non-object JSON and undecodable text count as malformed (returns {})."""
        assert self._ws is not None
        try:
            raw = self._ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except websocket.WebSocketConnectionClosedException as e:
            raise _Reconnect(f"connection closed: {e}") from None
        if not self._ws.connected:
            status = getattr(self._ws, "close_status", None)
            raise _Reconnect(f"server closed the connection (code {status})")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if not raw:
            raise _Reconnect("server closed the connection")
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            self._inbox.drop(f"not JSON: {raw[:80]!r}")
            return {}
        if not isinstance(msg, dict):
            self._inbox.drop(f"not a JSON object: {raw[:80]!r}")
            return {}
        return msg

    def _await(self, want: Callable[[dict], bool], timeout: float) -> dict | None:
        """Read until a message satisfying ``want`` (returned) or timeout
        (None). Everything else that arrives meanwhile is handled normally."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._stop.is_set():
                raise _Reconnect("stopping")
            msg = self._recv()
            if msg is None or not msg:
                continue
            if want(msg):
                return msg
            self.handle(msg)
        return None

    def _authenticate(self) -> None:
        self._send({"action": "authenticate", "api_key": self._api_key})
        reply = self._await(lambda m: m.get("type") == "auth" or is_error(m), self.reply_timeout)
        if reply is None:
            raise _Reconnect("no reply to authenticate")
        if reply.get("type") == "auth" and str(reply.get("status")).lower() == "success":
            return
        code = str(reply.get("code") or "").upper()
        message = str(reply.get("message") or reply.get("status") or "")
        if code in _AUTH_REFUSED_CODES or "api key" in message.lower():
            raise _AuthRefused(f"{code} {message}".strip())
        raise _Reconnect(f"authentication failed: {code} {message}".strip())

    def _subscribe_market_data(self) -> None:
        if not self.keys:
            return
        pairs = [split_key(k) for k in self.keys]
        if self.subscribe_form in (SubscribeForm.AUTO, SubscribeForm.LIST):
            self._send(
                {
                    "action": "subscribe",
                    "mode": self.mode,
                    "depth": 5,
                    "symbols": [{"symbol": s, "exchange": e} for s, e in pairs],
                }
            )
            reply = self._await(
                lambda m: m.get("type") == "subscribe" or is_error(m), self.reply_timeout
            )
            if reply is not None and reply.get("type") == "subscribe":
                self.subscribe_form = SubscribeForm.LIST
                self._log_subscribe(reply)
                return
            why = "no ack" if reply is None else f"error {reply.get('message')!r}"
            if self.subscribe_form is SubscribeForm.LIST:
                log.error("FEED_SUBSCRIBE_FAILED list form: %s", why)
                return
            log.warning("FEED_SUBSCRIBE_FALLBACK list form refused (%s): one per symbol", why)
            self.subscribe_form = SubscribeForm.SINGLE
        for symbol, exchange in pairs:
            self._send(
                {
                    "action": "subscribe",
                    "symbol": symbol,
                    "exchange": exchange,
                    "mode": self.mode,
                    "depth": 5,
                }
            )
            reply = self._await(
                lambda m: m.get("type") == "subscribe" or is_error(m), self.reply_timeout
            )
            if reply is None or is_error(reply):
                log.error(
                    "FEED_SUBSCRIBE_FAILED %s:%s: %s",
                    exchange,
                    symbol,
                    "no ack" if reply is None else reply.get("message"),
                )
            else:
                self._log_subscribe(reply)

    def _log_subscribe(self, reply: dict) -> None:
        subs = reply.get("subscriptions")
        for sub in subs if isinstance(subs, list) else []:
            if isinstance(sub, dict) and str(sub.get("status", "")).lower() != "success":
                log.error(
                    "FEED_SUBSCRIBE_FAILED %s:%s: %s",
                    sub.get("exchange"),
                    sub.get("symbol"),
                    sub.get("message"),
                )

    def _subscribe_orders(self) -> None:
        self._send({"action": "subscribe_orders"})
        reply = self._await(
            lambda m: m.get("type") == "subscribe_orders" or is_error(m), self.reply_timeout
        )
        ok = (
            reply is not None
            and reply.get("type") == "subscribe_orders"
            and str(reply.get("status")).lower() == "success"
        )
        if not ok and self.order_updates_supported is not False:
            log.warning(
                "FEED_NO_ORDER_UPDATES server %s order updates (%s): poller only",
                "refused" if reply else "did not acknowledge",
                (reply or {}).get("message", "timeout"),
            )
        self.order_updates_supported = ok

    def _read_loop(self) -> None:
        next_ping = time.monotonic() + self.ping_interval
        while not self._stop.is_set():
            self._apply_narrow(subscribed=True)
            msg = self._recv()
            if msg and msg.get("type") != "pong":
                self.handle(msg)
                # Silence counts from when we were ready to read again, so a
                # slow callback is not mistaken for a silent feed.
                self._last_data_at = self.clock.now()
            else:
                # Nothing (or only pongs / garbage) arrived: a socket kept
                # alive by pongs but carrying no data is the #810 failure.
                self._check_stale()
            if time.monotonic() >= next_ping:
                assert self._ws is not None
                self._ws.ping()
                next_ping = time.monotonic() + self.ping_interval

    def _check_stale(self) -> None:
        now = self.clock.now()
        if not self._is_market_open(now):
            self._last_data_at = now  # silence while closed is normal
            return
        if now - self._last_data_at > timedelta(seconds=self.stale_after):
            self._count("stale_events")
            log.warning(
                "FEED_STALE no message for %.0fs while the market is open; reconnecting",
                (now - self._last_data_at).total_seconds(),
            )
            raise _Reconnect("stale feed")

    # --- dispatch ---------------------------------------------------------------

    def handle(self, msg: Any) -> None:
        """Act on one decoded message (the feed thread calls this for each
        message it reads). Never raises: what it cannot read is dropped and
        counted."""
        item = self._inbox.read(msg, self.clock.now())
        if isinstance(item, Tick):
            self._call(self.on_tick, item)
        elif isinstance(item, OrderUpdate):
            self._call(self.on_order_update, item)

    def _call(self, fn: Callable | None, *args: Any) -> None:
        if fn is None:
            return
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a bad callback must not kill the feed
            self._count("callback_errors")
            log.exception("FEED_CALLBACK_ERROR in %s", getattr(fn, "__name__", fn))
        elapsed = time.monotonic() - t0
        if elapsed > self.slow_callback:
            self._count("slow_callbacks")
            log.warning(
                "FEED_SLOW_CALLBACK %s took %.3fs; messages wait in the socket buffer",
                getattr(fn, "__name__", fn),
                elapsed,
            )
