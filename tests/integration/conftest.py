"""Fixtures for the end-to-end tests: every simulator server a test starts
is stopped in the finalizer, and log state (secrets, handlers) is reset."""

from __future__ import annotations

import functools

import pytest

from live import logs

from .harness import run_session


@pytest.fixture
def session(tmp_path):
    """``session(mix, **kw) -> Session``: run the engine over sockets once."""
    servers: list = []
    logs.clear_secrets()
    yield functools.partial(run_session, tmp_path=tmp_path, servers=servers)
    for srv in servers:
        srv.stop()
    logs.teardown_logging()
    logs.clear_secrets()
