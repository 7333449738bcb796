"""Quiet engine logs for tests that run the engine thousands of times (the
interleaving explorer, the stress test): formatting every state change
would dominate their run time. Their failures carry their own report
(schedule, trace, operation log)."""

from __future__ import annotations

import logging

import pytest

from live.logs import LOGGER_NAME


@pytest.fixture(autouse=True)
def quiet_engine_log():
    log = logging.getLogger(LOGGER_NAME)
    before = log.level
    log.setLevel(logging.CRITICAL)
    yield
    log.setLevel(before)
