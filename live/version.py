"""The engine's version (logged in every run's RUN_START line)."""

__version__ = "0.11.0"
