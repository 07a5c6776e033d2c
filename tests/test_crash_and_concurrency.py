"""A writer killed at any instant, and eight writers at once, never lose or corrupt an item.

These run the real `newsletter` command in subprocesses: SIGKILL can't be simulated in-process.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsletter.project import init_project
from newsletter.store import Store

ADDED = re.compile(r"^added\s+([0-9a-f]{12})\s", re.M)


def newsletter(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", "-C", str(project), *args]


def load(project: Path) -> tuple[set[str], list[str]]:
    store = Store(project / "catalog", project / ".newsletter")
    try:
        snap = store.load()
        return set(snap.items), snap.problems
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_reported(tmp_path: Path) -> None:
    project = init_project(tmp_path / "proj")
    rng = random.Random(20251128)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reported_total: set[str] = set()
    trials = 20
    killed = 0
    for trial in range(trials):
        urls = [f"https://example.org/trial{trial}/post{n}" for n in range(200)]
        proc = subprocess.Popen(
            newsletter(project, "add", "--no-fetch", "--no-similar", "--tag", f"trial-{trial}", *urls),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        # Kill after a random number of reported saves (0 = during start-up or the first write),
        # so kills land inside the write loop, not just before or after it.
        wait_for = rng.randint(0, 150)
        lines: list[str] = []
        if wait_for == 0:
            time.sleep(rng.uniform(0.0, 0.6))
        while len(lines) < wait_for:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rng.uniform(0.0, 0.01))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        rest = proc.stdout.read()
        proc.wait()
        reported = set(ADDED.findall("".join(lines) + rest))
        reported_total |= reported
        present, problems = load(project)
        assert problems == [], f"trial {trial}: unreadable files after SIGKILL: {problems}"
        missing = reported_total - present
        assert not missing, f"trial {trial}: items reported as saved but missing: {missing}"
    assert killed >= trials // 2, f"only {killed} of {trials} runs were killed mid-way; tune the timing"
    leftovers = [p for p in (project / "catalog").rglob("*") if p.is_file() and not p.name.endswith(".md")]
    assert all(p.name.startswith(".tmp-") or p.name == ".gitkeep" for p in leftovers)


@pytest.mark.slow
def test_eight_writers_at_once_keep_every_item(tmp_path: Path) -> None:
    project = init_project(tmp_path / "proj")
    shared = [f"https://example.org/shared/{n}" for n in range(5)]  # every process adds these too
    procs = []
    for writer in range(8):
        own = [f"https://example.org/writer{writer}/post{n}" for n in range(15)]
        procs.append(
            subprocess.Popen(
                newsletter(project, "add", "--no-fetch", "--tag", f"writer-{writer}", *own, *shared),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate() for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    present, problems = load(project)
    assert problems == []
    assert len(present) == 8 * 15 + len(shared)
    reported = set()
    for out, _err in outputs:
        reported |= set(ADDED.findall(out))
    assert reported == present
    # each shared URL was added by exactly one writer and reported as existing by the other seven
    exists_lines = sum(len(re.findall(r"^exists ", out, re.M)) for out, _ in outputs)
    assert exists_lines == 7 * len(shared)


def url_list(path: Path, prefix: str, count: int) -> Path:
    path.write_text("".join(f"https://example.org/{prefix}/post{n}\n" for n in range(count)), encoding="utf-8")
    return path


def kill_at_random(cmd: list[str], rng: random.Random, low: float, high: float) -> bool:
    """Run `cmd`, SIGKILL it after a random delay; True if it was still running (killed mid-way)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=rng.uniform(low, high))
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def assert_whole(project: Path) -> set[str]:
    present, problems = load(project)
    assert problems == [], f"unreadable files after SIGKILL: {problems}"
    return present


@pytest.mark.slow
def test_sigkill_during_import_then_rerun_imports_every_row_once(tmp_path: Path) -> None:
    project = init_project(tmp_path / "proj")
    rng = random.Random(20261202)
    killed = 0
    for trial in range(6):
        source = url_list(tmp_path / f"list{trial}.txt", f"import{trial}", 1500)
        command = newsletter(project, "import", "--no-fetch", "--no-similar", str(source))
        killed += kill_at_random(command, rng, 0.3, 2.5)
        assert_whole(project)
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert len(assert_whole(project)) == 1500 * (trial + 1)  # every row once: nothing lost, nothing twice
    assert killed >= 2, f"only {killed} of 6 imports were killed mid-way; tune the timing"


def big_feed(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Entry {n}</title><link>https://blog.example.org/posts/{n}</link>"
        f"<guid>https://blog.example.org/posts/{n}</guid><pubDate>Mon, 01 Dec 2025 10:00:00 GMT</pubDate></item>"
        for n in range(entries)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'.encode()


@pytest.mark.slow
def test_sigkill_during_feeds_pull_then_repull_saves_every_entry_once(tmp_path: Path, http_server: object) -> None:
    """Pull state is recorded only after the items are durable: a kill never marks an unsaved entry as seen."""
    http_server.add("/big.xml", big_feed(1200), content_type="application/rss+xml")  # type: ignore[attr-defined]
    feed_url = http_server.url("/big.xml")  # type: ignore[attr-defined]
    rng = random.Random(7)
    killed = 0
    for trial in range(5):
        project = init_project(tmp_path / f"proj{trial}")
        subscribed = subprocess.run(newsletter(project, "feeds", "add", feed_url), capture_output=True, text=True)
        assert subscribed.returncode == 0, subscribed.stderr
        pull = newsletter(project, "feeds", "pull", "--no-similar", "--backlog", "5000")
        killed += kill_at_random(pull, rng, 0.4, 2.5)
        assert_whole(project)
        again = subprocess.run(pull, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        assert len(assert_whole(project)) == 1200
    assert killed >= 2, f"only {killed} of 5 pulls were killed mid-way; tune the timing"
