"""The order slot: the only way an order id is written.

A slot holds at most one of our orders in one role (an entry named by its
tag, the stop, the market exit). Its states and every move between them are
one table, ``TRANSITIONS``; each method is a compare-and-set that moves
only out of the states it names and only for the order or the placement it was
given, so a thread acting on a decision another thread has overtaken changes
nothing (P6):

    EMPTY ──claim──> PENDING ──placed──> WORKING ──finished──> EMPTY
                        │ ├─ambiguous─> UNCONFIRMED ─adopt──> WORKING
                        │ │                        └─absent─> EMPTY
                        │ └─transient─> RETRY ─claim again─> PENDING
                        └─refused / abandoned──> EMPTY
    WORKING ─begin─> MODIFYING | CANCELLING ─rollback─> WORKING
                                            └─finished─> EMPTY

A placement is identified by a *token* (the slot's generation when it was
claimed); every move bumps the generation, so a reply for a placement the
slot gave up on cannot commit: its caller learns the order is an orphan and
cancels it. Slots are guarded by their executor's lock; they hold no lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from live.broker import OrderRequest


class SlotState(StrEnum):
    EMPTY = "empty"
    PENDING = "pending"  # placement call in flight, id unknown
    UNCONFIRMED = "unconfirmed"  # placement failed ambiguously: the order may exist
    RETRY = "retry"  # placement failed before reaching the broker: place it again
    WORKING = "working"  # at the broker with a known id
    MODIFYING = "modifying"  # modify call in flight
    CANCELLING = "cancelling"  # cancel call in flight

    @property
    def transitional(self) -> bool:
        """A call is in flight or its outcome is unknown."""
        return self in _TRANSITIONAL


_TRANSITIONAL = frozenset(
    {SlotState.PENDING, SlotState.UNCONFIRMED, SlotState.MODIFYING, SlotState.CANCELLING}
)

S = SlotState
TRANSITIONS: dict[SlotState, frozenset[SlotState]] = {
    S.EMPTY: frozenset({S.PENDING}),
    S.PENDING: frozenset({S.WORKING, S.UNCONFIRMED, S.RETRY, S.EMPTY}),
    S.UNCONFIRMED: frozenset({S.WORKING, S.EMPTY}),
    S.RETRY: frozenset({S.PENDING, S.EMPTY}),
    S.WORKING: frozenset({S.MODIFYING, S.CANCELLING, S.EMPTY}),
    S.MODIFYING: frozenset({S.WORKING, S.EMPTY}),
    S.CANCELLING: frozenset({S.WORKING, S.EMPTY}),
}

ABSENT_AFTER_READS = 2  # orderbook reads without an unconfirmed order before it is given up


class SlotTransitionError(RuntimeError):
    """A move the table does not allow: a bug in the caller, never data."""


class Role(StrEnum):
    ENTRY = "entry"
    STOP = "stop"
    EXIT = "exit"


@dataclass
class OrderSlot:
    role: Role
    tag: str = ""
    state: SlotState = SlotState.EMPTY
    order_id: str | None = None
    request: OrderRequest | None = None  # what is (or was last) asked of the broker
    generation: int = 0
    since: datetime | None = None  # when the current state began (market time)
    since_wall: float = 0.0  # ...and on the wall (monotonic): the watchdog's measure
    absent_reads: int = 0
    attempt: int | None = None  # entries: the journal's attempt number
    ref: str = ""  # entries: the buying-power reservation
    intent_id: int | None = None  # the journal intent of the placement in flight
    placed_at: datetime | None = None  # when the order reached the broker (entry timeout)
    # An entry cancelled because the other side filled (OCO): cancelled until
    # it is gone, and a fill of it is unintended and closed at once.
    doomed: bool = False

    # --- reading ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.state is not SlotState.EMPTY

    @property
    def working_id(self) -> str | None:
        """The id of an order known to be at the broker."""
        if self.state in (SlotState.WORKING, SlotState.MODIFYING, SlotState.CANCELLING):
            return self.order_id
        return None

    @property
    def idle(self) -> bool:
        """Working with no call in flight: free to modify or cancel."""
        return self.state is SlotState.WORKING

    @property
    def unknown_id(self) -> bool:
        """Placed or being placed, id not known yet: the book may reveal it."""
        return self.state in (SlotState.PENDING, SlotState.UNCONFIRMED)

    def matches(self, order_id: str | None) -> bool:
        return order_id is not None and order_id == self.order_id

    def describe(self) -> str:
        if self.state is SlotState.EMPTY:
            return "-"
        return f"{self.state.value}:{self.order_id}" if self.order_id else self.state.value

    # --- moves -----------------------------------------------------------------

    def _to(self, new: SlotState, now: datetime | None) -> None:
        if new not in TRANSITIONS[self.state]:
            raise SlotTransitionError(
                f"{self.role.value}{'/' + self.tag if self.tag else ''}: "
                f"{self.state.value} -> {new.value} is not allowed"
            )
        self.state = new
        self.generation += 1
        self.since = now
        self.since_wall = time.monotonic()
        if new is SlotState.EMPTY:
            self.order_id = None
            self.absent_reads = 0
            self.doomed = False

    def claim(self, request: OrderRequest, now: datetime, attempt: int | None = None) -> int:
        """EMPTY or RETRY -> PENDING: this thread places ``request``. Returns the token."""
        self._to(SlotState.PENDING, now)
        self.request = request
        self.order_id = None
        self.intent_id = None
        if attempt is not None:
            self.attempt = attempt
        return self.generation

    def placed(self, token: int, order_id: str, now: datetime) -> bool:
        """The placement returned ``order_id``. False: the slot gave up on
        this placement meanwhile, and the order is an orphan to cancel."""
        if self.state is SlotState.PENDING and self.generation == token:
            self._to(SlotState.WORKING, now)
            self.order_id = order_id
            self.placed_at = now
            return True
        # The book showed the order before the reply did: already adopted.
        return self.working_id == order_id

    def unconfirmed(self, token: int, now: datetime) -> bool:
        """The placement failed in a way that leaves the order's existence unknown."""
        if self.state is SlotState.PENDING and self.generation == token:
            self._to(SlotState.UNCONFIRMED, now)
            return True
        return False

    def retry_later(self, token: int, now: datetime) -> bool:
        """The placement provably never reached the broker; place it again later."""
        if self.state is SlotState.PENDING and self.generation == token:
            self._to(SlotState.RETRY, now)
            return True
        return False

    def release(self, token: int, now: datetime) -> bool:
        """The placement failed for good (refused, or never sent): no order exists."""
        if self.state is SlotState.PENDING and self.generation == token:
            self._to(SlotState.EMPTY, now)
            return True
        return False

    def adopt(self, order_id: str, now: datetime) -> bool:
        """The broker's book shows the order behind a PENDING/UNCONFIRMED slot."""
        if not self.unknown_id:
            return False
        self._to(SlotState.WORKING, now)
        self.order_id = order_id
        self.placed_at = now
        return True

    def absent(self, now: datetime) -> bool:
        """One more orderbook read without the UNCONFIRMED order. True when
        it is given up (the slot is EMPTY again)."""
        if self.state is not SlotState.UNCONFIRMED:
            return False
        self.absent_reads += 1
        if self.absent_reads < ABSENT_AFTER_READS:
            return False
        self._to(SlotState.EMPTY, now)
        return True

    def abandon(self, now: datetime) -> bool:
        """Give up a placement in flight or queued for retry (its thread will
        find its token stale and cancel what it placed)."""
        if self.state in (SlotState.PENDING, SlotState.RETRY):
            self._to(SlotState.EMPTY, now)
            return True
        return False

    def begin(self, state: SlotState, order_id: str, now: datetime) -> int | None:
        """WORKING(order_id) -> MODIFYING or CANCELLING. Returns the token,
        or None if the slot is not idle on that order."""
        if state not in (SlotState.MODIFYING, SlotState.CANCELLING):
            raise SlotTransitionError(f"begin: {state.value} is not a call state")
        if self.state is not SlotState.WORKING or self.order_id != order_id:
            return None
        self._to(state, now)
        return self.generation

    def end(self, token: int, now: datetime, request: OrderRequest | None = None) -> bool:
        """A modify returned (either way) or a cancel was refused: back to
        WORKING if the slot is still in that call; a modify records the
        request the broker now holds. An accepted cancel does not end here: the
        slot stays CANCELLING until the broker confirms the order terminal, so
        nothing treats a stop as gone before it is."""
        if self.generation != token or self.state not in (
            SlotState.MODIFYING,
            SlotState.CANCELLING,
        ):
            return False
        self._to(SlotState.WORKING, now)
        if request is not None:
            self.request = request
        return True

    def finished(self, order_id: str, now: datetime) -> bool:
        """Compare-and-clear: the broker says ``order_id`` is terminal. Clears
        the slot only if it still names that order."""
        if self.working_id is None or self.order_id != order_id:
            return False
        self._to(SlotState.EMPTY, now)
        return True
