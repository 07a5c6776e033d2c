"""`feeds pull` of many subscriptions and a big `import --no-fetch`, on loopback.

    .venv/bin/python -m bench.bench_feeds [--quick] [--feeds N] [--latency S] [--rows N] [--repeat R]

Pull: N feeds (10 entries each) spread over four loopback hosts (127.0.0.1 .. 127.0.0.4), one server
process each, answering after ``--latency`` seconds with honest ETags. The first pull fetches and catalogs
every entry; the second pull gets a 304 for every feed. Wall time is compared with the ideal
``N × latency / concurrency``.

Import: a Netscape bookmark file of ``--rows`` links imported with ``fetch=False`` into an empty catalog,
in items per second; plus, to show where the time goes, the same items saved one `Store.save` at a time
(an fsync of the file and of its folder and a cache transaction per item), and the batched path with
fsync disabled (for measurement only).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from bench.common import HOSTS, print_table, start_servers, stop_servers

ENTRIES_PER_FEED = 10


def feed_body(path: str) -> bytes:
    """A small RSS feed whose entries are unique to ``path``."""
    name = path.strip("/").replace("/", "-")
    items = "".join(
        f"<item><title>{name} post {i}</title><link>https://{name}.example.com/p/{i}</link>"
        f"<guid>{name}-{i}</guid><pubDate>{i + 1:02d} Jan 2024 10:00:00 GMT</pubDate>"
        f"<description>Entry {i} of {name}.</description></item>"
        for i in range(ENTRIES_PER_FEED)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{items}</channel></rss>'.encode()


def serve(host: str, latency: float) -> None:
    """Serve a feed at every path (ETag + 304), print the port, run until stdin closes."""
    from tests.httpserver import LoopbackServer

    def answer(full_path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        body = feed_body(full_path.split("?", 1)[0])
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": "application/rss+xml", "ETag": etag}, body

    server = LoopbackServer(host, latency=latency)
    server.add_prefix("/", answer)
    with server:
        print(server.port, flush=True)
        sys.stdin.read()


def timed(func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def bench_pull(bases: list[str], n: int) -> tuple[float, float, int, int, int]:
    """(first pull s, second pull s, new items, 304s, errors) on a fresh project."""
    from newsletter.catalog import Catalog
    from newsletter.feeds import Feeds
    from newsletter.project import init_project

    with tempfile.TemporaryDirectory() as tmp:
        root = init_project(Path(tmp) / "proj")
        catalog = Catalog.open(root)
        try:
            feeds = Feeds(catalog)
            feeds.add([(f"{bases[i % len(bases)]}/feed/{i}", "link", f"feed {i}") for i in range(n)], fetch=False)
            first, results = timed(lambda: feeds.pull())
            new = sum(len(r.new) for r in results)  # type: ignore[attr-defined]
            errors = sum(r.failed for r in results)  # type: ignore[attr-defined]
            second, results = timed(lambda: feeds.pull())
            not_modified = sum(r.status == "not_modified" for r in results)  # type: ignore[attr-defined]
            errors += sum(r.failed for r in results)  # type: ignore[attr-defined]
        finally:
            catalog.close()
    return first, second, new, not_modified, errors


def bookmark_file(path: Path, rows: int) -> None:
    lines = ["<!DOCTYPE NETSCAPE-Bookmark-file-1>", "<DL><p>", "<DT><H3>Reading</H3>", "<DL><p>"]
    lines += [
        f'<DT><A HREF="https://site{i % 97}.example.com/articles/{i}?utm_source=x" '
        f'ADD_DATE="{1_600_000_000 + i * 3600}" TAGS="ml,bench">Article number {i}</A>\n'
        f"<DD>A short description of article {i}."
        for i in range(rows)
    ]
    lines += ["</DL><p>", "</DL><p>"]
    path.write_text("\n".join(lines), encoding="utf-8")


def bench_import(rows: int) -> float:
    """Seconds to import ``rows`` bookmarks with fetch=False into an empty catalog."""
    from newsletter.catalog import Catalog
    from newsletter.ingest.pipeline import ImportOptions, import_file
    from newsletter.project import init_project

    with tempfile.TemporaryDirectory() as tmp:
        root = init_project(Path(tmp) / "proj")
        source = Path(tmp) / "bookmarks.html"
        bookmark_file(source, rows)
        catalog = Catalog.open(root)
        try:
            seconds, report = timed(lambda: import_file(catalog, source, ImportOptions(fetch=False)))
            assert len(report.new) == rows, (len(report.new), report.failed[:3])  # type: ignore[attr-defined]
        finally:
            catalog.close()
    return seconds


def bench_per_item_save(rows: int) -> float:
    """Seconds to save ``rows`` items one `Store.save` at a time (the naive path), under one lock."""
    from newsletter.catalog import Catalog
    from newsletter.models import Item
    from newsletter.project import init_project

    with tempfile.TemporaryDirectory() as tmp:
        root = init_project(Path(tmp) / "proj")
        catalog = Catalog.open(root)
        items = [
            Item(
                id=f"{i:012x}", kind="link", url=f"https://e.example.com/{i}", canonical_url=f"https://e.example.com/{i}",
                title=f"Article number {i}", tags=["ml", "bench"],
                added=f"20{10 + i % 12}-{1 + i % 12:02d}-01T00:00:00Z",
            )
            for i in range(rows)
        ]
        try:
            with catalog.store.locked():
                seconds, _ = timed(lambda: [catalog.store.save(item) for item in items])
        finally:
            catalog.close()
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark feeds pull and bulk import on loopback.")
    parser.add_argument("--quick", action="store_true", help="one run each, 2,000 import rows")
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rows", type=int, default=None, help="import rows (default 10,000; 2,000 with --quick)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (default 3; 1 with --quick)")
    parser.add_argument("--serve", metavar="HOST", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.latency)
        return
    repeat = args.repeat or (1 if args.quick else 3)
    rows = args.rows or (2000 if args.quick else 10_000)

    from newsletter.web.fetch import FetchSettings

    concurrency = FetchSettings().concurrency  # the project default, as `feeds pull` uses it
    procs, bases = start_servers("bench.bench_feeds", "--serve", args.latency)
    try:
        runs = [bench_pull(bases, args.feeds) for _ in range(repeat)]
    finally:
        stop_servers(procs)
    ideal = args.feeds * args.latency / concurrency
    first = statistics.median(r[0] for r in runs)
    second = statistics.median(r[1] for r in runs)
    print_table(
        f"feeds pull: {args.feeds} feeds × {ENTRIES_PER_FEED} entries over {len(HOSTS)} loopback hosts, "
        f"{args.latency * 1000:g} ms per answer, concurrency {concurrency}, median of {repeat}",
        ["pull", "wall s", "ideal s", "ratio to ideal", "new items", "304s", "errors"],
        [
            ["first (200 + catalog writes)", round(first, 2), round(ideal, 2), round(first / ideal, 2),
             runs[0][2], 0, runs[0][4]],
            ["second (all 304)", round(second, 2), round(ideal, 2), round(second / ideal, 2), 0, runs[0][3], 0],
        ],
    )

    imports = [bench_import(rows) for _ in range(repeat)]
    naive_rows = min(rows, 2000)
    naive = statistics.median(bench_per_item_save(naive_rows) for _ in range(repeat))
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # measurement only: how much of the import is fsync?
    try:
        no_fsync = statistics.median(bench_import(rows) for _ in range(repeat))
    finally:
        os.fsync = real_fsync
    batched = statistics.median(imports)
    print_table(
        f"import --no-fetch: {rows:,} bookmarks into an empty catalog, median of {repeat}",
        ["path", "rows", "wall s", "items/s"],
        [
            ["import_file (batched saves, one lock)", rows, round(batched, 2), round(rows / batched)],
            ["  same, fsync disabled (measurement only)", rows, round(no_fsync, 2), round(rows / no_fsync)],
            ["Store.save per item (no parsing/dedupe)", naive_rows, round(naive, 2), round(naive_rows / naive)],
        ],
    )


if __name__ == "__main__":
    main()
