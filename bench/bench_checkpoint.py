"""What the interleaving hooks cost in production, and how fast the kit explores.

    python bench/bench_checkpoint.py

Prints ns per call (best of several timeit repeats) for checkpoint() with no
scheduler installed, against an empty function call and a threading.Lock
acquire/release measured in the same run, with ratios; then schedules per
second for exhaustive exploration of the kit's duplicate-entry scenarios.
"""

from __future__ import annotations

import sys
import threading
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live import interleave  # noqa: E402
from live.testing import CheckpointedBroker, checkpoint, exhaustive, explore  # noqa: E402

N = 1_000_000
REPEAT = 7


def best_ns(stmt, setup_globals) -> float:
    times = timeit.repeat(stmt, globals=setup_globals, number=N, repeat=REPEAT)
    return min(times) / N * 1e9


def empty(name: str) -> None:
    pass


class Raw:
    def place_order(self, symbol: str) -> str:
        return symbol


def main() -> None:
    assert interleave._scheduler is None
    lock = threading.Lock()
    wrapped = CheckpointedBroker(Raw())
    raw = Raw()
    g = {
        "checkpoint": checkpoint,
        "empty": empty,
        "lock": lock,
        "wrapped": wrapped,
        "raw": raw,
        "ILock": interleave.Lock,
        "TLock": threading.Lock,
    }
    loop = best_ns("pass", g)
    rows = [
        ("empty function call empty('x')", best_ns("empty('x')", g)),
        ("checkpoint('x'), no scheduler", best_ns("checkpoint('x')", g)),
        ("threading.Lock acquire+release", best_ns("lock.acquire(); lock.release()", g)),
        ("with threading.Lock", best_ns("with lock: pass", g)),
        ("raw.place_order('x')", best_ns("raw.place_order('x')", g)),
        ("CheckpointedBroker.place_order('x')", best_ns("wrapped.place_order('x')", g)),
        ("threading.Lock() construction", best_ns("TLock()", g)),
        ("interleave.Lock() construction", best_ns("ILock()", g)),
    ]
    base = rows[0][1] - loop
    print(f"timeit loop overhead {loop:.1f} ns (subtracted below); N={N:,}, best of {REPEAT}")
    print(f"{'operation':40s} {'ns/call':>9s} {'x empty call':>13s}")
    for name, ns in rows:
        net = ns - loop
        print(f"{name:40s} {net:9.1f} {net / base:13.2f}")
    cp = rows[1][1] - loop
    lk = rows[2][1] - loop
    print(f"checkpoint / lock acquire+release = {cp / lk:.2f}")

    # Exploration throughput (controlled scheduler, real threads handing off).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.interleave_kit.scenarios import (
        SafePlacer,
        SafeSymbol,
        entry_scenario,
        placer_scenario,
    )

    for label, scen in [
        ("safe duplicate-entry", lambda: entry_scenario(SafeSymbol)),
        ("safe two-placers", lambda: placer_scenario(SafePlacer)),
    ]:
        for bound in (1, 2, 3, 4):
            r = explore(scen, strategy=exhaustive(bound))
            r.assert_ok()
            print(
                f"{label:22s} bound={bound}: {r.schedules_run:5d} schedules "
                f"in {r.elapsed:6.3f}s = {r.schedules_run / r.elapsed:7.0f} schedules/s"
            )


if __name__ == "__main__":
    main()
