"""`make demo`: run the weekly job on a copy of the bundled sample newsletter.

The repository itself is the sample project; the demo copies it to demo-output/ so that running
it never changes committed files, then drives the real `newsletter` command on the copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"
PROJECT_PARTS = ("newsletter.toml", "mkdocs.yml", "feeds.yaml", "content", "catalog", "templates")


def run(*args: str, capture: bool = False) -> str:
    """Run the CLI on the demo copy, echoing the command like a terminal session would."""
    cmd = [sys.executable, "-m", "newsletter", "-C", str(OUT / "project"), *args]
    print(f"\n$ newsletter {' '.join(args)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(cmd, text=True, capture_output=capture, check=False)
    if result.returncode not in (0, 1):
        sys.exit(f"demo step failed: newsletter {' '.join(args)} (exit {result.returncode})")
    print(f"  ({time.perf_counter() - started:.2f} s)", flush=True)
    return result.stdout if capture else ""


def main() -> None:
    project = OUT / "project"
    if OUT.exists():
        shutil.rmtree(OUT)
    project.mkdir(parents=True)
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, project / part)
        elif source.exists():
            shutil.copy2(source, project / part)

    listing = run("list", capture=True)
    lines = listing.splitlines()
    print("\n".join(lines[:12]))
    print(f"... {len(lines)} items in the sample catalog")
    run("list", "--status", "inbox", "--kind", "paper")
    run("dupes")  # embeds the catalog once (the model loads here), then groups near-duplicates
    run("search", "-k", "5", "approximate nearest neighbour index")
    run("related", "-k", "5", "https://github.com/vllm-project/vllm")
    print(f"\nThe demo project is in {project}")


if __name__ == "__main__":
    main()
