"""The interleaving test kit (Coyote / CHESS style); never imported by production code.

Production code marks scheduling points with ``live.interleave``'s
``checkpoint()`` / ``Lock()`` / ``RLock()`` / ``Event()``; they are re-exported
here so a test imports everything from one place.

``explore(scenario, check, strategy=...)`` installs a ``Scheduler`` that runs
the scenario's real threads one at a time.
Every checkpoint, lock acquire/release, event set/wait and (through
``CheckpointedBroker``) every broker call is a point where the scheduler picks
who runs next, by strategy:

* ``replay(schedule)``: one human-readable schedule, e.g.
  ``["poller@broker.place_order", "feed", "poller"]``;
* ``exhaustive(preemption_bound=k)``: every schedule with at most k
  preemptions, depth-first;
* ``pct(depth=d, runs=n, seed=s)``: PCT random priorities with d-1 change
  points; every run's seed is reported.

A schedule is a list of *segments*. ``"T@L"`` runs thread T until it is parked
at the scheduling point labelled L (after at least one step); ``"T@L#n"`` until
the n-th time it gets there in this segment; ``"T"`` runs T until it finishes
or blocks. When the list is used up the scheduler continues without
preemption (the running thread keeps running; when it finishes or blocks the
first runnable thread in declaration order takes over). Failures are reported
in exactly this form, so what ``explore`` prints is what ``replay`` accepts.

Only threads declared by the scenario are controlled. Checkpoints and lock
calls from any other thread (library daemons, the test's main thread, threads
a scenario thread starts) are not scheduled. A scenario thread that blocks
outside the kit's control (a plain ``threading.Lock``, ``time.sleep``, a
socket) is reported as a HANG after ``step_timeout`` seconds instead of
hanging pytest.
"""

from live.interleave import Event, Lock, RLock, checkpoint
from live.testing.broker import CheckpointedBroker
from live.testing.explore import explore
from live.testing.results import ExploreResult, Failure, FailureKind
from live.testing.scenario import Scenario
from live.testing.scheduler import Scheduler
from live.testing.strategies import Decision, exhaustive, pct, replay

__all__ = [
    "CheckpointedBroker",
    "Decision",
    "Event",
    "ExploreResult",
    "Failure",
    "FailureKind",
    "Lock",
    "RLock",
    "Scenario",
    "Scheduler",
    "checkpoint",
    "exhaustive",
    "explore",
    "pct",
    "replay",
]
