"""The session summary a trader reads at the end of the day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from live.engine import Engine


@dataclass(frozen=True)
class SymbolRow:
    key: str
    setup: str
    entries: int
    fills: int
    exits: int
    pnl: Decimal
    phase: str


@dataclass(frozen=True)
class Summary:
    rows: tuple[SymbolRow, ...]
    total_pnl: Decimal
    orders_placed: int
    orders_rejected: int
    fill_to_stop_p50_ms: float | None
    fill_to_stop_p99_ms: float | None
    max_unprotected: timedelta | None  # from the broker's side, when known (simulator)
    dry_run: bool = False
    paper: bool = False  # orders were matched in the paper book, not at the broker


def summarize(
    engine: Engine,
    max_unprotected: timedelta | None = None,
    *,
    dry_run: bool = False,
    paper: bool = False,
) -> Summary:
    rows = []
    placed = rejected = 0
    total = Decimal(0)
    for key, plan in engine.plans.items():
        state = engine.states.get(key)
        if not plan.traded or state is None:
            rows.append(SymbolRow(key, f"none ({plan.description})", 0, 0, 0, Decimal(0), "-"))
            continue
        v = state.view()
        rows.append(
            SymbolRow(
                key, state.describe(), v.entries_today, v.fills, v.exits, v.realized_pnl,
                v.phase.value,
            )
        )  # fmt: skip
        placed += v.orders_placed
        rejected += v.orders_rejected
        total += v.realized_pnl
    return Summary(
        rows=tuple(rows),
        total_pnl=total,
        orders_placed=placed,
        orders_rejected=rejected,
        fill_to_stop_p50_ms=engine.latency.percentile(50),
        fill_to_stop_p99_ms=engine.latency.percentile(99),
        max_unprotected=max_unprotected,
        dry_run=dry_run,
        paper=paper,
    )


def render(summary: Summary) -> str:
    head = ("symbol", "setup", "entries", "fills", "exits", "P&L", "state")
    body = [
        (r.key, r.setup, str(r.entries), str(r.fills), str(r.exits), f"{r.pnl:.2f}", r.phase)
        for r in summary.rows
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)
    ]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [
        "",
        "Session summary"
        + (" (dry run)" if summary.dry_run else "")
        + (" (paper trading)" if summary.paper else ""),
        line(head),
        line(["-" * w for w in widths]),
    ]
    out += [line(row) for row in body]
    out.append(line(["-" * w for w in widths]))
    out.append(f"Total realized P&L: {summary.total_pnl:.2f}")
    if summary.dry_run:
        out.append(f"Dry run: would have placed {summary.orders_placed} orders (none was sent)")
    else:
        where = " in the paper book" if summary.paper else ""
        out.append(
            f"Orders placed{where}: {summary.orders_placed}   rejected: {summary.orders_rejected}"
        )

    def ms(x):
        return "n/a" if x is None else f"{x:.1f} ms"

    out.append(
        f"Fill to stop-loss: p50 {ms(summary.fill_to_stop_p50_ms)}, p99 {ms(summary.fill_to_stop_p99_ms)}"
    )
    if summary.max_unprotected is not None:
        out.append(
            f"Max unprotected time (broker side, market time): {summary.max_unprotected.total_seconds():.0f} s"
        )
    return "\n".join(out)
