"""``python live_8020.py`` as a user runs it: a subprocess with a config file,
against the embedded simulator it starts itself on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from live.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "live_8020.py"


def _cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.timeout(150)
def test_cli_runs_a_simulated_session_twice_and_dry(tmp_path):
    """As a trader runs it: the session, the same command again (issue 9
    case 1: the second run used to die applying the first simulator's
    journal to a fresh one), and a dry run that touches nothing live."""
    data = tmp_path / "data"
    cfg = {
        "broker": {"kind": "sim"},
        "symbols": ["NSE:SBIN", "NSE:TCS", "NSE:RELIANCE"],
        "clock": {"start": "2026-11-20T09:52:00+05:30", "speed": 400},
        "data_dir": str(data),
        "strategy": {"quantity": 10, "max_attempts": 2},
        "session": {"exit_cutoff": "10:12", "entry_end": "10:12"},
        "sim": {
            "seed": 11,
            "scenarios": {
                "NSE:SBIN": "long_win",
                "NSE:TCS": "short_win",
                "NSE:RELIANCE": "no_setup",
            },
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = _cli("--config", str(path), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Session summary" in r.stdout
    assert "NSE:SBIN" in r.stdout and "NSE:TCS" in r.stdout
    assert "Total realized P&L" in r.stdout
    # --quiet: the summary only, no progress lines ("HH:MM:SS IST  ticks ...").
    assert " IST  ticks " not in r.stdout
    # The run left its journal and JSON-lines log in data_dir: both entries
    # were placed and every order the engine placed is final.
    with Journal(data / "journal.db") as j:
        orders = j.orders()
    entries = [o for o in orders if o.role == "entry"]
    assert {o.key for o in entries} == {"NSE:SBIN", "NSE:TCS"}
    assert not [o for o in orders if o.status.is_working], orders
    lines = (data / "live8020.jsonl").read_text().splitlines()
    events = [json.loads(x)["event"] for x in lines]
    assert "ORDER_PLACED" in events and "STOP_PLACED" in events
    # The simulator's key is a dev key, but the engine masks whatever key it has.
    assert "sim-local-key" not in r.stdout + r.stderr + "\n".join(lines)

    # Again, same data_dir: a fresh simulator is another broker world.
    again = _cli("--config", str(path), "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Session summary" in again.stdout and "moved it to" in again.stdout
    with Journal(data / "journal.db") as j:
        assert {o.key for o in j.orders() if o.role == "entry"} == {"NSE:SBIN", "NSE:TCS"}
    assert len(list(data.glob("journal.*.other-world.db"))) == 1

    # A dry run: decides, logs each decision once, writes only its own journal.
    live_journal = (data / "journal.db").read_bytes()
    dry = _cli("--config", str(path), "--quiet", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "would have placed" in dry.stdout and "(dry run)" in dry.stdout
    assert (data / "journal.db").read_bytes() == live_journal
    with Journal(data / "dryrun-journal.db") as j:
        assert {o.key for o in j.orders() if o.role == "entry"} == {"NSE:SBIN", "NSE:TCS"}
    events = [json.loads(x)["event"] for x in (data / "live8020.jsonl").read_text().splitlines()]
    assert "STATUS_FAILED" not in events and "CANCEL_FAILED" not in events
    assert events.count("ENTRY_REFUSED") <= 2


@pytest.mark.timeout(30)
def test_cli_help_prints_usage(tmp_path):
    r = _cli("--help", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: python live_8020.py")
    assert "--config" in r.stdout and "--dry-run" in r.stdout and "--quiet" in r.stdout


BAD_LINES = [
    ("symbols: NSE-SBIN", "symbols"),
    ("symbols: [NSE:SBIN]\nclock: {speed: -5}", "clock.speed"),
    ('session: {exit_cutoff: "25:99"}', "session.exit_cutoff"),
    ("strategy: {quantiy: 10}", "strategy.quantiy"),
    ("broker: {kind: zerodha}", "broker.kind"),
    # Regression: the item's message used to name "symbol:" (no such key).
    ("symbols: [NSE-SBIN]", "symbols[0]"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("line,field", BAD_LINES)
def test_cli_bad_config_line_exits_2_naming_the_field(tmp_path, line, field):
    path = tmp_path / "config.yaml"
    path.write_text(line + "\n")
    r = _cli("--config", str(path), cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    message = r.stderr.strip().splitlines()[-1]
    assert message.startswith(f"live_8020: {field}"), message
    assert r.stdout == ""
    assert not (tmp_path / "data").exists(), "a refused config must not start anything"
