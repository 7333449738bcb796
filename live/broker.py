"""The broker seam: what the engine needs from a broker, as frozen dataclasses.

Strategy code sees only these types. ``live.openalgo`` turns OpenAlgo's
JSON into them; ``sim`` and the tests' fakes produce them directly. Prices are
``Decimal``, quantities ``int``, timestamps aware IST datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Protocol, runtime_checkable


class Action(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Action:
        return Action.SELL if self is Action.BUY else Action.BUY


class PriceType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-limit: trigger_price and price
    SL_M = "SL-M"  # stop-market: trigger_price only


class Product(str, Enum):
    MIS = "MIS"
    CNC = "CNC"
    NRML = "NRML"


class OrderStatus(str, Enum):
    """Our order states. OpenAlgo's strings map onto these in one place
    (``live.openalgo.convert``); ``PARTIAL`` is ours, derived from filled quantity."""

    OPEN = "open"
    TRIGGER_PENDING = "trigger pending"
    PARTIAL = "partial"
    COMPLETE = "complete"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.REJECTED, OrderStatus.CANCELLED)

    @property
    def is_working(self) -> bool:
        return not self.is_terminal

    @property
    def rank(self) -> int:
        """Progress order, so an older state never overwrites a newer one."""
        return _STATUS_RANK[self]


_STATUS_RANK = {
    OrderStatus.TRIGGER_PENDING: 0,
    OrderStatus.OPEN: 1,
    OrderStatus.PARTIAL: 2,
    OrderStatus.COMPLETE: 3,
    OrderStatus.REJECTED: 3,
    OrderStatus.CANCELLED: 3,
}


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    exchange: str
    action: Action
    quantity: int
    price_type: PriceType
    product: Product = Product.MIS
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    strategy: str = "live8020"

    def __post_init__(self) -> None:
        if not isinstance(self.quantity, int) or isinstance(self.quantity, bool):
            raise ValueError(f"quantity: must be an int, got {self.quantity!r}")
        if self.quantity <= 0:
            raise ValueError(f"quantity: must be > 0, got {self.quantity}")
        for name in ("price", "trigger_price"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, Decimal):
                raise ValueError(f"{name}: must be a Decimal, got {type(v).__name__} {v!r}")
        pt = self.price_type
        if pt in (PriceType.SL, PriceType.SL_M) and self.trigger_price is None:
            raise ValueError(f"trigger_price: required for a {pt.value} order")
        if pt in (PriceType.LIMIT, PriceType.SL) and self.price is None:
            raise ValueError(f"price: required for a {pt.value} order")

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True)
class OrderUpdate:
    """One observed state of one order, from the WebSocket, the orderbook or
    orderstatus. ``filled_quantity`` may be unknown (None) on live replies."""

    order_id: str
    symbol: str
    exchange: str
    action: Action
    status: OrderStatus
    quantity: int
    filled_quantity: int | None = None
    average_price: Decimal = Decimal(0)
    price: Decimal = Decimal(0)
    trigger_price: Decimal = Decimal(0)
    price_type: PriceType | None = None
    rejection_reason: str = ""
    timestamp: datetime | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not self.order_id:
            raise ValueError("order_id: empty; an update must name its order")
        if self.quantity < 0:
            raise ValueError(f"quantity: must be >= 0, got {self.quantity}")
        fq = self.filled_quantity
        if fq is not None and not 0 <= fq <= self.quantity:
            raise ValueError(f"filled_quantity: {fq} outside 0..quantity ({self.quantity})")

    @property
    def filled(self) -> int:
        """Filled quantity, taking COMPLETE without a count as fully filled."""
        if self.filled_quantity is not None:
            return self.filled_quantity
        return self.quantity if self.status is OrderStatus.COMPLETE else 0

    @property
    def dedup_key(self) -> tuple[str, OrderStatus, int]:
        return (self.order_id, self.status, self.filled)

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True)
class Position:
    symbol: str
    exchange: str
    product: Product
    quantity: int  # signed: long > 0, short < 0
    average_price: Decimal = Decimal(0)
    ltp: Decimal = Decimal(0)
    pnl: Decimal = Decimal(0)

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True)
class Funds:
    available_cash: Decimal
    collateral: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    utilised: Decimal = Decimal(0)


@dataclass(frozen=True)
class Instrument:
    symbol: str
    exchange: str
    tick_size: Decimal
    lot_size: int = 1
    name: str = ""

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True)
class Bar:
    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0


@dataclass(frozen=True)
class Quote:
    symbol: str
    exchange: str
    ltp: Decimal
    timestamp: datetime | None = None
    extra: dict = field(default_factory=dict, compare=False)


# --- errors -----------------------------------------------------------------


class BrokerError(Exception):
    """Base of every broker failure. ``transient`` says whether retrying the
    same call later may succeed; ``code`` is the HTTP status when known."""

    transient = False

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code


class TransientBrokerError(BrokerError):
    """Timeout, connection failure, HTTP 5xx: the call may or may not have
    taken effect (for an order placement, look before retrying)."""

    transient = True


class BrokerTimeout(TransientBrokerError):
    pass


class RateLimited(TransientBrokerError):
    def __init__(self, message: str, *, retry_after: float | None = None, code: int | None = 429):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class OrderRejected(BrokerError):
    """The broker refused the order (validation, funds, price band...)."""


class InvalidRequest(BrokerError):
    """Bad request, bad API key, unknown symbol: fix the input, do not retry."""


class AmbiguousOrderError(TransientBrokerError):
    """A placement failed in a way that leaves unknown whether the order
    exists (timeout after the request was sent). Callers must reconcile from
    the orderbook before placing again; never blindly retry."""


# --- the protocol -------------------------------------------------------------


@runtime_checkable
class Broker(Protocol):
    def place_order(self, request: OrderRequest) -> str:
        """Place an order and return the broker's order id."""

    def modify_order(self, order_id: str, request: OrderRequest) -> None: ...

    def cancel_order(self, order_id: str) -> None: ...

    def order_status(self, order_id: str) -> OrderUpdate: ...

    def orderbook(self) -> list[OrderUpdate]: ...

    def positions(self) -> list[Position]: ...

    def funds(self) -> Funds: ...

    def instrument(self, symbol: str, exchange: str) -> Instrument: ...

    def daily_bars(self, symbol: str, exchange: str, start: date, end: date) -> list[Bar]: ...


def split_key(key: str) -> tuple[str, str]:
    """'NSE:SBIN' -> ('SBIN', 'NSE')."""
    exchange, sep, symbol = key.partition(":")
    if not sep or not exchange or not symbol:
        raise ValueError(f"symbol: {key!r} must be EXCHANGE:SYMBOL, e.g. NSE:SBIN")
    return symbol.strip().upper(), exchange.strip().upper()
