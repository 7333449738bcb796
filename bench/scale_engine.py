"""The engine process of bench/bench_scale.py: ``live_8020.py``'s main
(``live.app.main``) with three small additions, so the bench can measure it
from outside:

* ``--ready FILE``: written (wall time.time()) once the engine is up -
  executors built, orders recovered, dispatcher and poller running;
* SIGUSR1 marks the start of the measurement window (forgets tick ->
  decision samples, remembers the counters);
* SIGUSR2 writes ``--stats FILE``: tick -> decision p50/p99/max since the
  mark, the counters at the mark and now, the feed's counters and the
  dispatcher's back-pressure (``Engine.dispatch_status``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live.engine import Engine  # noqa: E402

_engine: list[Engine] = []
_mark: dict = {}


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def _counters(engine: Engine) -> dict:
    out = engine.dispatch_status()
    feed = engine.feed
    if feed is not None:
        c = feed.counters()
        out["feed_ticks"] = c.ticks
        out["feed_dropped_malformed"] = c.dropped_malformed
        out["feed_slow_callbacks"] = c.slow_callbacks
        out["feed_reconnects"] = c.reconnects
    out["wall"] = time.time()
    return out


def _on_mark(*_):
    if _engine:
        e = _engine[0]
        e.dispatcher.decision_samples.clear()
        _mark.update(_counters(e))


def _dump(path: str) -> None:
    e = _engine[0]
    samples = [s * 1000 for s in list(e.dispatcher.decision_samples)]
    out = {
        "mark": dict(_mark),
        "now": _counters(e),
        "decision_ms": {
            "n": len(samples),
            "p50": pct(samples, 50),
            "p99": pct(samples, 99),
            "max": max(samples, default=None),
            "mean": sum(samples) / len(samples) if samples else None,
        },
        "fill_to_stop_ms": e.latency.samples_ms[:],
    }
    tmp = path + ".tmp"
    Path(tmp).write_text(json.dumps(out))
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(prog="scale_engine")
    ap.add_argument("--config", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()

    start = Engine.start

    def started(self):
        start(self)
        _engine.append(self)
        Path(args.ready).write_text(repr(time.time()))

    Engine.start = started
    signal.signal(signal.SIGUSR1, _on_mark)
    signal.signal(signal.SIGUSR2, lambda *_: _dump(args.stats))

    from live.app import main as app_main
    from strategies import REGISTRY

    return app_main(REGISTRY, ["--config", args.config, "--quiet"])


if __name__ == "__main__":
    sys.exit(main())
