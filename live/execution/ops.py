"""Operations: decided under the symbol's lock, executed outside it.

A decision marks its slot (claimed, or a call begun) before the lock is
released and returns one of these frozen values; the runner then makes the
broker call and commits the outcome through the slot's compare-and-set.
Each op names the slot (role and side) and the token it acts for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from live.broker import OrderRequest

from .slots import Role


@dataclass(frozen=True)
class Place:
    role: Role
    tag: str  # the slot: an entry's side, or "" for the stop and the exit
    token: int
    request: OrderRequest
    reason: str = ""
    attempt: int | None = None  # entries: the attempt number this placement uses
    emergency: bool = False  # a stop placed without the strategy's level
    retry: bool = False  # an entry placed again after a transient failure


@dataclass(frozen=True)
class Modify:
    role: Role
    tag: str
    token: int
    order_id: str
    request: OrderRequest
    previous: Decimal | None


@dataclass(frozen=True)
class CancelOrder:
    role: Role
    tag: str
    order_id: str
    token: int | None  # None: an orphan no slot holds (cancel and forget)
    reason: str


@dataclass(frozen=True)
class AskStatus:
    """Ask the broker for one order's state (an update may have been lost)."""

    order_id: str


@dataclass(frozen=True)
class Adopted:
    """An order we placed whose id reached us through the book first: the
    journal binds it to its intent."""

    role: Role
    order_id: str
    request: OrderRequest
    intent_id: int | None


@dataclass(frozen=True)
class Settle:
    """Ledger and risk bookkeeping after a fill or a finished entry."""

    ref: str = ""
    consume: Decimal = Decimal(0)  # the entry's fills so far tie up this much margin
    release_entry: bool = False  # the entry is finished: keep only ``consume``
    realized: Decimal | None = None
    opened: bool = False
    closed: bool = False


Op = Place | Modify | CancelOrder | AskStatus | Adopted | Settle
