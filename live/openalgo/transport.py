"""HTTP to an OpenAlgo server: one pooled session, typed errors, bounded retries.

Every call is ``POST {host}/api/v1/<endpoint>`` with a JSON body carrying the
API key as ``"apikey"``. The official SDK opens a fresh connection per call,
waits up to 120 s and folds every failure into a dict; a live engine needs
connection reuse, short per-call timeouts and typed errors, so this uses one
pooled ``requests.Session`` with explicit (connect, read) timeouts and raises
the ``live.broker`` error types:

* transient (``TransientBrokerError``/``BrokerTimeout``/``RateLimited``):
  timeout, connection failure, HTTP 5xx, 429;
* permanent: ``OrderRejected`` (an order endpoint said no: HTTP 400 or
  ``"status":"error"`` with HTTP 200) and ``InvalidRequest`` (400/403/404 on
  other endpoints, bad API key, unknown symbol).

Each transient error carries ``request_sent``: False only when the request
provably never left (connection refused, connect timeout, local rate limit),
which is what lets the order path know whether to look for a placement.

Reads retry with bounded exponential backoff and jitter; nothing else is
retried here. The API key never appears in logs, exceptions or ``repr``.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from live.broker import (
    BrokerTimeout,
    InvalidRequest,
    OrderRejected,
    RateLimited,
    TransientBrokerError,
)
from live.ratelimit import RateLimiters, RateLimitExceeded, RateLimits

__all__ = ["Kind", "RetryPolicy", "Timeouts", "Transport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``order`` is the read timeout for placeorder/modify/cancel: a
    short one means an ambiguous outcome sooner (then the orderbook tells)."""

    connect: float = 3.05
    read: float = 10.0
    order: float = 8.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "order"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"timeouts.{name}: must be > 0 seconds, got {v!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, for reads only."""

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 2.0
    jitter: float = 0.5  # fraction of the delay that is randomised

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"retry.attempts: must be an int >= 1, got {self.attempts!r}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry.base_delay/max_delay: must be >= 0 seconds")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry.jitter: must be within 0..1, got {self.jitter!r}")

    def delay(self, attempt: int, rnd: float) -> float:
        raw = min(self.max_delay, self.base_delay * (2**attempt))
        return raw * (1 - self.jitter + self.jitter * rnd)


class Kind:
    """What a call does, which decides its read timeout and how a refusal reads."""

    READ = "read"
    ORDER = "order"
    NOTIFY = "notify"


# An order endpoint said "no": that is a rejection, not a malformed request.
_REJECT_CODES = frozenset({400, 200, 409, 422})


class _ApiKey:
    """Holds the key so that no repr, log line or traceback can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<api key hidden>"

    __str__ = __repr__


def _transient(message: str, *, sent: bool, code: int | None = None) -> TransientBrokerError:
    err = TransientBrokerError(message, code=code)
    err.request_sent = sent
    return err


class Transport:
    """Thread-safe: the session's pool, the limiters and the counters are
    shared by every thread; the lock guards counters only, never I/O."""

    def __init__(
        self,
        host: str,
        api_key: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimits | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        pool_size: int = 16,
    ):
        if not isinstance(host, str) or not host.startswith(("http://", "https://")):
            raise ValueError(f"host: {host!r} must be an http(s) URL, e.g. http://127.0.0.1:5000")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key: empty; set it in the environment (broker.api_key_env)")
        self.host = host.rstrip("/")
        self._key = _ApiKey(api_key.strip())
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._limits = rate_limits or RateLimits()
        self.limiters = RateLimiters(self._limits, monotonic=monotonic, sleep=sleep)
        if session is None:
            session = requests.Session()
            # max_retries=0: urllib3 must never resend a POST on its own.
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._n: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"Transport(host={self.host!r})"

    def close(self) -> None:
        self.session.close()

    # --- counters ---------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._n[name] += n

    def snapshot(self) -> tuple[dict[str, int], Counter[str]]:
        """(calls per endpoint, every named count) at one instant."""
        with self._lock:
            return dict(self._calls), Counter(self._n)

    def scrub(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, "***") if key else text

    # --- calls --------------------------------------------------------------------

    def post(
        self,
        endpoint: str,
        payload: Mapping[str, Any],
        kind: str,
        *,
        method: str = "POST",
        wait: bool = True,
    ) -> dict:
        """One HTTP exchange, classified. ``method="GET"`` sends the payload
        as the query (OpenAlgo's ``instruments`` is its one GET endpoint).
        ``wait=False``: no free slot in the class's window now raises a
        client-side RateLimited at once instead of waiting for one."""
        limiter = self.limiters.for_endpoint(endpoint)
        try:
            if wait:
                limiter.acquire()
            elif (left := limiter.try_acquire()) > 0:
                raise RateLimitExceeded(limiter.name, left)
        except RateLimitExceeded as e:
            err = RateLimited(f"{endpoint}: client-side {e}", retry_after=e.wait, code=None)
            err.request_sent = False
            raise err from None
        with self._lock:
            self._calls[endpoint] += 1
        read = self.timeouts.order if kind == Kind.ORDER else self.timeouts.read
        body = {"apikey": self._key.reveal(), **payload}
        url = f"{self.host}/api/v1/{endpoint}"
        try:
            if method == "GET":
                resp = self.session.get(url, params=body, timeout=(self.timeouts.connect, read))
            else:
                resp = self.session.post(url, json=body, timeout=(self.timeouts.connect, read))
        except requests.ConnectTimeout:
            err = BrokerTimeout(f"{endpoint}: connect timeout after {self.timeouts.connect}s")
            err.request_sent = False
            raise err from None
        except requests.ReadTimeout:
            err = BrokerTimeout(f"{endpoint}: no reply within {read}s (request was sent)")
            err.request_sent = True
            raise err from None
        except requests.ConnectionError as e:
            sent = not _never_connected(e)
            what = "connection lost after sending" if sent else "cannot connect"
            raise _transient(f"{endpoint}: {what}: {type(e).__name__}", sent=sent) from None
        except requests.RequestException as e:
            raise _transient(f"{endpoint}: HTTP failure {type(e).__name__}", sent=True) from None
        return self._classify(endpoint, resp, kind)

    def read(
        self,
        endpoint: str,
        payload: Mapping[str, Any] | None = None,
        *,
        method: str = "POST",
        wait: bool = True,
    ) -> dict:
        """A call with no side effect: retried on transient failure with
        bounded exponential backoff and jitter; a 429's retry_after is
        honoured by the class limiter, which the next attempt waits on."""
        payload = payload or {}
        for attempt in range(self.retry.attempts):
            try:
                return self.post(endpoint, payload, Kind.READ, method=method, wait=wait)
            except TransientBrokerError as e:
                client_side = isinstance(e, RateLimited) and e.code is None
                if client_side or attempt + 1 >= self.retry.attempts:
                    raise
                self.count("retries")
                delay = self.retry.delay(attempt, self._rng.random())
                log.info(
                    "RETRY endpoint=%s attempt=%d in=%.3fs: %s", endpoint, attempt + 1, delay, e
                )
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _classify(self, endpoint: str, resp: requests.Response, kind: str) -> dict:
        code = resp.status_code
        try:
            data = resp.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            data = None
        if not isinstance(data, dict):
            data = None
        message = self.scrub(str((data or {}).get("message") or resp.reason or "").strip())[:300]
        if code == 429:
            retry_after = _retry_after(data, resp.headers)
            self.count("rate_limited")
            penalty = min(retry_after, self._limits.retry_after_cap) if retry_after else 1.0
            self.limiters.for_endpoint(endpoint).penalize(penalty)
            log.warning(
                "RATE_LIMITED endpoint=%s retry_after=%s backing_off=%.2fs",
                endpoint,
                retry_after,
                penalty,
            )
            err = RateLimited(f"{endpoint}: HTTP 429 {message}", retry_after=retry_after)
            err.request_sent = False  # the limiter answers before the handler runs
            raise err
        if code >= 500:
            raise _transient(f"{endpoint}: HTTP {code} {message}", sent=True, code=code)
        if data is None:
            if code == 200:
                raise _transient(f"{endpoint}: reply is not a JSON object", sent=True, code=code)
            raise InvalidRequest(f"{endpoint}: HTTP {code} {message}", code=code)
        status = str(data.get("status", "")).lower()
        if code == 200 and status == "success":
            return data
        if code == 200 and status not in ("error", "failed", "failure"):
            shown = self.scrub(str(data.get("status")))[:40]
            raise _transient(f"{endpoint}: HTTP 200 with status {shown!r}", sent=True, code=code)
        if kind == Kind.ORDER and code in _REJECT_CODES:
            raise OrderRejected(f"{endpoint}: {message or 'rejected'}", code=code)
        raise InvalidRequest(f"{endpoint}: HTTP {code} {message}", code=code)


def _retry_after(data: Mapping | None, headers: Mapping) -> float | None:
    for raw in ((data or {}).get("retry_after"), headers.get("Retry-After")):
        try:
            if raw is not None and not isinstance(raw, bool):
                value = float(raw)
                if math.isfinite(value):
                    return max(value, 0.0)
        except (TypeError, ValueError, OverflowError):
            continue
    return None


def _never_connected(e: requests.ConnectionError) -> bool:
    """True when the TCP connection was never made (refused, DNS, connect
    timeout): then the request cannot have reached the server."""
    import urllib3.exceptions as u3

    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, u3.NewConnectionError | u3.ConnectTimeoutError | ConnectionRefusedError):
            return True
        if isinstance(cur, u3.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False
