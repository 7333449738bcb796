"""live8020 entry point: the runtime is ``live.app``; the strategies are ``strategies``."""

import sys

from live.app import main
from strategies import REGISTRY

if __name__ == "__main__":
    sys.exit(main(REGISTRY))
