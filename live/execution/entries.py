"""Entry decisions (under the lock): the strategy proposes, the executor disposes.

An Entry becomes an order only if every rule holds in the same critical
section that claims its slot and counts its attempt (P1): flat, no exit or
stop of ours still working, the side's slot empty, attempts left, inside the
entry window, the day not over, and a stop level the market has not already
crossed (a stop entry through the market fills at once at any price).
"""

from __future__ import annotations

import logging
from datetime import datetime

from live.broker import Action
from live.strategy import Cancel, Entry, Tick, decisions

from .ops import CancelOrder, Op, Place, Settle
from .slots import Role, SlotState
from .state import ExecState


def on_strategy(st: ExecState, tick: Tick) -> list[Op]:
    """Ask the strategy about ``tick`` and turn its answer into ops."""
    raw = st.call_strategy("on_tick", tick, st.context(tick.ts))
    try:
        wanted = decisions(raw)
    except TypeError as exc:
        st.once(("strategy", "on_tick", "type"), "STRATEGY_ERROR", level=logging.ERROR,
                rule="on_tick", error=str(exc))  # fmt: skip
        return []
    ops: list[Op] = []
    for d in wanted:
        if isinstance(d, Cancel):
            ops += cancel(st, d, tick.ts)
        else:
            ops += enter(st, d, tick)
    return ops


def enter(st: ExecState, entry: Entry, tick: Tick) -> list[Op]:
    slot = st.entries.get(entry.side)
    if slot is None or slot.busy:
        return []  # that side's entry is already placed or working
    if st.position.qty != 0 or st.exit.busy or st.stop.busy:
        return []
    if st.done_reason is not None or not st.session.in_entry_window(tick.ts):
        return []
    if st.attempts >= st.config.max_attempts:
        return []
    trigger = entry.trigger
    request_probe = st.request(entry.side, 1, st.config.entry_price_type, trigger)
    level = request_probe.trigger_price
    resting = tick.ltp < level if entry.side is Action.BUY else tick.ltp > level
    if not resting:
        return []
    qty = (
        entry.quantity
        if entry.quantity is not None
        else st.config.entry_quantity(level, st.lot_size)
    )
    if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
        st.once(("skip", "qty"), "ENTRY_SKIPPED", level=logging.WARNING,
                reason=f"quantity {qty!r} is below one lot of {st.lot_size}")  # fmt: skip
        return []
    # Attempts are counted, and numbered for the journal's claim; a number
    # is never reused, even when its attempt is refunded (nothing was sent).
    st.attempts += 1
    number = st.next_attempt
    st.next_attempt += 1
    request = st.request(entry.side, qty, st.config.entry_price_type, trigger)
    token = slot.claim(request, tick.ts, attempt=number)
    slot.ref = st.entry_ref(number)
    st.settle_phase(f"attempt {st.attempts}")
    return [Place(Role.ENTRY, slot.tag, token, request, reason="entry", attempt=number)]


def cancel(st: ExecState, c: Cancel, ts: datetime) -> list[Op]:
    ops: list[Op] = []
    for side, slot in st.entries.items():
        if c.side is not None and side is not c.side:
            continue
        if slot.idle and st.position.qty == 0:
            token = slot.begin(SlotState.CANCELLING, slot.order_id, ts)
            ops.append(CancelOrder(Role.ENTRY, slot.tag, slot.order_id, token, c.reason))
        elif slot.state is SlotState.RETRY:
            slot.abandon(ts)
            ops.append(Settle(ref=slot.ref, release_entry=True))
    st.settle_phase("strategy cancel")
    return ops


def stale_entries(st: ExecState, ts: datetime) -> list[Op]:
    """An entry unfilled for ``entry_timeout``: cancel it once, then wait for
    the broker's word (RACE #1: the id is cleared only by its update)."""
    ops: list[Op] = []
    for slot in st.entries.values():
        if not slot.idle or slot.placed_at is None:
            continue
        rec = st.orders.get(slot.order_id)
        if rec is not None and rec.filled > 0:
            continue
        if ts - slot.placed_at >= st.config.entry_timeout:
            token = slot.begin(SlotState.CANCELLING, slot.order_id, ts)
            ops.append(CancelOrder(Role.ENTRY, slot.tag, slot.order_id, token, "stale"))
    return ops


def retry_entries(st: ExecState, ts: datetime) -> list[Op]:
    """Poller: place again an entry whose placement never reached the broker
    (RACE #9: claimed under the lock, so a tick cannot place it too)."""
    ops: list[Op] = []
    for slot in st.entries.values():
        if slot.state is not SlotState.RETRY:
            continue
        still_wanted = (
            st.position.qty == 0
            and st.done_reason is None
            and st.session.in_entry_window(ts)
            and not st.exit.busy
        )
        if not still_wanted:
            slot.abandon(ts)
            ops.append(Settle(ref=slot.ref, release_entry=True))
            continue
        token = slot.claim(slot.request, ts)
        ops.append(Place(Role.ENTRY, slot.tag, token, slot.request, reason="retry",
                         attempt=slot.attempt, retry=True))  # fmt: skip
    if ops:
        st.settle_phase("entry retry")
    return ops
