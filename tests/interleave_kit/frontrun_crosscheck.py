"""Run under the `frontrun` CLI by test_frontrun_crosscheck.py (a subprocess).

Explores the *same* scenario classes the kit tests use, at bytecode level with
frontrun's DPOR, with no checkpoints involved (no scheduler is installed, so
live.interleave.Lock() is a plain threading.Lock that frontrun patches).
Prints one JSON line per scenario.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal

import frontrun

from tests.interleave_kit.scenarios import (
    NaiveFunds,
    NaivePlacer,
    NaiveSymbol,
    ReservingFunds,
    SafePlacer,
    SafeSymbol,
)


def entry_ok(sym) -> bool:
    return not sym.s.broker.entries()


def one_entry(p) -> bool:
    return len(p.s.broker.entries()) <= 1


def funds_ok(f) -> bool:
    return sum((o[3] for o in f.raw.orders), Decimal("0")) <= f.start


CASES = {
    "naive-entry": (NaiveSymbol, [lambda s: s.on_tick(), lambda s: s.poll()], entry_ok),
    "safe-entry": (SafeSymbol, [lambda s: s.on_tick(), lambda s: s.poll()], entry_ok),
    "naive-placer": (NaivePlacer, [lambda p: p.place_entry()] * 2, one_entry),
    "safe-placer": (SafePlacer, [lambda p: p.place_entry()] * 2, one_entry),
    "naive-funds": (
        lambda: NaiveFunds(Decimal("50000")),
        [lambda f: f.buy(Decimal("30000")), lambda f: f.buy(Decimal("25000"))],
        funds_ok,
    ),
    "safe-funds": (
        lambda: ReservingFunds(Decimal("50000")),
        [lambda f: f.buy(Decimal("30000")), lambda f: f.buy(Decimal("25000"))],
        funds_ok,
    ),
}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(CASES):
        setup, workers, invariant = CASES[name]
        t0 = time.perf_counter()
        r = frontrun.explore(
            setup=setup,
            workers=workers,
            invariant=invariant,
            strategy="dpor",
            preemption_bound=2,
            reproduce_on_failure=3,
            detect_io=False,
        )
        print(
            json.dumps(
                {
                    "case": name,
                    "holds": bool(r.property_holds),
                    "explored": r.num_explored,
                    "seconds": round(time.perf_counter() - t0, 4),
                }
            ),
            flush=True,
        )
