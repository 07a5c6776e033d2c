"""The one-time build of the document frequencies: whole-process wall time and peak RSS of the first `search`.

    .venv/bin/python -m bench.bench_docfreq [--quick] [--size N] [--runs R] [--before CHECKOUT]

A project whose derived folder lacks semantic/docfreq.sqlite (new, or its file deleted) builds it in
its first `search`. This runs `python -m newsletter -C COPY search QUERY --json` with the file
deleted before each run, then the normal warm `search` (file present, median of 5), for this
checkout and, with `--before`, another checkout of the project (e.g. the main branch) in the same
run, alternating, and prints medians and the before/after ratio.

The generated project (`bench.catalog_gen`, cached in /tmp/newsletter-bench-<n>) is never written
to: the runs use a private copy, its catalog/ hard-linked (no command here writes an item file) and
its .newsletter/ copied, deleted at the end. The first search of the copy (the graph's checksum pass
a copied project makes, and a build if the cached project has no valid file) is not measured. At 1M
items, the build before streaming took more than 7 minutes and 10 GB, so `--before` there is long.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.catalog_gen import ensure_project
from bench.common import ROOT, print_table

QUERY = "feature store"
WARM_RUNS = 5
BASE_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
BASE_ENV.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


def private_copy(project: Path, into: Path) -> Path:
    """A copy the runs may write: catalog/ hard-linked, everything else (settings, derived files) copied."""
    copy = into / project.name
    copy.mkdir()
    for entry in project.iterdir():
        target = copy / entry.name
        if entry.name == "catalog":
            subprocess.run(["cp", "-al", str(entry), str(target)], check=True)
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True)
        else:
            shutil.copy2(entry, target)
    return copy


def drop_docfreq(project: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{project / '.newsletter' / 'semantic' / 'docfreq.sqlite'}{suffix}").unlink(missing_ok=True)


def search(checkout: Path, project: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `search` process run from `checkout`."""
    env = {**BASE_ENV, "PYTHONPATH": str(checkout)}
    argv = [sys.executable, "-m", "newsletter", "-C", str(project), "search", QUERY, "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"search from {checkout} failed: {err[-500:]}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k items, one build run")
    parser.add_argument("--size", type=int, default=100_000, help="items in the generated project (default 100k)")
    parser.add_argument("--runs", type=int, default=3, help="cold builds per checkout (default 3)")
    parser.add_argument("--before", type=Path, help="another checkout of the project to compare with")
    args = parser.parse_args()
    size, runs = (10_000, 1) if args.quick else (args.size, max(args.runs, 1))
    project = Path(f"/tmp/newsletter-bench-{size // 1000}k")
    ensure_project(project, size)
    checkouts = {"this checkout": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    builds: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    warm: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="bench-docfreq-", dir="/tmp") as scratch:
        copy = private_copy(project, Path(scratch))
        search(ROOT, copy)  # not measured: the copy's one-time checks
        for run in range(runs):
            for name, checkout in checkouts.items():
                drop_docfreq(copy)
                builds[name].append(search(checkout, copy))
                print(
                    f"  build run {run + 1}, {name}: {builds[name][-1][0]:.1f} s, {builds[name][-1][1]:.0f} MB",
                    flush=True,
                )
        for _ in range(WARM_RUNS + 1):
            for name, checkout in checkouts.items():
                warm[name].append(search(checkout, copy))
    stats: dict[str, list[float]] = {}
    for name in checkouts:
        hot = warm[name][1:]  # the first round warms the page cache
        stats[name] = [
            statistics.median(t for t, _ in builds[name]),
            max(mb for _, mb in builds[name]),
            statistics.median(t for t, _ in hot),
            max(mb for _, mb in hot),
        ]
    rows: list[list[object]] = [[name, *values] for name, values in stats.items()]
    if args.before:
        rows.append(
            ["before / this", *(round(b / a, 2) for a, b in zip(stats["this checkout"], stats["before"], strict=True))]
        )
    print_table(
        f"First `search` building docfreq.sqlite, and the warm `search`, {size:,} items "
        f"(medians: {runs} build runs, {WARM_RUNS} warm runs)",
        ["checkout", "build: wall s", "build: peak MB", "warm search: wall s", "warm search: peak MB"],
        rows,
    )


if __name__ == "__main__":
    main()
