"""Measure the race catalogue and write tests/interleavings/RESULTS.md.

    python -m tests.interleavings.report            # all races, writes RESULTS.md
    python -m tests.interleavings.report race3 bp-two --stdout

Per race: schedules explored and time for the real executor (exhaustive,
preemption bound 2, and PCT), and for the naive variant every failing
schedule in the bound (not stopping at the first) so the shortest one is
reported, plus how many PCT runs it took to hit one. Times are wall-clock on
whatever machine ran it: numbers to compare, not assertions.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from live.logs import LOGGER_NAME
from live.testing import ExploreResult, Failure, exhaustive, explore, pct
from tests.interleavings.catalogue import RACES, Race

BOUND = 2
PCT_SEED = 20261120  # the tests' seed
OUT = Path(__file__).with_name("RESULTS.md")


@dataclass(frozen=True)
class Row:
    race: Race
    real_ex: ExploreResult
    real_pct: ExploreResult
    naive_ex: ExploreResult
    naive_pct: ExploreResult


def measure(race: Race, *, pct_runs: int | None = None) -> Row:
    runs = pct_runs or race.pct_runs
    real = race.scenario(race.real)
    naive = race.scenario(race.naive)
    # Real code: every schedule in the bound; for a known bug keep going so
    # the shortest failing schedule is the one reported.
    real_ex = explore(real, strategy=exhaustive(BOUND), stop_on_first=race.real_bug is None)
    real_pct = explore(real, strategy=pct(depth=race.pct_depth, runs=runs, seed=PCT_SEED))
    naive_ex = explore(naive, strategy=exhaustive(BOUND), stop_on_first=False)
    naive_pct = explore(naive, strategy=pct(depth=race.pct_depth, runs=runs, seed=PCT_SEED))
    return Row(race, real_ex, real_pct, naive_ex, naive_pct)


def _sched(f: Failure | None) -> str:
    if f is None:
        return "-"
    segs = ", ".join(f"`{s}`" for s in f.schedule) or "*(default order)*"
    return f"{segs} ({f.preemptions} preempt.)"


def _verdict(r: ExploreResult) -> str:
    if r.ok:
        return "ok" + (" (exhausted)" if r.exhausted else "")
    return f"**FAIL** ({len(r.failures)})"


def _prop(f: Failure | None) -> str:
    if f is None:
        return "-"
    msg = f.message
    if msg.startswith("invariant raised"):
        msg = msg.rsplit(" at ", 1)[0]  # "... at <thread>"
    for prefix in ("check failed: AssertionError(", "invariant raised AssertionError("):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :].rstrip(")").strip("'\"")
            break
    return msg.replace("|", "/")[:160]


FIXED_BUGS = """## Real bugs found (all fixed; pinned by tests/interleavings/test_real_bugs.py and tests/stress)

These were found in the first engine's `SymbolState` (since split into the executor,
`live/execution/`); the fixes moved with the code: `sync_position` is
`live/execution/recovery.py`, the dropped retry is the slot table's RETRY -> EMPTY edge.

- **race4b, adopted twice** - `replay(['feed@lock.acquire:L1', 'poller'])`.
  `SymbolState.sync_position` counted only a PENDING slot or a stop operation as *busy*,
  not a working entry order. The positionbook showed the fill (10) for two polls before the
  feed applied the fill update, so `sync_position` adopted `position_qty = 10` and placed a
  stop, leaving the entry's record at `filled = 0`; the fill update then added 10 again:
  `position_qty = 20`, the stop resized to 20 against a broker position of 10 (if it
  triggers: reversed, short 10). Fix: any working order of ours (entry or exit) makes the
  state busy - its fill arrives through the order stream or the orderbook, which the poller
  reads before positions.
- **bp-refresh / bp-exit, cash booked twice** - `replay(['feed-SBIN@lock.acquire:L1#2',
  'poller'])` and `replay(['feed-SBIN@lock.acquire:L1', 'poller'])`. The ledger booked fills
  (`consume`) and exits (`credit`) into its cash locally, and a funds reply read after the
  broker's fill or exit but applied before the local booking was accepted (the epoch had not
  moved): a fill deducted twice (conservative), an exit's freed margin credited twice - the
  ledger believed in 200 more than the broker had free, so the next entries could exceed the
  buying power (the 000 incident). Fix (live/ledger.py): the cash figure is only ever the
  broker's; a reservation is marked `placed` when the broker accepts its order and retired
  only by a funds reply requested after that (`refresh(cash, epoch=)` with the epoch read
  before the call); nothing is booked locally, and freed margin counts only once the broker
  reports it.
- **Refresh double-counted working orders**: the old ledger took the broker's available
  cash as gross of our working orders, but the simulator and Indian brokers report it net of
  the margin those orders block. Fixed by the same model (a reply covering the order retires
  its reservation). `test_refresh_while_an_entry_works`.
- **Reservation leak on a dropped retry** (found by tests/stress): the cutoff and the
  out-of-window branch dropped `pending_retry` without releasing the buying-power reservation
  and risk slot the failed placement held. Fix: `SymbolState._drop_retry` releases both.
  `tests/stress/test_stress.py::test_cutoff_releases_the_reservation_of_a_pending_retry`.
"""


def render(rows: list[Row], *, note: str = "") -> str:
    lines = [
        "# Race catalogue: results",
        "",
        "Generated by `python -m tests.interleavings.report` "
        f"({datetime.now().strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"{platform.machine()}). Times are wall-clock on a shared 2-core machine.",
        "",
        f"Real = `SymbolExecutor` (live/execution/, + `BuyingPowerLedger`); exhaustive = every schedule with at most "
        f"{BOUND} preemptions; PCT = `pct(depth, runs, seed={PCT_SEED})`, runs + 1 calibration "
        "schedule. Naive = `NaiveSymbolState` (tests/races/naive.py) or, for the ledger races, "
        "`NaiveLedgerSymbolState` (check available, place, book), for the OCO races "
        "`NaiveOcoState` (tests/interleavings/naive_oco.py: cancel the other side and forget it): explored with "
        "`stop_on_first=False` so the *shortest* failing schedule is reported; "
        "'PCT hit' = the PCT schedule number of the first failure (1 = the calibration run).",
        "",
        "| race | real exhaustive: schedules / time / verdict | real PCT: schedules / time / verdict "
        "| naive exhaustive: failing / schedules / time | naive PCT hit | shortest failing naive "
        "schedule | naive breaks |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row.race
        ne, npct = row.naive_ex, row.naive_pct
        hit = npct.first_failure.schedule_index if npct.first_failure else "missed"
        lines.append(
            f"| **{r.key}** {r.seed} "
            f"| {row.real_ex.schedules_run} / {row.real_ex.elapsed:.2f}s / {_verdict(row.real_ex)} "
            f"| {row.real_pct.schedules_run} / {row.real_pct.elapsed:.2f}s / "
            f"{_verdict(row.real_pct)} "
            f"| {len(ne.failures)} / {ne.schedules_run} / {ne.elapsed:.2f}s "
            f"| {hit} (d={r.pct_depth}) "
            f"| {_sched(ne.shortest_failure)} "
            f"| {_prop(ne.shortest_failure)} |"
        )
    total_real = sum(x.real_ex.elapsed + x.real_pct.elapsed for x in rows)
    total_naive = sum(x.naive_ex.elapsed + x.naive_pct.elapsed for x in rows)
    lines += [
        "",
        f"Total: real {sum(x.real_ex.schedules_run + x.real_pct.schedules_run for x in rows)} "
        f"schedules in {total_real:.1f}s; naive {sum(x.naive_ex.schedules_run + x.naive_pct.schedules_run for x in rows)} "
        f"schedules in {total_naive:.1f}s.",
    ]
    # A real bug the explorer finds now is listed with its schedule until fixed.
    for x in rows:
        f = x.real_ex.shortest_failure or x.real_pct.first_failure
        if f is not None:
            lines += [
                "",
                f"## OPEN: {x.race.key} fails on the real code",
                "",
                f"- `{f.replay_call()}`: {_prop(f)}",
                f"- trace: {' -> '.join(f.trace)}",
            ]
    lines += ["", FIXED_BUGS]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("races", nargs="*", help="race keys (default: all)")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing RESULTS.md")
    args = ap.parse_args(argv)
    logging.getLogger(LOGGER_NAME).setLevel(logging.CRITICAL)
    keys = set(args.races)
    unknown = keys - {r.key for r in RACES}
    if unknown:
        ap.error(f"unknown race(s) {sorted(unknown)}; known: {[r.key for r in RACES]}")
    rows = []
    for race in RACES:
        if keys and race.key not in keys:
            continue
        row = measure(race)
        print(
            f"{race.key:11s} real {row.real_ex.summary()[:60]} ... | naive "
            f"{len(row.naive_ex.failures)} failing",
            file=sys.stderr,
        )
        rows.append(row)
    text = render(rows)
    if args.stdout or keys:
        print(text)
    else:
        OUT.write_text(text)
        print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
