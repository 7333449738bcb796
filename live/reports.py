"""End-of-day reports from the journal: ``data_dir/reports/<date>/``.

* ``trades.csv`` - one row per round trip (flat -> position -> flat) of our
  own fills: entry and exit times and average prices, quantity, side, the
  initial stop and R, P&L before and after estimated charges
  (``live.charges``); a position still open when the report is written is
  listed with status ``open`` and the P&L of what was closed so far.
* ``orders.csv`` - every order of ours that day: role, side, type, prices,
  the broker's last state, filled quantity and average, when it was placed,
  first and last filled and last updated (market time, IST).
* ``summary.txt`` - per symbol trades, wins, losses, gross P&L, charges and
  net; totals; the charges by kind; and, at the end of a run, the session
  summary the engine printed.

Written by the engine at the end of every run and by ``python live_8020.py
report [--date YYYY-MM-DD]`` at any time (the journal is the source; the
same day gives the same files). Money is Decimal, rounded to the paisa.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from live import datadir
from live.broker import Action
from live.charges import FIELDS, ZERO, Charges, OrderValue, estimate, paise

REPORTS = "reports"
PAPER = "paper"  # broker.kind: paper reports under data_dir/paper/reports/<date>/


def reports_base(data_dir: Path, broker_kind: str) -> Path:
    """Where a run's reports go: paper trading's beside, never over, the
    live account's."""
    return Path(data_dir) / PAPER if broker_kind == "paper" else Path(data_dir)


@dataclass
class Trade:
    symbol: str
    side: str  # long | short
    entry_time: datetime
    entry_qty: int = 0
    entry_value: Decimal = Decimal(0)
    exit_qty: int = 0
    exit_value: Decimal = Decimal(0)
    exit_time: datetime | None = None
    initial_stop: Decimal | None = None
    # order id -> [side, value]: what each executed order of the trade traded
    orders: dict[str, list] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.exit_qty == self.entry_qty

    @property
    def entry_price(self) -> Decimal:
        return self.entry_value / self.entry_qty

    @property
    def exit_price(self) -> Decimal | None:
        return self.exit_value / self.exit_qty if self.exit_qty else None

    @property
    def gross(self) -> Decimal:
        """P&L of the units closed so far (all of them, once closed)."""
        if not self.exit_qty:
            return Decimal(0)
        direction = 1 if self.side == "long" else -1
        cost = self.entry_value if self.closed else self.entry_price * self.exit_qty
        return paise((self.exit_value - cost) * direction)

    def charges(self, rates: Any) -> Charges:
        return estimate((OrderValue(s, v) for s, v in self.orders.values()), rates)

    def r_multiple(self) -> Decimal | None:
        if self.initial_stop is None or not self.exit_qty:
            return None
        risk = abs(self.entry_price - self.initial_stop) * self.exit_qty
        return (self.gross / risk).quantize(Decimal("0.01")) if risk else None


def round_trips(
    fills: Iterable[Any], orders: Iterable[Any], intents: Iterable[Any] = ()
) -> list[Trade]:
    """Our fills (journal order) grouped into round trips per symbol. The
    initial stop is the trigger a trade's first stop-loss was placed with
    (its intent's; the order row holds the level it was last trailed to)."""
    placed_with = {i.id: (i.detail or {}).get("trigger") for i in intents}
    stops: dict[str, list] = defaultdict(list)
    for o in orders:
        if o.role == "stop":
            level = placed_with.get(o.intent_id) or o.trigger_price
            stops[o.key].append((o.placed_at, Decimal(str(level)) if level else None))
    open_: dict[str, Trade] = {}
    pos: dict[str, int] = defaultdict(int)
    done: list[Trade] = []
    for f in fills:
        price = f.price if f.price is not None else f.average_price
        if price is None:
            continue  # never priced by the broker: it cannot be valued
        delta = f.quantity if f.action is Action.BUY else -f.quantity
        left = f.quantity
        while left:
            held = pos[f.key]
            if held == 0 or (held > 0) == (delta > 0):
                t = open_.get(f.key)
                if t is None:
                    t = open_[f.key] = Trade(f.key, "long" if delta > 0 else "short", f.ts)
                    t.initial_stop = _first_stop(stops[f.key], f.ts)
                t.entry_qty += left
                t.entry_value += price * left
                _count(t, f, price, left)
                pos[f.key] += left if delta > 0 else -left
                left = 0
            else:
                t = open_[f.key]
                closing = min(left, abs(held))
                t.exit_qty += closing
                t.exit_value += price * closing
                t.exit_time = f.ts
                _count(t, f, price, closing)
                pos[f.key] += closing if delta > 0 else -closing
                left -= closing
                if pos[f.key] == 0:
                    done.append(open_.pop(f.key))
    done += open_.values()
    return sorted(done, key=lambda t: (t.entry_time, t.symbol))


def _count(t: Trade, f: Any, price: Decimal, qty: int) -> None:
    side_value = t.orders.setdefault(f.order_id, [f.action.value, Decimal(0)])
    side_value[1] += price * qty


def _first_stop(stops: list, since: datetime) -> Decimal | None:
    """The trade's initial stop: the first stop-loss placed once it opened."""
    for placed_at, level in stops:
        if placed_at >= since:
            return level
    return None


# --- writing -------------------------------------------------------------------------


def _ts(x: datetime | None) -> str:
    return "" if x is None else x.isoformat(timespec="seconds")


def _dec(x: Decimal | None) -> str:
    # ``+ 0`` turns a negative zero ("-0.00", a flat trade's P&L or R) into 0.00.
    return "" if x is None else str(x + 0)


def trades_rows(trades: list[Trade], rates: Any) -> list[dict[str, str]]:
    rows = []
    for t in trades:
        c = t.charges(rates)
        exit_price = t.exit_price
        rows.append({
            "symbol": t.symbol, "side": t.side, "status": "closed" if t.closed else "open",
            "quantity": str(t.entry_qty), "entry_time": _ts(t.entry_time),
            "entry_price": _dec(paise(t.entry_price)), "exit_time": _ts(t.exit_time),
            "exit_price": _dec(paise(exit_price) if exit_price is not None else None),
            "initial_stop": _dec(paise(t.initial_stop) if t.initial_stop is not None else None),
            "r": _dec(t.r_multiple()),
            "gross_pnl": _dec(t.gross), **{f: _dec(getattr(c, f)) for f in FIELDS},
            "charges": _dec(c.total), "net_pnl": _dec(t.gross - c.total),
        })  # fmt: skip
    return rows


def orders_rows(orders: list[Any], fills: list[Any]) -> list[dict[str, str]]:
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for f in fills:
        first.setdefault(f.order_id, f.ts)
        last[f.order_id] = f.ts
    return [
        {
            "order_id": o.order_id, "symbol": o.key, "role": o.role, "action": o.action.value,
            "type": o.price_type.value if o.price_type else "", "quantity": str(o.quantity),
            "price": _dec(o.price), "trigger_price": _dec(o.trigger_price),
            "status": o.status.value, "filled_quantity": str(o.filled_quantity),
            "average_price": _dec(o.average_price) if o.filled_quantity else "",
            "placed_at": _ts(o.placed_at), "first_fill_at": _ts(first.get(o.order_id)),
            "last_fill_at": _ts(last.get(o.order_id)), "updated_at": _ts(o.updated_at),
            "rejection_reason": o.rejection_reason,
        }
        for o in orders
    ]  # fmt: skip


def summary_text(day: date, trades: list[Trade], rates: Any, session: str | None = None) -> str:
    per: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        per[t.symbol].append(t)
    head = ("symbol", "trades", "won", "lost", "open", "gross P&L", "charges", "net P&L")
    body = []
    total_gross, total_charges = Decimal(0), ZERO
    for key in sorted(per):
        ts = per[key]
        gross = sum((t.gross for t in ts), Decimal(0))
        charges = sum((t.charges(rates) for t in ts), ZERO)
        total_gross += gross
        total_charges += charges
        body.append((key, str(len(ts)), str(sum(t.gross > 0 for t in ts)),
                     str(sum(t.gross < 0 for t in ts)), str(sum(not t.closed for t in ts)),
                     str(gross), str(charges.total), str(gross - charges.total)))  # fmt: skip
    body.append(("TOTAL", str(len(trades)), "", "", "", str(total_gross),
                 str(total_charges.total), str(total_gross - total_charges.total)))  # fmt: skip
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))  # fmt: skip

    out = [f"live8020 report for {day} (from the journal; charges are estimates)", "",
           line(head), line(["-" * w for w in widths])]  # fmt: skip
    out += [line(b) for b in body[:-1]]
    out += [line(["-" * w for w in widths]), line(body[-1]), ""]
    out.append("Charges: " + ", ".join(f"{f} {getattr(total_charges, f)}" for f in FIELDS))
    if session:
        out += ["", session.strip("\n")]
    return "\n".join(out) + "\n"


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


TRADE_COLUMNS = ["symbol", "side", "status", "quantity", "entry_time", "entry_price", "exit_time",
                 "exit_price", "initial_stop", "r", "gross_pnl", *FIELDS, "charges", "net_pnl"]  # fmt: skip
ORDER_COLUMNS = ["order_id", "symbol", "role", "action", "type", "quantity", "price",
                 "trigger_price", "status", "filled_quantity", "average_price", "placed_at",
                 "first_fill_at", "last_fill_at", "updated_at", "rejection_reason"]  # fmt: skip


def write_reports(
    journal: Any, day: date, data_dir: Path, rates: Any, session: str | None = None
) -> Path:
    """Write the day's three files from ``journal``; returns their folder."""
    orders = journal.orders(day=day)
    fills = journal.fills(day=day)
    trades = round_trips(fills, orders, journal.intents(day=day))
    folder = Path(data_dir) / REPORTS / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "trades.csv", trades_rows(trades, rates), TRADE_COLUMNS)
    _write_csv(folder / "orders.csv", orders_rows(orders, fills), ORDER_COLUMNS)
    (folder / "summary.txt").write_text(summary_text(day, trades, rates, session), "utf-8")
    return folder


def latest_day(journal: Any) -> date | None:
    days = [o.placed_at.date() for o in journal.orders()]
    return max(days) if days else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python live_8020.py report",
        description="Write data_dir/reports/<date>/ (trades.csv, orders.csv, summary.txt) "
        "from the journal.",
    )
    datadir.add_arguments(ap)
    ap.add_argument("--date", default=None, help="YYYY-MM-DD (default: the journal's last day)")
    args = ap.parse_args(argv)
    from live.config import ChargesSettings
    from live.journal import Journal

    try:
        cfg = datadir.config_of(args) if args.data_dir is None or args.config else None
        data_dir = datadir.data_dir_of(args, cfg)
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    kind = cfg.broker.kind if cfg is not None else "openalgo"
    path = data_dir / ("paper-journal.db" if kind == "paper" else "journal.db")
    if not path.exists():
        print(f"report: no journal at {path}: run the engine first or pass --data-dir",
              file=sys.stderr)  # fmt: skip
        return 1
    rates = cfg.charges if cfg is not None else ChargesSettings()
    with Journal(path) as j:
        day = day or latest_day(j)
        if day is None:
            print(f"report: {path} holds no orders yet", file=sys.stderr)
            return 1
        folder = write_reports(j, day, reports_base(data_dir, kind), rates)
    print((folder / "summary.txt").read_text(encoding="utf-8"), end="")
    print(f"Reports: {folder}")
    return 0
