"""The README's "Write your own strategy" example runs as written: a strategy
of at most 40 lines trades a simulated day, protected and flat at the close."""

from __future__ import annotations

import re
from pathlib import Path

from live.execution import Phase

DOC = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_strategy_runs_a_day(capsys):
    text = DOC.read_text(encoding="utf-8").split("## Write your own strategy", 1)[1]
    [code, *_] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(code.strip().splitlines()) <= 40, "the example promises at most 40 lines"
    namespace: dict = {"__name__": "readme_strategy"}
    exec(compile(code, str(DOC), "exec"), namespace)
    result = namespace["result"]
    assert "Session summary" in capsys.readouterr().out
    truth = result.sim.truth
    assert sum(v.fills for v in (s.view() for s in result.engine.states.values())) >= 2
    for key, state in result.engine.states.items():
        sym = key.split(":")[1]
        assert state.view().phase is Phase.DONE
        assert truth.net_position(sym) == 0 and not truth.working_orders(sym)
        stops = [o for o in truth.orders(sym) if o.is_exit and o.price_type.value == "SL-M"]
        assert stops, f"{key}: its fill was never protected"
    assert truth.off_grid_prices() == []
