"""The chain data set: 20 branches, 200,000 clients and ten years of desk history, built once.

See bench.chain_data.build (`.venv/bin/python -m bench.chain_data.build --help`).
"""
