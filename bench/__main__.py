"""`python -m bench NAME [ARGS]` runs one benchmark; `python -m bench all` runs every benchmark module."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def benchmark_names() -> list[str]:
    """Every module in bench/ except the package's own files.

    >>> "retrieval" in benchmark_names()
    True
    """
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(module.name for module in modules if not module.name.startswith("_"))


def main(argv: list[str]) -> None:
    """Run the named benchmark with the remaining arguments, or all of them (with their defaults).

    >>> main(["retrieval", "--n", "200", "--dim", "16", "--repeats", "1"])  # doctest: +SKIP
    """
    known = benchmark_names()
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m bench {{all,{','.join(known)}}} [ARGS]")
        return
    name, rest = argv[0], argv[1:]
    if name != "all" and name not in known:
        raise SystemExit(f"unknown benchmark {name!r}; known: all, {', '.join(known)}")
    for chosen in known if name == "all" else [name]:
        importlib.import_module(f"bench.{chosen}").main(rest if name != "all" else [])


if __name__ == "__main__":
    main(sys.argv[1:])
