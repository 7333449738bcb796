"""Executing ops outside the lock, and landing every outcome in a defined slot state.

Each op was decided under the symbol's lock and its slot marked (PENDING,
MODIFYING, CANCELLING). Here the broker is called with no lock held, then
the lock is taken again and the outcome committed through the slot's
compare-and-set. Every way out of a call in flight lands somewhere defined:

===========================  ===============================================
outcome of a placement       slot lands in
===========================  ===============================================
order id returned            WORKING (or, if the slot gave up meanwhile, the
                             order is an orphan: registered, then cancelled)
AmbiguousOrderError          UNCONFIRMED (the book adopts it, or two reads
                             without it prove it absent)
other transient error        entries: RETRY (nothing reached the broker; the
                             poller places it again); stops/exits: EMPTY
refused by the broker        EMPTY (a stop failure counts toward the
                             close-at-market fallback)
bookkeeping raised before    EMPTY, the entry's attempt and admission given
the call (journal, ledger)   back: nothing was sent
anything else raised by the  UNCONFIRMED: the order may exist
broker call
===========================  ===============================================

A modify or cancel that fails for any reason rolls its slot back to
WORKING; an accepted cancel waits in CANCELLING for the broker's terminal
state. Bookkeeping after the call (journal, events) can fail without moving
any slot: its error is logged, the order stays known.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from live.broker import AmbiguousOrderError, BrokerError
from live.ratelimit import urgent

from .gate import Admission, Refusal
from .ops import Adopted, AskStatus, CancelOrder, Modify, Op, Place, Settle
from .protection import commit_stop_level, follow_up
from .slots import Role
from .updates import refusal_key, register

if TYPE_CHECKING:
    from .executor import SymbolExecutor

UNSENT, UNCONFIRMED, RETRY, REFUSED = "unsent", "unconfirmed", "retry", "refused"
TRANSIENT = "transient"  # a stop or exit that did not reach the broker (5xx, 429): not a refusal
INLINE_RETRIES = 2  # transient stop failures retried at once before backing off


def backoff(n: int) -> timedelta:
    """Market-time pause after the n-th failure in a row: 1, 2, 4 ... 30 s."""
    return timedelta(seconds=min(30, 2 ** max(0, n - 1)))


def shape_of(request) -> dict:
    """What an intent records of its order: enough to recognise it at the
    broker if the engine dies before the order's id is journaled."""
    return {
        "action": request.action.value,
        "quantity": request.quantity,
        "price_type": request.price_type.value,
        "trigger": str(request.trigger_price) if request.trigger_price is not None else None,
        "price": str(request.price) if request.price is not None else None,
    }


class OpRunner:
    def __init__(self, ex: SymbolExecutor):
        self.ex = ex
        self._handlers = {
            Place: self._place,
            Modify: self._modify,
            CancelOrder: self._cancel,
            AskStatus: self._ask_status,
            Adopted: self._adopted,
            Settle: self._settle,
        }

    @staticmethod
    def _lane(protective: bool):
        """Protective calls (stops, exits, cancels, resizes) take the rate
        limiter's priority lane."""
        return urgent() if protective else nullcontext()

    def run(self, ops: list[Op], ts: datetime) -> None:
        for op in ops:
            handler = self._handlers.get(type(op))
            if handler is None:
                raise TypeError(f"unknown op {op!r}: add it to OpRunner._handlers")
            try:
                handler(op, ts)
            except Exception as exc:  # noqa: BLE001 - handlers land their slot first; keep going
                self.ex.st.emit("OP_FAILED", level=logging.ERROR, op=type(op).__name__,
                                error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    # --- placements ----------------------------------------------------------------

    def _place(self, op: Place, ts: datetime) -> None:
        ex, st = self.ex, self.ex.st
        admission: Admission | None = None
        request = op.request
        try:
            if op.role is Role.ENTRY:
                got = ex.gate.admit(
                    ex.st.slot_for(op.role, op.tag).ref or st.entry_ref(op.attempt),
                    op.attempt,
                    request.quantity,
                    ex.margin_for(request),
                    ts,
                    retry=op.retry,
                    shape=shape_of(request),
                )
                if isinstance(got, Refusal):
                    return self._refused_at_gate(op, got, ts)
                admission = got
                intent_id = got.intent_id
            else:
                if op.role is Role.EXIT:
                    request = self._exit_request(op, ts)
                    if request is None:
                        return
                # Protection before bookkeeping: a stop or exit goes out even
                # when its intent cannot be journaled.
                symbol, role, detail = self._intent(op)
                intent_id = ex.journaled("record_intent", symbol, role, ts, detail)
        except Exception as exc:  # noqa: BLE001 - nothing was sent: land and give back
            return self._land(op, admission, UNSENT, exc, None, ts)
        with ex.lock:
            slot = st.slot_for(op.role, op.tag)
            current = slot.generation == op.token and slot.unknown_id
            if current:
                slot.intent_id = intent_id
                slot.request = request
        if not current:
            # Given up while we were admitting (cutoff, the other side filled).
            if admission is not None:
                ex.gate.release(admission.ref)
            return
        try:
            with self._lane(op.role is not Role.ENTRY):
                order_id = ex.broker.place_order(request)
        except AmbiguousOrderError as exc:
            return self._land(op, admission, UNCONFIRMED, exc, intent_id, ts)
        except BrokerError as exc:
            how = (RETRY if op.role is Role.ENTRY else TRANSIENT) if exc.transient else REFUSED
            return self._land(op, admission, how, exc, intent_id, ts)
        except BaseException as exc:
            self._land(op, admission, UNCONFIRMED, exc, intent_id, ts)
            if not isinstance(exc, Exception):
                raise
            return
        self._placed(op, request, order_id, admission, intent_id, ts)

    def _placed(
        self,
        op: Place,
        request: Any,
        order_id: str,
        admission: Admission | None,
        intent_id: int | None,
        ts: datetime,
    ) -> None:
        ex, st = self.ex, self.ex.st
        with ex.lock:
            slot = st.slot_for(op.role, op.tag)
            # Known as ours whatever happens next: an orphan's fill still counts.
            register(st, order_id, op.role, op.tag, request, admission.ref if admission else "")
            ours = slot.placed(op.token, order_id, ts)
            if ours and op.role is Role.STOP:
                st.stop_transient, st.stop_wait_until, st.bare_since = 0, None, None
            early = st.early.pop(order_id, [])
            follow = follow_up(st, ts) if ours else []
            st.settle_phase(f"{op.role.value} placed")
        if admission is not None:
            ex.gate.placed(admission)
        event = "STOP_PLACED" if op.role is Role.STOP else "ORDER_PLACED"
        st.emit(event, order_id=order_id, role=op.role.value, qty=request.quantity,
                trigger=request.trigger_price, reason=op.reason, attempt=op.attempt,
                emergency=op.emergency)  # fmt: skip
        ex.journaled("record_order", intent_id, st.symbol, op.role.value, order_id, request, ts)
        for u in early:
            ex.on_order_update(u, ts)
        if not ours:
            # The slot moved on (the position closed, the cutoff came): this
            # order would act on a position we no longer hold.
            self._cancel(CancelOrder(op.role, op.tag, order_id, None, "orphan"), ts)
        self.run(follow, ts)

    def _land(
        self,
        op: Place,
        admission: Admission | None,
        how: str,
        exc: BaseException,
        intent_id: int | None,
        ts: datetime,
    ) -> None:
        ex, st = self.ex, self.ex.st
        with ex.lock:
            slot = st.slot_for(op.role, op.tag)
            if how == UNCONFIRMED:
                moved = slot.unconfirmed(op.token, ts)
            elif how == RETRY:
                moved = slot.retry_later(op.token, ts)
            else:
                moved = slot.release(op.token, ts)
            if moved and op.role is Role.ENTRY and how == UNSENT and not op.retry:
                st.attempts -= 1  # nothing was sent: the attempt is not used
            if moved and how == REFUSED:
                st.stats.orders_rejected += 1
                r = op.request
                key = refusal_key(r.action, r.quantity, r.price_type, r.trigger_price)
                st.refused_unseen[key] = st.refused_unseen.get(key, 0) + 1
                if op.role is Role.STOP:
                    st.stop_failures += 1
            inline = moved and op.role is Role.STOP and how == REFUSED
            if moved and op.role is Role.STOP and how == TRANSIENT:
                # Rate limited or the broker briefly unreachable: never counted
                # as a refusal; retried at once twice, then with backoff (the
                # protection deadline still closes a position left bare).
                st.stop_transient += 1
                inline = st.stop_transient <= INLINE_RETRIES
                if not inline:
                    st.stop_wait_until = ts + backoff(st.stop_transient - INLINE_RETRIES)
            # A refused stop is tried again at once (up to the limit, then the
            # market exit); a failed exit waits for the next tick or poll.
            follow = follow_up(st, ts) if inline else []
            st.settle_phase(f"{op.role.value} {how}")
        if admission is not None:
            if how == UNCONFIRMED:
                ex.gate.placed(admission)  # it may exist and block margin
            elif how in (UNSENT, REFUSED, TRANSIENT):
                ex.gate.release(admission.ref)
        level = logging.WARNING if op.role is Role.ENTRY else logging.ERROR
        st.emit("ORDER_FAILED", level=level, role=op.role.value, outcome=how,
                error=f"{type(exc).__name__}: {exc}",
                transient=getattr(exc, "transient", False),
                ambiguous=isinstance(exc, AmbiguousOrderError))  # fmt: skip
        if how != UNCONFIRMED:
            ex.journaled("record_failure", intent_id, st.symbol, op.role.value, repr(exc), ts)
        self.run(follow, ts)

    def _refused_at_gate(self, op: Place, refusal: Refusal, ts: datetime) -> None:
        ex, st = self.ex, self.ex.st
        with ex.lock:
            slot = st.slot_for(op.role, op.tag)
            moved = slot.release(op.token, ts)
            if moved and not op.retry and not refusal.spent:
                st.attempts -= 1  # nothing was sent: the attempt is not used
            if moved and op.retry:
                ex.gate.release(slot.ref)
            st.settle_phase("entry refused")
            st.once(("refused", refusal.code), "ENTRY_REFUSED", level=logging.WARNING,
                    reason=refusal.reason, code=refusal.code)  # fmt: skip

    def _intent(self, op: Place) -> tuple:
        role = "emergency_stop" if op.emergency else op.role.value
        return (self.ex.st.symbol, role, {**shape_of(op.request), "reason": op.reason})

    def _exit_request(self, op: Place, ts: datetime):
        """A market exit for more than the broker holds opens the opposite
        position (the trader closed it by hand, or a fill we never heard of):
        sell at most what is there. One positionbook call; exits are rare."""
        ex, st = self.ex, self.ex.st
        held = ex.broker_holding(op.request.action)
        if held is None or held >= op.request.quantity:
            return op.request
        if held <= 0:
            with ex.lock:
                ops = ex.flat_at_broker(op, held, ts)
            self.run(ops, ts)
            return None
        st.emit("POSITION_MISMATCH", level=logging.WARNING, ours=op.request.quantity, broker=held)
        return replace(op.request, quantity=held)

    # --- modify, cancel, status --------------------------------------------------------

    def _modify(self, op: Modify, ts: datetime) -> None:
        ex, st = self.ex, self.ex.st
        with ex.lock:
            held = st.slot_for(op.role, op.tag).request
        resize = held is not None and held.quantity != op.request.quantity
        try:
            with self._lane(resize):
                ex.broker.modify_order(op.order_id, op.request)
        except Exception as exc:  # noqa: BLE001 - any failure: the order keeps what it had
            with ex.lock:
                st.slot_for(op.role, op.tag).end(op.token, ts)
                refused = isinstance(exc, BrokerError) and not exc.transient
                if resize and refused:
                    # Part of the position is bare: cancel and place it anew
                    # (counted as a stop failure: the limit closes at market).
                    st.stop_failures += 1
                    st.replace_stop = True
                    follow = follow_up(st, ts)
                else:
                    # A trail the broker would not take (or could not, now):
                    # the stop keeps its level; try again after a pause.
                    st.modify_failures += 1
                    st.trail_wait_until = ts + backoff(st.modify_failures)
                    follow = []
                st.settle_phase("modify failed")
            st.emit("MODIFY_FAILED", level=logging.WARNING, order_id=op.order_id, resize=resize,
                    error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            self.run(follow, ts)
            return
        with ex.lock:
            slot = st.slot_for(op.role, op.tag)
            if slot.end(op.token, ts, request=op.request):
                st.modify_failures = 0
                commit_stop_level(st, op.request.trigger_price)
                rec = st.orders.get(op.order_id)
                if rec is not None and op.request.trigger_price:
                    # An unpriced fill of the moved stop is first booked here.
                    rec.reference_price = op.request.trigger_price
                follow = follow_up(st, ts)
            else:
                follow = []
            st.settle_phase("modified")
        st.emit("STOP_MODIFIED", order_id=op.order_id, qty=op.request.quantity,
                trigger=op.request.trigger_price, previous=op.previous)  # fmt: skip
        self.run(follow, ts)

    def _cancel(self, op: CancelOrder, ts: datetime) -> None:
        ex, st = self.ex, self.ex.st
        try:
            with self._lane(True):
                ex.broker.cancel_order(op.order_id)
        except Exception as exc:  # noqa: BLE001 - any failure: still working as far as we know
            if op.token is not None:
                with ex.lock:
                    st.slot_for(op.role, op.tag).end(op.token, ts)
                    st.settle_phase("cancel failed")
            st.emit("CANCEL_FAILED", level=logging.WARNING, order_id=op.order_id,
                    error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            # Usually already filled or cancelled: ask, rather than wait for
            # an update that may have been lost.
            self._ask_status(AskStatus(op.order_id), ts)
            return
        st.emit("ORDER_CANCEL", order_id=op.order_id, role=op.role.value, reason=op.reason)

    def _ask_status(self, op: AskStatus, ts: datetime) -> None:
        ex = self.ex
        try:
            update = ex.broker.order_status(op.order_id)
        except Exception as exc:  # noqa: BLE001 - the poller's orderbook will tell
            ex.st.emit("STATUS_FAILED", level=logging.WARNING, order_id=op.order_id,
                       error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            return
        ex.on_order_update(update, ts)

    # --- bookkeeping -----------------------------------------------------------------

    def _adopted(self, op: Adopted, ts: datetime) -> None:
        self.ex.journaled("record_order", op.intent_id, self.ex.st.symbol, op.role.value,
                          op.order_id, op.request, ts)  # fmt: skip

    def _settle(self, op: Settle, ts: datetime) -> None:
        ledger, risk, symbol = self.ex.ledger, self.ex.risk, self.ex.st.symbol
        if ledger is not None and op.ref:
            if op.release_entry:
                ledger.settle(op.ref, op.consume)
            elif op.consume:
                ledger.consume(op.ref, op.consume)
        if risk is not None:
            if op.opened:
                risk.position_opened(symbol)
            if op.release_entry:
                risk.release(symbol)  # frees only a slot that never became a position
            if op.realized is not None:
                risk.record_realized(symbol, op.realized, ts)
            if op.closed:
                risk.position_closed(symbol)
