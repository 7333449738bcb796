"""The executor's settings: how orders are sized, typed and kept (not when to trade)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal

from live.broker import PriceType, Product


@dataclass(frozen=True)
class ExecConfig:
    quantity: int | None = 1  # fixed quantity per entry (rounded down to the lot size)
    capital_per_trade: Decimal | None = None  # or size from capital; one of the two
    max_attempts: int = 2  # entry orders per symbol per day
    entry_timeout: timedelta = timedelta(minutes=30)  # cancel an entry unfilled this long
    margin_rate: Decimal = Decimal("0.2")  # cash reserved per rupee of notional (MIS ~ 5x)
    product: Product = Product.MIS
    stop_price_type: PriceType = PriceType.SL_M
    entry_price_type: PriceType = PriceType.SL_M
    stop_limit_ticks: int = 20  # SL orders: limit this many ticks beyond the trigger
    # Move a trailing stop only by at least this much R (and a tick): every
    # modify costs an order-rate slot (10/s at OpenAlgo) and a broker round trip.
    trail_step_r: Decimal = Decimal("0.25")
    stop_retry_limit: int = 3  # failed stop placements before closing at market
    # Where the stop goes when the strategy cannot say (its rule raised):
    # this percent of the average price away from it.
    emergency_stop_pct: Decimal = Decimal(1)
    strategy_tag: str = "live8020"
    # When a brake engages (kill switch, daily loss limit): resting entries
    # are cancelled either way; "flatten" also closes open positions.
    on_brake: str = "hold"
    # Wall seconds a held position may go without a working stop-loss (the
    # broker keeps failing transiently, 429s) before it is closed at market.
    protection_deadline: float = 30.0
    # Wall seconds a broker call may stay in flight before the watchdog
    # steps in (the adapter's own timeouts make this a last resort).
    stuck_after: float = 30.0

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.capital_per_trade is None):
            raise ValueError("strategy: give exactly one of quantity or capital_per_trade")
        if self.quantity is not None and self.quantity <= 0:
            raise ValueError(f"strategy.quantity: must be > 0, got {self.quantity}")
        if self.capital_per_trade is not None and self.capital_per_trade <= 0:
            raise ValueError(
                f"strategy.capital_per_trade: must be > 0, got {self.capital_per_trade}"
            )
        if self.max_attempts < 1:
            raise ValueError(f"strategy.max_attempts: must be >= 1, got {self.max_attempts}")
        if self.stop_retry_limit < 1:
            raise ValueError("strategy.stop_retry_limit: must be >= 1")
        if self.margin_rate <= 0:
            raise ValueError(f"strategy.margin_rate: must be > 0, got {self.margin_rate}")
        if not 0 < self.emergency_stop_pct < 50:
            raise ValueError(
                f"strategy.emergency_stop_pct: must be in (0, 50), got {self.emergency_stop_pct}"
            )
        if self.on_brake not in ("hold", "flatten"):
            raise ValueError(f"risk.on_brake: must be hold or flatten, got {self.on_brake!r}")
        for pt in (self.stop_price_type, self.entry_price_type):
            if pt not in (PriceType.SL, PriceType.SL_M):
                raise ValueError(f"strategy.stop_order_type: must be SL or SL-M, got {pt}")

    def entry_quantity(self, trigger: Decimal, lot_size: int) -> int:
        """Units for an entry at ``trigger``: fixed or from capital, whole lots."""
        if self.quantity is not None:
            qty = self.quantity
        else:
            qty = int((self.capital_per_trade / trigger).to_integral_value(ROUND_FLOOR))
        lot = max(1, lot_size)
        return qty - qty % lot
