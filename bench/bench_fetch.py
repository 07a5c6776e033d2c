"""Ingest-style fetching: N URLs from loopback servers that answer each request after 50 ms.

    .venv/bin/python -m bench.bench_fetch [--quick] [--urls N] [--latency S] [--repeat R]

The URLs are spread round-robin over four loopback hosts (127.0.0.1 .. 127.0.0.4), one server
process each, so per-host politeness is not what limits throughput. For each concurrency level the
table gives the median wall time of `run_all` over ``--repeat`` runs against the ideal
``N × latency / concurrency`` and against fetching one by one (timed on 100 URLs, extrapolated).
The servers run in child processes so their work does not compete with the client for the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.common import HOSTS, print_table, start_servers, stop_servers
from newsletter.errors import NewsletterError
from newsletter.web.fetch import Fetcher, FetchSettings, run_all


async def _size(fetcher: Fetcher, url: str) -> int:
    return len((await fetcher.get(url)).content)


def timed_batch(urls: list[str], settings: FetchSettings) -> tuple[float, float, int]:
    """(wall s, client CPU s, failures) for one `run_all` over ``urls``."""
    wall, cpu = time.perf_counter(), time.process_time()
    results = run_all(_size, urls, settings=settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, sum(isinstance(r, NewsletterError) for r in results)


def timed_sequential(urls: list[str]) -> float:
    """Wall time to fetch ``urls`` one after another on one client."""

    async def go() -> None:
        async with Fetcher(FetchSettings(concurrency=1, per_host=1)) as fetcher:
            for url in urls:
                await fetcher.get(url)

    start = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark newsletter.fetch against loopback servers.")
    parser.add_argument("--quick", action="store_true", help="200 URLs instead of 1,000")
    parser.add_argument("--urls", type=int, default=None, help="URL count (default 1000, 200 with --quick)")
    parser.add_argument("--latency", type=float, default=0.05, help="server delay per request, seconds")
    parser.add_argument("--repeat", type=int, default=3, help="runs per concurrency level (median reported)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32, 64])
    args = parser.parse_args(argv)
    n = args.urls or (200 if args.quick else 1000)

    procs, bases = start_servers("tests.httpserver", "--host", args.latency)
    try:
        urls = [f"{bases[i % len(bases)]}/page/{i}" for i in range(n)]
        seq_n = min(100, n)
        seq = timed_sequential(urls[:seq_n]) * n / seq_n
        rows: list[list[object]] = []
        for conc in args.concurrency:
            # Twice the average load per host, so politeness never becomes the bottleneck here.
            per_host = max(8, conc // 2)
            settings = FetchSettings(concurrency=conc, per_host=per_host)
            runs = [timed_batch(urls, settings) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            failures = sum(r[2] for r in runs)
            ideal = n * args.latency / conc
            rows.append([conc, per_host, round(wall, 2), round(ideal, 2), round(wall / ideal, 2),
                         f"{seq / wall:.1f}x", round(cpu, 2), failures])
    finally:
        stop_servers(procs)

    print_table(
        f"fetch: {n} URLs over {len(HOSTS)} loopback hosts, {args.latency * 1000:g} ms per answer, "
        f"median of {args.repeat}; sequential {seq:.1f} s "
        f"(timed on {seq_n} URLs, extrapolated x{n / seq_n:g})",
        ["concurrency", "per_host", "wall s", "ideal s", "ratio to ideal", "vs sequential", "client CPU s",
         "failures"],
        rows,
    )


if __name__ == "__main__":
    main()
