"""live8020 entry point: see strategies/strat80_20/live_8020.py."""

import sys

from strategies.strat80_20.live_8020 import main

if __name__ == "__main__":
    sys.exit(main())
