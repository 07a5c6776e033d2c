"""SIGKILL during `newsletter email N --smtp`, then `--resume`: how many duplicates and misses?

    .venv/bin/python -m bench.bench_send_kill [--quick] [--trials N] [--subscribers N] [--rate R]
        [--server-ms MS] [--seed S] [--profile]

Each trial starts a real send (its own process) to an aiosmtpd server on 127.0.0.1, waits until the
server sees the first MAIL FROM, then sleeps a random time drawn uniformly from [0, the send] and
SIGKILLs it; then `--resume` runs to the end. "The send" is measured on two uninterrupted runs
first: from the server's first MAIL FROM to its last acceptance (the process start before it and
the report, record write and interpreter exit after it are left out: nothing is in doubt there,
and kills landing there would only dilute the count). Per address the server's count must be 1: a
0 is a *miss* (the worst failure: silent), a 2 a *duplicate*. The server counts a message when its
DATA handler stores it, before it answers 250, as a real server does; `--server-ms` adds store
time (an fsync, a queue write) before the answer.

By design a kill can leave at most one message in doubt: one killed between the final dot of DATA
and the ledger's commit of the 250 (the server's store and answer, then the client's wake-up and
one small commit), which `--resume` sends again with the same Message-ID. Target: 0 misses, at
most 1 duplicate in 50 trials.

`--profile` explains the count: it runs uninterrupted sends with timestamps (CLOCK_MONOTONIC,
shared by both processes) at the dot (client), the store (server), the 250 read (client) and the
ledger commit (client), and prints each part's median and the whole window's share of the send.
A kill uniformly random over the send lands in some message's window with probability
(sum of windows) / (send), so `50 x share` is the expected number of duplicates in 50 trials.
The hooks live in this file only (`--probe-child`, a wrapper around the real `newsletter` entry).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
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
    """Keeps every accepted recipient with the moment it was stored; notes the first MAIL FROM of a run."""

    def __init__(self, server_seconds: float) -> None:
        self.server_seconds = server_seconds
        self.accepted: list[str] = []
        self.stored_ns: list[int] = []
        self.dot_read_ns: list[int] = []  # --profile only: when the server's reader returned the final dot
        self.body_read_ns: list[int] = []  # --profile only: ... and the line before it
        self.first_mail_ns = 0
        self.first_mail = threading.Event()
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.accepted = []
            self.stored_ns = []
            self.dot_read_ns = []
            self.body_read_ns = []
        self.first_mail_ns = 0
        self.first_mail.clear()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if not self.first_mail.is_set():
            self.first_mail_ns = time.monotonic_ns()
            self.first_mail.set()
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server_seconds:
            await asyncio.sleep(self.server_seconds)
        with self.lock:  # stored: from here the message is delivered, whatever happens to the client
            self.accepted.extend(envelope.rcpt_tos)
            self.stored_ns.append(time.monotonic_ns())
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


def command(project: Path, hostport: str, rate: float | None, *extra: str, probe: Path | None = None) -> list[str]:
    entry = ["-m", "bench.bench_send_kill", "--probe-child", str(probe)] if probe else ["-m", "newsletter"]
    cmd = [
        sys.executable,
        *entry,
        "-C",
        str(project),
        "email",
        "1",
        "--smtp",
        hostport,
        *extra,
        "--yes",
        "--force",
    ]  # the copy has no catalog for `check`; a bench must not ask
    return cmd + (["--rate", str(rate)] if rate else [])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def expected(n: int) -> list[str]:
    return [f"reader{i:04d}@example.org" for i in range(n)]


def uninterrupted(
    project: Path,
    hostport: str,
    rate: float | None,
    counter: Counter,
    env: dict[str, str],
    n: int,
    probe: Path | None = None,
) -> float:
    """One whole send; returns its length in seconds, from the first MAIL FROM to the last store."""
    reset_project(project)
    counter.reset()
    proc = subprocess.run(
        command(project, hostport, rate, probe=probe), env=env, capture_output=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert sorted(counter.accepted) == expected(n)
    return (counter.stored_ns[-1] - counter.first_mail_ns) / 1e9


def serve(server_ms: float) -> tuple[Counter, Controller]:
    counter = Counter(server_ms / 1000)
    controller = Controller(counter, hostname="127.0.0.1", port=free_port())
    controller.start()
    return counter, controller


def bench_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEWSLETTER_SECRET": secrets.token_hex(32)}
    env.pop("NEWSLETTER_SMTP_USER", None)
    env.pop("NEWSLETTER_SMTP_PASSWORD", None)
    return env


def run_trials(trials: int, n: int, rate: float | None, server_ms: float, seed: int) -> dict[str, Any]:
    env = bench_env()
    counter, controller = serve(server_ms)
    hostport = f"127.0.0.1:{controller.port}"
    rng = random.Random(seed)
    result: dict[str, Any] = collections.defaultdict(int)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), n)
            span = min(uninterrupted(project, hostport, rate, counter, env, n) for _ in range(2))
            result["send_seconds"] = span
            for _trial in range(trials):
                reset_project(project)
                counter.reset()
                proc = subprocess.Popen(
                    command(project, hostport, rate), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                counter.first_mail.wait(60)
                time.sleep(rng.uniform(0, span))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    result["killed"] += 1
                else:
                    result["finished_first"] += 1
                proc.wait(timeout=60)
                before = len(counter.accepted)
                result["killed_mid_send"] += 0 < before < n
                resume = subprocess.run(
                    command(project, hostport, rate, "--resume"), env=env, capture_output=True, timeout=300, check=False
                )
                if resume.returncode != 0:
                    result["resume_failed"] += 1
                if b"sent again with the same Message-ID" in resume.stderr:
                    result["in_doubt_resent"] += 1
                counts = collections.Counter(counter.accepted)
                misses = sum(1 for address in expected(n) if counts[address] == 0)
                duplicates = sum(c - 1 for c in counts.values() if c > 1)
                result["misses"] += misses
                result["duplicates"] += duplicates
                result["trials_with_duplicate"] += duplicates > 0
                result["max_duplicates_in_a_trial"] = max(result["max_duplicates_in_a_trial"], duplicates)
    finally:
        controller.stop()
    return dict(result)


# -- --profile: where the in-doubt window goes ---------------------------------------------------------


def probe_child(argv: list[str]) -> None:
    """`newsletter ARGS` with timestamps at the dot, each reply and each ledger commit of an answer.

    Bench-only wrappers (nothing in the product knows about them): each adds one clock read.
    """
    import smtplib

    from newsletter.cli.app import main as newsletter_main
    from newsletter.mail import ledger

    out, args = Path(argv[0]), argv[1:]
    marks: list[tuple[str, int]] = []
    send, getreply, answered = smtplib.SMTP.send, smtplib.SMTP.getreply, ledger.Ledger.answered
    in_doubt = ledger.Ledger.in_doubt

    def probed_in_doubt(self: ledger.Ledger, *a: Any, **k: Any) -> None:
        marks.append(("doubt", time.monotonic_ns()))
        in_doubt(self, *a, **k)
        marks.append(("doubted", time.monotonic_ns()))

    def probed_send(self: smtplib.SMTP, data: Any) -> None:
        if data == b".\r\n":
            marks.append(("dot", time.monotonic_ns()))  # before the write: the window opens with it
        send(self, data)

    def probed_getreply(self: smtplib.SMTP) -> tuple[int, bytes]:
        reply = getreply(self)
        marks.append(("reply", time.monotonic_ns()))
        return reply

    def probed_answered(self: ledger.Ledger, *a: Any, **k: Any) -> None:
        answered(self, *a, **k)
        marks.append(("commit", time.monotonic_ns()))  # the row says `sent`: the window closes

    smtplib.SMTP.send = probed_send  # type: ignore[method-assign]
    smtplib.SMTP.getreply = probed_getreply  # type: ignore[method-assign]
    ledger.Ledger.answered = probed_answered  # type: ignore[method-assign]
    ledger.Ledger.in_doubt = probed_in_doubt  # type: ignore[method-assign]
    try:
        newsletter_main(args, prog_name="newsletter")
    finally:
        out.write_text(json.dumps(marks), encoding="utf-8")


def watch_dots(counter: Counter) -> None:
    """Note when the server's stream reader hands aiosmtpd the final dot (the server runs in this process),
    and when it handed over the line before it (the end of the body: was the server still reading it?)."""
    readuntil = asyncio.StreamReader.readuntil
    last = [0]

    async def probed(self: asyncio.StreamReader, separator: bytes = b"\n") -> bytes:
        line = await readuntil(self, separator)
        now = time.monotonic_ns()
        if line == b".\r\n":
            counter.dot_read_ns.append(now)
            counter.body_read_ns.append(last[0])
        last[0] = now
        return line

    asyncio.StreamReader.readuntil = probed  # type: ignore[method-assign]


def windows(marks: list[tuple[str, int]], counter: Counter) -> list[tuple[int, int, int, int, bool]]:
    """Per message, in ns: dot written → the server reads it → stored → 250 read → ledger commit; and
    whether the server had read the whole body before the dot was written (True: no backlog)."""
    parts = []
    for index, (name, dot) in enumerate(marks):
        if name != "dot":
            continue
        reply = next(t for n, t in marks[index:] if n == "reply")
        commit = next(t for n, t in marks[index:] if n == "commit")
        j, read = next((j, t) for j, t in enumerate(counter.dot_read_ns) if t >= dot)
        store = next(t for t in counter.stored_ns if t >= read)
        parts.append((read - dot, store - read, reply - store, commit - reply, counter.body_read_ns[j] < dot))
    return parts


def profile(runs: int, n: int, rate: float | None, server_ms: float) -> None:
    env = bench_env()
    counter, controller = serve(server_ms)
    watch_dots(counter)
    hostport = f"127.0.0.1:{controller.port}"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), n)
            probe = Path(tmp) / "marks.json"
            for _ in range(runs):
                span = uninterrupted(project, hostport, rate, counter, env, n, probe=probe)
                marks = [tuple(m) for m in json.loads(probe.read_text())]
                parts = windows(marks, counter)
                doubt = [b - a for (n, a), (_, b) in itertools.pairwise(marks) if n == "doubt"]
                total = sum(sum(p[:4]) for p in parts) / 1e9
                server = sum(p[0] + p[1] for p in parts) / 1e9  # dot written → stored: the server's work
                client = sum(p[3] for p in parts) / 1e9
                rows.append(
                    (
                        span * 1000 / n,
                        statistics.median(doubt) / 1000,
                        *(statistics.median(p[i] for p in parts) / 1000 for i in range(4)),
                        statistics.median(sum(p[:4]) for p in parts) / 1000,
                        max(sum(p[:4]) for p in parts) / 1000,
                        100 * sum(p[4] for p in parts) / len(parts),
                        100 * total / span,
                        100 * server / span,
                        100 * client / span,
                        50 * total / span,
                    )
                )
    finally:
        controller.stop()
    print_table(
        f"Where the in-doubt window goes ({n} subscribers, server stores in {server_ms:g} ms; medians per message)",
        [
            "ms per message",
            "`sending` fsync µs",
            "dot→server reads it µs",
            "→stored µs",
            "stored→250 read µs",
            "250→commit µs",
            "window µs",
            "max window µs",
            "body read before the dot %",
            "window % of send",
            "server's % (dot→stored)",
            "client's % (250→commit)",
            "expected dup / 50",
        ],
        rows,
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--probe-child":
        probe_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 trials")
    parser.add_argument("--trials", type=int, default=None, help="number of kill trials (default 50)")
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=None, help="pass --rate R to the send (messages/s)")
    parser.add_argument("--server-ms", type=float, default=0.0, help="the server's time to store a message")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="time the in-doubt window instead (5 sends)")
    args = parser.parse_args()
    if args.profile:
        profile(5, args.subscribers, args.rate, args.server_ms)
        return
    trials = args.trials or (10 if args.quick else 50)
    r = run_trials(trials, args.subscribers, args.rate, args.server_ms, args.seed)
    rate = f", --rate {args.rate:g}" if args.rate else ""
    print_table(
        f"SIGKILL at a random moment of `email --smtp` ({args.subscribers} subscribers{rate}, the server stores "
        f"each message in {args.server_ms:g} ms before its 250; the send takes {r['send_seconds'] * 1000:.0f} ms "
        f"from the first MAIL FROM to the last acceptance), then --resume; seed {args.seed}",
        [
            "trials",
            "killed",
            "killed mid-send",
            "misses",
            "duplicates",
            "trials with a duplicate",
            "max dup/trial",
            "in-doubt resent",
            "resume failed",
        ],
        [
            (
                trials,
                r.get("killed", 0),
                r.get("killed_mid_send", 0),
                r.get("misses", 0),
                r.get("duplicates", 0),
                r.get("trials_with_duplicate", 0),
                r.get("max_duplicates_in_a_trial", 0),
                r.get("in_doubt_resent", 0),
                r.get("resume_failed", 0),
            )
        ],
    )
    if r.get("misses", 0) or r.get("max_duplicates_in_a_trial", 0) > 1 or r.get("resume_failed", 0):
        sys.exit("FAILED: a miss, more than one duplicate in a trial, or a failed --resume")


if __name__ == "__main__":
    main()
