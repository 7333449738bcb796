"""What an exploration reports: its failures and how to replay them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureKind(enum.Enum):
    CHECK = "check"  # check(state) failed after a complete schedule
    INVARIANT = "invariant"  # invariant(state) failed at a scheduling point
    EXCEPTION = "exception"  # a scenario thread raised
    DEADLOCK = "deadlock"  # unfinished threads, none can run
    LIVELOCK = "livelock"  # step budget (max_steps) exceeded
    HANG = "hang"  # a thread blocked outside the kit's control
    DIVERGENCE = "divergence"  # replay does not fit / scenario not deterministic


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    schedule: tuple[str, ...]  # replay() form
    trace: tuple[str, ...]  # every step as "thread@label-it-ran-from"
    preemptions: int
    schedule_index: int  # 1-based: which schedule of the exploration
    strategy: str
    seed: int | None = None  # PCT run seed; pct(runs=1, seed=seed) re-runs it
    thread: str | None = None
    error: BaseException | None = None
    error_traceback: str = ""

    def replay_call(self) -> str:
        return f"replay({list(self.schedule)!r})"

    def describe(self) -> str:
        lines = [f"{self.kind.value.upper()}: {self.message}"]
        if self.thread:
            lines.append(f"  in thread: {self.thread}")
        lines.append(
            f"  schedule #{self.schedule_index} of {self.strategy}, "
            f"{self.preemptions} preemption(s), {len(self.trace)} steps:"
        )
        lines.extend(f"    {seg}" for seg in self.schedule)
        if self.seed is not None:
            lines.append(f"  seed: {self.seed}")
        lines.append(f"  reproduce: explore(scenario, check, strategy={self.replay_call()})")
        shown = self.trace[-40:]
        prefix = "... " if len(self.trace) > len(shown) else ""
        lines.append("  trace: " + prefix + " -> ".join(shown))
        if self.error_traceback:
            lines.append("  traceback:")
            lines.extend("    " + ln for ln in self.error_traceback.rstrip().splitlines())
        return "\n".join(lines)


@dataclass(frozen=True)
class ExploreResult:
    strategy: str
    schedules_run: int
    failures: tuple[Failure, ...]
    elapsed: float
    exhausted: bool  # True when the strategy's whole space was covered
    max_preemptions_seen: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def first_failure(self) -> Failure | None:
        return self.failures[0] if self.failures else None

    @property
    def shortest_failure(self) -> Failure | None:
        if not self.failures:
            return None
        return min(self.failures, key=lambda f: (len(f.schedule), f.preemptions, len(f.trace)))

    def assert_ok(self) -> None:
        f = self.shortest_failure
        if f is None:
            return
        raise AssertionError(
            f"interleaving failure after {self.schedules_run} schedule(s) "
            f"({self.strategy}, {len(self.failures)} failing):\n{f.describe()}"
        )

    def summary(self) -> str:
        f = self.shortest_failure
        tail = f", shortest failing schedule {list(f.schedule)}" if f else ""
        return (
            f"{self.strategy}: {self.schedules_run} schedules in {self.elapsed:.3f}s, "
            f"{len(self.failures)} failing, exhausted={self.exhausted}{tail}"
        )
