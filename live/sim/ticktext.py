"""The LTP ``market_data`` message as text, built without a JSON encoder:
at thousands of ticks a second the per-tick ``json.dumps`` of a nested dict
is most of the fan-out's cost. The text is exactly what ``json.dumps`` of
``{"type": "market_data", "symbol", "exchange", "mode": 1, "data": {"ltp",
"timestamp", "ltt"}}`` gives (LTP as a float, times in epoch ms)."""

from __future__ import annotations

import json
from datetime import datetime

from .models import SimTick

__all__ = ["LtpText"]


class LtpText:
    def __init__(self) -> None:
        self._prefix: dict[tuple[str, str], str] = {}
        self._ts: datetime | None = None
        self._ms = ""

    def __call__(self, tick: SimTick) -> str:
        ts = tick.ts
        if ts is not self._ts:  # the ticks of one time step share their datetime
            self._ts = ts
            self._ms = str(int(ts.timestamp() * 1000))
        ms = self._ms
        pair = (tick.symbol, tick.exchange)
        prefix = self._prefix.get(pair)
        if prefix is None:
            prefix = self._prefix[pair] = (
                '{"type": "market_data", "symbol": '
                + json.dumps(tick.symbol)
                + ', "exchange": '
                + json.dumps(tick.exchange)
                + ', "mode": 1, "data": {"ltp": '
            )
        return prefix + repr(float(tick.ltp)) + ', "timestamp": ' + ms + ', "ltt": ' + ms + "}}"
