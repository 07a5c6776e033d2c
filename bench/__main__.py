"""`make bench` / `python -m bench [--quick] [NAME...]`: run the benchmarks, each printing its tables.

Each benchmark runs in its own process (clean imports, its own peak memory) and prints Markdown
tables; the machine is shared and noisy, so every table reports medians and same-run ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["fetch", "metadata", "catalog", "feeds", "semantic", "draft", "site", "email"]


def available() -> list[str]:
    found = {p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py")}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument("names", nargs="*", help=f"which benchmarks (default: all of {', '.join(available())})")
    args = parser.parse_args()
    names = args.names or available()
    failed = []
    for name in names:
        print(f"\n## bench_{name}\n", flush=True)
        started = time.perf_counter()
        cmd = [sys.executable, "-m", f"bench.bench_{name}", *(["--quick"] if args.quick else [])]
        if subprocess.run(cmd, cwd=HERE.parent, check=False).returncode != 0:
            failed.append(name)
        print(f"(bench_{name}: {time.perf_counter() - started:.0f} s)", flush=True)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
