"""The README example (section "Proving your strategy race-free") runs as written, and the
test it shows fails when its lock discipline is removed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def example():
    text = DOC.read_text(encoding="utf-8").split("## Proving your strategy race-free", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md must contain the ```python example of its race-free section"
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    return namespace


def test_readme_example_passes(example):
    example["test_my_strategy_is_race_free"]()


def test_readme_example_fails_without_step_one(example, monkeypatch):
    def naive_on_signal(self):
        if self.entry_id is None:
            self.entry_id = self.broker.place_order("SBIN")

    monkeypatch.setattr(example["MyStrategy"], "on_signal", naive_on_signal)
    with pytest.raises(AssertionError, match="duplicate entries") as info:
        example["test_my_strategy_is_race_free"]()
    # The schedule the doc shows is the one the kit reports.
    assert "feed@broker.place_order:done" in str(info.value)
    assert "replay(['feed@broker.place_order:done', 'poller'])" in str(info.value)
