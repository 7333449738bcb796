"""Engine logs are quiet here: see tests/quiet_log.py."""

from tests.quiet_log import quiet_engine_log  # noqa: F401 - an autouse fixture
