"""A clean stop on SIGINT (Ctrl-C) and SIGTERM (systemd, Docker, OpenAlgo's
strategy host).

The first signal asks the runtime to stand down: every executor cancels its
working entries and either leaves its position to the working stop-loss
(the default) or closes it at market (``--flatten-on-exit`` /
``shutdown.flatten_on_exit``). The feed and the poller keep running until
the broker has confirmed it (or ``shutdown.timeout_seconds`` pass); then
the runtime prints what was left where, writes the summary and the
reports, and exits 0 - 130 (SIGINT) or 143 (SIGTERM) only if the stand-down
itself did not finish.

A second signal exits at once (``os._exit(130)``), printing what the last
status snapshot says may still be working at the broker. The handler takes
no lock: it runs in the main thread, which may hold one.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from live.logs import log_event

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Shutdown:
    """Signal handling for one run. ``last_snapshot`` returns the status
    writer's last snapshot (a plain dict: reading it takes no lock)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out  # None: straight to file descriptor 2
        self.requested = threading.Event()
        self.signum: int | None = None
        self.last_snapshot: Callable[[], dict | None] = lambda: None
        self._exit: Callable[[int], None] = os._exit

    def install(self) -> Shutdown:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        return self

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "stop"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self.requested.is_set():
            self.signum = signum
            self.requested.set()
            self._say(f"\n{signal.Signals(signum).name}: stopping - cancelling entries; "
                      "send it again to exit at once")  # fmt: skip
            return
        try:
            lines = [f"{signal.Signals(signum).name} again: exiting now, without a clean stop."]
            lines += may_be_left(self.last_snapshot())
            text = "\n".join(lines)
            self._say(text)
            log_event("ENGINE_ABORTED", level=logging.ERROR, signal=signal.Signals(signum).name,
                      left=text)  # fmt: skip
        finally:
            self._exit(130)

    def _say(self, text: str) -> None:
        """The handler interrupts the main thread wherever it is - perhaps
        inside a write to stderr, whose buffer lock a ``print`` would find
        taken: write to the file descriptor itself."""
        if self.out is not None:
            print(text, file=self.out, flush=True)
            return
        try:
            os.write(2, (text + "\n").encode())
        except OSError:
            pass


def may_be_left(snap: dict | None) -> list[str]:
    """What the last snapshot says may still be working at the broker."""
    if not snap:
        return ["No status snapshot yet: check the broker's order book for orders tagged live8020."]
    out = []
    for r in snap.get("symbols", []):
        orders = r.get("working_orders") or []
        if not r.get("position_qty") and not orders:
            continue
        held = f"position {r['position_qty']}" if r.get("position_qty") else "no position"
        work = ", ".join(f"{w['role']} {w['action']} {w['quantity']} @ {w['price']} "
                         f"(order {w['order_id']})" for w in orders)  # fmt: skip
        out.append(f"  {r['symbol']}: {held}; may be working: {work or 'nothing'}")
    if not out:
        return ["Nothing of ours was open or working at the last snapshot."]
    return ["May be left at the broker (last status snapshot):", *out]


@dataclass(frozen=True)
class Left:
    """What one symbol was left with after the stand-down."""

    symbol: str
    position: int
    stop_id: str | None
    stop_qty: int
    stop_price: Any
    working: tuple[str, ...]  # ids of any other orders still working

    def line(self) -> str:
        if self.position == 0 and not self.working and not self.stop_id:
            return f"  {self.symbol}: flat, nothing working"
        side = "long" if self.position > 0 else "short"
        if self.position and self.stop_id:
            text = (f"  {self.symbol}: {side} {abs(self.position)}, protected by stop-loss "
                    f"{self.stop_qty} @ {self.stop_price} (order {self.stop_id}) at the broker")  # fmt: skip
        elif self.position:
            text = f"  {self.symbol}: {side} {abs(self.position)} WITHOUT a working stop-loss"
        else:
            text = f"  {self.symbol}: flat"
        if self.working:
            text += f"; still working: {', '.join(self.working)}"
        return text


def left_behind(engine: Any) -> list[Left]:
    rows = []
    for key, ex in engine.states.items():
        v = ex.view()
        others = tuple(w.order_id for w in v.working if w.order_id != v.sl_id)
        rows.append(Left(key, v.position_qty, v.sl_id, v.sl_qty, v.stop_price, others))
    return rows


def stand_down(engine: Any, *, flatten: bool, timeout: float, poll: float = 0.05) -> bool:
    """Ask every executor to stand down and wait (wall time) until each has
    (the broker confirmed the cancels, the exits filled). True if all did."""
    now = engine.clock.now()
    log_event("ENGINE_STOPPING", flatten=flatten)
    for ex in engine.states.values():
        ex.stand_down(now, flatten=flatten)
    deadline = time.monotonic() + timeout
    last_kick = 0.0
    while True:
        if all(ex.stood_down(flatten=flatten) for ex in engine.states.values()):
            return True
        if time.monotonic() >= deadline:
            return False
        if engine.poller is not None and time.monotonic() - last_kick >= 0.5:
            last_kick = time.monotonic()
            engine.poller.kick()  # confirmations sooner than the next poll
        time.sleep(poll)


def report(rows: list[Left], *, ok: bool, flatten: bool) -> str:
    head = (
        "Stopped cleanly: no entry working; "
        + ("every position closed." if flatten else "open positions kept with their stop-loss.")
        if ok
        else "The stop did NOT finish: check these at the broker."
    )
    return "\n".join([head, "Left at the broker:", *(r.line() for r in rows)])
