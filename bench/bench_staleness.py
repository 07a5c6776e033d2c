"""The staleness cases of tests/test_staleness.py, at 100k items, through the real command line.

    .venv/bin/python -m bench.bench_staleness [--quick] [--project DIR]

A copy of the generated 100k project (`bench.catalog_gen`; `--quick`: 10k) is changed the way
curators and git change it, and after each change the next command, a fresh process, must see
it: an in-place edit (same inode, folder listing untouched), an atomic save, a deletion, a file
written by hand in a new folder, and a `git checkout` of another revision. Each row gives the
wall time of that command and whether it saw the change; the exit code is 1 when one did not.
The edits are back-dated past the racy window first, so the folder-mtime shortcut is exercised.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_cli import ENV, pick_ids
from bench.catalog_gen import ensure_project
from bench.common import ROOT, print_table

OLD = 300.0  # seconds: every stamp is this far in the past before a change


def newsletter(project: Path, *args: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "newsletter", "-C", str(project), *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, check=False)
    return time.perf_counter() - started, proc.returncode, proc.stdout


def backdate(paths: list[Path]) -> None:
    old = time.time() - OLD
    for path in paths:
        os.utime(path, (old, old))


def item_path(project: Path, item_id: str) -> Path:
    import sqlite3

    with sqlite3.connect(project / ".newsletter" / "catalog.sqlite") as conn:
        (rel,) = conn.execute("SELECT path FROM entries WHERE id=?", (item_id,)).fetchone()
    return project / "catalog" / rel


def title_of(project: Path, item_id: str) -> tuple[float, str | None]:
    seconds, code, out = newsletter(project, "show", item_id, "--json")
    return seconds, json.loads(out)["item"]["title"] if code == 0 else None


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
                   cwd=project, check=True, capture_output=True)


def run_cases(project: Path) -> list[list[object]]:
    a, b, c, d = pick_ids(project, 4)
    rows: list[list[object]] = []

    def row(case: str, command: str, seconds: float, seen: bool) -> None:
        rows.append([case, command, round(seconds, 3), "yes" if seen else "NO"])

    path = item_path(project, a)
    text = path.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    with open(path, "r+", encoding="utf-8") as handle:  # in place: same inode, the folder is unchanged
        handle.write(text.replace(title, "title: Quokkabench edited in place"))
        handle.truncate()
    backdate([path, path.parent])
    seconds, seen = title_of(project, a)
    row("in-place edit", "show ID --json", seconds, seen == "Quokkabench edited in place")
    seconds, _, out = newsletter(project, "search", "Quokkabench", "--json")
    row("in-place edit", "search WORD --json", seconds, a in out)

    path = item_path(project, b)
    swap = path.with_name(".editor-swap")
    swap.write_text(path.read_text(encoding="utf-8").replace("title:", "title: Wombatbench", 1), encoding="utf-8")
    os.replace(swap, path)
    backdate([path])
    seconds, seen = title_of(project, b)
    row("atomic save", "show ID --json", seconds, bool(seen and seen.startswith("Wombatbench")))

    item_path(project, c).unlink()
    seconds, code, _ = newsletter(project, "show", c, "--json")
    row("deletion", "show ID --json", seconds, code != 0)

    folder = project / "catalog" / "2030" / "01"
    folder.mkdir(parents=True)
    text = item_path(project, d).read_text(encoding="utf-8")
    new_id = "f" * 12
    original_id = next(line for line in text.splitlines() if line.startswith("id:"))
    hand = text.replace(original_id, f"id: {new_id}")
    for key in ("url:", "canonical_url:"):
        line = next((x for x in text.splitlines() if x.startswith(key)), None)
        if line:
            hand = hand.replace(line, f"{key} https://by-hand.example.org/x", 1)
    (folder / f"by-hand-{new_id}.md").write_text(hand, encoding="utf-8")
    seconds, seen = title_of(project, new_id)
    row("new file, new folder", "show ID --json", seconds, seen is not None)

    started = time.perf_counter()
    git(project, "init", "-q")
    git(project, "add", "catalog")
    git(project, "commit", "-q", "-m", "one")
    path = item_path(project, a)
    path.write_text(path.read_text(encoding="utf-8").replace("Quokkabench edited in place", "Second revision"),
                    encoding="utf-8")
    git(project, "commit", "-q", "-am", "two")
    setup = time.perf_counter() - started
    seconds, seen = title_of(project, a)
    row(f"git commit (setup {setup:.0f} s)", "show ID --json", seconds, seen == "Second revision")
    git(project, "checkout", "-q", "HEAD~1")
    seconds, seen = title_of(project, a)
    row("git checkout HEAD~1", "show ID --json", seconds, seen == "Quokkabench edited in place")
    seconds, _, out = newsletter(project, "list", "--json")
    count = json.loads(out)["count"] if out else -1
    row("git checkout HEAD~1", f"list --json ({count} items)", seconds, '"Second revision"' not in out and count > 0)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k instead of 100k")
    parser.add_argument("--project", type=Path, help="a copy to change (default: a fresh copy of the generated one)")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-stale-") as tmp:
        project = args.project
        if project is None:
            source = Path(tempfile.gettempdir()) / f"newsletter-bench-{n}"
            ensure_project(source, n)
            project = Path(tmp) / "project"
            shutil.copytree(source, project, symlinks=True)
            newsletter(project, "list")  # the copy's first command: stamps of the copied files
        rows = run_cases(project)
    print_table(f"Staleness at {n:,} items: each change, then the next command (a fresh process)",
                ["change", "command", "seconds", "seen"], rows)
    if any(r[3] != "yes" for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
