"""Alerts a trader wants on the phone: Telegram through OpenAlgo's
``telegram/notify`` (``POST /api/v1/telegram/notify`` with the API key, the
OpenAlgo login ``username`` - config ``broker.telegram_username`` - and the
``message``), and the log.

What is sent:

==================  ===========================================  ============
alert               from                                         config
==================  ===========================================  ============
entry filled        an entry's fill                              always
stop moved          a trailing modify the broker accepted        alerts.stop_moved
exit and P&L        a stop's or exit's fill                      always
brake engaged       a brake (kill switch, daily loss limit)      once a reason
mismatch            the broker's position is not ours            always
protection failure  ALERT (a stop that cannot be kept, a call    always
                    that never returned, a dead thread)
feed down           the WebSocket down longer than N seconds     alerts.disconnect_seconds
engine stopped      the end of every run, with its P&L           always
==================  ===========================================  ============

Executors report events under their symbol's lock, so ``on_event`` only
formats and queues; one worker thread sends, one message at a time, and
logs ``ALERT_SENT`` (delivered or not). A failure is logged, never raised.
Without ``telegram_username`` alerts go to the log only.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from live.logs import log_event

Notify = Callable[[str], Any]  # sends one message; True/None when delivered
_STOP = object()


def _signed(x: Any) -> str:
    try:
        d = Decimal(str(x)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return str(x)
    return f"+{d}" if d > 0 else str(d)


def message_for(key: str, event: str, f: dict[str, Any], *, stop_moved: bool) -> str | None:
    """The alert text for one executor event, or None if it is not alerted."""
    if event == "FILL" and f.get("role") == "entry":
        return f"{key}: entry filled {f.get('qty')} @ {f.get('price')}"
    if event == "FILL":
        return (f"{key}: {f.get('role')} filled {f.get('qty')} @ {f.get('price')}, "
                f"P&L {_signed(f.get('pnl', 0))}")  # fmt: skip
    if event == "STOP_MODIFIED" and stop_moved:
        return f"{key}: stop moved to {f.get('trigger')} (was {f.get('previous')})"
    if event == "BRAKE":
        return f"brake engaged: {f.get('reason')} (positions: {f.get('on_brake')})"
    if event in ("POSITION_MISMATCH", "POSITION_FOREIGN"):
        return f"{key}: position mismatch: ours {f.get('ours')}, broker {f.get('broker')}"
    if event == "ALERT":
        qty = f" (qty {f['qty']})" if f.get("qty") is not None else ""
        return f"{key}: ALERT {f.get('reason')}{qty}"
    return None


class Alerter:
    def __init__(self, notify: Notify | None = None, *, stop_moved: bool = False) -> None:
        self.notify = notify
        self.stop_moved = stop_moved
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards the worker's start and the dedupe set
        self._thread: threading.Thread | None = None
        self._once: set[str] = set()
        self.sent = 0
        self.failed = 0

    # --- producers (any thread, maybe under a symbol lock: queue only) ----------------

    def on_event(self, key: str, event: str, fields: dict[str, Any]) -> None:
        text = message_for(key, event, fields, stop_moved=self.stop_moved)
        if text is None:
            return
        # A brake engages on every symbol at once: one message per reason.
        self.send(event.lower(), text, once=text if event == "BRAKE" else None)

    def send(self, kind: str, text: str, *, once: str | None = None) -> None:
        with self._lock:
            if once is not None:
                if once in self._once:
                    return
                self._once.add(once)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
                self._thread.start()
        self._queue.put((kind, f"live8020 {text}"))

    # --- the worker -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            kind, text = item
            delivered = False
            if self.notify is not None:
                try:
                    delivered = self.notify(text) is not False
                except Exception as exc:  # noqa: BLE001 - an alert never breaks trading
                    log_event("ALERT_FAILED", level=logging.WARNING, kind=kind,
                              error=f"{type(exc).__name__}: {exc}")  # fmt: skip
            if delivered:
                self.sent += 1
            elif self.notify is not None:
                self.failed += 1
            log_event("ALERT_SENT", kind=kind, message=text, telegram=delivered)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to ``timeout`` wall seconds), then stop."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)


class FeedWatch:
    """Alerts once when the feed has been down ``after`` wall seconds, and
    once when it is back. ``check`` is called by the runtime's supervisor."""

    def __init__(self, alerter: Alerter, after: float) -> None:
        self.alerter = alerter
        self.after = after
        self.seen_live = False
        self.down_since: float | None = None
        self.alerted = False

    def check(self, live: bool, now: float) -> None:
        if live:
            if self.alerted:
                log_event("FEED_RESTORED", down_seconds=round(now - (self.down_since or now), 1))
                self.alerter.send("feed_restored", "market data feed is back")
            self.seen_live, self.down_since, self.alerted = True, None, False
            return
        if not self.seen_live:
            return  # still connecting at start: not a disconnect
        if self.down_since is None:
            self.down_since = now
        if not self.alerted and now - self.down_since >= self.after:
            self.alerted = True
            secs = round(now - self.down_since)
            log_event("FEED_DOWN", level=logging.ERROR, seconds=secs)
            self.alerter.send("feed_down", f"market data feed down for {secs}s; stop-losses "
                              "stay at the broker")  # fmt: skip
