"""What one status snapshot costs: taking it (each symbol copied under its
own lock), serializing it and replacing status.json.

    python bench/bench_status.py

An in-process engine on the simulator holds positions with working stops
on 4 symbols (and, for scale, on 40); prints per snapshot the time to take
it, to write it atomically, and the file's size, against a baseline measured
in the same run: one ``view()`` per symbol (the lock-and-copy alone) and a
bare ``json.dumps`` of the same snapshot. The engine writes one snapshot per
``status_seconds`` (default 1 s), so the ratio to that budget is printed too.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live.status import take_snapshot, write_atomic  # noqa: E402
from tests.cockpit.sim_engine import sim_engine, step_until  # noqa: E402

KINDS = ("long_win", "short_win")


def engine_with(n: int):
    mix = {f"NSE:S{i:03d}": KINDS[i % len(KINDS)] for i in range(n)}
    engine, sim, _ = sim_engine(mix, seed=11)
    # Replay the designed mornings to 10:08, when the setups hold positions.
    until = sim.day.open_at.replace(hour=10, minute=8)
    step_until(engine, sim, lambda: sim.clock.now() >= until, limit=10_000_000)
    return engine


def best(fn, number: int, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    return min(runs)


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    for n in (4, 40):
        engine = engine_with(n)
        held = sum(1 for s in engine.states.values() if s.view().position_qty)
        snap = take_snapshot(engine, state="running")
        number = 2000 if n == 4 else 200
        views = best(lambda e=engine: [s.view() for s in e.states.values()], number)
        take = best(lambda e=engine: take_snapshot(e, state="running"), number)
        dumps = best(lambda s=snap: json.dumps(s, indent=1), number)
        write = best(lambda s=snap: write_atomic(folder / "status.json", s), number)
        size = (folder / "status.json").stat().st_size
        total = take + write
        print(f"{n} symbols ({held} holding with a stop): snapshot {take * 1e6:.0f} us "
              f"(views alone {views * 1e6:.0f} us, x{take / views:.2f}); write {write * 1e6:.0f} us "
              f"(json.dumps alone {dumps * 1e6:.0f} us, x{write / dumps:.2f}); "
              f"size {size} bytes; {total * 1e3:.2f} ms per snapshot = {total:.2%} of a 1 s "
              "status_seconds")  # fmt: skip


if __name__ == "__main__":
    main()
