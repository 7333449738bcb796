"""Estimated charges of an Indian intraday equity trade (what the contract
note will deduct), from the rates in config ``charges.*``.

The defaults are the NSE intraday (MIS) equity schedule of 2024-25 with a
discount broker's brokerage:

==================  ===================================================  ==========
charge              on                                                   default
==================  ===================================================  ==========
brokerage           each executed order: the lower of a flat fee and a   20 / 0.03%
                    percentage of its value
STT                 sell value                                           0.025%
exchange txn        buy + sell value (NSE)                               0.00297%
SEBI fee            buy + sell value                                     10 / crore
GST                 brokerage + exchange txn + SEBI fee                  18%
stamp duty          buy value                                            0.003%
==================  ===================================================  ==========

Each component is rounded to the paisa (half up); an estimate, not the
broker's contract note (which rounds STT to the rupee, for one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PAISE = Decimal("0.01")
CRORE = Decimal(10_000_000)
HUNDRED = Decimal(100)


def paise(x: Decimal) -> Decimal:
    return x.quantize(PAISE, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class OrderValue:
    """One executed order of the trade: its side and its filled value."""

    side: str  # "BUY" | "SELL"
    value: Decimal  # sum of quantity x price of its fills


@dataclass(frozen=True)
class Charges:
    brokerage: Decimal
    stt: Decimal
    exchange: Decimal
    sebi: Decimal
    gst: Decimal
    stamp: Decimal

    @property
    def total(self) -> Decimal:
        return self.brokerage + self.stt + self.exchange + self.sebi + self.gst + self.stamp

    def __add__(self, other: Charges) -> Charges:
        return Charges(*(getattr(self, f) + getattr(other, f) for f in FIELDS))


FIELDS = ("brokerage", "stt", "exchange", "sebi", "gst", "stamp")
ZERO = Charges(*(Decimal(0) for _ in FIELDS))


def estimate(orders: Iterable[OrderValue], rates: Any) -> Charges:
    """Charges of the executed ``orders`` under ``rates`` (a
    ``config.ChargesSettings``: percentages as written, e.g. 0.025 = 0.025%)."""
    orders = list(orders)
    buy = sum((o.value for o in orders if o.side == "BUY"), Decimal(0))
    sell = sum((o.value for o in orders if o.side == "SELL"), Decimal(0))
    turnover = buy + sell
    brokerage = sum(
        (min(rates.brokerage_per_order, o.value * rates.brokerage_pct / HUNDRED) for o in orders),
        Decimal(0),
    )
    exchange = turnover * rates.exchange_txn_pct / HUNDRED
    sebi = turnover * rates.sebi_per_crore / CRORE
    gst = (brokerage + exchange + sebi) * rates.gst_pct / HUNDRED
    return Charges(
        brokerage=paise(brokerage),
        stt=paise(sell * rates.stt_sell_pct / HUNDRED),
        exchange=paise(exchange),
        sebi=paise(sebi),
        gst=paise(gst),
        stamp=paise(buy * rates.stamp_buy_pct / HUNDRED),
    )
