"""Email: render time per issue, and send throughput to a loopback SMTP server vs plain smtplib.

    .venv/bin/python -m bench.bench_email [--quick]

Render = Markdown → HTML + text + templates + CSS inlining, per issue (median over the 4 sample
issues, many repetitions each). Send = `newsletter email N --smtp` through the library for 10k
subscribers (--quick: 1k) to an aiosmtpd server running in its own process (so it does not share
our GIL); the baseline sends pre-built identical messages with plain smtplib over one connection
to the same server in the same run. The ratio is our overhead: the ledger (one fsync per message),
per-subscriber tokens, personalization and MIME building.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from newsletter.config import load_settings
from newsletter.issues.files import find_issue
from newsletter.mail import campaign, render
from newsletter.mail.subscribers import Subscriber

ROOT = Path(__file__).resolve().parents[1]

SERVER = r"""
import socket, sys, time
from aiosmtpd.controller import Controller

class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        return "250 OK"

sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
"""


def bench_render(reps: int) -> list[tuple[str, float]]:
    """Median milliseconds to render each sample issue."""
    settings = load_settings(ROOT)
    info = {"name": settings.name, "site_url": settings.site_url, "language": settings.language}
    rows = []
    for number in (1, 2, 3, 4):
        issue = find_issue(settings.issues_dir, number)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            render.render_issue(number=number, title=issue.title, date=issue.date, body=issue.body, newsletter=info,
                                templates_dir=settings.templates_dir)
            times.append((time.perf_counter() - start) * 1000)
        rows.append((f"issue {number}", statistics.median(times)))
    return rows


def make_project(root: Path, n: int) -> Path:
    project = root / "proj"
    project.mkdir()
    shutil.copy(ROOT / "newsletter.toml", project / "newsletter.toml")
    shutil.copytree(ROOT / "content", project / "content")
    lines = ["email,name,status,subscribed_at"]
    lines += [f"reader{i:05d}@example.org,Reader {i},active,2025-01-01T00:00:00Z" for i in range(n)]
    (project / "subscribers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return project


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


def bench_baseline(port: int, data: bytes, n: int) -> float:
    """Messages per second: plain smtplib, one connection, the same bytes every time."""
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(n):
            smtp.sendmail("editors@gazette.example.org", [f"reader{i:05d}@example.org"], data)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k subscribers and fewer repetitions")
    args = parser.parse_args()
    n = 1000 if args.quick else 10_000
    reps = 10 if args.quick else 40

    rows = bench_render(reps)
    print_table("Render one issue (HTML + text + CSS inlining), median ms", ["issue", "ms"], rows)

    os.environ["NEWSLETTER_SECRET"] = secrets.token_hex(32)  # random, in this process only
    os.environ.pop("NEWSLETTER_SMTP_USER", None)
    os.environ.pop("NEWSLETTER_SMTP_PASSWORD", None)
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), n)
        settings = load_settings(project)
        prepared = campaign.prepare(settings, 1, secret_value=os.environ["NEWSLETTER_SECRET"])
        sample = Subscriber("reader00000@example.org", "Reader 0")

        start = time.perf_counter()
        for i in range(min(n, 2000)):
            prepared.message_bytes(Subscriber(f"reader{i:05d}@example.org", f"Reader {i}"))
        build_rate = min(n, 2000) / (time.perf_counter() - start)

        proc, port = start_server()
        try:
            data, _ = prepared.message_bytes(sample)
            baseline = bench_baseline(port, data, n)
            start = time.perf_counter()
            report = campaign.run(settings, campaign.EmailOptions(issue=1, smtp=f"127.0.0.1:{port}"))
            ours = len(report.delivered) / (time.perf_counter() - start)
            assert len(report.delivered) == n and report.ok, "every message accepted"
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)
    print_table(
        f"Send issue 1 to {n:,} subscribers over loopback SMTP (aiosmtpd in another process)",
        ["path", "msg/s", "vs baseline"],
        [
            ("smtplib, identical pre-built message (baseline)", baseline, 1.0),
            ("newsletter email --smtp (ledger + per-subscriber MIME)", ours, ours / baseline),
            ("per-subscriber MIME build only (no network, no ledger)", build_rate, build_rate / baseline),
        ],
    )
    print(f"message size: {len(data):,} bytes")


if __name__ == "__main__":
    main()
