"""A representative subset of the kill-at-every-point matrix (the whole
matrix, 58 points: ``python -m tests.restart_matrix``): the engine, a
separate process trading against the simulator in this one, is SIGKILLed at
a point of the day and started again; every property must hold at the end."""

from __future__ import annotations

import pytest

from tests.restart_matrix import run_case

POINTS = [
    "journal.claim_entry#1:after",  # attempt claimed, nothing sent
    "broker.place_order#1:after",  # the entry is at the broker, its id not journaled
    "broker.place_order#2:before",  # about to place the stop: bare at restart
    "broker.modify_order#1:before",  # a trailing modify never sent
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_point_restarts_safely(point, tmp_path):
    case = run_case(point, tmp_path)
    assert case.reached, f"the day never reached {point}"
    assert not case.problems, "\n".join(case.problems)
