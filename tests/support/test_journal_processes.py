"""The journal across processes: the duplicate-entry guard between two
engine processes, and surviving SIGKILL mid-stream."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

from live.broker import OrderStatus
from live.journal import IntentState, Journal

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 20)

CLAIMER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import date, datetime
    from pathlib import Path
    from live.clock import IST
    from live.journal import Journal

    db, go, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    j = Journal(db)
    print("ready", flush=True)
    deadline = time.monotonic() + 20
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit(3)
        time.sleep(0.001)
    ts = datetime(2026, 11, 20, 9, 20, tzinfo=IST)
    won = []
    for attempt in range(1, n + 1):
        for key in ("NSE:SBIN", "NSE:INFY"):
            if j.claim_entry(key, date(2026, 11, 20), attempt, ts) is not None:
                won.append([key, attempt])
    j.close()
    print(json.dumps(won), flush=True)
    """
)

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import date, datetime, timedelta
    from decimal import Decimal
    from live.broker import Action, OrderRequest, OrderStatus, OrderUpdate, PriceType
    from live.clock import IST
    from live.journal import Journal

    j = Journal(sys.argv[1])
    t0 = datetime(2026, 11, 20, 9, 15, tzinfo=IST)
    i = 0
    while True:
        i += 1
        ts = t0 + timedelta(milliseconds=i)
        key = f"NSE:S{i}"
        iid = j.claim_entry(key, date(2026, 11, 20), 1, ts)
        req = OrderRequest(f"S{i}", "NSE", Action.BUY, 5, PriceType.LIMIT, price=Decimal("100.05"))
        j.record_order(iid, key, "entry", f"O{i}", req, ts)
        j.record_update(
            OrderUpdate(f"O{i}", f"S{i}", "NSE", Action.BUY, OrderStatus.COMPLETE, 5,
                        filled_quantity=5, average_price=Decimal("100.05")),
            ts,
        )
        print(i, flush=True)
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def _spawn(procs, script: str, *args: str) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(p)
    return p


def _readline(p: subprocess.Popen, timeout: float = 20.0) -> str:
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"child {p.pid} said nothing for {timeout}s")
    line = p.stdout.readline()
    if not line:
        raise AssertionError(f"child {p.pid} exited: {p.wait(timeout=5)} {p.stderr.read()}")
    return line.strip()


def test_two_processes_claiming_the_same_attempts_never_both_win(tmp_path, procs):
    db, go, n = tmp_path / "j.db", tmp_path / "go", 15
    Journal(db).close()  # create the schema once, as the engine's first start would
    children = [_spawn(procs, CLAIMER, str(db), str(go), str(n)) for _ in range(2)]
    for c in children:
        assert _readline(c) == "ready"
    go.touch()
    results = [json.loads(_readline(c, 60)) for c in children]
    for c in children:
        assert c.wait(timeout=30) == 0, c.stderr.read()
    won = [tuple(w) for r in results for w in r]
    expected = {(k, a) for a in range(1, n + 1) for k in ("NSE:SBIN", "NSE:INFY")}
    assert len(won) == len(expected), "some attempt was won twice or not at all"
    assert set(won) == expected
    with Journal(db) as j:
        assert j.entries_claimed("NSE:SBIN", DAY) == n
        assert j.entries_claimed("NSE:INFY", DAY) == n


def test_sigkill_mid_stream_loses_no_committed_row(tmp_path, procs):
    db = tmp_path / "j.db"
    writer = _spawn(procs, WRITER, str(db))
    acked = 0
    deadline = time.monotonic() + 60
    while acked < 40:
        assert time.monotonic() < deadline, "writer too slow to produce 40 rows"
        acked = int(_readline(writer))
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=10) == -signal.SIGKILL
    # Everything the child reported after its last commit is on disk.
    with Journal(db) as j:
        assert j.integrity_check() == "ok"
        orders = {o.order_id: o for o in j.orders()}
        for i in range(1, acked + 1):
            o = orders[f"O{i}"]
            assert o.status is OrderStatus.COMPLETE and o.filled_quantity == 5, i
        fills = {f.order_id for f in j.fills()}
        assert {f"O{i}" for i in range(1, acked + 1)} <= fills
        # Consistency: at most the one in-flight iteration is half done, and
        # it shows up as an unbound intent (recovery's cue), never a lost order.
        pending = j.unbound_intents()
        assert len(pending) <= 1
        assert all(p.state is IntentState.PENDING for p in pending)
        intents = j.intents()
        bound = [i for i in intents if i.state is IntentState.BOUND]
        assert len(bound) == len(j.orders()) >= acked
        # The reopened journal is writable: the next process carries on.
        assert j.claim_entry("NSE:AFTER", DAY, 1, orders["O1"].placed_at) is not None
