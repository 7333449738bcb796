"""Input checks and column conversions: bad input is a clear ValueError
raised before any SQL runs, so it can never leave a half-written row."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from live.broker import split_key
from live.clock import IST, require_aware


def key(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"key: must be a str like 'NSE:SBIN', got {type(value).__name__}")
    symbol, exchange = split_key(value)
    return f"{exchange}:{symbol}"


def day(value: date, name: str = "day") -> str:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{name}: must be a datetime.date (the IST trading day), got {value!r}")
    return value.isoformat()


def ts(value: datetime, name: str = "ts") -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: must be an aware datetime, got {type(value).__name__}")
    return require_aware(value, name)


def role(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("role: must be a non-empty string such as 'stop' or 'exit'")
    return value.strip()


def intent_id(value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"intent_id: must be an int or None, got {value!r}")
    return value


def dec_text(value: Decimal | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name}: must be a finite Decimal, got {value!r}")
    return str(value)


def reported_price(value: Decimal, name: str) -> str | None:
    """A price from an order update: 0 is the broker's "not reported"."""
    return dec_text(value, name) if value else None


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(IST)


def json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    raise TypeError(f"detail: {type(o).__name__} is not JSON-serialisable")
