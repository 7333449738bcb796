"""Value types shared by the simulator's parts: instruments, ticks, order
snapshots, fills and the event record the ground-truth queries replay.

Everything crossing a module boundary is a frozen dataclass; the matching
engine keeps its own mutable order records private and hands out snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum

from live.broker import (
    Action,
    Funds,
    Instrument,
    OrderStatus,
    OrderUpdate,
    Position,
    PriceType,
    Product,
)
from live.ticks import TickTable, is_tick_multiple

__all__ = [
    "SimInstrument",
    "SimTick",
    "OrderView",
    "Trade",
    "EventKind",
    "OrderEvent",
    "RequestRecord",
    "PositionView",
    "FundsView",
    "RejectionReply",
    "StopThroughMarket",
    "EngineConfig",
    "Notification",
    "SimHolding",
]


@dataclass(frozen=True)
class SimInstrument:
    """One tradable symbol. ``tick_table`` gives the tick for any price
    (price-banded NSE ticks by default). ``band_pct`` sets the circuit limits
    around ``prior_close`` (None: no price band)."""

    symbol: str
    exchange: str
    prior_close: Decimal
    tick_table: TickTable = field(default_factory=TickTable.nse_equity)
    lot_size: int = 1
    band_pct: Decimal | None = Decimal("0.20")
    name: str = ""
    token: str = ""
    # Some broker masters give tick_size in paise (5 meaning 0.05); the
    # `symbol` endpoint can imitate that so clients' sanity checks get tested.
    tick_size_in_paise: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.prior_close, Decimal) or self.prior_close <= 0:
            raise ValueError(f"prior_close: must be a Decimal > 0, got {self.prior_close!r}")
        if not isinstance(self.lot_size, int) or self.lot_size < 1:
            raise ValueError(f"lot_size: must be an int >= 1, got {self.lot_size!r}")
        if self.band_pct is not None and not (Decimal(0) < self.band_pct < Decimal(1)):
            raise ValueError(f"band_pct: must be in (0, 1) or None, got {self.band_pct}")
        if not self.symbol or not self.exchange:
            raise ValueError(
                "symbol/exchange: both required, e.g. SimInstrument('SBIN', 'NSE', ...)"
            )

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    def tick_for(self, price: Decimal) -> Decimal:
        return self.tick_table.tick_for(price)

    def on_grid(self, price: Decimal) -> bool:
        return is_tick_multiple(price, self.tick_for(price))

    @property
    def tick_size(self) -> Decimal:
        """The tick a broker master would list: the one for the prior close."""
        return self.tick_for(self.prior_close)

    @property
    def band(self) -> tuple[Decimal, Decimal] | None:
        if self.band_pct is None:
            return None
        lo = self.tick_table.round(self.prior_close * (1 - self.band_pct), "up")
        hi = self.tick_table.round(self.prior_close * (1 + self.band_pct), "down")
        return lo, hi

    def to_instrument(self) -> Instrument:
        return Instrument(
            symbol=self.symbol,
            exchange=self.exchange,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            name=self.name or self.symbol,
        )


@dataclass(frozen=True)
class SimTick:
    symbol: str
    exchange: str
    ltp: Decimal
    ts: datetime

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True)
class OrderView:
    """A snapshot of one order as the broker sees it. ``status`` uses
    OpenAlgo's strings (a partially filled order is still ``open``)."""

    order_id: str
    symbol: str
    exchange: str
    action: Action
    price_type: PriceType
    product: Product
    quantity: int
    filled_quantity: int
    price: Decimal
    trigger_price: Decimal
    average_price: Decimal
    status: OrderStatus  # never PARTIAL here: OPEN with 0 < filled < quantity
    rejection_reason: str
    strategy: str
    is_exit: bool
    placed_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    @property
    def pending_quantity(self) -> int:
        return 0 if self.status.is_terminal else self.quantity - self.filled_quantity

    @property
    def is_working(self) -> bool:
        return self.status.is_working

    def to_update(self, source: str = "sim") -> OrderUpdate:
        status = self.status
        if status is OrderStatus.OPEN and 0 < self.filled_quantity < self.quantity:
            status = OrderStatus.PARTIAL
        return OrderUpdate(
            order_id=self.order_id,
            symbol=self.symbol,
            exchange=self.exchange,
            action=self.action,
            status=status,
            quantity=self.quantity,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            price=self.price,
            trigger_price=self.trigger_price,
            price_type=self.price_type,
            rejection_reason=self.rejection_reason,
            timestamp=self.updated_at,
            source=source,
        )


@dataclass(frozen=True)
class Trade:
    trade_id: str
    order_id: str
    symbol: str
    exchange: str
    product: Product
    action: Action
    quantity: int
    price: Decimal
    ts: datetime

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"


class EventKind(str, Enum):
    ACCEPTED = "accepted"  # now working: open or trigger pending
    TRIGGERED = "triggered"  # a stop's trigger was hit: trigger pending -> open
    MODIFIED = "modified"
    FILL = "fill"  # a partial or final fill; see fill_quantity / fill_price
    CANCELLED = "cancelled"
    REJECTED = "rejected"


@dataclass(frozen=True)
class OrderEvent:
    """One state change of one order, in the engine's total order ``seq``.
    ``position_after`` is the symbol's net position (all products) right
    after the event, so ground-truth queries can replay exposure."""

    seq: int
    ts: datetime
    kind: EventKind
    order: OrderView
    fill_quantity: int = 0
    fill_price: Decimal = Decimal(0)
    position_after: int = 0

    @property
    def key(self) -> str:
        return self.order.key


@dataclass(frozen=True)
class RequestRecord:
    """One API request as it reached the simulator (REST or in-process):
    market time, endpoint, payload without the API key, reply status."""

    seq: int
    ts: datetime
    endpoint: str
    payload: dict
    status: int
    reply: dict = field(default_factory=dict, compare=False)
    fault: str = ""

    @property
    def symbol_key(self) -> str | None:
        sym, exch = self.payload.get("symbol"), self.payload.get("exchange")
        if isinstance(sym, str) and isinstance(exch, str):
            return f"{exch.upper()}:{sym.upper()}"
        return None


@dataclass(frozen=True)
class PositionView:
    symbol: str
    exchange: str
    product: Product
    quantity: int
    average_price: Decimal
    ltp: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.symbol}"

    @property
    def pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl

    def to_position(self) -> Position:
        return Position(symbol=self.symbol, exchange=self.exchange, product=self.product,
                        quantity=self.quantity, average_price=self.average_price, ltp=self.ltp,
                        pnl=self.pnl)  # fmt: skip


@dataclass(frozen=True)
class FundsView:
    available_cash: Decimal
    utilised: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    collateral: Decimal = Decimal(0)

    def to_funds(self) -> Funds:
        return Funds(available_cash=self.available_cash, collateral=self.collateral,
                     realized_pnl=self.realized_pnl, unrealized_pnl=self.unrealized_pnl,
                     utilised=self.utilised)  # fmt: skip


class RejectionReply(str, Enum):
    """How a placement the broker rejects (funds, tick, band...) is reported.
    ERROR: placeorder answers HTTP 400 {"status":"error"} (SimBroker raises
    OrderRejected) - the common OpenAlgo behaviour. ORDER_ID: placeorder
    succeeds with an id and the rejection shows only in orderstatus/updates,
    as Zerodha's RMS rejections do. Either way the order is in the book."""

    ERROR = "error"
    ORDER_ID = "order_id"


class StopThroughMarket(str, Enum):
    """A BUY stop with trigger <= LTP (or SELL stop with trigger >= LTP) at
    placement: brokers reject it ("trigger price ... should be higher than
    the last traded price"); TRIGGER accepts and triggers it at once."""

    REJECT = "reject"
    TRIGGER = "trigger"


@dataclass(frozen=True)
class EngineConfig:
    opening_cash: Decimal = Decimal("1000000")
    margin_rates: tuple[tuple[Product, Decimal], ...] = (
        (Product.MIS, Decimal("0.2")),
        (Product.CNC, Decimal("1")),
        (Product.NRML, Decimal("1")),
    )
    max_fill_qty_per_tick: int | None = None  # None: fill the whole remainder at once
    rejection_reply: RejectionReply = RejectionReply.ERROR
    stop_through_market: StopThroughMarket = StopThroughMarket.REJECT
    reject_after_close: bool = True  # orders at/after the session close are rejected

    def __post_init__(self) -> None:
        if not isinstance(self.opening_cash, Decimal) or self.opening_cash < 0:
            raise ValueError(f"opening_cash: must be a Decimal >= 0, got {self.opening_cash!r}")
        if self.max_fill_qty_per_tick is not None and self.max_fill_qty_per_tick < 1:
            raise ValueError("max_fill_qty_per_tick: must be >= 1 or None")
        for product, rate in self.margin_rates:
            if not isinstance(rate, Decimal) or not (Decimal(0) < rate <= Decimal(1)):
                raise ValueError(f"margin_rates[{product.value}]: must be a Decimal in (0, 1]")

    def margin_rate(self, product: Product) -> Decimal:
        for p, rate in self.margin_rates:
            if p is product:
                return rate
        return Decimal(1)


@dataclass(frozen=True)
class Notification:
    """One alert sent through the simulated ``telegram/notify`` (or
    ``SimBroker.notify``): market time, the OpenAlgo username, the text."""

    seq: int
    ts: datetime
    username: str
    message: str
    priority: int = 5


@dataclass(frozen=True)
class SimHolding:
    """A delivery holding carried in from earlier days (what ``holdings``
    lists; today's CNC buys show in the positionbook, as at a broker)."""

    symbol: str
    exchange: str
    quantity: int
    average_price: Decimal

    def __post_init__(self) -> None:
        if not self.symbol or not self.exchange:
            raise ValueError("holding: symbol and exchange are required")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValueError(f"holding {self.key}: quantity must be an int, got {self.quantity!r}")
        if self.quantity <= 0:
            raise ValueError(f"holding {self.key}: quantity must be > 0, got {self.quantity}")
        if not isinstance(self.average_price, Decimal) or self.average_price < 0:
            raise ValueError(
                f"holding {self.key}: average_price must be a Decimal >= 0, "
                f"got {self.average_price!r}"
            )

    @property
    def key(self) -> str:
        return f"{self.exchange.upper()}:{self.symbol.upper()}"
