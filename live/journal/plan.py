"""The day's plan and the session's minute bars: what a restart the same day
needs so that it makes no per-symbol broker call before protecting what is
open.

- **plan** - one row per (day, symbol): the instrument (tick, lot, name)
  and the prior daily bars the strategy's setup was made from. Written once
  at the first start of the day (one transaction for all symbols).
- **session_bars** - one row per (day, symbol, minute): the session's
  1-minute bars, from the warm-up's ``history`` and from the engine's own
  ticks (flushed every couple of seconds). A restart warms each strategy
  up with these instead of asking ``history`` again.

Prices are TEXT Decimal strings, never REAL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from live.broker import Bar, Instrument, split_key

from . import checks
from .store import Store


@dataclass(frozen=True)
class PlanRow:
    instrument: Instrument
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class MinuteBar:
    key: str
    minute: datetime  # aware, the minute's start
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


def _bar_json(b: Bar) -> list:
    return [b.day.isoformat(), str(b.open), str(b.high), str(b.low), str(b.close), b.volume]


def _bar(row: list) -> Bar:
    d, o, h, lo, c, v = row
    return Bar(date.fromisoformat(d), Decimal(o), Decimal(h), Decimal(lo), Decimal(c), v)


class Plans:
    def __init__(self, store: Store):
        self._store = store

    def record_plan(self, day: date, rows: dict[str, PlanRow]) -> None:
        d = checks.day(day)
        values = []
        for key, row in rows.items():
            inst = row.instrument
            values.append((d, checks.key(key), str(inst.tick_size), inst.lot_size, inst.name,
                           json.dumps([_bar_json(b) for b in row.bars])))  # fmt: skip
        with self._store.write(f"record_plan({len(values)} symbols)") as c:
            c.executemany(
                "INSERT INTO plan (day, key, tick_size, lot_size, name, bars) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(day, key) DO UPDATE SET tick_size=excluded.tick_size,"
                " lot_size=excluded.lot_size, name=excluded.name, bars=excluded.bars",
                values,
            )

    def plan(self, day: date) -> dict[str, PlanRow]:
        d = checks.day(day)
        with self._store.read() as c:
            rows = c.execute(
                "SELECT key, tick_size, lot_size, name, bars FROM plan WHERE day=?", (d,)
            ).fetchall()
        out = {}
        for key, tick, lot, name, bars in rows:
            sym, ex = split_key(key)
            inst = Instrument(sym, ex, Decimal(tick), int(lot), name)
            out[key] = PlanRow(inst, tuple(_bar(b) for b in json.loads(bars)))
        return out

    def record_bars(self, day: date, bars: list[MinuteBar]) -> None:
        """Upsert minute bars; a minute already stored widens to include the
        new one (a warm-up bar and the engine's own ticks may share one)."""
        if not bars:
            return
        d = checks.day(day)
        values = [(d, b.key, b.minute.isoformat(), str(b.open), str(b.high), str(b.low),
                   str(b.close)) for b in bars]  # fmt: skip
        with self._store.write(f"record_bars({len(values)})") as c:
            c.executemany(
                "INSERT INTO session_bars (day, key, minute, open, high, low, close)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(day, key, minute) DO UPDATE SET"
                " high=CASE WHEN CAST(excluded.high AS REAL) > CAST(high AS REAL)"
                " THEN excluded.high ELSE high END,"
                " low=CASE WHEN CAST(excluded.low AS REAL) < CAST(low AS REAL)"
                " THEN excluded.low ELSE low END,"
                " close=excluded.close",
                values,
            )

    def bars(self, day: date) -> dict[str, list[MinuteBar]]:
        d = checks.day(day)
        with self._store.read() as c:
            rows = c.execute(
                "SELECT key, minute, open, high, low, close FROM session_bars WHERE day=?"
                " ORDER BY key, minute",
                (d,),
            ).fetchall()
        out: dict[str, list[MinuteBar]] = {}
        for key, minute, o, h, lo, cl in rows:
            out.setdefault(key, []).append(
                MinuteBar(
                    key,
                    datetime.fromisoformat(minute),
                    Decimal(o),
                    Decimal(h),
                    Decimal(lo),
                    Decimal(cl),
                )  # fmt: skip
            )
        return out
