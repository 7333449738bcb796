"""Keeping a position protected, and closing it (decisions, under the lock).

After every change the executor calls ``follow_up``: while it holds a
position there is exactly one working stop covering exactly that position
(placed if missing, resized after a partial fill, trailed with the ratchet
and the minimum step), or the position is being closed at market; while it
is flat, no stop of ours is left working (it would open a new position).

A stop of ours never covers more than we hold and never sits on the wrong
side: if our position shrinks, reverses or vanishes, the stop is resized or
cancelled before anything else is placed (P10).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from live.broker import Action, PriceType
from live.ticks import round_to_tick, stop_rounding

from .ops import AskStatus, CancelOrder, Modify, Op, Place, Settle
from .slots import Role, SlotState
from .state import CUTOFF, FLATTEN_ON_STOP, ROUTINE_EXITS, STOPPED, ExecState


def follow_up(st: ExecState, ts: datetime) -> list[Op]:
    """Bring orders in line with the position after any change (locked)."""
    if st.session.past_exit_cutoff(ts):
        return cutoff(st, ts)
    if st.position.qty == 0:
        return drop_stop(st, ts) + cancel_leftover_entries(st, ts)
    ops = cancel_entries(st, ts, "position open (OCO)", keep=st.position.side)
    if st.exit_reason is not None:
        return ops + exit_now(st, st.exit_reason, ts)
    if st.stop_failures >= st.config.stop_retry_limit:
        return ops + exit_now(st, "stop-loss could not be kept", ts)
    return ops + keep_stop(st, ts)


def cutoff(st: ExecState, ts: datetime) -> list[Op]:
    """Flat by the close (P7): every entry cancelled, the position closed."""
    if st.done_reason is None:
        st.done_reason = CUTOFF
    ops = cancel_entries(st, ts, "cutoff")
    if st.position.qty != 0:
        ops += exit_now(st, CUTOFF, ts)
    else:
        ops += drop_stop(st, ts)
    return ops


def brake(st: ExecState, reason: str, ts: datetime) -> list[Op]:
    """A brake engaged (kill switch, loss limit): no new entry today, every
    resting entry cancelled, and with ``on_brake: flatten`` the position
    closed at market. Logged once."""
    if st.done_reason is None or not st.done_reason.startswith("brake"):
        st.emit("BRAKE", level=logging.ERROR, reason=reason, on_brake=st.config.on_brake)
        st.done_reason = f"brake: {reason}"
    ops = cancel_entries(st, ts, "brake", keep=st.position.side)
    if st.position.qty != 0 and st.config.on_brake == "flatten":
        ops += exit_now(st, f"brake: {reason}", ts)
    return ops


def stand_down(st: ExecState, ts: datetime, flatten: bool) -> list[Op]:
    """The trader stops the engine: no new entry today, every entry
    cancelled (working ones at the broker, one in flight orphaned), and the
    position either left to its working stop (kept by ``follow_up`` while
    the engine winds down) or, with ``flatten``, closed at market."""
    st.done_reason = st.done_reason or STOPPED
    ops = cancel_entries(st, ts, STOPPED)
    if st.position.qty != 0 and flatten:
        ops += exit_now(st, FLATTEN_ON_STOP, ts)
    elif st.position.qty != 0:
        ops += follow_up(st, ts)  # the stop in place (or placed) for the whole position
    return ops


def stood_down(st: ExecState, flatten: bool) -> bool:
    """Nothing of ours can open a position any more, and what is held is
    protected by one working stop for its whole size (or, with ``flatten``,
    nothing is held and nothing works)."""
    if any(s.busy for s in st.entries.values()):
        return False
    if st.position.qty == 0:
        return not st.stop.busy and not st.exit.busy
    if flatten:
        return False
    slot = st.stop
    rec = st.orders.get(slot.order_id) if slot.working_id else None
    cover = slot.request.quantity - rec.filled if rec is not None else 0
    return slot.state is SlotState.WORKING and cover == st.position.size


def cancel_entries(
    st: ExecState, ts: datetime, reason: str, *, keep: Action | None = None
) -> list[Op]:
    """Cancel every entry except ``keep``'s side: working ones at the broker;
    one in flight is abandoned (its thread cancels what it placed); one queued
    for retry gives its buying power and risk slot back."""
    ops: list[Op] = []
    for side, slot in st.entries.items():
        if side is not keep:
            ops += _cancel_entry(st, slot, ts, reason)
    return ops


def _cancel_entry(st: ExecState, slot, ts: datetime, reason: str) -> list[Op]:
    if slot.idle:
        token = slot.begin(SlotState.CANCELLING, slot.order_id, ts)
        return [CancelOrder(Role.ENTRY, slot.tag, slot.order_id, token, reason)]
    if slot.state is SlotState.RETRY:
        slot.abandon(ts)
        return [Settle(ref=slot.ref, release_entry=True)]
    if slot.state is SlotState.PENDING:
        slot.abandon(ts)
    return []


def cancel_leftover_entries(st: ExecState, ts: datetime) -> list[Op]:
    """Flat again: an entry the other side's fill doomed (OCO), or one that
    already filled in part and still works, would reopen a position on an
    attempt already spent."""
    ops: list[Op] = []
    for slot in st.entries.values():
        rec = st.orders.get(slot.order_id) if slot.idle else None
        if slot.doomed or (rec is not None and rec.filled > 0):
            ops += _cancel_entry(st, slot, ts, "position closed")
    return ops


def doom_others(st: ExecState, filled: Action) -> None:
    """An entry on ``filled``'s side filled: every other entry is cancelled
    for good (OCO), even if the position closes before the cancel lands."""
    for side, slot in st.entries.items():
        if side is not filled and slot.busy:
            slot.doomed = True


def drop_stop(st: ExecState, ts: datetime) -> list[Op]:
    """Flat, but a stop may still be working: cancel it, or orphan a
    placement in flight so its thread cancels what it placed."""
    slot = st.stop
    if slot.state is SlotState.PENDING:
        slot.abandon(ts)
        return []
    if slot.idle:
        token = slot.begin(SlotState.CANCELLING, slot.order_id, ts)
        return [CancelOrder(Role.STOP, "", slot.order_id, token, "flat")]
    return []


def exit_now(st: ExecState, reason: str, ts: datetime) -> list[Op]:
    """Close at market: first take the stop off and wait for the broker to
    confirm it, then sell; never both working at once, which could reverse
    the position."""
    if st.exit_reason is None:
        st.exit_reason = reason
    reason = st.exit_reason
    pos = st.position
    if pos.qty == 0 or st.exit.busy:
        return []
    stop = st.stop
    if stop.idle:
        token = stop.begin(SlotState.CANCELLING, stop.order_id, ts)
        return [CancelOrder(Role.STOP, "", stop.order_id, token, reason)]
    if stop.busy:
        return []  # a stop call in flight or unconfirmed: its outcome comes first
    request = st.request(pos.exit_action, pos.size, PriceType.MARKET, None)
    token = st.exit.claim(request, ts)
    if reason not in ROUTINE_EXITS:  # the square-off and a chosen flatten are not alerts
        st.emit("ALERT", level=logging.ERROR, reason=reason, qty=pos.size)
    return [Place(Role.EXIT, "", token, request, reason=reason)]


def keep_stop(st: ExecState, ts: datetime) -> list[Op]:
    """Exactly one working stop for exactly the position (P2), trailed (P4)."""
    pos, slot = st.position, st.stop
    exit_action = pos.exit_action
    if not slot.busy:
        return _place_stop(st, ts)
    if not slot.idle:
        return []
    st.bare_since = None
    held = slot.request
    rec = st.orders.get(slot.order_id)
    filled = rec.filled if rec is not None else 0
    wrong_side = held.action is not exit_action
    if wrong_side or (st.replace_stop and held.quantity - filled != pos.size):
        # Our position reversed under the stop (both sides of an OCO filled),
        # or the broker refused to resize it: take it off, place it anew.
        token = slot.begin(SlotState.CANCELLING, slot.order_id, ts)
        why = "position reversed" if wrong_side else "replace: the resize was refused"
        return [CancelOrder(Role.STOP, "", slot.order_id, token, why)]
    target = pos.stop if pos.stop is not None else held.trigger_price
    waiting = st.trail_wait_until is not None and ts < st.trail_wait_until
    trailed = None if waiting else trail_level(st)
    if trailed is not None:
        target = trailed
    if target == held.trigger_price and held.quantity - filled == pos.size:
        return []
    if target != held.trigger_price and held.quantity - filled == pos.size and waiting:
        return []
    request = st.request(exit_action, filled + pos.size, st.config.stop_price_type, target)
    token = slot.begin(SlotState.MODIFYING, slot.order_id, ts)
    return [Modify(Role.STOP, "", token, slot.order_id, request, held.trigger_price)]


def _place_stop(st: ExecState, ts: datetime) -> list[Op]:
    """No stop of ours works for the position: place one - unless the last
    attempts failed transiently and their backoff has not passed; and if the
    position has been bare past the protection deadline, close it instead."""
    pos, slot = st.position, st.stop
    now = st.monotonic()
    if st.bare_since is None:
        st.bare_since = now
    if now - st.bare_since >= st.config.protection_deadline:
        return exit_now(st, f"no stop-loss in place for {st.config.protection_deadline:g}s", ts)
    if st.stop_wait_until is not None and ts < st.stop_wait_until:
        return []
    emergency = pos.stop is None
    if emergency:
        set_initial_stop(st)
    if _crossed(st, pos.stop):
        return exit_now(st, f"stop {pos.stop} already crossed by {st.last_price}", ts)
    st.replace_stop = False
    request = st.request(pos.exit_action, pos.size, st.config.stop_price_type, pos.stop)
    token = slot.claim(request, ts)
    return [Place(Role.STOP, "", token, request, emergency=emergency)]


def watchdog(st: ExecState, ts: datetime) -> list[Op]:
    """Every poll: no broker call stays in flight for ever. A cancel the
    broker accepted but never confirmed is looked up; a placement or modify
    that has not returned for ``stuck_after`` wall seconds is given up (its
    late reply finds its token stale: the order is cancelled as an orphan),
    with an ALERT, so protection can go on."""
    ops: list[Op] = []
    now = st.monotonic()
    for slot in st.slots():
        if not slot.state.transitional or now - slot.since_wall < st.config.stuck_after:
            continue
        if slot.state is SlotState.CANCELLING:
            ops.append(AskStatus(slot.order_id))
            slot.since_wall = now  # ask again only after another interval
        elif slot.state is SlotState.PENDING:
            st.emit("ALERT", level=logging.ERROR, role=slot.role.value,
                    reason=f"a placement has not returned for {st.config.stuck_after:g}s: given up")  # fmt: skip
            slot.abandon(ts)
        elif slot.state is SlotState.MODIFYING:
            st.emit("ALERT", level=logging.ERROR, role=slot.role.value,
                    reason=f"a modify has not returned for {st.config.stuck_after:g}s")  # fmt: skip
            slot.end(slot.generation, ts)
            ops.append(AskStatus(slot.order_id))
    return ops


def set_initial_stop(st: ExecState) -> None:
    """The initial stop for the position just opened: the strategy's, on the
    grid; an emergency level when its rule fails or answers nonsense."""
    pos = st.position
    held = st.stop.request if st.stop.working_id else None
    if held is not None and held.action is pos.exit_action and held.trigger_price:
        # A stop of ours already works for this side (re-attached after a
        # restart): the level the broker holds is the level.
        level = held.trigger_price
    else:
        level = _level(st, st.call_strategy("initial_stop", st.holding()), "initial_stop")
    if level is None:
        pct = st.config.emergency_stop_pct / 100
        raw = pos.average * (1 - pct) if pos.qty > 0 else pos.average * (1 + pct)
        level = round_to_tick(raw, st.tick, stop_rounding(pos.exit_action.value))
        st.emit("EMERGENCY_STOP_LEVEL", level=logging.WARNING, stop=level, average=pos.average)
    pos.stop = pos.initial_stop = level
    pos.risk_per_unit = abs(pos.average - level) or st.tick


def trail_level(st: ExecState) -> Decimal | None:
    """The strategy's trail, rounded, if it tightens by at least the minimum
    step and stays on the protective side of the market; else None."""
    pos = st.position
    level = _level(st, st.call_strategy("trail", st.holding()), "trail")
    if level is None or not pos.tighter(level, pos.stop) or _crossed(st, level):
        return None
    step = max(st.tick, (pos.risk_per_unit or Decimal(0)) * st.config.trail_step_r)
    if pos.stop is not None and abs(level - pos.stop) < step:
        return None
    return level


def commit_stop_level(st: ExecState, level: Decimal | None) -> None:
    """A modify was accepted: keep its level if it is tighter (the ratchet)."""
    pos = st.position
    if level is not None and pos.qty != 0 and pos.tighter(level, pos.stop):
        pos.stop = level


def _crossed(st: ExecState, level: Decimal | None) -> bool:
    """Would a stop at ``level`` trigger at the last price already?"""
    last = st.last_price
    if level is None or last is None or st.position.qty == 0:
        return False
    return level >= last if st.position.qty > 0 else level <= last


def _level(st: ExecState, raw: object, rule: str) -> Decimal | None:
    if raw is None:
        return None
    if not isinstance(raw, Decimal) or not raw.is_finite() or raw <= 0:
        st.once(
            ("strategy", rule, "value"),
            "STRATEGY_ERROR",
            level=logging.ERROR,
            rule=rule,
            error=f"returned {raw!r}; expected a positive Decimal or None",
        )
        return None
    return round_to_tick(raw, st.tick, stop_rounding(st.position.exit_action.value))
