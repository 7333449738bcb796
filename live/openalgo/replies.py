"""Reading an OpenAlgo reply: a reply we cannot read is the broker's fault,
not the caller's input, and surfaces as a ``BrokerError`` naming the field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from live.broker import BrokerError


def as_list(data: Any, ctx: str) -> list:
    if not isinstance(data, list):
        raise BrokerError(f"{ctx}: expected a list, got {type(data).__name__}")
    return data


def convert(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn``'s value; its ValueError (a field it cannot read) as a BrokerError."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise BrokerError(f"malformed reply: {e}") from None


def show_error(row: Any) -> str:
    """What a per-symbol row says instead of data (for a log line)."""
    err = row.get("error") if isinstance(row, Mapping) else None
    return str(err)[:80] if err else type(row).__name__
