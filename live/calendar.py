"""The trading session: configured hours and holidays, refined by the broker's calendar."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, time, timedelta

from live.broker import Broker, BrokerError
from live.clock import MarketSession
from live.config import Config
from live.logs import log_event


def market_session(cfg: Config) -> MarketSession:
    s = cfg.session
    return MarketSession(
        entry_start=s.entry_start,
        entry_end=s.entry_end,
        exit_cutoff=s.exit_cutoff,
        holidays=frozenset(s.holidays),
    )


def broker_calendar(broker: Broker, session: MarketSession, day: date) -> MarketSession:
    """Holidays and the day's timings from the broker when its OpenAlgo
    server has the market endpoints; the configured calendar otherwise (and
    on any error: a calendar lookup must not stop a trading day)."""
    holidays = getattr(broker, "holidays", None)
    timings = getattr(broker, "timings", None)
    try:
        extra = holidays(day.year) if holidays is not None else None
        hours = timings(day) if timings is not None else None
    except BrokerError as exc:
        log_event("CALENDAR_FALLBACK", level=logging.WARNING, error=str(exc))
        return session
    if extra:
        session = replace(session, holidays=session.holidays | frozenset(extra))
    if hours is not None:
        open_ = hours[0].timetz().replace(tzinfo=None)
        close = hours[1].timetz().replace(tzinfo=None)
        if (open_, close) != (session.open, session.close):
            # A special session (e.g. a shortened day): keep the strategy's
            # windows inside it, the cutoff 15 minutes before its close.
            cutoff = min(session.exit_cutoff, _minus(close, 15))
            session = replace(
                session,
                open=open_,
                close=close,
                entry_start=max(session.entry_start, open_),
                entry_end=min(session.entry_end, cutoff),
                exit_cutoff=cutoff,
            )
            log_event("SESSION_TIMINGS", open=open_, close=close, cutoff=cutoff)
    return session


def _minus(t: time, minutes: int) -> time:
    return (datetime.combine(date(2000, 1, 1), t) - timedelta(minutes=minutes)).time()
