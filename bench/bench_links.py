"""`links check` throughput at the default politeness: N links on loopback servers answering after 50 ms.

    .venv/bin/python -m bench.bench_links [--quick] [--links N] [--latency S]

Every path serves a 2 KB HTML page, so each link costs HEAD plus a capped GET (the soft-404 look at
its title): two round trips. Two layouts: links spread over four hosts (the global limit of 16 in
flight binds) and all on one host (the per-host limit of 8 binds). The baseline, from the same run,
is one plain GET per link through the same fetch layer (what a GET-only checker would cost).
"""

from __future__ import annotations

import argparse
import time

from bench.common import print_table, start_servers, stop_servers
from newsletter.links.check import check_urls
from newsletter.web.fetch import Fetcher, FetchSettings, run_all


async def _get(fetcher: Fetcher, url: str) -> int:
    return (await fetcher.get(url)).status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--links", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    n = args.links or (100 if args.quick else 400)
    settings = FetchSettings()  # the defaults: concurrency 16, per_host 8
    procs, bases = start_servers("tests.httpserver", "--host", args.latency)
    try:
        rows = []
        for layout, hosts in (("4 hosts", bases), ("1 host", bases[:1])):
            urls = [f"{hosts[i % len(hosts)]}/post/{i}" for i in range(n)]
            started = time.perf_counter()
            results = check_urls(urls, settings=settings)
            check_s = time.perf_counter() - started
            assert all(r.verdict == "ok" for r in results), {r.verdict for r in results}
            started = time.perf_counter()
            run_all(_get, urls, settings=settings)
            get_s = time.perf_counter() - started
            bound = min(settings.concurrency, settings.per_host * len(hosts))
            ideal = n * 2 * args.latency / bound
            rows.append([layout, n, f"{n / check_s:.1f}", f"{check_s:.2f}", f"{ideal:.2f}", f"{n / get_s:.1f}"])
        print_table(f"links check, {args.latency * 1000:.0f} ms per answer, default politeness",
                    ["layout", "links", "links/s", "wall s", "ideal s (2 requests/link)", "GET-only links/s"], rows)
    finally:
        stop_servers(procs)


if __name__ == "__main__":
    main()
