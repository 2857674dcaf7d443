"""python -m validator --portal https://portal.example --key-file key.hex [--once]"""

from __future__ import annotations

import sys

from .node import main

if __name__ == "__main__":
    sys.exit(main())
