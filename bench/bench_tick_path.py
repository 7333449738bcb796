"""Cost of the tick hot path: SymbolExecutor.process_tick (the 80-20 on the
executor, with its lock discipline) vs the naive lock-free variant, on ticks that change nothing
(the common case: price moving between trigger and entry, or a position
whose stop does not need to move).

    python bench/bench_tick_path.py
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live.execution import SymbolExecutor  # noqa: E402
from tests.core.helpers import T0, D, make_state  # noqa: E402
from tests.races.naive import NaiveSymbolState  # noqa: E402

N = 20_000
REPEAT = 5


def run(cls) -> float:
    state, broker = make_state(cls)
    prices = [D("100.50") + D(i % 7) / 100 for i in range(N)]  # above the trigger: no action
    stamps = [T0 + timedelta(seconds=i) for i in range(N)]
    t0 = time.perf_counter()
    for p, ts in zip(prices, stamps, strict=True):
        state.process_tick(p, ts)
    return (time.perf_counter() - t0) / N * 1e9


def main() -> None:
    logging.disable(logging.CRITICAL)
    rows = {}
    for name, cls in (
        ("naive (no lock, baseline)", NaiveSymbolState),
        ("SymbolExecutor", SymbolExecutor),
    ):
        samples = [run(cls) for _ in range(REPEAT)]
        rows[name] = statistics.median(samples)
    base = rows["naive (no lock, baseline)"]
    print(f"process_tick, {N} ticks x {REPEAT} runs, median ns per tick")
    for name, ns in rows.items():
        print(f"  {name:28s} {ns:10.0f} ns   x{ns / base:5.2f}")
    print(f"  ticks/s one symbol can absorb: {1e9 / rows['SymbolExecutor']:,.0f}")


if __name__ == "__main__":
    main()
