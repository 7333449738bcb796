"""The SQLite journal: the engine's crash-safety record (P8, P9).

What it stores:

- **intents** — written *before* a broker call. An entry intent is a claim on
  attempt N for (symbol, trading day): ``UNIQUE(key, day, attempt)`` makes the
  claim the cross-thread *and* cross-process duplicate-entry guard. Other
  intents (stop, exit, cancel...) record what the engine was about to do.
- **orders** — the broker order id bound to its intent, the request (prices as
  TEXT Decimal strings, never REAL) and the latest known state, merged by
  ``live.orders``'s one rule: an older update never overwrites a newer one.
- **fills** — one row per growth of an order's filled quantity; a fill the
  broker reported with average 0 is stored unpriced (price NULL) until an
  update carries an average.
- **plan**, **session_bars** — the day's instruments and prior bars, and
  the session's minute bars: a restart the same day makes no per-symbol
  broker call (``plan``).
- **meta** — which broker world the file belongs to (``World``;
  ``open_for`` moves a stranger's file aside).

An intent with neither an order nor a failure is a crash between "about to
place" and "broker replied": recovery must look for it in the broker's
orderbook (``unbound_intents``).

Modules: ``journal`` (the ``Journal`` handle), ``store`` (connection, lock,
transactions), ``schema`` (tables, upgrades), ``writes`` (claims, intents,
orders, failures), ``updates`` (the update merge and fills), ``reads``
(queries), ``rows`` (row types, errors), ``world`` and ``opening`` (broker
world identity), ``checks`` (input checks).
"""

from .journal import Journal
from .opening import OpenedJournal, move_aside, open_for
from .plan import MinuteBar, PlanRow
from .rows import (
    Fill,
    Intent,
    IntentState,
    JournalClosedError,
    JournalCorruptError,
    JournalInUseError,
    JournalOrder,
    JournalUnreadableError,
    JournalWriteError,
)
from .schema import SCHEMA_VERSION
from .updates import UNBOUND_ROLE
from .world import World
from .writes import ENTRY_ROLE

__all__ = [
    "ENTRY_ROLE",
    "SCHEMA_VERSION",
    "UNBOUND_ROLE",
    "Fill",
    "Intent",
    "IntentState",
    "Journal",
    "JournalClosedError",
    "JournalCorruptError",
    "JournalInUseError",
    "JournalOrder",
    "JournalUnreadableError",
    "JournalWriteError",
    "MinuteBar",
    "PlanRow",
    "OpenedJournal",
    "World",
    "move_aside",
    "open_for",
]
