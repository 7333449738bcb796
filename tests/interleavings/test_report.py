"""The report script measures a race and renders its row (so RESULTS.md
cannot silently rot)."""

from __future__ import annotations

import pytest

from tests.interleavings.catalogue import BY_KEY
from tests.interleavings.report import main, measure, render


def test_measure_and_render_one_race():
    row = measure(BY_KEY["race3"], pct_runs=20)
    assert row.real_ex.ok and row.real_ex.exhausted
    assert row.real_pct.schedules_run == 21
    shortest = row.naive_ex.shortest_failure
    assert shortest is not None and shortest.preemptions == 1
    text = render([row])
    assert "| **race3** 003 RACE #3 trigger twice |" in text
    assert f"{row.real_ex.schedules_run} / " in text
    assert "`feed@broker.place_order:done`, `feed-new`" in text


def test_the_fixed_bugs_keep_their_schedules_and_diagnosis():
    row = measure(BY_KEY["race4b"], pct_runs=20)
    assert row.real_ex.ok  # fixed: no failing schedule on the real code any more
    text = render([row])
    assert "## Real bugs found" in text and "## OPEN" not in text
    assert "replay(['feed@lock.acquire:L1', 'poller'])" in text
    assert "sync_position" in text


def test_unknown_race_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-race"])
    assert exc.value.code == 2
    assert "unknown race" in capsys.readouterr().err
