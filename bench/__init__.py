"""Benchmarks: `python -m bench NAME [ARGS]` runs `bench/NAME.py`'s `main(argv)`; `python -m bench all` all.

Each benchmark prints its figure as its last line: `NAME: RATIO (target ...)`.
"""
