"""Applying the broker's word on an order (under the lock): fills, ends, adoption.

An update is applied only when it is news under the one rule
(``live.orders``); its fill slice moves the position, its terminal state
clears the slot that names the order (compare-and-clear), and an order whose
placement reply has not reached us yet is recognised by its shape and
adopted into its slot, so its fill is protected before the reply arrives.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from live.broker import OrderRequest, OrderStatus, OrderUpdate

from .ops import Adopted, Op, Settle
from .protection import doom_others, follow_up, set_initial_stop
from .registry import OrderRecord
from .slots import OrderSlot, Role
from .state import EARLY_LIMIT, ExecState


def apply_update(st: ExecState, u: OrderUpdate, ts: datetime) -> list[Op] | None:
    """Apply one update. None when it taught us nothing (a repeat, an older
    state, not one of ours)."""
    ops: list[Op] = []
    if u.order_id not in st.orders:
        if u.order_id in st.attributed or _claims_refusal(st, u):
            return None
        slot = _adoptable(st, u)
        if slot is None:
            # Not ours yet, or not recognisable: keep it while a placement of
            # that side is in flight; the placing thread replays it.
            waiting = any(s.unknown_id and s.request.action is u.action for s in st.slots())
            if waiting and len(st.early) < EARLY_LIMIT:
                st.early.setdefault(u.order_id, []).append(u)
                return []
            return None
        ops.append(adopt(st, slot, u.order_id, ts))
    applied = st.orders.apply(u)
    if applied is None:
        if ops:
            ops += follow_up(st, ts)
            st.settle_phase("adopted")
        return ops or None
    rec = applied.record
    if applied.became_terminal and u.status is OrderStatus.REJECTED:
        st.stats.orders_rejected += 1
        st.emit(
            "ORDER_REJECTED",
            level=logging.ERROR,
            order_id=u.order_id,
            role=rec.role.value,
            reason=u.rejection_reason,
        )
    ops += _fill(st, rec, applied.fill.quantity, applied.fill.price, applied.fill.repriced)
    if applied.became_terminal:
        ops += _finished(st, rec, u, ts)
    ops += follow_up(st, ts)
    st.settle_phase(f"{rec.role.value} {u.status.value}")
    return ops


def adopt(st: ExecState, slot: OrderSlot, order_id: str, ts: datetime) -> Adopted:
    """Take ``order_id`` into ``slot`` (its placement reply is in flight or lost)."""
    request = slot.request
    ref = slot.ref if slot.role is Role.ENTRY else ""
    register(st, order_id, slot.role, slot.tag, request, ref)
    slot.adopt(order_id, ts)
    st.emit("ORDER_ADOPTED", order_id=order_id, role=slot.role.value)
    return Adopted(slot.role, order_id, request, slot.intent_id)


def register(
    st: ExecState, order_id: str, role: Role, tag: str, request: OrderRequest, ref: str = ""
) -> OrderRecord:
    """Know ``order_id`` as ours (once), whoever learnt it first."""
    if order_id not in st.orders:
        st.stats.orders_placed += 1
    return st.orders.add(
        order_id,
        role,
        tag,
        request.action,
        request.quantity,
        ref=ref,
        reference_price=request.trigger_price or request.price or Decimal(0),
    )


def refusal_key(action, quantity: int, price_type, trigger: Decimal | None) -> tuple:
    return (action, quantity, price_type, trigger or Decimal(0))


def _claims_refusal(st: ExecState, u: OrderUpdate) -> bool:
    """A rejected row of a placement already refused (and counted) in its
    reply: remember it, so it is neither adopted nor counted twice."""
    if u.status is not OrderStatus.REJECTED or u.filled_quantity:
        return False
    for key, count in st.refused_unseen.items():
        action, qty, price_type, trigger = key
        if (
            count
            and action is u.action
            and qty == u.quantity
            and (u.price_type is None or u.price_type is price_type)
            and trigger == (u.trigger_price or Decimal(0))
        ):
            st.refused_unseen[key] -= 1
            st.attributed.add(u.order_id)
            return True
    return False


def _adoptable(st: ExecState, u: OrderUpdate) -> OrderSlot | None:
    for slot in st.slots():
        r = slot.request
        if (
            slot.unknown_id
            and r is not None
            and u.action is r.action
            and u.quantity == r.quantity
            and u.symbol == r.symbol
            and (u.price_type is None or u.price_type is r.price_type)
            and (r.trigger_price is None or u.trigger_price == r.trigger_price)
        ):
            return slot
    return None


def _log_fill(st: ExecState, rec: OrderRecord, qty: int, **fields) -> None:
    """FILL for a fill first learnt now; FILL_KNOWN for one a previous run
    already logged (re-applied from the journal after a restart), so summing
    the log's FILL lines never counts a fill twice. A slice that spans both
    logs each part (at the slice's price)."""
    known = st.known_filled.get(rec.order_id, 0)
    before = rec.filled - qty
    old = max(0, min(qty, known - before))
    if old:
        st.emit("FILL_KNOWN", order_id=rec.order_id, role=rec.role.value, qty=old, **fields)
    if qty - old:
        st.emit("FILL", order_id=rec.order_id, role=rec.role.value, qty=qty - old, **fields)


def _fill(
    st: ExecState, rec: OrderRecord, qty: int, price: Decimal | None, repriced: int
) -> list[Op]:
    """Move the position by one fill slice of ``rec``."""
    ops: list[Op] = []
    pos = st.position
    if repriced and price is not None:
        change = pos.reprice(rec.action, rec.role is Role.ENTRY, repriced, price - rec.provisional)
        if change:
            ops.append(Settle(realized=change))
    if qty <= 0:
        return ops
    if price is None:
        # The broker reports no average yet (OpenAlgo: 0 until complete):
        # book at the order's own level, corrected when the average arrives.
        price = rec.reference_price or st.last_price or pos.average or rec.provisional
        rec.provisional = price
    st.fill_epoch += 1
    opposite = pos.qty != 0 and pos.side is not rec.action
    slot = st.slot_for(rec.role, rec.tag)
    unintended = rec.role is Role.ENTRY and (slot.doomed or not slot.matches(rec.order_id))
    effect = pos.apply(rec.action, qty, price)
    if rec.role is Role.ENTRY:
        if slot.matches(rec.order_id) and not slot.doomed:
            doom_others(st, rec.action)
        st.stats.fills += 1
        if effect.opened or effect.reversed:
            pos.best = price
            set_initial_stop(st)
        rec.tied += price * qty * st.config.margin_rate
        ops.append(Settle(ref=rec.ref, consume=rec.tied, opened=effect.opened))
        _log_fill(st, rec, qty, price=price)
        if opposite or (unintended and slot.doomed):
            # The other side of an OCO filled while its cancel was in flight:
            # whatever it opened is closed, and the day ends for the symbol.
            why = "both entries filled (OCO)"
            if effect.flat:
                st.done_reason = st.done_reason or why
            else:
                st.exit_reason = st.exit_reason or why
    else:
        st.stats.exits += 1
        _log_fill(st, rec, qty, price=price, pnl=effect.realized)
        if effect.reversed:
            # Our stop or exit sold more than we held: flatten what it opened.
            st.exit_reason = st.exit_reason or f"{rec.role.value} reversed the position"
    if effect.closed:
        ops.append(Settle(realized=effect.realized, closed=effect.flat))
    if effect.flat:
        _on_flat(st)
    return ops


def _on_flat(st: ExecState) -> None:
    st.stop_failures = st.stop_transient = 0
    st.bare_since = st.stop_wait_until = st.trail_wait_until = None
    st.replace_stop = False
    if st.exit_reason is not None:
        # Closed at market (cutoff, protection failure, OCO): the day is over.
        st.done_reason = st.done_reason or st.exit_reason
        st.exit_reason = None


def _finished(st: ExecState, rec: OrderRecord, u: OrderUpdate, ts: datetime) -> list[Op]:
    """The order is terminal: clear the slot that still names it."""
    slot = st.slot_for(rec.role, rec.tag)
    cleared = slot.finished(rec.order_id, ts)
    if rec.role is Role.ENTRY:
        return [Settle(ref=rec.ref, consume=rec.tied, release_entry=True)]
    if rec.role is Role.STOP and cleared and u.status is OrderStatus.REJECTED:
        st.stop_failures += 1
    return []
