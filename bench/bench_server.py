"""One-click unsubscribes: requests/s and latency that `POST /unsubscribe/<token>` sustains.

    .venv/bin/python -m bench.bench_server [--quick] [--subscribers N] [--repeat R]

`newsletter server` runs under uvicorn in a child process on 127.0.0.1 (one worker, SQLite in WAL
mode) over a database of N active subscribers. The client (httpx, asyncio) POSTs the RFC 8058 body
`List-Unsubscribe=One-Click` to a distinct subscriber's link per request, so every request is a real
write, at several concurrency levels. The table gives medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import ROOT, print_table
from newsletter.server.db import Database
from newsletter.signing import Keyring

SECRET = "bench-secret-0123456789abcdef"


def start_server(db: Path, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "server", "--db", str(db), "--port", str(port)],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


async def hammer(urls: list[str], concurrency: int) -> tuple[float, list[float], int]:
    """(wall s, per-request latencies s, failures) POSTing each URL once with `concurrency` workers."""
    queue = list(reversed(urls))
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while queue:
            url = queue.pop()
            start = time.perf_counter()
            answer = await client.post(url, content=b"List-Unsubscribe=One-Click",
                                       headers={"Content-Type": "application/x-www-form-urlencoded"})
            latencies.append(time.perf_counter() - start)
            failures += answer.status_code != 200

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark the one-click unsubscribe endpoint.")
    parser.add_argument("--quick", action="store_true", help="500 requests per run instead of 2,000")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)
    n = args.requests or (500 if args.quick else 2000)
    runs_needed = len(args.concurrency) * args.repeat

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.sqlite3"
        db = Database(db_path)
        rows = [{"email": f"s{i}@example.org", "status": "active"} for i in range(n * runs_needed)]
        db.import_rows(rows)
        ids = [s.id for s in db.subscribers("active")]
        db.close()
        keyring = Keyring(SECRET)
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = start_server(db_path, port, Path(tmp))
        base = f"http://127.0.0.1:{port}"
        table: list[list[object]] = []
        try:
            urls = [f"{base}/unsubscribe/{keyring.sign('unsubscribe', sid)}" for sid in ids]
            for conc in args.concurrency:
                results = []
                for _ in range(args.repeat):
                    batch, urls = urls[:n], urls[n:]
                    results.append(asyncio.run(hammer(batch, conc)))
                rps = statistics.median(n / wall for wall, _, _ in results)
                p50 = statistics.median(percentile(lat, 0.50) for _, lat, _ in results)
                p99 = statistics.median(percentile(lat, 0.99) for _, lat, _ in results)
                table.append([conc, n, round(rps), round(p50 * 1000, 2), round(p99 * 1000, 2),
                              sum(f for _, _, f in results)])
        finally:
            proc.terminate()
            proc.wait(10)

    print_table(f"server: POST /unsubscribe/<token> (one-click body, a real write each), uvicorn 1 worker on "
                f"loopback, medians of {args.repeat} runs",
                ["concurrency", "requests", "req/s", "p50 ms", "p99 ms", "failures"], table)


if __name__ == "__main__":
    main()
