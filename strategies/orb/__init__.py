"""Two-sided opening-range breakout (OCO entries)."""

from .strategy import OpeningRangeBreakout, Settings

__all__ = ["OpeningRangeBreakout", "Settings"]
