"""Quiet logs: the explorer runs thousands of schedules, each logging every
state change; formatting them all would dominate the run time. Failures are
reported by the explorer itself (schedule, trace, traceback)."""

from __future__ import annotations

import logging

import pytest

from live.logs import LOGGER_NAME


@pytest.fixture(autouse=True)
def _quiet_engine_log():
    log = logging.getLogger(LOGGER_NAME)
    before = log.level
    log.setLevel(logging.CRITICAL)
    yield
    log.setLevel(before)
