"""Archive-site build: wall time, the plugin's share, peak memory and output size.

    .venv/bin/python -m bench.bench_site [--quick]

Builds (each `newsletter build` in a fresh process):
- the repository's sample newsletter (4 issues, 123 items);
- a generated project: 300 weekly issues and 20k catalog items (--quick: 50 issues, 2k items),
  cold (first build: the catalog cache is filled) and warm (second build);
- the same generated project with the plugin's catalog pages off (`catalog: false`), so the
  difference is what the catalog pages cost.
Peak memory is `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` of a wrapper process that runs
only that build. No semantic index exists in the generated project, so no related blocks.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table

REPO = Path(__file__).resolve().parent.parent
TAGS = [f"topic-{n}" for n in range(150)] + ["llm", "rag", "mlops", "inference", "evaluation", "agents"]
KINDS = ["paper"] * 30 + ["link"] * 35 + ["repo"] * 15 + ["podcast"] * 8 + ["video"] * 7 + ["tweet"] * 5
WORDS = (
    "model", "serving", "latency", "retrieval", "vector", "index", "quantization", "evaluation", "agent", "pipeline",
    "feature", "store", "drift", "monitoring", "gradient", "batch", "cache", "kernel", "attention", "tokenizer",
    "dataset", "benchmark",
)

RUN_BUILD = """
import sys
from newsletter import cli, cli_site
if "build" not in cli.main.commands:
    cli_site.register_commands(cli.main)
cli.main(["-C", sys.argv[1], "build", "-d", sys.argv[2]], standalone_mode=True)
"""


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate_project(root: Path, issues: int, items: int, seed: int = 7) -> None:
    """A newsletter project with `issues` weekly issues and `items` catalog items (40% published)."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    shutil.copy2(REPO / "newsletter.toml", root / "newsletter.toml")
    shutil.copy2(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / "content" / "issues").mkdir(parents=True)
    shutil.copy2(REPO / "content" / "index.md", root / "content" / "index.md")
    start = 737000  # a Friday in 2018 (proleptic ordinal)
    import datetime as dt

    dates = [dt.date.fromordinal(start + 7 * n).isoformat() for n in range(issues)]
    featured: dict[int, list[tuple[str, str]]] = {n + 1: [] for n in range(issues)}
    catalog = root / "catalog"
    for n in range(items):
        item_id = f"b{n:011x}"
        kind = rng.choice(KINDS)
        published = rng.random() < 0.4
        issue = rng.randint(1, issues) if published else None
        title = _sentence(rng, rng.randint(4, 10))[:-1]
        url = f"https://example{n % 500}.org/{kind}/{n}"
        tags = rng.sample(TAGS, rng.randint(1, 4))
        when = dates[issue - 1] if issue else dates[rng.randrange(issues)]
        lines = [
            "---", f"id: '{item_id}'", f"kind: {kind}", f"title: {json.dumps(title)}", f"url: {url}",
            f"canonical_url: {url}", f"summary: {json.dumps(' '.join(_sentence(rng, 12) for _ in range(2)))}",
            f"published: '{when}'", f"site: example{n % 500}.org", "tags:", *(f"- {t}" for t in tags),
            f"status: {'published' if published else rng.choice(['inbox', 'inbox', 'shortlisted', 'skipped'])}",
        ]
        if issue:
            lines.append(f"issue: {issue}")
            featured[issue].append((title, url))
        lines += [f"added: '{when}T09:00:00Z'", "---", ""]
        folder = catalog / when[:4] / when[5:7]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{re.sub(r'[^a-z0-9]+', '-', title.lower())[:40]}-{item_id}.md").write_text("\n".join(lines))
    for number in range(1, issues + 1):
        body = [
            "---", f"number: {number}", f"title: \"Issue #{number}: {_sentence(rng, 5)[:-1]}\"",
            f"date: {dates[number - 1]}", "status: published", f"tags: [{', '.join(rng.sample(TAGS, 3))}]", "---",
            _sentence(rng, 40), "", _sentence(rng, 30), "", "<!-- more -->", "", "## This week", "",
        ]
        for title, url in featured[number]:
            body.append(f"- **[{title}]({url})** — {_sentence(rng, 18)}")
        body += ["", "Until next week — the editors.", ""]
        (root / "content" / "issues" / f"{number:03d}-issue.md").write_text("\n".join(body))


def _disable_catalog(root: Path) -> None:
    config = root / "mkdocs.yml"
    config.write_text(config.read_text().replace("  - newsletter:\n", "  - newsletter:\n      catalog: false\n"))


def _measure(root: Path, site: Path) -> dict[str, float]:
    """Run one `newsletter build` through a wrapper process that reports its child's peak RSS."""
    shutil.rmtree(site, ignore_errors=True)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_site", "--measure", str(root), str(site)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"build of {root} failed:\n{out.stderr[-2000:]}")
    peak_kb = json.loads(out.stdout.strip().splitlines()[-1])["maxrss_kb"]
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    pages = sum(1 for _ in site.rglob("*.html"))
    return {"wall": wall, "peak_mb": peak_kb / 1024, "size_mb": size / 2**20, "pages": pages}


def _child_measure(root: str, site: str) -> None:
    subprocess.run([sys.executable, "-c", RUN_BUILD, root, site], check=True, stdout=subprocess.DEVNULL)
    print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 issues / 2k items instead of 300 / 20k")
    parser.add_argument("--measure", nargs=2, metavar=("ROOT", "SITE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _child_measure(*args.measure)
        return
    issues, items = (50, 2000) if args.quick else (300, 20000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        base = Path(tmp)
        sample = base / "sample"
        sample.mkdir()
        for name in ("newsletter.toml", "mkdocs.yml"):
            shutil.copy2(REPO / name, sample / name)
        for name in ("content", "catalog", "templates"):
            shutil.copytree(REPO / name, sample / name)
        _measure(sample, base / "site-sample")  # fills the catalog cache
        r = _measure(sample, base / "site-sample")
        rows.append(["sample (4 issues, 123 items)", "full", r["wall"], r["peak_mb"], r["size_mb"], r["pages"]])

        gen = base / "gen"
        t0 = time.perf_counter()
        generate_project(gen, issues, items)
        print(f"generated {issues} issues / {items} items in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        label = f"generated ({issues} issues, {items // 1000}k items)"
        for run in ("full, cold cache", "full, warm"):
            r = _measure(gen, base / "site-gen")
            rows.append([label, run, r["wall"], r["peak_mb"], r["size_mb"], r["pages"]])
        full_warm = rows[-1][2]
        _disable_catalog(gen)
        r = _measure(gen, base / "site-gen")
        rows.append([label, "catalog pages off", r["wall"], r["peak_mb"], r["size_mb"], r["pages"]])
        share = (full_warm - r["wall"]) / full_warm if full_warm else 0.0
    print_table(
        "newsletter build (wall s, peak RSS MiB, output MiB, HTML pages)",
        ["site", "variant", "wall_s", "peak_mib", "output_mib", "pages"],
        rows,
    )
    print(f"catalog pages' share of the warm build: {share:.0%} (target: 300/20k build < 60 s on 2 cores)")


if __name__ == "__main__":
    main()
