"""Opening-range-breakout scenario paths and their ground truth.

The opening range is every tick stamped in ``[open, open + minutes)``
(09:15-09:30 by default): its highest and lowest LTP. A scenario promises,
for the ticks after the range window:

* ``orb_up`` - strictly inside the range for a while, then a breakout above
  the high that runs: it never trades back inside the range (so neither
  entry's opposite stop at the range low nor the sell entry ever triggers)
  and stands at least a full range width above the high by the cutoff (the
  session's exit_cutoff, 15:15 by default).
* ``orb_down`` - the mirror image.
* ``orb_whipsaw`` - breaks out on one side, reaches 5-8 ticks beyond it
  within 0-2 more ticks, then within 1-3 ticks falls through the other side
  to 5-10 ticks beyond it (so the reversal comes at most 5 ticks after the
  breakout: the opposite entry and the first side's stop both trigger),
  then climbs back inside the range and stays strictly inside until the
  close. Which side breaks first is drawn from the seed:
  ``levels.breakout`` tells.
* ``orb_none`` - strictly inside the range all day.

After the range window no tick ever prints exactly at the range high or
low, so "a buy stop at the high" and "a buy stop one tick above it" trigger
on the same tick; breakouts and reversals are the first tick strictly
beyond the boundary. ``orb_truth`` recomputes all of this from any tick
list, so tests can check a generated day (or a CSV day) against it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from live.clock import require_aware

from .models import SimTick
from .paths import Bound, bounded_path

__all__ = ["ORB_KINDS", "OrbLevels", "orb_truth", "orb_path", "DEFAULT_ORB_MINUTES"]

ORB_KINDS = ("orb_up", "orb_down", "orb_whipsaw", "orb_none")
DEFAULT_ORB_MINUTES = 15
DEFAULT_CUTOFF = time(15, 15)
_EPS = 1e-9


@dataclass(frozen=True)
class OrbLevels:
    """The opening range and what the day did with it. ``breakout`` is the
    side first traded strictly beyond ("up"/"down", None if never);
    ``reversal`` is the first later tick strictly beyond the *other* side
    (the first side's stop and the opposite entry both trigger there)."""

    minutes: int
    range_end: datetime
    high: Decimal
    low: Decimal
    breakout: str | None
    breakout_at: datetime | None
    breakout_price: Decimal | None
    reversal_at: datetime | None
    reversal_price: Decimal | None
    cutoff: datetime
    close_at_cutoff: Decimal | None  # LTP of the last tick at or before the cutoff

    @property
    def width(self) -> Decimal:
        return self.high - self.low


def orb_truth(
    ticks: Iterable[SimTick],
    open_at: datetime,
    *,
    minutes: int = DEFAULT_ORB_MINUTES,
    cutoff: time = DEFAULT_CUTOFF,
) -> OrbLevels:
    """The opening range of ``ticks`` (one symbol, any order) and the first
    breakout / reversal after it. Raises ValueError when no tick falls in the
    range window."""
    open_at = require_aware(open_at, "open_at")
    if minutes < 1:
        raise ValueError(f"minutes: must be >= 1, got {minutes}")
    end = open_at + timedelta(minutes=minutes)
    cut = datetime.combine(open_at.date(), cutoff, tzinfo=open_at.tzinfo)
    ordered = sorted(ticks, key=lambda t: t.ts)
    window = [t.ltp for t in ordered if open_at <= t.ts < end]
    if not window:
        raise ValueError(f"orb_truth: no tick between {open_at:%H:%M} and {end:%H:%M}")
    hi, lo = max(window), min(window)
    side = at = price = rev_at = rev_price = None
    close = None
    for t in ordered:
        if t.ts <= cut:
            close = t.ltp
        if t.ts < end:
            continue
        if side is None:
            if t.ltp > hi:
                side, at, price = "up", t.ts, t.ltp
            elif t.ltp < lo:
                side, at, price = "down", t.ts, t.ltp
        elif rev_at is None and (t.ltp < lo if side == "up" else t.ltp > hi):
            rev_at, rev_price = t.ts, t.ltp
    return OrbLevels(minutes, end, hi, lo, side, at, price, rev_at, rev_price, cut, close)


def orb_path(
    rng: random.Random,
    kind: str,
    times: Sequence[float],
    window_s: float,
    cutoff_s: float,
    open_: int,
    rt: int,
) -> tuple[list[int], int, int]:
    """An upside-first ORB day in whole ticks (callers mirror it for the
    down side): returns (path, range_low, range_high)."""
    if kind not in ("up", "whipsaw", "none"):
        raise ValueError(f"orb kind: {kind!r}")
    step = times[1] - times[0] if len(times) > 1 else window_s
    if step * 10 > window_s:
        raise ValueError(
            f"tick_seconds: {step:g}s leaves fewer than 10 ticks in the {window_s / 60:g}-minute "
            "opening range; use a smaller tick_seconds for orb_* scenarios"
        )
    end_s = times[-1]
    low = open_ - round(rt * rng.uniform(0.35, 0.65))
    high = low + rt
    mid = (low + high) // 2
    amp = max(1, rt // 20)

    # The range: touch the high and the low once each, inside the window.
    t_a = rng.uniform(0.15, 0.4) * window_s
    t_b = rng.uniform(0.55, 0.85) * window_s
    first, second = (high, low) if rng.random() < 0.5 else (low, high)
    pts = [(0.0, open_), (t_a, first), (t_b, second), (window_s, mid)]
    bounds: list[Bound] = [(0.0, window_s - _EPS, low, high)]
    inside = (low + 1, high - 1)

    if kind == "none":
        t = window_s
        while t < end_s:
            t += rng.uniform(20, 60) * 60
            pts.append((t, low + round(rt * rng.uniform(0.2, 0.8))))
        bounds.append((window_s, end_s, *inside))
        path = bounded_path(rng, times, pts, bounds, amp)
        forced: dict[int, int] = {}
    else:
        brk = window_s + rng.uniform(5, 60) * 60
        pts += [(brk - 0.4 * (brk - window_s), low + round(rt * rng.uniform(0.3, 0.7)))]
        pts += [(brk - min(2 * step, 0.2 * (brk - window_s)), high - 2)]
        bounds.append((window_s, brk - _EPS, *inside))
        i_brk = next(i for i, t in enumerate(times) if t >= brk)
        d0 = rng.randint(1, 3)
        forced = {i_brk: high + d0}
        if kind == "up":
            pts += [
                (brk, high + d0),
                (brk + 0.25 * (cutoff_s - brk), high + rt // 2),
                (cutoff_s, high + round(rt * rng.uniform(1.1, 1.8))),
                (end_s, high + round(rt * rng.uniform(1.0, 1.8))),
            ]
            bounds.append((brk, end_s, high + 1, None))
            bounds.append((cutoff_s - 15 * 60, end_s, high + rt + 1, None))
            path = bounded_path(rng, times, pts, bounds, amp)
        else:  # whipsaw: up >= 5 ticks, then through the low within 1-3 ticks
            top = high + rng.randint(5, 8)
            bottom = low - rng.randint(5, 10)
            ups = rng.randint(0, 2)
            downs = rng.randint(1, 3)
            back = rng.randint(3, 10)
            seg = [high + d0]
            seg += [round(high + d0 + (top - high - d0) * (j + 1) / (ups + 1)) for j in range(ups)]
            if ups == 0:
                seg[0] = top
            seg += [round(seg[-1] + (bottom - seg[-1]) * (j + 1) / downs) for j in range(downs)]
            recover = low + round(rt * rng.uniform(0.25, 0.45))
            seg += [round(bottom + (recover - bottom) * (j + 1) / back) for j in range(back)]
            forced = {i_brk + j: v for j, v in enumerate(seg)}
            t_back = times[min(i_brk + len(seg), len(times) - 1)]
            t = t_back
            pts += [(times[i_brk + len(seg) - 1], recover)]
            while t < end_s:
                t += rng.uniform(20, 60) * 60
                pts.append((t, low + round(rt * rng.uniform(0.2, 0.8))))
            bounds.append((t_back, end_s, *inside))
            path = bounded_path(rng, times, pts, bounds, amp)
    for i, v in forced.items():
        path[i] = v
    # The range's extremes print exactly, inside the window.
    path[_nearest_before(times, t_a, window_s)] = first
    path[_nearest_before(times, t_b, window_s)] = second
    # After the window nothing prints exactly at a boundary.
    i_end = next((i for i, t in enumerate(times) if t >= window_s), len(times))
    for i in range(i_end, len(path)):
        v, prev = path[i], path[i - 1]
        if v == high:
            path[i] = high - 1 if prev < high else high + 1
        elif v == low:
            path[i] = low + 1 if prev > low else low - 1
    return path, low, high


def _nearest_before(times: Sequence[float], t: float, limit: float) -> int:
    best = min(range(len(times)), key=lambda i: abs(times[i] - t))
    while times[best] >= limit:
        best -= 1
    return best
