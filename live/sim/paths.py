"""Price-path primitives the scenario generators share. Paths are lists of
whole ticks (ints): structure comes from waypoints, texture from bounded
noise, and hard bounds keep the designed levels exact."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

__all__ = ["BANDS", "noise", "interp", "nearest", "bounded_path"]

# (low, high, tick): base prices whose whole day stays inside one NSE band.
BANDS = (
    (Decimal("120"), Decimal("220"), Decimal("0.01")),
    (Decimal("300"), Decimal("880"), Decimal("0.05")),
    (Decimal("1150"), Decimal("4400"), Decimal("0.10")),
)

# (from_s, to_s, lower bound or None, upper bound or None), inclusive times.
Bound = tuple[float, float, int | None, int | None]


def noise(rng: random.Random, n: int, amp: int) -> list[int]:
    # Mean-reverting AR(1) wiggle, bounded: the path's structure comes from
    # the waypoints, the noise only makes it look like a market.
    out, x = [], 0.0
    for _ in range(n):
        x = 0.9 * x + rng.gauss(0, amp * 0.45)
        x = max(-amp, min(amp, x))
        out.append(round(x))
    return out


def interp(times: Sequence[float], points: Sequence[tuple[float, int]]) -> list[float]:
    out, j = [], 0
    for t in times:
        while j < len(points) - 2 and t > points[j + 1][0]:
            j += 1
        (t0, v0), (t1, v1) = points[j], points[j + 1]
        f = 0.0 if t1 == t0 else min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        out.append(v0 + (v1 - v0) * f)
    return out


def nearest(times: Sequence[float], t: float) -> int:
    return min(range(len(times)), key=lambda i: abs(times[i] - t))


def bounded_path(
    rng: random.Random,
    times: Sequence[float],
    points: Sequence[tuple[float, int]],
    bounds: Sequence[Bound],
    amp: int,
) -> list[int]:
    """Waypoints + noise, clamped by every bound whose window holds the time."""
    base = interp(times, points)
    wiggle = noise(rng, len(times), amp)
    path = []
    for t, b, z in zip(times, base, wiggle, strict=True):
        v = round(b) + z
        for t_from, t_to, lo_b, hi_b in bounds:
            if t_from <= t <= t_to:
                if lo_b is not None:
                    v = max(v, lo_b)
                if hi_b is not None:
                    v = min(v, hi_b)
        path.append(v)
    return path
