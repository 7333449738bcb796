"""Re-attaching after a restart, and the positionbook check (under the lock).

``restore`` takes today's orders of ours from the journal, each with the
broker's latest state of it, and registers every id *before* applying any
state, so a filled entry does not look unprotected while its working stop
is still being read back. The phase then follows from these facts.

``sync_position`` compares the broker's position with ours. The
positionbook lags the order stream, and a snapshot taken before a fill can
be applied after it (the seed's "poller clears in_position" duplicate
entry), so a smaller broker figure never reduces ours here: fills and exits
are learnt only from order states.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from live.broker import OrderRequest, OrderUpdate, PriceType

from .ops import CancelOrder, Op, Settle
from .protection import follow_up
from .slots import Role
from .state import ExecState
from .updates import apply_update, register


def restore(
    st: ExecState,
    orders: list[tuple[str, Role, OrderUpdate]],
    broker_qty: int,
    ts: datetime,
    known: dict[str, int] | None = None,
) -> tuple[list[Op], list[OrderUpdate], int]:
    """Returns the ops to run, the updates that taught us something (for the
    journal: what happened while the engine was down) and how many entry
    orders of ours are still working (each holds a risk slot). ``known``:
    each order's filled quantity the journal already holds (logged as
    FILL_KNOWN when re-applied, not as a new FILL)."""
    ops: list[Op] = []
    st.known_filled.update(known or {})
    for order_id, role, u in orders:
        request = _request_of(st, u)
        tag = u.action.value.lower() if role is Role.ENTRY else ""
        register(st, order_id, role, tag, request)
        if not u.status.is_working:
            continue
        slot = st.slot_for(role, tag)
        if slot.busy:
            # Two working orders of ours in one role (a crash between
            # placing a replacement and cancelling the original): keep one.
            ops.append(CancelOrder(role, tag, order_id, None, "duplicate after restart"))
            continue
        token = slot.claim(request, ts)
        slot.placed(token, order_id, ts)
    news: list[OrderUpdate] = []
    for _order_id, _role, u in orders:
        applied = apply_update(st, u, ts)
        if applied is not None:
            ops.extend(applied)
            news.append(u)
    # The broker's truth for what exists: nothing of ours is in flight now,
    # so a mismatch is acted on at once (a position sold by hand while we
    # were down must not get a fresh stop).
    ops.extend(sync_position(st, broker_qty, ts, now=True))
    pos = st.position
    st.emit("RESTORED", phase=st.phase.value, orders=len(orders), position=pos.qty)
    # The broker's funds already reflect these fills: no ledger bookkeeping.
    ops = [op for op in ops if not isinstance(op, Settle)]
    ops.extend(follow_up(st, ts))
    st.settle_phase("restored")
    working_entries = sum(1 for s in st.entries.values() if s.working_id)
    return ops, news, working_entries


def sync_position(
    st: ExecState, broker_qty: int, ts: datetime, epoch: int | None = None, *, now: bool = False
) -> list[Op]:
    """Compare the broker's position in our product with ours (both signed)
    and apply the mismatch policy (DESIGN.md, "Broker truth"):

    ==============================  ==============================================
    broker holds                    what the executor does
    ==============================  ==============================================
    the same as ours                nothing
    less, same side (a manual       shrink ours to the broker's, resize or cancel
    reduce or flatten)              our stop so it never covers more than is
                                    held, ALERT once; flat: no more entries today
    the opposite side               cancel our stops (they would add to it), ours
                                    is gone, ALERT, no more entries today
    more than ours, or a position   never adopted, protected or exited: our
    we never opened                 orders cover only ours; logged once
    ==============================  ==============================================

    The positionbook lags the order stream, and a snapshot taken before a
    fill can be applied after it (the seed's "poller clears in_position"):
    a figure read before our latest fill (``epoch``, the executor's fill
    count when the read began) is ignored, and a figure is acted on only
    when two reads in a row agree with nothing of ours in flight - unless
    ``now`` (at restart, when nothing of ours can be in flight)."""
    pos = st.position
    ours = pos.qty
    if broker_qty == ours:
        st.mismatch = None
        return []
    if epoch is not None and epoch != st.fill_epoch:
        return []  # read before a fill we have applied since
    if not now:
        # An order of ours in flight could explain the difference; its fill
        # reaches us through the order stream or the next orderbook.
        busy = any(s.busy and not (s is st.stop and s.idle) for s in st.slots())
        seen = (broker_qty, st.fill_epoch)
        if busy or st.mismatch != seen:
            st.mismatch = None if busy else seen
            return []
    st.mismatch = None
    same_side = broker_qty != 0 and ours != 0 and (broker_qty > 0) == (ours > 0)
    if ours != 0 and same_side and abs(broker_qty) < abs(ours):
        return _shrink(st, broker_qty, ts, "the broker holds less than the engine's position "
                       "(closed or reduced outside the engine)")  # fmt: skip
    if ours != 0 and broker_qty != 0 and not same_side:
        return _shrink(st, 0, ts, "the broker holds the opposite side of the engine's position")
    if ours != 0 and broker_qty == 0:
        return _shrink(st, 0, ts, "the broker holds no position (flattened outside the engine)")
    st.once(("foreign", broker_qty), "POSITION_FOREIGN", level=logging.WARNING, ours=ours,
            broker=broker_qty, action="never adopted: the engine trades only its own position")  # fmt: skip
    return []


def _shrink(st: ExecState, broker_qty: int, ts: datetime, why: str) -> list[Op]:
    """Ours becomes what the broker still holds (same side), or nothing."""
    pos = st.position
    before = pos.qty
    st.emit("ALERT", level=logging.ERROR, reason=why, ours=before, broker=broker_qty,
            action="position shrunk to the broker's; stop resized or cancelled")  # fmt: skip
    pos.qty = broker_qty
    ops: list[Op] = []
    if broker_qty == 0:
        pos.average = Decimal(0)
        pos.best = pos.stop = pos.initial_stop = pos.risk_per_unit = None
        st.exit_reason = None
        st.done_reason = st.done_reason or why
        ops.append(Settle(closed=True))
    ops += follow_up(st, ts)
    st.settle_phase("position reconciled with the broker")
    return ops


def _request_of(st: ExecState, u: OrderUpdate) -> OrderRequest:
    """The request behind an order we know only from the broker's view of it."""
    price_type = u.price_type or (
        PriceType.MARKET if u.trigger_price == 0 else st.config.stop_price_type
    )
    trigger = u.trigger_price if u.trigger_price > 0 else None
    price = u.price if u.price > 0 else None
    if price_type is PriceType.SL and price is None:
        price_type = PriceType.SL_M
    if price_type in (PriceType.SL, PriceType.SL_M) and trigger is None:
        price_type = PriceType.MARKET
    return OrderRequest(
        symbol=st.tradingsymbol,
        exchange=st.exchange,
        action=u.action,
        quantity=max(1, u.quantity),
        price_type=price_type,
        product=st.config.product,
        price=price if price_type in (PriceType.LIMIT, PriceType.SL) else None,
        trigger_price=trigger if price_type in (PriceType.SL, PriceType.SL_M) else None,
        strategy=st.config.strategy_tag,
    )
