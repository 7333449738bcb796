"""The strategy author's API: a few pure rules; the engine does every order.

A strategy decides *when* to enter, *where* the initial stop goes and *how*
it trails. It never places, modifies or cancels an order, never sizes, never
rounds a price, never counts attempts: the per-symbol executor
(``live.execution``) does all of that and enforces every safety property
(one position per symbol, always protected, ratchet, flat by the close...).

Rules run under the symbol's lock, on the thread that delivered the event,
so they must be quick and must not do I/O. They may keep state on ``self``
(one strategy object per symbol per day): the lock serialises every call.
Whatever they raise is caught and logged by the executor; a failing
``initial_stop`` falls back to an emergency stop, never to no stop.

    class MyStrategy(Strategy):
        name = "my_breakout"

        def on_tick(self, tick, ctx):
            if ctx.holding is None and tick.ltp > self.level:
                return Entry(Action.BUY, trigger=self.level + 1)

        def initial_stop(self, holding):
            return holding.average_price - 5

Prices in and out are raw ``Decimal`` levels: the executor rounds a buy stop
up and a sell stop down to the instrument's tick.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from live.broker import Action, Bar
from live.clock import MarketSession


@dataclass(frozen=True)
class Tick:
    symbol: str  # EXCHANGE:SYMBOL
    ltp: Decimal
    ts: datetime


@dataclass(frozen=True)
class Entry:
    """Enter with a stop order at ``trigger`` on ``side`` (BUY opens a long).

    There is one entry slot per side: an Entry for a side whose entry is
    already placed or working is ignored, so returning the same Entry on every
    tick is harmless, and a two-sided strategy returns one Entry per side.
    Once any entry fills, the executor cancels the other (OCO). ``quantity``
    None lets the executor size it from the settings."""

    side: Action
    trigger: Decimal
    quantity: int | None = None


@dataclass(frozen=True)
class Cancel:
    """Cancel the working entry on ``side`` (None: every working entry)."""

    side: Action | None = None
    reason: str = "strategy"


Decision = Entry | Cancel | list[Entry | Cancel] | None


@dataclass(frozen=True)
class Holding:
    """The position the executor holds for this symbol, as a strategy sees it."""

    symbol: str
    side: Action  # the side that opened it: BUY = long
    quantity: int
    average_price: Decimal
    stop: Decimal | None  # the level the working stop holds now
    initial_stop: Decimal | None
    risk_per_unit: Decimal | None  # |average - initial stop|: "1R"
    best_price: Decimal  # most favourable price since entry
    last_price: Decimal | None

    @property
    def is_long(self) -> bool:
        return self.side is Action.BUY

    @property
    def gain_per_unit(self) -> Decimal:
        """Open profit per unit at the best price so far."""
        d = self.best_price - self.average_price
        return d if self.is_long else -d


@dataclass(frozen=True)
class Context:
    """What the executor knows about the symbol when a rule runs."""

    symbol: str
    tick_size: Decimal
    attempts_used: int
    max_attempts: int
    holding: Holding | None
    working_entries: frozenset[Action]  # sides whose entry is placed or working
    entry_window_open: bool
    session: MarketSession

    @property
    def attempts_left(self) -> int:
        return max(0, self.max_attempts - self.attempts_used)


@dataclass(frozen=True)
class SymbolInfo:
    """What a strategy gets to prepare one symbol's day."""

    symbol: str  # EXCHANGE:SYMBOL
    tick_size: Decimal
    lot_size: int
    prior_bars: tuple[Bar, ...]  # daily bars before today, oldest first
    session: MarketSession
    day: Any  # datetime.date of the session


@dataclass(frozen=True)
class NoTrade:
    """A strategy's answer for a symbol it will not trade today, and why."""

    reason: str


class SettingsError(ValueError):
    """A strategy setting is wrong: the message names ``strategy.<key>`` and the fix."""


class Strategy:
    """Base class: override what your strategy needs."""

    name: ClassVar[str] = "strategy"
    #: prior daily bars the strategy needs at the start of the day (0: none)
    daily_bars: ClassVar[int] = 0

    # --- per-day construction -------------------------------------------------

    #: The strategy's own keys of the ``strategy:`` config section, declared
    #: as a frozen dataclass: each field a key, its type and default. The
    #: config layer parses them like every other section (unknown keys with
    #: "did you mean", every problem at once) without knowing the strategy.
    #: None: the strategy takes no keys of its own.
    Settings: ClassVar[type | None] = None

    @classmethod
    def settings(cls, raw: Mapping[str, Any]) -> Any:
        """The strategy's own keys (every key of the ``strategy:`` section the
        executor does not use) parsed into ``Settings``, then ``check_settings``.
        Raises SettingsError, one line per problem, each naming ``strategy.<key>``."""
        if cls.Settings is None:
            if raw:
                raise SettingsError(
                    "\n".join(
                        f"strategy.{key}: unknown key; strategy {cls.name!r} takes no keys "
                        "of its own"
                        for key in sorted(raw)
                    )
                )
            return None
        from live.config import parse_section  # the one parser for every section

        settings = parse_section(cls.Settings, dict(raw), "strategy", error=SettingsError)
        problems = list(cls.check_settings(settings))
        if problems:
            raise SettingsError("\n".join(problems))
        return settings

    @classmethod
    def check_settings(cls, settings: Any) -> list[str]:
        """Checks across values (ranges, one key against another): one
        ``strategy.<key>: ...`` line per problem; none by default."""
        return []

    @classmethod
    def for_symbol(cls, info: SymbolInfo, settings: Any) -> Strategy | NoTrade:
        """The strategy object for one symbol today, or NoTrade(reason)."""
        return cls()

    # --- rules (under the symbol's lock; quick, no I/O) --------------------------

    def warm_up(self, ticks: list[Tick], session: MarketSession) -> None:
        """Today's prices before the engine started (a restart mid-day, a
        late start): the session's 1-minute highs and lows as ticks, oldest
        first. Rebuild whatever the rules remember (a day's extreme, a range)
        without deciding anything; no order results from it."""

    def on_tick(self, tick: Tick, ctx: Context) -> Decision:
        """Every trade print. Return entries to place (or keep), cancels, or None."""
        return None

    def initial_stop(self, holding: Holding) -> Decimal:
        """Where the protective stop goes when a position opens."""
        raise NotImplementedError(f"{self.name}: initial_stop is required")

    def trail(self, holding: Holding) -> Decimal | None:
        """A new stop level, or None to keep it. Looser levels are ignored
        (the executor's ratchet), as are moves smaller than its minimum step."""
        return None

    def exit_now(self, holding: Holding, tick: Tick) -> bool:
        """True closes the position at market now (a target, a time stop)."""
        return False

    def describe(self) -> str:
        """One line for the summary and the status view."""
        return self.name

    def state(self) -> str:
        """A short label of the strategy's own state (e.g. 'waiting', 'armed')."""
        return ""


@dataclass(frozen=True)
class Registry:
    """Strategies a runtime can select by ``strategy.name``."""

    by_name: Mapping[str, type[Strategy]] = field(default_factory=dict)

    def get(self, name: str) -> type[Strategy]:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name)) or "none"
            near = difflib.get_close_matches(str(name), sorted(self.by_name), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SettingsError(
                f"strategy.name: unknown strategy {name!r}; known: {known}{hint}"
            ) from None


def decisions(value: Decision) -> list[Entry | Cancel]:
    """A rule's return value as a list, refusing anything else clearly."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, Entry | Cancel):
            raise TypeError(
                f"on_tick returned {type(item).__name__}; expected Entry, Cancel or None"
            )
    return list(items)
