"""The live status snapshot: written by the engine, read by ``status``.

While it runs, the engine writes ``data_dir/status.json`` every
``status_seconds`` (wall time): per symbol its phase, setup, position,
average, stop, last price, unrealized and realized P&L, working orders,
attempts used and brakes, plus account totals. The file is replaced
atomically (a temporary file, then ``os.replace``), so a reader never sees
half of one; the last one written (``state: stopped``) stays after the
engine ends.

Taking the snapshot follows the lock discipline: each executor copies its
state under its own lock (``SymbolExecutor.view``), one symbol at a time,
and nothing here calls the broker. Money is written as Decimal strings.

``python live_8020.py status [--watch] [--json]`` or ``python -m
live.status`` prints it as a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from live import datadir
from live.clock import IST
from live.logs import log_event

STATUS_FILE = "status.json"
FORMAT = 1
# Extra per-symbol fields another part of the runtime adds (queue depth,
# tick age): called with the symbol's key, returns JSON-ready values.
Extra = Callable[[str], dict[str, Any]]


PAISE = Decimal("0.01")


def _money(x: Decimal | None) -> str | None:
    """Rupees to the paisa (P&L); prices keep their tick precision."""
    return None if x is None else str(x.quantize(PAISE))


def _price(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def symbol_row(key: str, setup: str, view: Any, extra: dict[str, Any]) -> dict[str, Any]:
    brake = view.done_reason if (view.done_reason or "").startswith("brake") else None
    return {
        "symbol": key,
        "phase": view.phase.value,
        "setup": setup,
        "strategy_state": view.strategy_state,
        "position_qty": view.position_qty,
        "avg_price": _price(view.avg_price) if view.position_qty else None,
        "stop_price": _price(view.stop_price) if view.position_qty else None,
        "last_price": _price(view.last_price),
        "unrealized_pnl": _money(view.unrealized_pnl),
        "realized_pnl": _money(view.realized_pnl),
        "working_orders": [
            {
                "order_id": w.order_id,
                "role": w.role,
                "action": w.action,
                "quantity": w.quantity,
                "filled": w.filled,
                "price": _price(w.price),
                "state": w.state,
            }
            for w in view.working
        ],
        "attempts_used": view.entries_today,
        "max_attempts": view.max_attempts,
        "brake": brake,
        "done_reason": view.done_reason,
        "exit_reason": view.exit_reason,
        "extra": extra,
    }


def take_snapshot(engine: Any, *, state: str, extra: Extra | None = None) -> dict[str, Any]:
    """One consistent copy per symbol (each under its own lock, one at a
    time; no broker call), then account totals from those copies."""
    rows = []
    realized = unrealized = Decimal(0)
    open_positions = working = 0
    for key, plan in list(engine.plans.items()):
        ex = engine.states.get(key)
        if ex is None:
            rows.append({"symbol": key, "phase": "NOT TRADED", "setup": plan.description,
                         "position_qty": 0, "working_orders": [], "extra": {}})  # fmt: skip
            continue
        view = ex.view()
        more = {}
        if extra is not None:
            try:
                more = dict(extra(key))
            except Exception as exc:  # noqa: BLE001 - a status extra never stops the engine
                more = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append(symbol_row(key, plan.description, view, more))
        realized += view.realized_pnl
        unrealized += view.unrealized_pnl
        open_positions += 1 if view.position_qty else 0
        working += len(view.working)
    account: dict[str, Any] = {
        "realized_pnl": _money(realized),
        "unrealized_pnl": _money(unrealized),
        "total_pnl": _money(realized + unrealized),
        "open_positions": open_positions,
        "working_orders": working,
    }
    ledger = engine.ledger
    if ledger is not None:
        snap = ledger.snapshot()
        account.update(cash=str(snap.cash), reserved=str(snap.reserved),
                       available=str(snap.available))  # fmt: skip
    risk = engine.risk.snapshot()
    account["brakes"] = {
        "kill_switch": risk.kill_reason if risk.killed else None,
        "loss_limit_hit": risk.loss_limit_hit,
        "loss_limit": str(risk.loss_limit),
    }
    feed = getattr(engine, "feed", None)
    return {
        "format": FORMAT,
        "state": state,
        "pid": os.getpid(),
        "written_at": datetime.now(IST).isoformat(),
        "market_time": engine.clock.now().astimezone(IST).isoformat(),
        "feed": feed.state.value if feed is not None else None,
        "ticks": engine.ticks_seen,
        "account": account,
        "symbols": rows,
    }


def write_atomic(path: Path, data: dict[str, Any]) -> int:
    """Replace ``path`` with ``data`` as JSON in one step; returns the size."""
    text = json.dumps(data, ensure_ascii=False, indent=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return len(text)


class StatusWriter:
    """The engine's status thread: a snapshot every ``interval`` wall
    seconds; ``stop`` writes the last one (``state`` as given)."""

    def __init__(
        self, engine: Any, data_dir: Path, *, interval: float = 1.0, extra: Extra | None = None
    ):
        self.engine = engine
        self.path = Path(data_dir) / STATUS_FILE
        self.interval = interval
        self.extra = extra
        self.state = "running"
        self.last: dict[str, Any] | None = None  # the last snapshot written (no lock needed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False

    def write_now(self, state: str | None = None) -> dict[str, Any] | None:
        if state is not None:
            self.state = state
        try:
            snap = take_snapshot(self.engine, state=self.state, extra=self.extra)
            write_atomic(self.path, snap)
        except Exception as exc:  # noqa: BLE001 - the status file must never stop trading
            if not self._failed:
                self._failed = True
                log_event("STATUS_FAILED", level=logging.WARNING, path=self.path,
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            return None
        self._failed = False
        self.last = snap
        return snap

    def start(self) -> StatusWriter:
        self.write_now()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write_now()

    def stop(self, state: str = "stopped") -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.write_now(state)


# --- reading -------------------------------------------------------------------------


class NoSnapshot(Exception):
    pass


def read_status(data_dir: Path) -> dict[str, Any]:
    path = Path(data_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoSnapshot(
            f"no status snapshot in {data_dir} yet: start the engine "
            "(python live_8020.py) or pass the data_dir it uses"
        ) from None
    except ValueError as exc:
        raise NoSnapshot(f"{path} is not a status snapshot ({exc})") from None


def _age(snap: dict[str, Any], now: datetime) -> str:
    try:
        age = (now - datetime.fromisoformat(snap["written_at"])).total_seconds()
    except (KeyError, ValueError):
        return "?"
    return f"{age:.0f}s ago"


def render(snap: dict[str, Any], now: datetime | None = None) -> str:
    now = now or datetime.now(IST)
    market = str(snap.get("market_time", ""))[:19].replace("T", " ")
    head = (
        f"live8020 {snap.get('state', '?')} (pid {snap.get('pid')})  market {market} IST  "
        f"written {_age(snap, now)}  feed {snap.get('feed') or '-'}"
    )
    cols = ("symbol", "phase", "pos", "avg", "stop", "last", "unreal", "real", "tries", "orders")
    body = []
    for r in snap.get("symbols", []):
        orders = " ".join(
            f"{w['role']}:{w['action']} {w['quantity']}@{w['price']} [{w['state']}]"
            for w in r.get("working_orders", [])
        )
        tries = f"{r['attempts_used']}/{r['max_attempts']}" if "attempts_used" in r else "-"
        body.append((
            r["symbol"], r.get("phase", "-") + (" BRAKE" if r.get("brake") else ""),
            str(r.get("position_qty", 0)), r.get("avg_price") or "-", r.get("stop_price") or "-",
            r.get("last_price") or "-", r.get("unrealized_pnl") or "-",
            r.get("realized_pnl") or "-", tries, orders or "-",
        ))  # fmt: skip
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c)
              for i, c in enumerate(cols)]  # fmt: skip

    def line(cells) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 1, 9) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [head, line(cols), line(["-" * w for w in widths]), *(line(b) for b in body)]
    a = snap.get("account", {})
    out.append(
        f"P&L realized {a.get('realized_pnl')}  unrealized {a.get('unrealized_pnl')}  "
        f"total {a.get('total_pnl')}   open positions {a.get('open_positions')}  "
        f"working orders {a.get('working_orders')}"
    )
    if "available" in a:
        out.append(f"cash {a['cash']}  reserved {a['reserved']}  available {a['available']}")
    brakes = a.get("brakes") or {}
    if brakes.get("kill_switch") or brakes.get("loss_limit_hit"):
        why = brakes.get("kill_switch") or f"daily loss limit {brakes.get('loss_limit')} reached"
        out.append(f"BRAKE: {why}")
    for r in snap.get("symbols", []):
        if r.get("phase") == "NOT TRADED":
            out.append(f"{r['symbol']}: not traded today ({r.get('setup')})")
    return "\n".join(out)


def show(
    data_dir: Path, *, watch: bool = False, as_json: bool = False, out: TextIO | None = None,
    interval: float = 1.0, stop: threading.Event | None = None,
) -> int:  # fmt: skip
    """Print the snapshot (``watch``: again every ``interval`` until Ctrl-C
    or ``stop``). Exit status 1 with one line when there is none."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    while True:
        try:
            snap = read_status(data_dir)
        except NoSnapshot as exc:
            print(f"status: {exc}", file=sys.stderr if not watch else out)
            if not watch:
                return 1
        else:
            text = json.dumps(snap, indent=1) if as_json else render(snap)
            if watch and not as_json and out.isatty():
                out.write("\x1b[2J\x1b[H")
            print(text, file=out, flush=True)
        if not watch or stop.wait(interval):
            return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    datadir.add_arguments(ap)
    ap.add_argument("--watch", action="store_true", help="refresh every second until Ctrl-C")
    ap.add_argument("--json", action="store_true", help="the snapshot as JSON, for scripts")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python live_8020.py status",
                                 description="Positions, orders and P&L of the running engine.")  # fmt: skip
    add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        data_dir = datadir.data_dir_of(args)
        return show(data_dir, watch=args.watch, as_json=args.json)
    except ValueError as exc:  # ConfigError
        print(f"status: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
