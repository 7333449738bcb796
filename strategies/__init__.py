"""Strategies written on ``live.strategy``: pure rules; the engine does the orders.

``REGISTRY`` is what ``strategy.name`` in config.yaml selects from.
"""

from live.strategy import Registry

from .orb import OpeningRangeBreakout
from .reversal_8020 import Reversal8020

REGISTRY = Registry({s.name: s for s in (Reversal8020, OpeningRangeBreakout)})

__all__ = ["REGISTRY", "OpeningRangeBreakout", "Reversal8020"]
