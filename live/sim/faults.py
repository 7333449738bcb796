"""Fault plans: what goes wrong, and when, in a simulated session.

A ``FaultPlan`` is a tuple of frozen fault rules plus a seed; build it in
Python or load it from YAML (``FaultPlan.from_yaml``)::

    seed: 7
    faults:
      - {kind: latency, endpoint: orderbook, seconds: 0.2}
      - {kind: http_error, endpoint: placeorder, status: 500, calls: [2]}
      - {kind: http_error, endpoint: orderbook, status: 429, probability: 0.1}
      - {kind: timeout, endpoint: placeorder, calls: [1], delay: 3.0}
      - {kind: reject, calls: [3], reason: "RMS: blocked"}      # the 3rd placeorder
      - {kind: reject, symbol: SBIN, price_type: SL}            # every SL for SBIN
      - {kind: partial_fill, max_qty_per_tick: 10}
      - {kind: order_update, action: duplicate, calls: [1, 2]}
      - {kind: order_update, action: delay, probability: 0.3, delay: 30}
      - {kind: order_update, action: reorder, calls: [4]}
      - {kind: ws_drop, after_messages: 100}
      - {kind: ws_stall, at: "10:00:00", seconds: 60}

``calls`` are 1-based indexes of calls to that endpoint (for order updates:
of updates published); ``probability`` draws from the plan's seeded RNG.
A ``timeout`` applies the request and then holds the reply ``delay`` wall
seconds (past the client's timeout): the placement exists although the
client never hears of it. Latency and timeouts are wall seconds (client
timeouts are wall time); delays of order updates and stalls are market
seconds on the sim clock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, time, timedelta
from pathlib import Path

import yaml

__all__ = [
    "Latency",
    "HttpError",
    "Timeout",
    "Reject",
    "PartialFill",
    "UpdateFault",
    "WsDrop",
    "WsStall",
    "FaultPlan",
    "FaultInjector",
    "RequestFaults",
]


def _calls(value) -> tuple[int, ...]:
    calls = tuple(int(c) for c in (value or ()))
    if any(c < 1 for c in calls):
        raise ValueError(f"calls: indexes are 1-based, got {calls}")
    return calls


def _prob(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability: must be within 0..1, got {p}")
    return p


@dataclass(frozen=True)
class _Selector:
    """Which calls a rule hits: by endpoint, 1-based call index, probability."""

    endpoint: str | None = None
    calls: tuple[int, ...] = ()
    probability: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", _calls(self.calls))
        object.__setattr__(self, "probability", _prob(self.probability))

    def selects(self, endpoint: str, index: int, rng: random.Random) -> bool:
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        if self.calls:
            return index in self.calls
        if self.probability:
            return rng.random() < self.probability
        return True  # neither: every call to the endpoint


@dataclass(frozen=True)
class Latency(_Selector):
    seconds: float = 0.1


@dataclass(frozen=True)
class HttpError(_Selector):
    status: int = 500
    message: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.status not in (429, 500, 502, 503, 504):
            raise ValueError(f"http_error.status: one of 429/500/502/503/504, got {self.status}")


@dataclass(frozen=True)
class Timeout(_Selector):
    delay: float = 5.0  # wall seconds the reply is held after applying the request


@dataclass(frozen=True)
class Reject:
    """Reject chosen placements: the Nth placeorder (``calls``), or every
    order matching symbol/price_type/action, or a random share."""

    calls: tuple[int, ...] = ()
    symbol: str | None = None
    price_type: str | None = None
    action: str | None = None
    probability: float = 0.0
    reason: str = "RMS: order rejected by the simulated broker (fault plan)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", _calls(self.calls))
        object.__setattr__(self, "probability", _prob(self.probability))

    def selects(self, payload: Mapping, index: int, rng: random.Random) -> bool:
        if self.calls and index not in self.calls:
            return False
        for name, want in (
            ("symbol", self.symbol),
            ("pricetype", self.price_type),
            ("action", self.action),
        ):
            if want is not None and str(payload.get(name, "")).upper() != want.upper():
                return False
        if self.probability:
            return rng.random() < self.probability
        return True


@dataclass(frozen=True)
class PartialFill:
    max_qty_per_tick: int = 1
    symbol: str | None = None

    def __post_init__(self) -> None:
        if self.max_qty_per_tick < 1:
            raise ValueError("partial_fill.max_qty_per_tick: must be >= 1")


@dataclass(frozen=True)
class UpdateFault:
    """Disturb the order-update stream (WebSocket and in-process callbacks):
    ``duplicate`` sends an update twice, ``delay`` holds it ``delay`` market
    seconds, ``reorder`` holds it until the next update has gone out."""

    action: str = "duplicate"
    calls: tuple[int, ...] = ()
    probability: float = 0.0
    delay: float = 10.0

    def __post_init__(self) -> None:
        if self.action not in ("duplicate", "delay", "reorder"):
            raise ValueError(
                f"order_update.action: duplicate, delay or reorder, got {self.action!r}"
            )
        object.__setattr__(self, "calls", _calls(self.calls))
        object.__setattr__(self, "probability", _prob(self.probability))

    def selects(self, index: int, rng: random.Random) -> bool:
        if self.calls:
            return index in self.calls
        if self.probability:
            return rng.random() < self.probability
        return True


def _tod(value) -> time | None:
    if value is None or isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


@dataclass(frozen=True)
class WsDrop:
    """The server closes WebSocket connections: after ``after_messages``
    messages sent (counted over all connections), or at market time ``at``.
    ``abort`` cuts the TCP connection without a close frame."""

    after_messages: int | None = None
    at: time | None = None
    abort: bool = False
    times: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _tod(self.at))
        if (self.after_messages is None) == (self.at is None):
            raise ValueError("ws_drop: give exactly one of after_messages or at")


@dataclass(frozen=True)
class WsStall:
    """The server keeps sockets open but sends nothing (messages are lost)
    for ``seconds`` market seconds, from ``at`` or after ``after_messages``."""

    seconds: float = 30.0
    after_messages: int | None = None
    at: time | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _tod(self.at))
        if (self.after_messages is None) == (self.at is None):
            raise ValueError("ws_stall: give exactly one of after_messages or at")
        if self.seconds <= 0:
            raise ValueError("ws_stall.seconds: must be > 0")


_KINDS = {
    "latency": Latency,
    "http_error": HttpError,
    "timeout": Timeout,
    "reject": Reject,
    "partial_fill": PartialFill,
    "order_update": UpdateFault,
    "ws_drop": WsDrop,
    "ws_stall": WsStall,
}

Fault = Latency | HttpError | Timeout | Reject | PartialFill | UpdateFault | WsDrop | WsStall


@dataclass(frozen=True)
class FaultPlan:
    faults: tuple = ()
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(self.faults))
        for f in self.faults:
            if not isinstance(f, tuple(_KINDS.values())):
                raise ValueError(f"faults: {f!r} is not a fault rule")

    def of(self, kind: type) -> list:
        return [f for f in self.faults if isinstance(f, kind)]

    @staticmethod
    def from_dict(data: Mapping) -> FaultPlan:
        if not isinstance(data, Mapping):
            raise ValueError("fault plan: top level must be a mapping with 'faults' (and 'seed')")
        unknown = set(data) - {"faults", "seed"}
        if unknown:
            raise ValueError(f"fault plan: unknown keys {sorted(unknown)}; allowed: faults, seed")
        rules = []
        for i, raw in enumerate(data.get("faults") or ()):
            if not isinstance(raw, Mapping) or "kind" not in raw:
                raise ValueError(f"faults[{i}]: must be a mapping with a 'kind'")
            kind = raw["kind"]
            cls = _KINDS.get(kind)
            if cls is None:
                raise ValueError(f"faults[{i}].kind: {kind!r} unknown; one of {sorted(_KINDS)}")
            args = {k: v for k, v in raw.items() if k != "kind"}
            allowed = {f.name for f in fields(cls)}
            bad = set(args) - allowed
            if bad:
                raise ValueError(
                    f"faults[{i}] ({kind}): unknown keys {sorted(bad)}; allowed: {sorted(allowed)}"
                )
            try:
                rules.append(cls(**args))
            except (TypeError, ValueError) as e:
                raise ValueError(f"faults[{i}] ({kind}): {e}") from None
        return FaultPlan(faults=tuple(rules), seed=int(data.get("seed", 0)))

    @staticmethod
    def from_yaml(source: str | Path) -> FaultPlan:
        """Load from a YAML file path or a YAML string."""
        text = source
        if isinstance(source, Path) or (
            isinstance(source, str) and "\n" not in source and Path(source).exists()
        ):
            text = Path(source).read_text()
        return FaultPlan.from_dict(yaml.safe_load(text) or {})


@dataclass(frozen=True)
class RequestFaults:
    latency: float = 0.0
    http_status: int | None = None
    http_message: str = ""
    timeout_delay: float | None = None

    @property
    def label(self) -> str:
        parts = []
        if self.http_status:
            parts.append(f"http_{self.http_status}")
        if self.timeout_delay is not None:
            parts.append("timeout")
        if self.latency:
            parts.append("latency")
        return "+".join(parts)


@dataclass(eq=False)
class _Held:
    due: datetime | None  # None: release after the next update goes out
    item: object
    order: int = field(default=0)


class FaultInjector:
    """The stateful side of a plan: per-endpoint call counters, the seeded
    RNG, held-back order updates. Thread-safe."""

    def __init__(self, plan: FaultPlan | None = None):
        self.plan = plan or FaultPlan()
        self._rng = random.Random(self.plan.seed)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._updates = 0
        self._held: list[_Held] = []

    def count(self, endpoint: str) -> int:
        with self._lock:
            return self._counts.get(endpoint, 0)

    def on_request(self, endpoint: str) -> tuple[int, RequestFaults]:
        """Count a call to ``endpoint`` and decide its faults."""
        with self._lock:
            n = self._counts[endpoint] = self._counts.get(endpoint, 0) + 1
            latency = sum(
                f.seconds for f in self.plan.of(Latency) if f.selects(endpoint, n, self._rng)
            )
            status, message = None, ""
            for f in self.plan.of(HttpError):
                if f.selects(endpoint, n, self._rng):
                    status, message = f.status, f.message
                    break
            delay = None
            if status is None:
                for f in self.plan.of(Timeout):
                    if f.selects(endpoint, n, self._rng):
                        delay = f.delay
                        break
            return n, RequestFaults(latency, status, message, delay)

    def rejection(self, payload: Mapping, placeorder_index: int) -> str | None:
        with self._lock:
            for f in self.plan.of(Reject):
                if f.selects(payload, placeorder_index, self._rng):
                    return f.reason
        return None

    def fill_cap(self, symbol: str) -> int | None:
        caps = [
            f.max_qty_per_tick
            for f in self.plan.of(PartialFill)
            if f.symbol is None or f.symbol.upper() == symbol.upper()
        ]
        return min(caps) if caps else None

    # --- order-update shaping -------------------------------------------------------

    def shape_update(self, item, now: datetime) -> list:
        """Return what to deliver now for a newly published update ``item``
        (possibly nothing, possibly twice, possibly older held items first)."""
        with self._lock:
            self._updates += 1
            n = self._updates
            out: list = []
            action = None
            delay = 0.0
            for f in self.plan.of(UpdateFault):
                if f.selects(n, self._rng):
                    action, delay = f.action, f.delay
                    break
            if action == "delay":
                self._held.append(_Held(now + timedelta(seconds=delay), item))
            elif action == "reorder":
                self._held.append(_Held(None, item))
                return out
            else:
                out.append(item)
                if action == "duplicate":
                    out.append(item)
            # Reordered items go out right after the next update that does go out.
            if out:
                rest = []
                for h in self._held:
                    (out.append(h.item) if h.due is None else rest.append(h))
                self._held = rest
            out.extend(self._release_locked(now))
            return out

    def release_due(self, now: datetime) -> list:
        with self._lock:
            return self._release_locked(now)

    def _release_locked(self, now: datetime) -> list:
        due = [h for h in self._held if h.due is not None and h.due <= now]
        self._held = [h for h in self._held if h not in due]
        return [h.item for h in due]

    def held_count(self) -> int:
        with self._lock:
            return len(self._held)


def plan_of(faults: Iterable | FaultPlan | None, seed: int = 0) -> FaultPlan:
    if faults is None:
        return FaultPlan()
    if isinstance(faults, FaultPlan):
        return faults
    return FaultPlan(tuple(faults), seed)
