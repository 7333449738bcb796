from __future__ import annotations

import pytest

from live import logs


@pytest.fixture(autouse=True)
def _clean_logging():
    logs.clear_secrets()
    logs.set_clock(None)
    yield
    logs.teardown_logging()
    logs.clear_secrets()
    logs.set_clock(None)
