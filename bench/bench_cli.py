"""Whole-process wall time and peak RSS of the commands a curator types, against issue 11's targets.

    .venv/bin/python -m bench.bench_cli [--quick] [--huge]

Catalogs: a copy of the repository's sample newsletter, and a generated 100k-item project
(`bench.catalog_gen`, cached in /tmp/newsletter-bench-<n>; `--huge` adds 1M, `--quick` uses 10k).
Each command runs as `python -m newsletter -C PROJECT ...` in a subprocess: one warm-up, then the
median of 5 runs; peak RSS from os.wait4's rusage of that child. `feeds pull` fetches a loopback
feed (tests/httpserver.py's LoopbackServer in this process) that serves 20 new entries per request.
Anchors from the same run: the `sqlite3` CLI answering the id lookup from .newsletter/catalog.sqlite
(floor for `show`), `rg` (else `grep -rl`) for one query word over catalog/ (floor for `search`),
and hnswlib's own knn_query on the stored graph (floor for `related`). The benchmark never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.catalog_gen import ensure_project
from bench.common import ROOT, print_table

RUNS = 5
QUERY = "speculative decoding latency"
QUERY_WORD = "speculative"
# A user's Python caches bytecode: a shell with PYTHONDONTWRITEBYTECODE=1 would make every run
# recompile the project's modules (~0.2 s of each command, measured).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# (sample, 100k, 1M) targets in seconds; None = no target at that size.
TARGETS: dict[str, tuple[float | None, float | None, float | None]] = {
    "--help": (0.15, 0.15, 0.15),
    "show ID": (0.2, 0.3, 0.5),
    "show ID --json": (0.2, 0.3, 0.5),
    "related ID": (0.2, 0.3, 0.6),
    "search QUERY": (0.4, 0.5, 1.0),
    "add --no-fetch URL": (0.5, 1.0, 1.5),
    "tag ID T": (0.3, 0.5, 1.0),
    "tag ID T --remove": (0.3, 0.5, 1.0),
    "shortlist/skip ID (status change)": (0.3, 0.5, 1.0),
    "rm ID": (0.3, 0.5, 1.0),
    "list --kind paper --json": (0.3, 1.5, None),
    "feeds pull (20 new)": (1.0, 2.0, None),
    "draft": (1.0, 3.0, None),
}
RSS_TARGET_MB = {100_000: 500, 1_000_000: 2000}


def run_once(argv: Sequence[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one subprocess."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if proc.returncode not in (0, 1):
        print(f"  ! {' '.join(argv[3:])}: exit {proc.returncode}: {err[-300:]}", flush=True)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


def measure(make_argv: Callable[[int], Sequence[str]], after: Callable[[], None] | None = None) -> tuple[float, float]:
    """Median wall time of RUNS runs after one warm-up (run 0), and the peak RSS over them."""
    times, rss = [], 0.0
    for run in range(RUNS + 1):
        elapsed, mb, _code = run_once(make_argv(run))
        if after:
            after()
        if run:
            times.append(elapsed)
            rss = max(rss, mb)
    return statistics.median(times), rss


def timed_median(fn: Callable[[], object], runs: int = RUNS) -> float:
    out = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return statistics.median(out[1:])


def pick_ids(project: Path, count: int) -> list[str]:
    """Ids of live items (newest last) straight from the derived cache."""
    import sqlite3

    with sqlite3.connect(project / ".newsletter" / "catalog.sqlite") as conn:
        rows = conn.execute("SELECT id FROM entries WHERE id IS NOT NULL ORDER BY path").fetchall()
    ids = [r[0] for r in rows]
    step = max(len(ids) // (count + 1), 1)
    return [ids[(i + 1) * step % len(ids)] for i in range(count)]


class FeedServer:
    """A loopback RSS feed whose every request lists 20 entries never seen before."""

    def __init__(self) -> None:
        from tests.httpserver import LoopbackServer

        self.server = LoopbackServer().start()
        self.counter = 0
        self.server.add_prefix("/feed", self._feed)
        self.url = self.server.url("/feed.xml")

    def _feed(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
        self.counter += 1
        items = "".join(
            f"<item><title>Entry {self.counter}-{i}: notes on LLM serving and KV cache reuse</title>"
            f"<link>{self.server.url(f'/posts/{self.counter}-{i}')}</link><guid>bench-{self.counter}-{i}-{time.time_ns()}</guid>"
            f"<description>Batch size, latency and memory trade-offs, part {i}.</description>"
            f"<pubDate>Wed, 02 Dec 2026 10:{i:02d}:00 +0000</pubDate></item>"
            for i in range(20)
        )
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench feed</title>'
                f"<link>{self.server.url('/')}</link><description>bench</description>{items}</channel></rss>")
        return 200, {"Content-Type": "application/rss+xml"}, body

    def subscribe(self, project: Path) -> None:
        """Make the project follow only this feed (a fresh port is a fresh subscription)."""
        entry = [{"url": self.url, "kind": "link", "title": "Bench feed", "added": "2026-01-01T00:00:00Z"}]
        (project / "feeds.yaml").write_text(json.dumps(entry) + "\n")

    def stop(self) -> None:
        self.server.stop()


def anchors(project: Path, item_id: str) -> list[list[object]]:
    """The floors: sqlite3 CLI lookup, rg/grep over catalog/, hnswlib's own query (or numpy exact)."""
    rows: list[list[object]] = []
    db = project / ".newsletter" / "catalog.sqlite"
    if shutil.which("sqlite3"):
        sql = f"SELECT path, length(data) FROM entries WHERE id = '{item_id}'"
        t = timed_median(lambda: subprocess.run(["sqlite3", "-readonly", str(db), sql], check=True,
                                                stdout=subprocess.DEVNULL))
        rows.append(["`sqlite3` CLI id lookup (floor for show)", round(t, 4)])
    tool = ["rg", "-l", "-i", QUERY_WORD] if shutil.which("rg") else ["grep", "-rli", QUERY_WORD]
    t = timed_median(lambda: subprocess.run([*tool, str(project / "catalog")], stdout=subprocess.DEVNULL, check=False))
    rows.append([f"`{' '.join(tool[:2])}` {QUERY_WORD!r} over catalog/ (floor for search)", round(t, 4)])
    index_dir = project / ".newsletter" / "semantic" / "index"
    stamps = sorted(index_dir.glob("*.json"))
    if stamps:
        stamp = json.loads(stamps[0].read_text())
        label = stamp["labels"].index(item_id) if item_id in stamp["labels"] else 0
        if stamp.get("mode") == "hnsw":
            import hnswlib

            index = hnswlib.Index(space="ip", dim=int(stamp["dim"]))
            started = time.perf_counter()
            index.load_index(str(index_dir / stamp["graph"]["name"]), max_elements=len(stamp["labels"]))
            load_s = time.perf_counter() - started
            index.set_ef(100)
            vector = index.get_items([label])
            t = timed_median(lambda: index.knn_query(vector, k=11))
            rows.append(["hnswlib knn_query k=10, ef=100 (floor for related)", round(t, 5)])
            rows.append(["hnswlib load_index of the stored graph", round(load_s, 3)])
        else:
            rows.append(["index in exact mode (< 5000 items): no hnswlib graph", "n/a"])
    return rows


def bench_project(project: Path, size_index: int, label: str, n_items: int, feed: FeedServer) -> None:
    py = [sys.executable, "-m", "newsletter", "-C", str(project)]
    ids = pick_ids(project, 3 + RUNS + 1)
    show_id, rm_ids = ids[0], ids[3:]
    issues_dir = project / "content" / "issues"
    before = set(issues_dir.glob("*")) if issues_dir.is_dir() else set()

    def drop_new_drafts() -> None:
        for path in set(issues_dir.glob("*")) - before:
            if path.is_file():
                path.unlink()

    stamp = time.time_ns()
    feed.subscribe(project)
    commands: list[tuple[str, Callable[[int], Sequence[str]], Callable[[], None] | None]] = [
        ("--help", lambda r: [*py, "--help"], None),
        ("show ID", lambda r: [*py, "show", show_id], None),
        ("show ID --json", lambda r: [*py, "show", show_id, "--json"], None),
        ("related ID", lambda r: [*py, "related", show_id], None),
        ("search QUERY", lambda r: [*py, "search", QUERY], None),
        ("add --no-fetch URL", lambda r: [*py, "add", "--no-fetch", "--title", f"Serving LLMs with a KV cache, run {r}",
                                          "--summary", "Batching and paging for LLM inference.",
                                          f"https://bench.example.org/{stamp}/{r}"], None),
        ("tag ID T", lambda r: [*py, "tag", show_id, f"bench-{stamp}-{r}"], None),
        ("tag ID T --remove", lambda r: [*py, "tag", show_id, f"bench-{stamp}-{r}", "--remove"], None),
        ("shortlist/skip ID (status change)", lambda r: [*py, "skip" if r % 2 else "shortlist", show_id], None),
        ("rm ID", lambda r: [*py, "rm", rm_ids[r]], None),
        ("list --kind paper --json", lambda r: [*py, "list", "--kind", "paper", "--json"], None),
        ("feeds pull (20 new)", lambda r: [*py, "feeds", "pull"], None),
        ("draft", lambda r: [*py, "draft"], drop_new_drafts),
    ]
    rows = []
    rss_target = RSS_TARGET_MB.get(n_items)
    for name, argv, after in commands:
        target = TARGETS[name][size_index]
        if target is None:
            continue
        median, rss = measure(argv, after)
        rss_ok = "" if rss_target is None else ("yes" if rss <= rss_target else "NO")
        rows.append([name, round(median, 3), target, round(median / target, 2),
                     "yes" if median <= target else "NO", round(rss), rss_ok])
        print(f"  {name}: {median:.3f} s, {rss:.0f} MB", flush=True)
    rss_head = f"RSS ≤ {rss_target} MB" if rss_target else "RSS target"
    print_table(
        f"CLI on {label} (whole process, median of {RUNS} after 1 warm-up; seconds)",
        ["command", "median", "target", "median / target", "met", "peak RSS MB", rss_head], rows,
    )
    print_table(f"Anchors on {label} (same run; seconds, median of {RUNS})", ["anchor", "seconds"],
                anchors(project, show_id))


def sample_copy(dest: Path) -> Path:
    for name in ("catalog", "content"):
        shutil.copytree(ROOT / name, dest / name)
    for name in ("newsletter.toml", "feeds.yaml"):
        shutil.copy(ROOT / name, dest / name)
    # The derived cache, as the curator's first command builds it (the warm-ups embed the items).
    subprocess.run([sys.executable, "-m", "newsletter", "-C", str(dest), "list"], cwd=ROOT, env=ENV, check=True,
                   stdout=subprocess.DEVNULL)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k instead of 100k")
    parser.add_argument("--huge", action="store_true", help="also 1M items")
    parser.add_argument("--only", choices=("sample", "big"), help="one catalog only")
    args = parser.parse_args()
    feed = FeedServer()
    try:
        if args.only != "big":
            with tempfile.TemporaryDirectory(prefix="bench-cli-sample-") as tmp:
                project = sample_copy(Path(tmp))
                count = sum(1 for _ in (project / "catalog").rglob("*.md"))
                bench_project(project, 0, f"the sample newsletter ({count} items)", count, feed)
        if args.only != "sample":
            sizes = [10_000 if args.quick else 100_000] + ([1_000_000] if args.huge else [])
            for n in sizes:
                root = Path(tempfile.gettempdir()) / f"newsletter-bench-{n // 1000}k"
                gen_s = ensure_project(root, n)
                print(f"generated project {root}: {gen_s:.0f} s" if gen_s else f"reusing {root}", flush=True)
                bench_project(root, 2 if n >= 1_000_000 else 1, f"{n:,} generated items", n, feed)
    finally:
        feed.stop()


if __name__ == "__main__":
    main()
