"""What the strategies see of the session before the engine started.

A start after the open (a restart, a late start) warms every strategy up
before any decision, so the 80-20's stop sits under the day's real low and
the ORB measures its whole range. The session so far comes, as 1-minute
bars:

- after a restart the same day, from the journal (the first start's
  warm-up plus the engine's own ticks, journaled each poll cycle), with the
  day's high and low from one ``multiquotes`` call for all symbols covering
  the minutes the engine was down for;
- otherwise from one history call per traded symbol, journaled; a symbol
  whose history cannot be read starts from what the feed streams, logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from live.broker import BrokerError, split_key
from live.clock import MarketSession
from live.journal import MinuteBar
from live.logs import log_event
from live.strategy import Tick

__all__ = ["EarlierBars", "earlier_bars", "warm_up_ticks"]


@dataclass(frozen=True)
class EarlierBars:
    """The session before the engine started, as the warm-up reads it."""

    bars: dict[str, list[MinuteBar]]  # EXCHANGE:SYMBOL -> minute bars
    gaps: dict  # EXCHANGE:SYMBOL -> (high, low) over a restart's gap
    source: str  # "journal", "history" or "none"


def earlier_bars(
    broker: Any, journal: Any, keys: list[str], session: MarketSession, today: date, now: datetime
) -> EarlierBars:
    none = EarlierBars({}, {}, "none")
    if now <= session.open_at(today) + timedelta(minutes=1):
        return none
    stored = journal.session_bars(today) if journal is not None else {}
    if stored:
        return EarlierBars(stored, _day_ranges(broker, keys), "journal")
    fetch = getattr(broker, "intraday_bars", None)
    if fetch is None:
        return none
    bars: dict[str, list[MinuteBar]] = {}
    for key in keys:
        sym, ex = split_key(key)
        try:
            candles = fetch(sym, ex, "1m", today, today)
        except BrokerError as exc:
            log_event("WARM_UP_FAILED", symbol=key, level=logging.WARNING, error=str(exc))
            continue
        bars[key] = [MinuteBar(key, c.ts, c.open, c.high, c.low, c.close) for c in candles]
    fetched = [b for rows in bars.values() for b in rows]
    if fetched and journal is not None:
        journal.record_bars(today, fetched)
    return EarlierBars(bars, {}, "history")


def _day_ranges(broker: Any, keys: list[str]) -> dict:
    """Today's high and low per symbol from one ``multiquotes`` call: the
    journal's minute bars stop where the engine went down, and a stop
    placed by them alone could sit above a low made meanwhile."""
    ask = getattr(broker, "day_ranges", None)
    if ask is None:
        return {}
    try:
        return ask(keys)
    except BrokerError as exc:
        log_event("WARM_UP_GAP", level=logging.WARNING, error=str(exc),
                  effect="minutes the engine was down for are unknown to the strategies")  # fmt: skip
        return {}


def warm_up_ticks(
    key: str, earlier: EarlierBars, streamed: dict, opened: datetime, now: datetime
) -> list[Tick]:
    """One symbol's session so far, oldest first: the earlier bars, the
    day's range over a restart's gap, then what the feed streamed while the
    engine started."""
    ticks = _bar_ticks(earlier.bars.get(key, []), opened, now)
    if key in earlier.gaps:
        # The day's extremes, which may have been made while the engine was
        # down, stamped inside the gap (just before now).
        high, low = earlier.gaps[key]
        gap_ts = max(opened, now - timedelta(seconds=1))
        ticks += [Tick(key, high, gap_ts), Tick(key, low, gap_ts)]
    return ticks + _bar_ticks(streamed.get(key, []), opened, now)


def _bar_ticks(bars: list[MinuteBar], opened: datetime, now: datetime) -> list[Tick]:
    """Each bar as four prices (open, high, low, close) at its minute."""
    out: list[Tick] = []
    for b in bars:
        if opened <= b.minute < now:
            out += [Tick(b.key, b.open, b.minute), Tick(b.key, b.high, b.minute),
                    Tick(b.key, b.low, b.minute), Tick(b.key, b.close, b.minute)]  # fmt: skip
    return out
