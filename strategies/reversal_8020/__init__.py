"""The 80-20 reversal (Raschke and Connors, *Street Smarts*, 1995)."""

from .setup import Penetration, PenetrationKind, Setup, SetupRules, find_setup
from .strategy import Reversal8020, Settings

__all__ = [
    "Penetration",
    "PenetrationKind",
    "Reversal8020",
    "Settings",
    "Setup",
    "SetupRules",
    "find_setup",
]
