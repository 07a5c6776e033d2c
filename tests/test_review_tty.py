"""`newsletter review` on a real pseudo-terminal: the y / n / a / q prompt loop, answered like a curator would.

The command runs as `python -m newsletter` in a child process whose stdin, stdout and stderr are the
slave side of a pty (so `isatty()` is true, as in a shell); the test reads the master side with
`select` and a deadline, so a prompt that never comes fails the test instead of hanging it. The real
model suggests the tags (a subprocess cannot take the hashing-embedder hook the draft tests use).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.issues.suggest import rejections
from newsletter.project import init_project
from newsletter.store.files import parse_item

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model

# One suggestion as the loop shows it: a blank line, the title, the field and values, the prompt.
SUGGESTION = re.compile(
    r"\n(?P<title>[^\n]+)\n  (?P<field>tags|section): (?P<values>[^\n]*?)  \(confidence (?P<confidence>[0-9.]+)\)\n"
    r"  accept\? \[y\]es \[n\]o \[a\]ll \[q\]uit: "
)

# Two labelled items per topic, then one unlabelled item per topic: three suggestions to answer.
TAGGED = [
    ("https://vec.example.com/hnsw", "vector-search", "Hierarchical navigable small world graphs for vector search",
     "HNSW builds a layered proximity graph for fast approximate nearest neighbour search over embeddings."),
    ("https://vec.example.com/pq", "vector-search", "Product quantization for billion-scale vector search",
     "Compressing embedding vectors with product quantization to search billions of them in memory."),
    ("https://ft.example.com/lora", "fine-tuning", "LoRA: low-rank adapters for fine-tuning large language models",
     "Freeze the pretrained weights and train small low-rank matrices: cheap fine-tuning of LLMs."),
    ("https://ft.example.com/sft", "fine-tuning", "Supervised fine-tuning of a 7B chat model on one GPU",
     "A practical recipe for instruction fine-tuning an open LLM with adapters and a small dataset."),
    ("https://db.example.com/wal", "databases", "How write-ahead logging keeps a database crash-safe",
     "The WAL records every change before it reaches the table pages, so recovery can replay it."),
    ("https://db.example.com/mvcc", "databases", "MVCC explained: snapshot isolation in PostgreSQL",
     "Multi-version concurrency control lets readers and writers of a SQL database never block each other."),
]
UNTAGGED = [
    ("https://new.example.com/ann", "Approximate nearest neighbour indexes compared",
     "Benchmarking graph and quantization indexes for vector similarity search over sentence embeddings."),
    ("https://new.example.com/qlora", "Fine-tuning a 65B language model with 4-bit adapters",
     "Parameter-efficient fine-tuning of large language models with quantized weights and LoRA adapters."),
    ("https://new.example.com/btree", "B-trees, LSM trees and the storage engines of SQL databases",
     "How database storage engines lay out table pages and indexes on disk, and what crash recovery needs."),
]


def newsletter(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_project(tmp_path / "proj", name="Review Weekly")
    for url, tag, title, summary in TAGGED:
        code, _, err = newsletter(root, "add", "--no-fetch", "--no-similar", "--title", title, "--summary", summary,
                                  "--tag", tag, url)
        assert code == 0, err
    for url, title, summary in UNTAGGED:
        code, _, err = newsletter(root, "add", "--no-fetch", "--no-similar", "--title", title, "--summary", summary,
                                  url)
        assert code == 0, err
    return root


class Terminal:
    """A child process on a pseudo-terminal. Every read has a deadline; `close` kills what is left."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        termios.tcsetwinsize(slave, (40, 200))  # wide: no wrapped lines to parse
        try:
            self.proc = subprocess.Popen(
                args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True,
                start_new_session=True,  # its own process group: killed as one at the end
            )
        finally:
            os.close(slave)  # the child holds it now; EOF on the master once the child is gone
        self.master = master
        self.text = ""  # everything the terminal showed, "\r\n" as "\n"
        self.pos = 0  # how far `expect` has consumed `text`
        self.eof = False

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0.0))
        if not ready:
            return
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the slave side is closed, the child has exited
            chunk = b""
        if not chunk:
            self.eof = True
            return
        self.text = (self.text + chunk.decode("utf-8", errors="replace")).replace("\r\n", "\n")

    def expect(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Wait for `pattern` in the output not consumed yet; fail (never hang) after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = pattern.search(self.text, self.pos)
            if found:
                self.pos = found.end()
                return found
            if self.eof or time.monotonic() > deadline:
                state = "exited" if self.eof else f"no match after {timeout:.0f}s"
                raise AssertionError(f"{state} waiting for {pattern.pattern!r}; terminal showed:\n{self.text[-3000:]}")
            self._read(deadline - time.monotonic())

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self, timeout: float) -> int:
        """Read until the child exits; its exit code."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        return self.proc.wait(timeout=max(deadline - time.monotonic(), 1.0))

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal_review(project: Path) -> Iterator[Terminal]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "NO_COLOR": "1"}
    term = Terminal([sys.executable, "-m", "newsletter", "-C", str(project), "review"], cwd=ROOT, env=env)
    try:
        yield term
    finally:
        term.close()


def answer(term: Terminal, project: Path, keys: list[str]) -> list[tuple[str, list[str]]]:
    """Type one answer per suggestion shown; (item id, values offered) of each suggestion answered."""
    by_title = {item.title: item for item in Catalog.open(project).items()}
    asked = []
    for key in keys:
        shown = term.expect(SUGGESTION, timeout=180)  # the first one waits for the model to load and embed
        assert shown["field"] == "tags"
        asked.append((by_title[shown["title"]].id, shown["values"].split(", ")))
        term.send(key)
    return asked


def test_review_on_a_terminal_accepts_rejects_and_quits(project: Path, terminal_review: Terminal) -> None:
    term = terminal_review
    by_title = {item.title: item for item in Catalog.open(project).items()}
    asked = answer(term, project, ["y\r", "n\r", "q\r"])  # Enter on a terminal is a carriage return
    term.expect(re.compile(r"accepted 1, rejected 1, 1 item\(s\) changed\n"), timeout=60)
    assert term.finish(timeout=60) == 0
    assert "Traceback" not in term.text

    (yes_id, yes_tags), (no_id, no_tags), (quit_id, _) = asked
    assert {yes_id, no_id, quit_id} == {by_title[title].id for _, title, _ in UNTAGGED}
    catalog = Catalog.open(project)
    assert catalog.get(yes_id).tags == yes_tags
    assert parse_item(catalog.path_of(yes_id).read_text(encoding="utf-8")).tags == yes_tags  # in its file
    assert catalog.get(no_id).tags == [] and catalog.get(quit_id).tags == []
    rejected = rejections(catalog.items())
    assert rejected == {no_id: {"tags": no_tags}}  # the quit one was not decided: not remembered
    assert "reviews:" in catalog.path_of(no_id).read_text(encoding="utf-8"), "kept in the item's file"

    # The next review offers neither the accepted item (it has tags now) nor the rejected tags again.
    code, out, err = newsletter(project, "review", "--json")
    assert code == 0, err
    again = {s["item_id"]: s for s in json.loads(out)["suggestions"] if s["field"] == "tags"}
    assert yes_id not in again and quit_id in again
    assert not set(again.get(no_id, {}).get("values", [])) & set(no_tags)



def test_ctrl_d_at_a_prompt_stops_and_keeps_the_answers_given(project: Path, terminal_review: Terminal) -> None:
    term = terminal_review
    (yes_id, yes_tags), (stopped_id, _) = answer(term, project, ["y\r", "\x04"])  # Ctrl-D: end of input
    term.expect(re.compile(r"stopped; keeping the answers given so far\n"), timeout=60)
    term.expect(re.compile(r"accepted 1, rejected 0, 1 item\(s\) changed\n"), timeout=60)
    assert term.finish(timeout=60) == 0
    assert "Traceback" not in term.text and "Aborted" not in term.text
    catalog = Catalog.open(project)
    assert catalog.get(yes_id).tags == yes_tags
    assert catalog.get(stopped_id).tags == []
    assert rejections(catalog.items()) == {}
