"""Small, self-contained racy/correct scenarios the kit's tests explore.

They mirror the incident reports in shared/seeds/: the duplicate entry
(RACE #4/#5/#7 in 003) and the buying-power race (000, 001). Each comes as a
deliberately naive version and a copy-under-lock / re-check-before-commit
version, so every test can show the explorer both failing and passing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from live.testing import CheckpointedBroker, Lock, Scenario


class FakeBroker:
    """Records every order; order E1 is already complete at the broker."""

    def __init__(self) -> None:
        self.orders: list[tuple[str, str, str, Decimal]] = []  # (id, kind, side, cost)
        self.status = {"E1": "complete"}

    def place_order(self, kind: str, side: str = "BUY", cost: Decimal = Decimal("0")) -> str:
        oid = f"O{len(self.orders) + 1}"
        self.orders.append((oid, kind, side, cost))
        self.status[oid] = "trigger pending"
        return oid

    def order_status(self, order_id: str) -> str:
        return self.status[order_id]

    def entries(self) -> list[str]:
        return [o[0] for o in self.orders if o[1] == "entry"]


PENDING = "PENDING"  # intent marker: an entry is being placed right now


@dataclass
class EntryState:
    broker: FakeBroker = field(default_factory=FakeBroker)
    entry_id: str | None = "E1"  # working entry order, already filled at the broker
    in_position: bool = False
    sl_id: str | None = None


# -- duplicate entry: feed re-enters while the poller marks the fill -----------


class NaiveSymbol:
    """Check-then-act with no lock: the code from the incident report."""

    def __init__(self) -> None:
        self.s = EntryState()
        self.broker = CheckpointedBroker(self.s.broker)

    def on_tick(self) -> None:  # feed thread: re-entry check (RACE #4)
        s = self.s
        if not s.in_position and s.entry_id is None:
            s.entry_id = self.broker.place_order("entry")

    def poll(self) -> None:  # poller thread: notices the fill, protects it
        s = self.s
        oid = s.entry_id
        if oid is None or self.broker.order_status(oid) != "complete":
            return
        s.entry_id = None  # cleared before in_position is set: the window
        s.sl_id = self.broker.place_order("stop", side="SELL")
        s.in_position = True


class SafeSymbol:
    """Copy under lock, mark the intent, call outside, re-check before commit."""

    def __init__(self) -> None:
        self.s = EntryState()
        self.broker = CheckpointedBroker(self.s.broker)
        self.lock = Lock()

    def on_tick(self) -> None:
        s = self.s
        with self.lock:
            if s.in_position or s.entry_id is not None:
                return
            s.entry_id = PENDING
        oid = self.broker.place_order("entry")
        with self.lock:
            if s.entry_id == PENDING:
                s.entry_id = oid

    def poll(self) -> None:
        s = self.s
        with self.lock:
            oid = s.entry_id
        if oid is None or oid == PENDING or self.broker.order_status(oid) != "complete":
            return
        with self.lock:
            if s.entry_id != oid:  # compare-and-clear: only the id we acted on
                return
            s.entry_id = None
            s.in_position = True
            s.sl_id = PENDING
        sl = self.broker.place_order("stop", side="SELL")
        with self.lock:
            if s.sl_id == PENDING:
                s.sl_id = sl


def no_entry_while_filled(sym: NaiveSymbol | SafeSymbol) -> None:
    entries = sym.s.broker.entries()
    assert not entries, f"duplicate entry: placed {entries} although E1 had filled"


def entry_scenario(cls: type) -> Scenario:
    sym = cls()
    return Scenario(
        threads={"feed": sym.on_tick, "poller": sym.poll},
        state=sym,
        check=no_entry_while_filled,
    )


# -- two placers: tick re-entry and poller retry both place (RACE #7/#9) --------


class NaivePlacer:
    def __init__(self) -> None:
        self.s = EntryState(entry_id=None)
        self.broker = CheckpointedBroker(self.s.broker)

    def place_entry(self) -> None:
        s = self.s
        if s.entry_id is None:
            s.entry_id = self.broker.place_order("entry")


class SafePlacer(NaivePlacer):
    def __init__(self) -> None:
        super().__init__()
        self.lock = Lock()

    def place_entry(self) -> None:
        s = self.s
        with self.lock:
            if s.entry_id is not None:
                return
            s.entry_id = PENDING
        oid = self.broker.place_order("entry")
        with self.lock:
            if s.entry_id == PENDING:
                s.entry_id = oid


def one_entry(p: NaivePlacer) -> None:
    entries = p.s.broker.entries()
    assert len(entries) <= 1, f"duplicate entry: {entries}"


def placer_scenario(cls: type) -> Scenario:
    p = cls()
    return Scenario(
        threads={"feed": p.place_entry, "poller": p.place_entry}, state=p, check=one_entry
    )


# -- buying power: two symbols spend the same cash (000, 001) --------------------


class NaiveFunds:
    def __init__(self, cash: Decimal) -> None:
        self.cash = cash
        self.start = cash
        self.raw = FakeBroker()
        self.broker = CheckpointedBroker(self.raw)

    def buy(self, cost: Decimal) -> None:
        if self.cash >= cost:  # checks the cash...
            self.broker.place_order("entry", cost=cost)
            self.cash -= cost  # ...and spends it only after the slow call


class ReservingFunds(NaiveFunds):
    def __init__(self, cash: Decimal) -> None:
        super().__init__(cash)
        self.reserved = Decimal("0")
        self.lock = Lock()

    def buy(self, cost: Decimal) -> None:
        with self.lock:
            if self.cash - self.reserved < cost:
                return
            self.reserved += cost  # reserve before the call
        try:
            self.broker.place_order("entry", cost=cost)
        except Exception:
            with self.lock:
                self.reserved -= cost
            raise
        with self.lock:
            self.reserved -= cost
            self.cash -= cost


def within_buying_power(f: NaiveFunds) -> None:
    spent = sum((o[3] for o in f.raw.orders), Decimal("0"))
    assert spent <= f.start, f"orders worth {spent} placed with only {f.start} cash"


def funds_scenario(cls: type) -> Scenario:
    f = cls(Decimal("50000"))
    return Scenario(
        threads={"SBIN": lambda: f.buy(Decimal("30000")), "INFY": lambda: f.buy(Decimal("25000"))},
        state=f,
        check=within_buying_power,
    )
