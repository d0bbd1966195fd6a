"""`make bench`: runs every `bench_*.py` module here (each has a `main()` that
prints its figures and ratios).  `python -m tests.benchmarks NAME` runs one."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import tests.benchmarks as package


def main(selected: list[str]) -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"{package.__name__}.{name}").main()
        print(f"({name} took {time.perf_counter() - started:.1f}s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
