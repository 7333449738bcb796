"""DESIGN.md's safety properties, checked from the broker's side.

The broker's book is the truth: whatever the state object believes, these
read what was actually placed, filled and left working. Which order is an
entry, a stop or an exit is the executor's record of why it placed it (a
naive variant, which keeps no such record, trades one side only: its entry
side's orders are entries, the others stops and exits).
"""

from __future__ import annotations

from live.broker import Action, PriceType
from live.execution import Role
from live.ticks import is_tick_multiple

STOP_TYPES = (PriceType.SL, PriceType.SL_M)


def single_setup(state):
    """The 80-20 setup behind ``state`` (None for a two-sided strategy)."""
    return getattr(state, "setup", None) or getattr(getattr(state, "strategy", None), "setup", None)


def single_side(state) -> Action | None:
    """The one side a single-sided strategy enters on; None for two-sided."""
    setup = getattr(state, "setup", None) or getattr(
        getattr(state, "strategy", None), "setup", None
    )
    return setup.side if setup is not None else None


def role_of(state, order) -> Role | None:
    """Why ``order`` was placed; None for an order the state never knew."""
    st = getattr(state, "st", None)
    if st is not None:
        rec = st.orders.get(order.order_id)
        return rec.role if rec is not None else None
    roles = getattr(state, "roles", None)  # a naive two-sided variant's own record
    if roles is not None:
        return roles.get(order.order_id)
    if order.request.action is single_side(state):
        return Role.ENTRY
    return Role.STOP if order.request.price_type in STOP_TYPES else Role.EXIT


def net_of(orders) -> int:
    return sum(o.filled if o.request.action is Action.BUY else -o.filled for o in orders)


def entry_orders(broker, state) -> list:
    return [o for o in broker.orders.values() if role_of(state, o) is Role.ENTRY]


def transient(broker, state) -> list[str]:
    """What may never be broken, even for a moment: one working entry per
    side, attempts within max_attempts, never reversed (single-sided)."""
    out: list[str] = []
    orders = list(broker.orders.values())
    entries = entry_orders(broker, state)
    for side in (Action.BUY, Action.SELL):
        live = [o.order_id for o in entries if o.status.is_working and o.request.action is side]
        if len(live) > 1:
            out.append(f"P1: working {side.value} entries {live} at once")
    if len(entries) > state.config.max_attempts:
        out.append(f"P1: {len(entries)} entries placed, max_attempts {state.config.max_attempts}")
    side = single_side(state)
    net = net_of(orders)
    if side is not None and net != 0 and (net > 0) != (side is Action.BUY):
        out.append(f"reversed: net {net} against a {side.value} strategy")
    return out


def violations(broker, state, *, settled: bool = True) -> list[str]:
    """Every property the broker's book and ``state`` violate."""
    orders = list(broker.orders.values())
    net = net_of(orders)
    out = transient(broker, state)
    working_entries = [
        o for o in entry_orders(broker, state) if o.status.is_working and o.filled == 0
    ]
    if settled and working_entries and net != 0:
        out.append(f"P1: entry orders {[o.order_id for o in working_entries]} working "
                   f"while a position of {net} is open")  # fmt: skip
    # P2: a holding has exactly one stop for its quantity on the closing side;
    # a flat book has none (a stop left working on a flat book opens a
    # position when it triggers).
    closing = [
        o for o in orders if o.status.is_working and role_of(state, o) in (Role.STOP, Role.EXIT)
    ]
    stops = [o for o in closing if o.request.price_type in STOP_TYPES]
    if settled and net != 0:
        side = Action.SELL if net > 0 else Action.BUY
        good = [o for o in stops if o.request.action is side]
        cover = sum(o.request.quantity - o.filled for o in good)
        if len(stops) != 1 or len(good) != 1 or cover != abs(net):
            out.append(f"P2: position {net} protected by "
                       f"{[(o.order_id, o.request.action.value, o.request.quantity) for o in stops]}")  # fmt: skip
    if settled and net == 0 and closing:
        out.append(f"P2: flat but stop/exit orders still working: {[o.order_id for o in closing]}")
    tick = state.st.tick if hasattr(state, "st") else getattr(state, "tick", None)
    tick = tick if tick is not None else single_setup(state).tick
    # P3: prices on the grid.
    for o in orders:
        for price in (o.request.price, o.request.trigger_price):
            if price is not None and not is_tick_multiple(price, tick):
                out.append(f"P3: {o.order_id} price {price} off the tick grid")
    # P4: a stop only ever tightens.
    for oid, versions in getattr(broker, "history", {}).items():
        o = broker.orders[oid]
        if role_of(state, o) is not Role.STOP:
            continue
        triggers = [r.trigger_price for r in versions if r.trigger_price]
        pairs = zip(triggers, triggers[1:], strict=False)
        sell = o.request.action is Action.SELL
        loosened = [(a, b) for a, b in pairs if (b < a if sell else b > a)]
        if loosened:
            out.append(f"P4: stop {oid} loosened {loosened}")
    # P6: every working order is one the state still knows (none forgotten).
    if settled:
        known = {oid for oid, _ in state.working_order_ids()}
        view = state.view()
        known |= {x for x in (view.entry_id, view.sl_id, view.exit_id) if isinstance(x, str)}
        known |= {i for _, _, i in getattr(view, "entries", ()) if isinstance(i, str)}
        forgotten = [o.order_id for o in orders if o.status.is_working and o.order_id not in known]
        if forgotten:
            out.append(f"P6: working orders the state no longer tracks: {forgotten}")
    return out
