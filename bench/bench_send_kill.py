"""SIGKILL during `newsletter email N --smtp`, then `--resume`: how many duplicates and misses?

    .venv/bin/python -m bench.bench_send_kill [--quick] [--trials N] [--subscribers N] [--rate R] [--server-ms MS]

Each trial starts a real send (its own process) to an aiosmtpd server on 127.0.0.1, waits until the
server sees the first MAIL FROM, then sleeps a random time drawn uniformly from [0, duration of an
uninterrupted send] and SIGKILLs it; then `--resume` runs to the end. Per address the server's count
must be 1: a 0 is a *miss* (the worst failure: silent), a 2 a *duplicate*. By design a kill can
leave at most one message in doubt (the instant between the server's 250 and the ledger commit, or
between the end of DATA and the 250), which `--resume` sends again with the same Message-ID.
Target: 0 misses, at most 1 duplicate in 50 trials.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from bench.common import print_table

ROOT = Path(__file__).resolve().parents[1]


class Counter:
    """Keeps every accepted recipient; notes when the first MAIL FROM of a run arrives."""

    def __init__(self, server_seconds: float) -> None:
        self.server_seconds = server_seconds
        self.accepted: list[str] = []
        self.first_mail = threading.Event()
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.accepted = []
        self.first_mail.clear()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.first_mail.set()
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server_seconds:
            await asyncio.sleep(self.server_seconds)
        with self.lock:
            self.accepted.extend(envelope.rcpt_tos)
        return "250 2.0.0 Accepted"


def make_project(root: Path, n: int) -> Path:
    project = root / "proj"
    project.mkdir()
    shutil.copy(ROOT / "newsletter.toml", project / "newsletter.toml")
    shutil.copytree(ROOT / "content", project / "content")
    lines = ["email,name,status,subscribed_at"]
    lines += [f"reader{i:04d}@example.org,Reader {i},active,2025-01-01T00:00:00Z" for i in range(n)]
    (project / "subscribers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return project


def reset_project(project: Path) -> None:
    shutil.rmtree(project / ".newsletter" / "sends", ignore_errors=True)
    shutil.rmtree(project / "sends", ignore_errors=True)


def command(project: Path, hostport: str, rate: float | None, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "newsletter", "-C", str(project), "email", "1", "--smtp", hostport, *extra,
           "--yes", "--force"]  # the copy has no catalog for `check`; a bench must not ask
    return cmd + (["--rate", str(rate)] if rate else [])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_trials(trials: int, n: int, rate: float | None, server_ms: float, seed: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_SECRET": secrets.token_hex(32)}
    env.pop("NEWSLETTER_SMTP_USER", None)
    env.pop("NEWSLETTER_SMTP_PASSWORD", None)
    counter = Counter(server_ms / 1000)
    controller = Controller(counter, hostname="127.0.0.1", port=free_port())
    controller.start()
    hostport = f"127.0.0.1:{controller.port}"
    rng = random.Random(seed)
    result: dict[str, Any] = collections.defaultdict(int)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), n)
            # Calibration: how long an uninterrupted send takes from its first MAIL FROM.
            durations = []
            for _ in range(2):
                reset_project(project)
                counter.reset()
                proc = subprocess.Popen(command(project, hostport, rate), env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                counter.first_mail.wait(60)
                start = time.monotonic()
                _out, err = proc.communicate(timeout=300)
                assert proc.returncode == 0, err.decode()
                durations.append(time.monotonic() - start)
                assert sorted(counter.accepted) == [f"reader{i:04d}@example.org" for i in range(n)]
            duration = min(durations)
            result["send_seconds"] = duration
            for _trial in range(trials):
                reset_project(project)
                counter.reset()
                proc = subprocess.Popen(command(project, hostport, rate), env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                counter.first_mail.wait(60)
                time.sleep(rng.uniform(0, duration))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    result["killed"] += 1
                else:
                    result["finished_first"] += 1
                proc.wait(timeout=60)
                before = len(counter.accepted)
                resume = subprocess.run(command(project, hostport, rate, "--resume"), env=env,
                                        capture_output=True, timeout=300, check=False)
                if resume.returncode != 0:
                    result["resume_failed"] += 1
                if b"sent again with the same Message-ID" in resume.stderr:
                    result["in_doubt_resent"] += 1
                counts = collections.Counter(counter.accepted)
                misses = sum(1 for i in range(n) if counts[f"reader{i:04d}@example.org"] == 0)
                duplicates = sum(c - 1 for c in counts.values() if c > 1)
                result["misses"] += misses
                result["duplicates"] += duplicates
                result["trials_with_duplicate"] += duplicates > 0
                result["max_duplicates_in_a_trial"] = max(result["max_duplicates_in_a_trial"], duplicates)
                result["accepted_before_kill_total"] += before
    finally:
        controller.stop()
    return dict(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 trials")
    parser.add_argument("--trials", type=int, default=None, help="number of kill trials (default 50)")
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=None, help="pass --rate R to the send (messages/s)")
    parser.add_argument("--server-ms", type=float, default=0.0, help="the server's time to answer DATA")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    trials = args.trials or (10 if args.quick else 50)
    r = run_trials(trials, args.subscribers, args.rate, args.server_ms, args.seed)
    rate = f", --rate {args.rate:g}" if args.rate else ""
    print_table(
        f"SIGKILL at a random moment of `email --smtp` ({args.subscribers} subscribers{rate}, server answers DATA "
        f"after {args.server_ms:g} ms; an uninterrupted send takes {r['send_seconds'] * 1000:.0f} ms), then --resume",
        ["trials", "killed mid-send", "done before the kill", "misses", "duplicates", "trials with a duplicate",
         "max dup/trial", "in-doubt resent", "resume failed"],
        [(trials, r.get("killed", 0), r.get("finished_first", 0), r.get("misses", 0), r.get("duplicates", 0),
          r.get("trials_with_duplicate", 0), r.get("max_duplicates_in_a_trial", 0), r.get("in_doubt_resent", 0),
          r.get("resume_failed", 0))],
    )
    if r.get("misses", 0) or r.get("max_duplicates_in_a_trial", 0) > 1 or r.get("resume_failed", 0):
        sys.exit("FAILED: a miss, more than one duplicate in a trial, or a failed --resume")


if __name__ == "__main__":
    main()
