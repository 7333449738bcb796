"""The per-symbol executor: every order of a symbol, strategy-agnostic.

``SymbolExecutor`` (executor.py) is the public face; ``slots`` holds the one
transition table for orders, ``entries`` and ``protection`` the decisions
taken under the symbol's lock, ``updates`` how the broker's word is applied,
``runner`` how decisions are executed outside the lock, ``gate`` the entry
admission (risk + buying power + attempt claim), ``recovery`` restart and
position checks, ``dryrun`` a broker that places nothing.
"""

from .config import ExecConfig
from .executor import ExecView, SymbolExecutor
from .slots import OrderSlot, Role, SlotState
from .state import Phase

__all__ = ["ExecConfig", "ExecView", "OrderSlot", "Phase", "Role", "SlotState", "SymbolExecutor"]
