"""The logging tests' fixture: no secrets, handlers or log clock leak between tests."""

from tests.support.conftest import _clean_logging  # noqa: F401 - an autouse fixture
