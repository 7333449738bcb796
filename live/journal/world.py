"""Which broker world a journal belongs to.

A journal's orders exist in exactly one world: one OpenAlgo account, or
one run of the embedded simulator (a fresh simulator knows none of the
previous run's orders), or one run of paper trading (its book lives in the
process: a restarted paper run starts a new one). Recovery must never look for a journal's orders in
another world, or it would take strangers' orders for ours or "lose" ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

KINDS = ("sim", "openalgo", "paper")


@dataclass(frozen=True)
class World:
    """``kind`` is 'sim' or 'openalgo'; ``host`` the REST base the engine
    talks to; ``identity`` names the world where the host cannot: for
    OpenAlgo ``"<broker>:<user id>"`` (the WebSocket's auth reply), for the
    simulator its session id (new on every fresh start). An empty identity
    means "not known yet": such a world is told apart by its host alone."""

    kind: str
    host: str
    identity: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"world.kind: {self.kind!r}; use 'sim', 'openalgo' or 'paper'")
        if not isinstance(self.host, str) or not self.host.strip():
            raise ValueError(
                f"world.host: must be the broker's address, e.g. 'http://127.0.0.1:5000', "
                f"got {self.host!r}"
            )
        if not isinstance(self.identity, str):
            raise ValueError(f"world.identity: must be a str, got {type(self.identity).__name__}")
        object.__setattr__(self, "host", self.host.strip().rstrip("/"))
        object.__setattr__(self, "identity", self.identity.strip())

    @classmethod
    def sim(cls, host: str, session_id: str) -> World:
        if not isinstance(session_id, str) or not session_id.strip():
            raise ValueError(
                "session_id: the simulator's session id (new on every fresh start) is required"
            )
        return cls("sim", host, session_id)

    @classmethod
    def paper(cls, host: str, book_id: str) -> World:
        """Paper trading on ``host``'s live prices: ``book_id`` names the
        in-process book (new on every run), so a paper journal is never
        applied to the live account at the same host, nor to another run."""
        if not isinstance(book_id, str) or not book_id.strip():
            raise ValueError("book_id: the paper book's id (new on every run) is required")
        return cls("paper", host, book_id)

    @classmethod
    def openalgo(cls, host: str, *, broker: str | None = None, user_id: str | None = None) -> World:
        """``broker`` and ``user_id`` from the WebSocket's auth reply, when known."""
        known = bool(broker and str(broker).strip() and user_id and str(user_id).strip())
        identity = f"{str(broker).strip().lower()}:{str(user_id).strip()}" if known else ""
        return cls("openalgo", host, identity)

    def matches(self, other: World) -> bool:
        """Same world: same kind and, when both identities are known, the
        same identity (one account reached at another address is still that
        account); otherwise the same host."""
        if self.kind != other.kind:
            return False
        if self.identity and other.identity:
            return self.identity == other.identity
        return self.host.lower() == other.host.lower()

    def learned_from(self, current: World) -> World:
        """What to record when ``current`` matches this recorded world: its
        address and, if it knows one, its identity."""
        return World(self.kind, current.host, current.identity or self.identity)

    def __str__(self) -> str:
        if self.kind == "sim":
            who = f"simulator session {self.identity}" if self.identity else "the simulator"
            return f"{who} at {self.host}"
        if self.kind == "paper":
            return f"paper book {self.identity} on the prices of {self.host}"
        if self.identity:
            return f"OpenAlgo account {self.identity} at {self.host}"
        return f"OpenAlgo at {self.host} (account not known)"

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "host": self.host, "identity": self.identity}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> World:
        try:
            d = json.loads(text)
            return cls(d["kind"], d["host"], d.get("identity", ""))
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"world: unreadable record {text!r} ({e})") from e
