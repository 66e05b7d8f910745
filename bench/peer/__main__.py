"""`python -m bench.peer DATABASE_URL [--port 8001]`: serve the peer by hand (see bench/peer/__init__.py)."""

from bench.peer import main

main()
