"""The day's plan: each symbol's instrument and prior daily bars, read from
the broker once per day and kept in the journal.

At the first start of the day: the instrument master in one call per
exchange (OpenAlgo's ``instruments``), ``symbol`` only for what the master
lacks (an older server without the endpoint, a row whose tick needs a
price to verify); then ``history`` per symbol when the strategy wants prior
bars - paced by the client's rate limiter (OpenAlgo allows 50 such calls a
second). What was read is journaled in one transaction.

At a restart the same day the journal has it: no per-symbol call at all,
so protection decisions wait for nothing but the orderbook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from live.broker import BrokerError, split_key
from live.clock import MarketSession
from live.journal import PlanRow
from live.logs import log_event


@dataclass(frozen=True)
class DayPlan:
    rows: dict[str, PlanRow]  # EXCHANGE:SYMBOL -> instrument and prior bars
    failed: dict[str, str]  # EXCHANGE:SYMBOL -> why it could not be read
    from_journal: int  # symbols whose plan came from the journal
    calls: dict[str, int]  # broker calls made, by endpoint


def load_day_plan(
    broker: Any,
    journal: Any,
    keys: list[str],
    *,
    daily_bars: int,
    session: MarketSession,
    today: date,
) -> DayPlan:
    stored = journal.plan(today) if journal is not None else {}
    rows = {k: stored[k] for k in keys if k in stored}
    missing = [k for k in keys if k not in rows]
    calls = {"instruments": 0, "symbol": 0, "history": 0}
    failed: dict[str, str] = {}
    if not missing:
        log_event("PLAN_FROM_JOURNAL", symbols=len(rows))
        return DayPlan(rows, failed, len(rows), calls)
    master = _instruments(broker, missing, calls)
    prior = session.previous_trading_day(today)
    made: dict[str, PlanRow] = {}
    for key in missing:
        sym, ex = split_key(key)
        try:
            inst = master.get(key)
            if inst is None:
                calls["symbol"] += 1
                inst = broker.instrument(sym, ex)
            bars: list = []
            if daily_bars:
                calls["history"] += 1
                bars = broker.daily_bars(sym, ex, prior - timedelta(days=daily_bars), prior)
        except BrokerError as exc:
            failed[key] = str(exc)
            continue
        made[key] = PlanRow(inst, tuple(bars))
    if journal is not None and made:
        try:
            journal.record_plan(today, made)
        except Exception as exc:  # noqa: BLE001 - a restart then reads the broker again
            log_event("PLAN_NOT_JOURNALED", level=logging.WARNING,
                      error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    log_event("PLAN_READ", symbols=len(made), from_journal=len(rows), failed=len(failed),
              **{f"{k}_calls": v for k, v in calls.items()})  # fmt: skip
    return DayPlan({**rows, **made}, failed, len(rows), calls)


def _instruments(broker: Any, keys: list[str], calls: dict[str, int]) -> dict:
    """The instrument master for the exchanges of ``keys``, one call each;
    empty for an exchange (and so ``symbol`` per symbol) when the broker has
    no such endpoint or it fails."""
    fetch = getattr(broker, "instruments", None)
    if fetch is None:
        return {}
    out: dict = {}
    for exchange in sorted({split_key(k)[1] for k in keys}):
        calls["instruments"] += 1
        try:
            out.update(fetch(exchange))
        except BrokerError as exc:
            log_event("INSTRUMENTS_UNAVAILABLE", level=logging.WARNING, exchange=exchange,
                      error=str(exc), fallback="symbol per symbol")  # fmt: skip
    return out
