"""``python -m tests.restart.kill_engine --config C [--kill POINT] [--trace FILE]``

Runs ``live_8020.py``'s main (``live.app.main``) in this process, after
wrapping the calls where a crash matters most: every broker order call and
every journal write. Each call is appended to ``--trace`` as
``<name>#<n>`` (the n-th call of that name), and with ``--kill
<name>#<n>:before|after`` the process SIGKILLs itself right before or right
after that call - the way a power cut or ``kill -9`` would, with no
``finally`` and no flush. The restart matrix (``python -m
tests.restart_matrix``) drives it.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from collections import Counter

from live.journal import Journal
from live.openalgo import OpenAlgoBroker

POINTS = {
    OpenAlgoBroker: ("place_order", "modify_order", "cancel_order"),
    Journal: ("claim_entry", "record_intent", "record_order", "record_update"),
}


def instrument(kill: str | None, trace: str | None) -> None:
    counts: Counter = Counter()
    out = open(trace, "a", buffering=1) if trace else None  # noqa: SIM115 - lives until exit
    name_of = {OpenAlgoBroker: "broker", Journal: "journal"}

    def wrap(cls, method):
        real = getattr(cls, method)
        label = f"{name_of[cls]}.{method}"

        @functools.wraps(real)
        def call(self, *args, **kwargs):
            counts[label] += 1
            point = f"{label}#{counts[label]}"
            if out is not None:
                out.write(point + "\n")
            if kill == f"{point}:before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(self, *args, **kwargs)
            if kill == f"{point}:after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(cls, method, call)

    for cls, methods in POINTS.items():
        for method in methods:
            wrap(cls, method)
    ready = os.environ.get("LIVE8020_READY_FILE")
    if ready:
        # When this engine was up (market time): the matrix allows a
        # position bare across the restart until then, plus a poll cycle.
        from live.engine import Engine

        start = Engine.start

        def started(self):
            start(self)
            with open(ready, "w") as f:
                f.write(self.clock.now().isoformat())

        Engine.start = started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kill_engine")
    ap.add_argument("--config", required=True)
    ap.add_argument("--kill", default=None, help="<name>#<n>:before|after")
    ap.add_argument("--trace", default=None)
    ap.add_argument("--no-recover", action="store_true",
                    help="proof the matrix can fail: restart without recovery")  # fmt: skip
    args = ap.parse_args(argv)
    instrument(args.kill, args.trace)
    if args.no_recover or os.environ.get("LIVE8020_MATRIX_NO_RECOVER"):
        from live.engine import Engine

        Engine.recover = lambda self, today: 0
    from live.app import main as app_main
    from strategies import REGISTRY

    return app_main(REGISTRY, ["--config", args.config, "--quiet"])


if __name__ == "__main__":
    sys.exit(main())
