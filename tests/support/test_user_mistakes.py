"""Every user mistake we know of, as a trader makes it: ``python live_8020.py``
or ``python -m live.sim`` as a subprocess. Each row must end with a non-zero
exit, stderr of one line per problem naming the key, path, host or file, no
traceback, and nothing written in the run's directory (no data_dir, no
journal, no log)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from live.sim import SimDay, SimServer, Simulator

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "live_8020.py")
KEY_ENV = "OPENALGO_API_KEY"
GOOD_KEY = "table-test-key-0f3c9e1a7b5d"  # the loopback simulator's key, not a secret
REPLAY = 'clock: {start: "2026-11-20T09:14:00+05:30", speed: 2000}\n'


@dataclass(frozen=True)
class Mistake:
    name: str
    config: str  # YAML; {data}, {tmp}, {host}, {ws}, {closed} are filled in
    expect: tuple[str, ...]  # each must appear in stderr
    lines: int = 1  # lines of stderr
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    prepare: str = ""  # what to create in the directory first
    sim: bool = False  # run ``python -m live.sim`` with ``args`` instead


def live(host: str = "{host}", ws: str = "{ws}") -> str:
    return f'broker: {{kind: openalgo, host: "{host}", ws_url: "{ws}"}}\nsymbols: [NSE:SBIN]\n'


SIM = "broker: {kind: sim}\nsymbols: [NSE:SBIN]\ndata_dir: {data}\n"

MISTAKES = [
    Mistake(
        "bad YAML",
        "broker:\n  kind: sim\n symbols: [NSE:SBIN\n",
        ("config.yaml is not valid YAML: line 3", "indentation"),
    ),
    Mistake(
        "every config problem at once",
        "brokr: {}\n"
        "broker: {subscribe_mode: bogus}\n"
        "symbols: [NSE:SBIN]\n"
        "strategy: {product: CASH, penetration: {kind: bogus, value: 3}}\n"
        "risk: {max_open_positions: 0}\n",
        (
            "live_8020: brokr: unknown key; did you mean 'broker'?",
            "live_8020: broker.subscribe_mode: 'bogus' is not one of auto, list, single",
            "live_8020: strategy.product: 'CASH' is not one of MIS, CNC, NRML",
            "live_8020: risk.max_open_positions: must be >= 1, got 0",
            "live_8020: strategy.penetration.kind: 'bogus' is not one of ticks, percent, range",
        ),
        lines=5,
    ),
    Mistake(
        "symbols missing",
        "broker: {kind: sim}\n" + REPLAY,
        ("symbols: missing; list what to trade",),
    ),
    Mistake(
        "a key with no effect",
        "symbols: [NSE:SBIN]\nclock: {speed: 60}\n",
        ("clock.speed: used only with clock.start",),
    ),
    Mistake(
        "config file missing",
        "",
        ("config: cannot read", "nope.yaml", "check --config"),
        args=("--config", "nope.yaml"),
    ),
    Mistake(
        "config path is a directory",
        "",
        ("config: . is a directory; give the YAML file",),
        args=("--config", "."),
    ),
    Mistake(
        "unknown strategy",
        "symbols: [NSE:SBIN]\nstrategy: {name: reversal8020}\n",
        (
            "strategy.name: unknown strategy 'reversal8020'; known: orb, reversal_8020; did you mean "
            "'reversal_8020'?",
        ),
    ),
    Mistake(
        "paper trading against an unreachable host",
        "broker: {kind: paper, host: 'http://127.0.0.1:{closed}', ws_url: 'ws://127.0.0.1:{closed}'}\n"
        "symbols: [NSE:SBIN]\ndata_dir: {data}\n",
        ("broker.host: cannot reach OpenAlgo at 127.0.0.1:{closed}",),
        env={KEY_ENV: GOOD_KEY},
    ),
    Mistake(
        "API key not exported",
        live() + "data_dir: {data}\n",
        (f"export {KEY_ENV}=",),
    ),
    Mistake(
        "API key cut short",
        live() + "data_dir: {data}\n",
        (f"${KEY_ENV} is too short",),
        env={KEY_ENV: "abc"},
    ),
    Mistake(
        "unreachable host",
        live("http://127.0.0.1:{closed}", "ws://127.0.0.1:{closed}") + "data_dir: {data}\n",
        ("broker.host: cannot reach OpenAlgo at 127.0.0.1:{closed}", "start the server"),
        env={KEY_ENV: GOOD_KEY},
    ),
    Mistake(
        "wrong API key",
        live() + "data_dir: {data}\n",
        (f"broker rejected the API key in ${KEY_ENV}",),
        env={KEY_ENV: "not-the-key-4c1d2e3f"},
    ),
    Mistake(
        "data_dir is a file",
        SIM + REPLAY,
        ("data_dir: {data} is a file, not a directory",),
        prepare="file",
    ),
    Mistake(
        "data_dir under a file",
        "broker: {kind: sim}\nsymbols: [NSE:SBIN]\ndata_dir: {data}/day1\n" + REPLAY,
        ("data_dir: cannot create {data}/day1: {data} is a file",),
        prepare="file",
    ),
    Mistake(
        "read-only data_dir",
        "broker: {kind: sim}\nsymbols: [NSE:SBIN]\ndata_dir: {readonly}\n" + REPLAY,
        ("data_dir: {readonly} is not writable",),
        prepare="readonly",
    ),
    Mistake(
        "journal.db is not a file",
        SIM + REPLAY,
        ("journal {data}/journal.db: is not a file; move it aside",),
        prepare="journal-dir",
    ),
    Mistake(
        "start after the close",
        SIM + 'clock: {start: "2026-11-20T15:45:00+05:30", speed: 2000}\n',
        ("market is closed: it is 15:45 IST, the session ended at 15:30",),
    ),
    Mistake(
        "start on a Saturday",
        SIM + 'clock: {start: "2026-11-21T10:00:00+05:30", speed: 2000}\n',
        ("market is closed: Sat 2026-11-21 is not a trading day",),
    ),
    Mistake(
        "simulator at a negative speed",
        "",
        ("live.sim: --speed: must be > 0",),
        args=("--speed", "-60", "--port", "0", "--ws-port", "0"),
        sim=True,
    ),
    Mistake(
        "simulator on a port in use",
        "",
        ("live.sim: 127.0.0.1:{busy} is already in use", "--port 0"),
        args=("--port", "{busy}", "--ws-port", "0"),
        sim=True,
    ),
    Mistake(
        "simulator on a port out of range",
        "",
        ("live.sim: --ws-port: 70000 is not a port",),
        args=("--ws-port", "70000"),
        sim=True,
    ),
]


@pytest.fixture(scope="module")
def world():
    """A loopback simulator (for the refused key), a closed port and a busy one."""
    sim = Simulator(SimDay.generate(date(2026, 11, 20), ["NSE:SBIN"], seed=1))
    server = SimServer(sim, api_key=GOOD_KEY, http_port=0, ws_port=0).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        yield {
            "host": server.http_url,
            "ws": server.ws_url,
            "closed": str(closed_port),
            "busy": str(busy.getsockname()[1]),
        }
    finally:
        busy.close()
        server.stop()


def readonly_dir(tmp: Path) -> Path | None:
    """A directory this process cannot write in: permission bits for a
    normal user; for root (who ignores them) a read-only system directory."""
    if os.geteuid() != 0:
        d = tmp / "readonly"
        d.mkdir()
        d.chmod(stat.S_IRUSR | stat.S_IXUSR)
        return d
    for candidate in (Path("/sys/kernel"), Path("/proc/sys")):
        try:
            probe = candidate / ".live8020-table-test"
            probe.mkdir()
        except OSError:
            return candidate
        probe.rmdir()
    return None


def snapshot(tmp: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``tmp``; each file's size and mtime. (A directory's
    own mtime is left out: root's write probe creates and removes a file.)"""
    return {
        str(p.relative_to(tmp)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
        for p in sorted(tmp.rglob("*"))
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("m", MISTAKES, ids=[m.name for m in MISTAKES])
def test_a_mistake_is_one_line_naming_the_thing_and_nothing_written(m, world, tmp_path):
    values = dict(world, tmp=str(tmp_path), data=str(tmp_path / "data"))
    if m.prepare == "file":
        (tmp_path / "data").write_text("not a directory\n")
    elif m.prepare == "journal-dir":
        (tmp_path / "data" / "journal.db").mkdir(parents=True)
    elif m.prepare == "readonly":
        d = readonly_dir(tmp_path)
        if d is None:
            pytest.skip("no read-only directory available to this user")
        values["readonly"] = str(d)

    def fill(text: str) -> str:
        for k, v in values.items():
            text = text.replace("{" + k + "}", v)
        return text

    (tmp_path / "config.yaml").write_text(fill(m.config))
    before = snapshot(tmp_path)
    args = [fill(a) for a in m.args]
    if m.sim:
        cmd = [sys.executable, "-m", "live.sim", *args]
    else:
        cmd = [sys.executable, SCRIPT, *(args or ["--config", "config.yaml"])]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    env.update(PYTHONDONTWRITEBYTECODE="1", **m.env)
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=45)

    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == m.lines, r.stderr
    for text in m.expect:
        assert fill(text) in r.stderr, r.stderr
    assert r.stdout == ""
    assert snapshot(tmp_path) == before, "a refused start must write nothing"
    if m.prepare == "readonly" and os.geteuid() == 0:
        assert not list(Path(values["readonly"]).glob(".live8020-probe-*"))


@pytest.mark.timeout(30)
def test_help_lists_every_option_and_says_what_it_does_once(tmp_path):
    r = subprocess.run(
        [sys.executable, SCRIPT, "--help"], cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert r.returncode == 0
    usage = r.stdout.splitlines()[0]
    for flag in ("--config", "--dry-run", "--quiet"):
        assert flag in usage and flag in r.stdout.split("options:")[1]
    assert r.stdout.count("Runs one trading session") == 1


@pytest.mark.timeout(30)
def test_the_standalone_simulator_prints_the_dev_key_it_serves(tmp_path):
    from live.sim.server import DEFAULT_API_KEY

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    env.pop("SIM_API_KEY", None)
    p = subprocess.Popen(
        [sys.executable, "-m", "live.sim", "--port", "0", "--ws-port", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = [p.stdout.readline() for _ in range(2)]
    finally:
        p.terminate()
        p.wait(timeout=10)
    assert f"api key {DEFAULT_API_KEY} (the built-in dev key" in first[1], first
    # A key the user chose is a secret: never printed.
    p = subprocess.Popen(
        [sys.executable, "-m", "live.sim", "--port", "0", "--ws-port", "0"],
        cwd=tmp_path, env=dict(env, SIM_API_KEY="my-own-secret-key-123"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = [p.stdout.readline() for _ in range(2)]
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    assert "my-own-secret-key-123" not in "".join(first) + out + err
    assert "api key from environment SIM_API_KEY" in first[1]


@pytest.mark.timeout(60)
def test_a_corrupt_journal_is_refused_in_one_line_naming_it_and_the_fix(tmp_path):
    """Not moved aside: mid-day it may be the only record of today's orders
    (live/journal/opening.py). One line names the file and what to do; the
    file stays as it was and no fresh journal is started."""
    data = tmp_path / "data"
    data.mkdir()
    journal = data / "journal.db"
    journal.write_bytes(b"garbage, not SQLite " * 20)
    (tmp_path / "config.yaml").write_text(
        SIM.replace("{data}", str(data))
        + 'clock: {start: "2026-11-20T09:14:00+05:30", speed: 3000}\n'
        + 'session: {exit_cutoff: "09:30", entry_end: "09:30"}\n'
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, SCRIPT, "--config", "config.yaml", "--quiet"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"journal {journal} is not a readable journal" in lines[0]
    assert f"mv {journal} {journal}.bad" in lines[0]
    assert journal.read_bytes() == b"garbage, not SQLite " * 20
    assert not list(data.glob("journal.*.db")) and not list(data.glob("journal.db-*"))
