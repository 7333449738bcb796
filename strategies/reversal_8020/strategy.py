"""The 80-20 reversal on the engine's strategy API (rules: ``setup.py``).

Long: once today trades through yesterday's low by the penetration (the
trigger), a buy stop at yesterday's low enters if price comes back up
through it; the initial stop sits under today's low; after ``trail_start_r``
R of profit the stop trails ``trail_distance_r`` R behind the best price.
Re-entry after a stop-out is the executor's ``max_attempts``. The short side
mirrors it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from live.strategy import (
    Context,
    Entry,
    Holding,
    NoTrade,
    SettingsError,
    Strategy,
    SymbolInfo,
    Tick,
)

from .setup import Penetration, PenetrationKind, Setup, SetupRules, find_setup


@dataclass(frozen=True)
class Settings:
    open_pct: Decimal = Decimal(20)
    close_pct: Decimal = Decimal(20)
    penetration_kind: PenetrationKind = PenetrationKind.TICKS
    penetration_value: Decimal = Decimal(5)
    stop_buffer_ticks: int = 1
    trail_start_r: Decimal = Decimal(2)  # start trailing after this many R of profit
    trail_distance_r: Decimal = Decimal(2)  # trail this many R behind the best price

    def rules(self) -> SetupRules:
        return SetupRules(
            open_pct=self.open_pct,
            close_pct=self.close_pct,
            penetration=Penetration(self.penetration_kind, self.penetration_value),
            stop_buffer_ticks=self.stop_buffer_ticks,
        )


class Reversal8020(Strategy):
    name = "reversal_8020"
    daily_bars = 10  # enough calendar slack to find yesterday's bar over a holiday

    def __init__(self, setup: Setup, settings: Settings | None = None):
        self.setup = setup
        self.cfg = settings or Settings()
        self.triggered = False
        self.extreme: Decimal | None = None  # today's low (long) or high (short)

    Settings = Settings

    @classmethod
    def settings(cls, raw) -> Settings:
        """``penetration: {kind, value}`` is written nested; the schema holds
        it flat (``penetration_kind``, ``penetration_value``)."""
        raw = dict(raw)
        pen = raw.pop("penetration", None)
        if pen is not None:
            if not isinstance(pen, dict) or set(pen) - {"kind", "value"}:
                raise SettingsError(
                    "strategy.penetration: give {kind: ticks|percent|range, value: N}"
                )
            raw.update({f"penetration_{k}": v for k, v in pen.items()})
        try:
            return super().settings(raw)
        except SettingsError as exc:
            # Keys as the user wrote them: strategy.penetration.kind.
            lines = [line.replace("strategy.penetration_", "strategy.penetration.")
                     for line in str(exc).splitlines()]  # fmt: skip
            raise SettingsError("\n".join(lines)) from None

    @classmethod
    def check_settings(cls, settings: Settings) -> list[str]:
        try:
            settings.rules()  # the rules' own range checks
        except ValueError as exc:
            text = str(exc)
            return [text if text.startswith("strategy.") else f"strategy.{text}"]
        return []

    @classmethod
    def for_symbol(cls, info: SymbolInfo, settings: Settings) -> Strategy | NoTrade:
        prior = info.session.previous_trading_day(info.day)
        bar = next((b for b in reversed(info.prior_bars) if b.day == prior), None)
        if bar is None:
            return NoTrade(f"no daily bar for {prior}")
        try:
            setup = find_setup(info.symbol, bar, info.tick_size, settings.rules())
        except ValueError as exc:
            return NoTrade(str(exc))
        if setup is None:
            return NoTrade("no 80-20 pattern yesterday")
        return cls(setup, settings)

    def warm_up(self, ticks: list[Tick], session) -> None:
        for tick in ticks:
            self._see(tick.ltp, session.in_entry_window(tick.ts))

    def _see(self, ltp: Decimal, in_window: bool) -> None:
        s = self.setup
        if self.extreme is None:
            self.extreme = ltp
        else:
            self.extreme = min(self.extreme, ltp) if s.is_long else max(self.extreme, ltp)
        if not self.triggered and s.triggered_by(ltp) and in_window:
            self.triggered = True

    def on_tick(self, tick: Tick, ctx: Context) -> Entry | None:
        s = self.setup
        ltp = tick.ltp
        self._see(ltp, ctx.entry_window_open)
        if self.triggered and ctx.holding is None and s.entry_is_resting(ltp):
            return Entry(s.side, s.entry_price)
        return None

    def initial_stop(self, holding: Holding) -> Decimal:
        s = self.setup
        extreme = self.extreme if self.extreme is not None else s.trigger_price
        extreme = min(extreme, s.trigger_price) if s.is_long else max(extreme, s.trigger_price)
        return s.stop_for_extreme(extreme)

    def trail(self, holding: Holding) -> Decimal | None:
        risk = holding.risk_per_unit or self.setup.tick
        if holding.gain_per_unit < risk * self.cfg.trail_start_r:
            return None
        distance = risk * self.cfg.trail_distance_r
        return holding.best_price - distance if holding.is_long else holding.best_price + distance

    def describe(self) -> str:
        s = self.setup
        side = "long" if s.is_long else "short"
        return f"{side} trig {s.trigger_price} entry {s.entry_price}"

    def state(self) -> str:
        return "triggered" if self.triggered else "waiting"
