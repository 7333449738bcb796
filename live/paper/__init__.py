"""Paper trading on live prices (``broker.kind: paper``).

The engine streams the real OpenAlgo feed's ticks and reads the real
instrument data and bars, but its orders go to an in-process paper book
(the simulator's matching engine, fed by those ticks), with its own funds
(``paper.funds``) and its own journal (``paper-journal.db``, a world of
its own). Nothing reaches the real broker's order endpoints. ``--dry-run``
is different: it decides and logs and places nothing, not even on paper.
"""

from .book import ID_PREFIX, PaperBook
from .broker import READS, PaperBroker

__all__ = ["ID_PREFIX", "PaperBook", "PaperBroker", "READS"]
