"""Catalog load: 10k and 100k generated items, cold (no cache) and warm; `newsletter list` at 100k.

    .venv/bin/python -m bench.bench_catalog [--quick]

Cold = the derived folder deleted (every file parsed); warm = nothing changed since the last
load (files stat'ed, items read from the SQLite cache). "1 edit" = warm with one file changed.
The baseline is parsing every file (what a loader without a cache does every time).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from newsletter.models import KINDS, Item
from newsletter.store import Store, files

WORDS = (
    "model", "serving", "vector", "index", "retrieval", "evaluation", "drift", "pipeline",
    "feature", "store", "training", "inference", "latency", "quantization", "embedding", "agent",
    "prompt", "fine-tuning", "dataset", "benchmark", "GPU", "scheduler", "cache",
)


def generate(root: Path, n: int, seed: int = 7) -> None:
    """Write n realistic item files (no fsync: this is setup, not the thing measured)."""
    rng = random.Random(seed)
    (root / "newsletter.toml").write_text('[newsletter]\nname = "Bench"\n')
    for i in range(n):
        year, month = 2019 + i * 7 // n, 1 + (i % 12)
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize()
        item = Item(
            id=f"{i:012x}",
            kind=rng.choice(KINDS),
            url=f"https://site{i % 500}.example.com/posts/{i}",
            canonical_url=f"https://site{i % 500}.example.com/posts/{i}",
            title=title,
            summary=" ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 45))),
            authors=[f"Author {rng.randint(1, 3000)}"],
            published=f"{year}-{month:02d}-{rng.randint(1, 28):02d}",
            tags=rng.sample(WORDS, 2),
            status=rng.choice(("inbox", "published", "skipped")),
            added=f"{year}-{month:02d}-{rng.randint(1, 28):02d}T10:00:00Z",
            note="A note from the editors." if i % 3 == 0 else "",
        )
        path = root / "catalog" / files.relative_path_for(item)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.dump_item(item), encoding="utf-8")


def timed_load(root: Path) -> float:
    store = Store(root / "catalog", root / ".newsletter")
    started = time.perf_counter()
    snap = store.load()
    elapsed = time.perf_counter() - started
    store.close()
    assert snap.items, "nothing loaded"
    return elapsed


def parse_all(root: Path) -> float:
    started = time.perf_counter()
    for rel, _m, _s in files.scan(root / "catalog"):
        files.read_item(root / "catalog" / rel)
    return time.perf_counter() - started


def cli_list(root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "newsletter", "-C", str(root), "list"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k only, one repetition")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    reps = 1 if args.quick else 3
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
            root = Path(tmp)
            t0 = time.perf_counter()
            generate(root, n)
            gen_s = time.perf_counter() - t0
            baseline = statistics.median(parse_all(root) for _ in range(reps))
            cold = []
            for _ in range(reps):
                shutil.rmtree(root / ".newsletter", ignore_errors=True)
                cold.append(timed_load(root))
            warm = statistics.median(timed_load(root) for _ in range(reps))
            one_edit = []
            for r in range(reps):
                victim = next((root / "catalog").rglob("*.md"))
                victim.write_text(victim.read_text().replace("A note", f"Edit {r}. A note"))
                os.utime(victim, None)
                one_edit.append(timed_load(root))
            list_s = statistics.median(cli_list(root) for _ in range(reps))
            rows.append([
                f"{n:,}", round(gen_s, 1), round(baseline, 2), round(statistics.median(cold), 2),
                round(warm, 3), round(statistics.median(one_edit), 3), round(baseline / warm, 1),
                round(list_s, 2),
            ])
    print_table(
        f"Catalog load (median of {reps}; seconds)",
        ["items", "generate", "parse all (baseline)", "cold load", "warm load", "warm + 1 edit",
         "baseline / warm", "`newsletter list` CLI"],
        rows,
    )


if __name__ == "__main__":
    main()
