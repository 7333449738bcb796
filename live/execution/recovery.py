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

from live.broker import OrderRequest, OrderUpdate, PriceType

from .ops import CancelOrder, Op, Settle
from .protection import follow_up
from .slots import Role
from .state import ExecState
from .updates import apply_update, register


def restore(
    st: ExecState, orders: list[tuple[str, Role, OrderUpdate]], broker_qty: int, ts: datetime
) -> tuple[list[Op], bool]:
    """Returns the ops to run and whether a position of ours is open."""
    ops: list[Op] = []
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
    for _order_id, _role, u in orders:
        ops.extend(apply_update(st, u, ts) or [])
    pos = st.position
    if broker_qty != pos.qty:
        st.emit("POSITION_MISMATCH", level=logging.WARNING, ours=pos.qty, broker=broker_qty)
    st.emit("RESTORED", phase=st.phase.value, orders=len(orders), position=pos.qty)
    # The broker's funds already reflect these fills: no ledger bookkeeping.
    ops = [op for op in ops if not isinstance(op, Settle)]
    ops.extend(follow_up(st, ts))
    st.settle_phase("restored")
    return ops, pos.qty != 0


def sync_position(st: ExecState, broker_qty: int, ts: datetime) -> list[Op]:
    """A *larger* broker position in our direction that persists over two
    polls with nothing of ours in flight is a fill we missed: take it and
    protect it (P2). Anything else is logged once per figure."""
    pos = st.position
    ours = pos.qty
    # An order of ours could explain the difference, and its fill will reach
    # us through the order stream or the orderbook; adopting now would count
    # that fill twice.
    busy = any(s.busy and not (s is st.stop and s.idle) for s in st.slots()) or any(
        r.role is not Role.STOP for r in st.orders.working()
    )
    if broker_qty == ours or busy:
        st.mismatch_polls = 0
        return []
    st.mismatch_polls += 1
    larger_ours = ours != 0 and (broker_qty > 0) == (ours > 0) and abs(broker_qty) > abs(ours)
    if larger_ours and st.mismatch_polls >= 2:
        st.mismatch_polls = 0
        pos.qty = broker_qty
        st.emit("POSITION_SYNC", level=logging.WARNING, ours=ours, broker=broker_qty)
        ops = follow_up(st, ts)
        st.settle_phase("position synced")
        return ops
    st.once(("mismatch", ours, broker_qty), "POSITION_MISMATCH", level=logging.WARNING,
            ours=ours, broker=broker_qty)  # fmt: skip
    return []


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
