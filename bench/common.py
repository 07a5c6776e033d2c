"""Helpers shared by the benchmarks in this folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Four loopback addresses, one server process each, so per-host politeness is not what limits throughput.
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (pasteable into reports): text left-aligned, numbers right-aligned."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(row[i], (int, float)) for row in rows)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "| " + " | ".join(parts) + " |"

    print(f"\n{title}\n")
    print(line(list(headers)))
    rules = [("-" * (w + 1) + ":") if num else ("-" * (w + 2))
             for w, num in zip(widths, numeric, strict=True)]
    print("|" + "|".join(rules) + "|")
    for row in cells:
        print(line(row))
    print()


def start_servers(module: str, host_option: str, latency: float) -> tuple[list[subprocess.Popen[str]], list[str]]:
    """Run `python -m module <host_option> HOST --latency S` for each of HOSTS; the processes and base URLs.

    Each server prints its port on its first line and exits when its stdin closes (`stop_servers`).
    Child processes, so the servers' work does not compete with the client for the GIL.
    """
    procs: list[subprocess.Popen[str]] = []
    bases: list[str] = []
    for host in HOSTS:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, host_option, host, "--latency", str(latency)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        bases.append(f"http://{host}:{int(proc.stdout.readline())}")
    return procs, bases


def stop_servers(procs: list[subprocess.Popen[str]]) -> None:
    """Close each server's stdin (it exits then); kill one that has not gone after 5 s."""
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
