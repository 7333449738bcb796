"""A start during market hours with many symbols and slow ``history``
calls, over real sockets: the feed streams before the day's plan is read,
so the minutes of paced history calls are not blind (issue 12). Ticks
received before the last history call returns reach the session's bars,
and a low printed while the warm-up's own history calls were still running
(after its symbol's history was read) is in that symbol's warm-up: the
80-20's extreme sits at it."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from live.sim import Latency

N = 40
MIX = {f"NSE:S{i:02d}": "long_win" for i in range(1, N + 1)}
FIRST = "NSE:S01"  # the first traded symbol: its warm-up history is read first


def _print_a_low_after_its_history(sim, pushed: list, stop: threading.Event) -> None:
    """As soon as the warm-up's 1-minute history for FIRST has been served
    (39 more slow history calls to go), print a low well under the day so far."""
    while not stop.is_set():
        served = [r for r in sim.request_log() if r.endpoint == "history"
                  and r.payload.get("symbol") == "S01" and r.payload.get("interval") == "1m"]  # fmt: skip
        if served:
            bars = sim.intraday_bars(FIRST, 60, sim.day.day, sim.day.day)
            low = min(Decimal(str(b[3])) for b in bars)
            price = (low * Decimal("0.9")).quantize(Decimal(1))
            sim.push_tick(FIRST, price)
            pushed.append((price, served[0].seq))
            return
        time.sleep(0.002)


@pytest.mark.timeout(120)
def test_the_feed_streams_while_history_is_read_and_the_warm_up_sees_it(session):
    pushed: list = []
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start_watching(sim, _server) -> None:
        t = threading.Thread(target=_print_a_low_after_its_history, args=(sim, pushed, stop),
                             daemon=True)  # fmt: skip
        t.start()
        threads.append(t)

    try:
        s = session(
            MIX,
            start="09:30",
            cutoff="09:35",
            speed=30,
            faults=[Latency(endpoint="history", seconds=0.05)],
            on_started=start_watching,
        )
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    rows = s.log.rows
    order = [p.get("event") for _, _, p in rows]
    history = [r for r in s.sim.request_log() if r.endpoint == "history"]
    assert len(history) == 2 * N  # prior daily bars, then the warm-up's minutes
    # The feed was live before the first history call was even served, and
    # ticks reached the session's bars for every traded symbol before the
    # hand-over (which comes after the last history call returned).
    live_at = next(ts for ts, _, p in rows if p.get("event") == "FEED_LIVE")
    assert live_at <= history[0].ts
    assert order.index("FEED_LIVE") < order.index("PLAN_READ") < order.index("WARMED_UP")
    warmed = s.log.events("WARMED_UP")[0]
    assert warmed["source"] == "history"
    assert warmed["streamed"] == N, warmed
    # The low printed after FIRST's history was read, while 39 more slow
    # history calls ran: in its warm-up, so the 80-20's stop sits under it.
    assert pushed, "the low was never printed"
    price, seq = pushed[0]
    assert any(r.seq > seq for r in history), "the low came after the last history call"
    strategy = s.engine.states[FIRST].st.strategy
    assert strategy.extreme is not None and strategy.extreme <= price, (strategy.extreme, price)
