"""`python -m app`: the command line."""

import sys

from app.memory import limit_malloc_arenas

if __name__ == "__main__":
    limit_malloc_arenas()  # before any thread starts: see app/memory.py
    from app.cli import main

    sys.exit(main())
