"""DESIGN.md's safety properties, checked from the broker's side.

The broker's book is the truth: whatever the state object believes, these
read what was actually placed, filled and left working.
"""

from __future__ import annotations

from live.broker import PriceType
from live.ticks import is_tick_multiple


def violations(broker, state, *, settled: bool = True) -> list[str]:
    """Return every property the broker's book and ``state`` violate."""
    entry_side = state.setup.side.value
    exit_side = state.setup.side.opposite.value
    orders = list(broker.orders.values())
    bought = sum(o.filled for o in orders if o.request.action.value == entry_side)
    sold = sum(o.filled for o in orders if o.request.action.value == exit_side)
    net = bought - sold
    working_entries = [
        o for o in orders if o.status.is_working and o.request.action.value == entry_side
    ]
    working_exits = [
        o for o in orders if o.status.is_working and o.request.action.value == exit_side
    ]
    stops = [o for o in working_exits if o.request.price_type in (PriceType.SL, PriceType.SL_M)]
    entries_placed = sum(1 for o in orders if o.request.action.value == entry_side)
    out: list[str] = []

    # P1: one entry at a time, never while holding, never beyond max_attempts.
    if len(working_entries) > 1:
        out.append(f"P1: {len(working_entries)} working entry orders at once")
    if working_entries and net > 0:
        out.append(f"P1: an entry order is working while a position of {net} is open")
    if entries_placed > state.config.max_attempts:
        out.append(f"P1: {entries_placed} entries placed, max_attempts {state.config.max_attempts}")
    # Never reversed: more exits than entries opens the opposite position.
    if net < 0:
        out.append(f"reversed: sold {sold} against {bought} bought")
    # P2: a holding has exactly one stop for its quantity; a flat book has none
    # (a stop left working on a flat book opens a position when it triggers).
    if settled:
        if net > 0 and (
            len(stops) != 1 or sum(o.request.quantity - o.filled for o in stops) != net
        ):
            out.append(
                f"P2: position {net} protected by {[(o.order_id, o.request.quantity) for o in stops]}"
            )
        if net == 0 and working_exits:
            out.append(
                f"P2: flat but exit-side orders still working: {[o.order_id for o in working_exits]}"
            )
    # P3: prices on the grid.
    for o in orders:
        for price in (o.request.price, o.request.trigger_price):
            if price is not None and not is_tick_multiple(price, state.setup.tick):
                out.append(f"P3: {o.order_id} price {price} off the tick grid")
    # P4: a stop only ever tightens.
    for oid, versions in getattr(broker, "history", {}).items():
        triggers = [
            r.trigger_price for r in versions if r.action.value == exit_side and r.trigger_price
        ]
        pairs = zip(triggers, triggers[1:], strict=False)
        loosened = [(a, b) for a, b in pairs if (b < a if entry_side == "BUY" else b > a)]
        if loosened:
            out.append(f"P4: stop {oid} loosened {loosened}")
    # P6: every working order is one the state still knows (none forgotten).
    if settled:
        known = {oid for oid, _ in state.working_order_ids()}
        view = state.view()
        known |= {x for x in (view.entry_id, view.sl_id, view.exit_id) if isinstance(x, str)}
        forgotten = [o.order_id for o in orders if o.status.is_working and o.order_id not in known]
        if forgotten:
            out.append(f"P6: working orders the state no longer tracks: {forgotten}")
    return out
