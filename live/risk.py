"""Risk limits checked before every entry: kill switch, daily loss limit,
max open positions, quantity bounds.

Open-position slots are taken atomically: ``try_open(key, qty, ts)`` checks
every limit *and* reserves a slot under one short lock, so two threads can
never both pass ``max_open_positions``. The reservation is then confirmed by
``position_opened(key)`` (the entry filled) or returned by ``release(key)``
(the entry was rejected, cancelled or never placed); ``position_closed(key)``
frees a confirmed slot. Entries of one symbol working together (a two-sided
strategy's buy and sell stops) share the symbol's slot: each ``try_open``
holds it once and each ``release`` lets go once. ``check_entry`` is the same check without a
reservation (for display and pre-filtering, never as the gate).

The realized P&L and the loss-limit state belong to one IST trading day and
reset when the day changes (the 004 incident: a daily start equity that was
never reset blocked or allowed trading on yesterday's numbers). Slots and the
kill switch do not reset: a position held overnight still occupies a slot,
and a kill is a decision only a human (``clear_kill``) takes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from live import interleave
from live.broker import split_key
from live.clock import Clock, require_aware
from live.logs import log_event


class RiskCode(StrEnum):
    OK = "ok"
    KILLED = "killed"
    KILL_FILE = "kill_file"
    LOSS_LIMIT = "loss_limit"
    MAX_POSITIONS = "max_positions"
    SLOT_HELD = "slot_held"
    QTY_BELOW_MIN = "qty_below_min"
    QTY_ABOVE_MAX = "qty_above_max"


class SlotState(StrEnum):
    RESERVED = "reserved"  # entry being placed / working, not filled yet
    OPEN = "open"  # position exists


@dataclass(frozen=True)
class RiskLimits:
    daily_loss_limit: Decimal  # a positive amount: refuse once the day's realized P&L <= -limit
    max_open_positions: int
    min_qty: int = 1
    max_qty: int | None = None
    kill_switch_file: Path | None = None

    def __post_init__(self) -> None:
        dll = self.daily_loss_limit
        if not isinstance(dll, Decimal) or not dll.is_finite() or dll <= 0:
            raise ValueError(
                f"daily_loss_limit: must be a positive Decimal amount (e.g. Decimal('5000')), "
                f"got {dll!r}"
            )
        for name in ("max_open_positions", "min_qty"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: must be an int >= 1, got {v!r}")
        mq = self.max_qty
        if mq is not None and (
            not isinstance(mq, int) or isinstance(mq, bool) or mq < self.min_qty
        ):
            raise ValueError(
                f"max_qty: must be None or an int >= min_qty ({self.min_qty}), got {mq!r}"
            )
        if self.kill_switch_file is not None and not isinstance(self.kill_switch_file, Path):
            object.__setattr__(self, "kill_switch_file", Path(self.kill_switch_file))


@dataclass(frozen=True)
class RiskDecision:
    allowed: bool
    reason: str
    code: RiskCode = RiskCode.OK

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class RiskSnapshot:
    day: date
    realized_pnl: Decimal
    realized_by_key: tuple[tuple[str, Decimal], ...]
    loss_limit: Decimal
    loss_limit_hit: bool
    slots: tuple[tuple[str, SlotState], ...]
    max_open_positions: int
    killed: bool
    kill_reason: str | None

    @property
    def slots_used(self) -> int:
        return len(self.slots)

    @property
    def slots_free(self) -> int:
        return max(0, self.max_open_positions - len(self.slots))


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise ValueError(f"key: must be a str like 'NSE:SBIN', got {type(key).__name__}")
    symbol, exchange = split_key(key)
    return f"{exchange}:{symbol}"


def _qty(qty: int) -> int:
    if not isinstance(qty, int) or isinstance(qty, bool):
        raise ValueError(f"qty: must be an int, got {type(qty).__name__} {qty!r}")
    return qty


_ALLOWED = RiskDecision(True, "ok", RiskCode.OK)


class RiskManager:
    def __init__(self, limits: RiskLimits, clock: Clock):
        if not isinstance(limits, RiskLimits):
            raise ValueError(f"limits: must be RiskLimits, got {type(limits).__name__}")
        self.limits = limits
        self._clock = clock
        self._lock = interleave.Lock()
        self._day: date = require_aware(clock.now(), "clock.now()").date()
        self._realized: dict[str, Decimal] = {}
        self._loss_hit = False
        self._slots: dict[str, SlotState] = {}
        self._holds: dict[str, int] = {}  # entries sharing a RESERVED slot
        self._kill_reason: str | None = None
        self._unrealized: dict[str, Decimal] = {}  # open positions marked to market
        self._brake_logged: str | None = None

    # --- day handling (call with the lock held) ---------------------------------

    def _roll(self, ts: datetime) -> dict | None:
        """Start a new day's P&L when the IST date moves forward. Never
        backwards: a late event stamped yesterday must not undo today.
        Returns the rollover's log fields; the caller logs them after
        releasing the lock (no I/O inside the critical section)."""
        day = ts.date()
        if day <= self._day:
            return None
        prev, pnl = self._day, self._realized_total()
        self._day = day
        self._realized.clear()
        self._unrealized.clear()
        self._loss_hit = False
        return {"previous_day": prev, "day": day, "previous_realized": pnl}

    @staticmethod
    def _log_roll(rolled: dict | None) -> None:
        if rolled is not None:
            log_event("RISK_DAY_ROLLOVER", **rolled)

    def _realized_total(self) -> Decimal:
        return sum(self._realized.values(), Decimal(0))

    def _today(self) -> datetime:
        """The trading day is the engine's clock's, never an event's: one
        tick stamped tomorrow must not roll the day (and lift the limit)."""
        return require_aware(self._clock.now(), "clock.now()")

    def _check_loss(self) -> bool:
        """Latch the loss limit on realized + unrealized P&L (lock held).
        True the moment it engages."""
        total = self._realized_total() + sum(self._unrealized.values(), Decimal(0))
        if not self._loss_hit and total <= -self.limits.daily_loss_limit:
            self._loss_hit = True
            return True
        return False

    def _kill_file_engaged(self) -> bool:
        f = self.limits.kill_switch_file
        return f is not None and f.exists()

    def _decide(self, key: str, qty: int, kill_file: bool) -> RiskDecision:
        lim = self.limits
        if self._kill_reason is not None:
            return RiskDecision(False, f"kill switch engaged: {self._kill_reason}", RiskCode.KILLED)
        if kill_file:
            return RiskDecision(
                False, f"kill switch file {lim.kill_switch_file} exists", RiskCode.KILL_FILE
            )
        if self._loss_hit or self._realized_total() <= -lim.daily_loss_limit:
            return RiskDecision(
                False,
                f"daily loss limit reached: realized {self._realized_total()} + unrealized "
                f"{sum(self._unrealized.values(), Decimal(0))} <= -{lim.daily_loss_limit} "
                f"on {self._day}",
                RiskCode.LOSS_LIMIT,
            )
        if qty < lim.min_qty:
            return RiskDecision(
                False, f"qty {qty} below min_qty {lim.min_qty}", RiskCode.QTY_BELOW_MIN
            )
        if lim.max_qty is not None and qty > lim.max_qty:
            return RiskDecision(
                False, f"qty {qty} above max_qty {lim.max_qty}", RiskCode.QTY_ABOVE_MAX
            )
        held = self._slots.get(key)
        if held is SlotState.OPEN:
            return RiskDecision(
                False, f"{key} already holds a slot ({held.value})", RiskCode.SLOT_HELD
            )
        if held is None and len(self._slots) >= lim.max_open_positions:
            return RiskDecision(
                False,
                f"max open positions reached ({len(self._slots)}/{lim.max_open_positions})",
                RiskCode.MAX_POSITIONS,
            )
        return _ALLOWED

    # --- entry gate -------------------------------------------------------------

    def check_entry(self, key: str, qty: int, ts: datetime) -> RiskDecision:
        """Would an entry be allowed now? Takes no slot: gate with ``try_open``."""
        # ``ts`` is checked (an aware time) but the day is the clock's.
        k, q, _ = _key(key), _qty(qty), require_aware(ts)
        kill_file = self._kill_file_engaged()  # a stat() is I/O: outside the lock
        with self._lock:
            rolled = self._roll(self._today())
            decision = self._decide(k, q, kill_file)
        self._log_roll(rolled)
        return decision

    def try_open(self, key: str, qty: int, ts: datetime) -> RiskDecision:
        """Check every limit and, if allowed, reserve an open-position slot for
        ``key`` in the same critical section. The caller must later call
        ``position_opened(key)`` or ``release(key)``."""
        k, q, _ = _key(key), _qty(qty), require_aware(ts)
        kill_file = self._kill_file_engaged()
        interleave.checkpoint("risk.try_open")
        with self._lock:
            rolled = self._roll(self._today())
            decision = self._decide(k, q, kill_file)
            if decision.allowed:
                # Entries of one symbol working at once (both sides of a
                # two-sided strategy) share its slot: at most one of them
                # becomes the position.
                self._slots[k] = SlotState.RESERVED
                self._holds[k] = self._holds.get(k, 0) + 1
        self._log_roll(rolled)
        if not decision.allowed:
            log_event("RISK_REFUSED", symbol=k, qty=q, code=decision.code, reason=decision.reason)
        return decision

    def release(self, key: str) -> bool:
        """Return a reservation that never became a position. Returns False
        (and changes nothing) if ``key`` holds no reservation: an open
        position's slot is freed only by ``position_closed``."""
        k = _key(key)
        with self._lock:
            if self._slots.get(k) is not SlotState.RESERVED:
                return False
            self._holds[k] = self._holds.get(k, 1) - 1
            if self._holds[k] <= 0:
                del self._slots[k], self._holds[k]
            return True

    def hold(self, key: str) -> None:
        """An entry order of ``key`` that exists already (found working at a
        restart) holds the symbol's slot, even beyond the limit: it may fill."""
        k = _key(key)
        with self._lock:
            if self._slots.get(k) is SlotState.OPEN:
                return
            self._slots[k] = SlotState.RESERVED
            self._holds[k] = self._holds.get(k, 0) + 1

    def position_opened(self, key: str) -> None:
        """Confirm ``key``'s slot as an open position. Without a prior
        reservation (a position found at restart) it takes a slot anyway,
        even beyond the limit: the position exists and must be counted."""
        k = _key(key)
        with self._lock:
            self._slots[k] = SlotState.OPEN
            self._holds.pop(k, None)

    def position_closed(self, key: str) -> bool:
        k = _key(key)
        with self._lock:
            self._holds.pop(k, None)
            return self._slots.pop(k, None) is not None

    # --- P&L and kill switch ----------------------------------------------------

    def record_realized(self, key: str, pnl: Decimal, ts: datetime) -> None:
        """Add realized P&L (signed) for ``key`` at ``ts``. P&L stamped before
        the current day is logged and not counted toward today's limit."""
        k, t = _key(key), require_aware(ts)
        if not isinstance(pnl, Decimal) or not pnl.is_finite():
            raise ValueError(f"pnl: must be a finite Decimal, got {pnl!r}")
        hit_now = False
        with self._lock:
            rolled = self._roll(self._today())
            if t.date() < self._day:
                stale_day = self._day
            else:
                stale_day = None
                self._realized[k] = self._realized.get(k, Decimal(0)) + pnl
                total = self._realized_total()
                hit_now = self._check_loss()
        self._log_roll(rolled)
        if stale_day is not None:
            log_event("RISK_PNL_PREVIOUS_DAY", symbol=k, pnl=pnl, ts_day=t.date(), day=stale_day)
        elif hit_now:
            log_event(
                "RISK_LOSS_LIMIT",
                symbol=k,
                level=logging.ERROR,
                realized=total,
                limit=self.limits.daily_loss_limit,
            )

    def mark(self, key: str, unrealized: Decimal) -> None:
        """An open position's P&L at the last price: the loss limit counts it."""
        k = _key(key)
        if not isinstance(unrealized, Decimal) or not unrealized.is_finite():
            raise ValueError(f"unrealized: must be a finite Decimal, got {unrealized!r}")
        with self._lock:
            rolled = self._roll(self._today())
            if unrealized:
                self._unrealized[k] = unrealized
            else:
                self._unrealized.pop(k, None)
            hit_now = self._check_loss()
            total = self._realized_total() + sum(self._unrealized.values(), Decimal(0))
        self._log_roll(rolled)
        if hit_now:
            log_event("RISK_LOSS_LIMIT", symbol=k, level=logging.ERROR, pnl=total,
                      limit=self.limits.daily_loss_limit)  # fmt: skip

    def brake(self) -> str | None:
        """Why no entry may be placed or kept now (kill switch, loss limit),
        or None. The executors cancel resting entries when it engages."""
        kill_file = self._kill_file_engaged()  # a stat() is I/O: outside the lock
        with self._lock:
            rolled = self._roll(self._today())
            if self._kill_reason is not None:
                reason = f"kill switch engaged: {self._kill_reason}"
            elif kill_file:
                reason = f"kill switch file {self.limits.kill_switch_file} exists"
            elif self._loss_hit:
                reason = f"daily loss limit {self.limits.daily_loss_limit} reached on {self._day}"
            else:
                reason = None
            first = reason is not None and reason != self._brake_logged
            self._brake_logged = reason
        self._log_roll(rolled)
        if first:
            log_event("RISK_BRAKE", level=logging.ERROR, reason=reason)
        return reason

    def kill(self, reason: str) -> None:
        """Refuse every new entry until ``clear_kill``. Existing positions are
        untouched (exits and stops are not gated here)."""
        reason = str(reason).strip() or "unspecified"
        with self._lock:
            self._kill_reason = reason
        log_event("RISK_KILL", level=logging.ERROR, reason=reason)

    def clear_kill(self) -> None:
        with self._lock:
            self._kill_reason = None
        log_event("RISK_KILL_CLEARED")

    @property
    def killed(self) -> bool:
        return self._kill_reason is not None or self._kill_file_engaged()

    def snapshot(self) -> RiskSnapshot:
        kill_file = self._kill_file_engaged()
        now = require_aware(self._clock.now(), "clock.now()")
        with self._lock:
            rolled = self._roll(now)
            total = self._realized_total()
            snap = RiskSnapshot(
                day=self._day,
                realized_pnl=total,
                realized_by_key=tuple(sorted(self._realized.items())),
                loss_limit=self.limits.daily_loss_limit,
                loss_limit_hit=self._loss_hit or total <= -self.limits.daily_loss_limit,
                slots=tuple(sorted(self._slots.items())),
                max_open_positions=self.limits.max_open_positions,
                killed=self._kill_reason is not None or kill_file,
                kill_reason=self._kill_reason
                if self._kill_reason is not None
                else (f"kill switch file {self.limits.kill_switch_file}" if kill_file else None),
            )
        self._log_roll(rolled)
        return snap
