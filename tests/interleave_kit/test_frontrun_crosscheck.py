"""Cross-check: frontrun (bytecode-level DPOR, an independent explorer) agrees
with the kit on the same naive and fixed scenario classes.

frontrun needs its CLI environment (LD_PRELOAD + cooperative lock patching),
so it runs in a subprocess; nothing is patched in this pytest process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frontrun_results():
    code = (
        "import sys; from frontrun.cli import main; "
        "sys.exit(main([sys.executable, '-m', 'tests.interleave_kit.frontrun_crosscheck']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {row["case"]: row for row in rows}


@pytest.mark.parametrize("case", ["naive-entry", "naive-placer", "naive-funds"])
def test_frontrun_also_finds_the_naive_race(frontrun_results, case):
    row = frontrun_results[case]
    print(row)
    assert row["holds"] is False


@pytest.mark.parametrize("case", ["safe-entry", "safe-placer", "safe-funds"])
def test_frontrun_finds_nothing_in_the_fixed_version(frontrun_results, case):
    row = frontrun_results[case]
    print(row)
    assert row["holds"] is True
    assert row["explored"] >= 2
