"""A send to the list that cannot go out by mistake: drafts and failing checks refused, asked on a
terminal (the count, never an address), `--yes` needed elsewhere. aiosmtpd receives what is sent; the
terminal is a real pseudo-terminal."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.cli.app import main
from tests.test_mail_smtp import DATA, SECRET, Collector, free_port
from tests.test_review_tty import Terminal

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = [f"reader{i}@example.org" for i in range(3)]


@pytest.fixture()
def smtp() -> Iterator[tuple[Collector, str]]:
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    (root / "subscribers.csv").write_text("email\n" + "\n".join(PEOPLE) + "\n", encoding="utf-8")
    # Issue 7 is published and passes `check` (no links, no sections); 6 is a draft; 5 links to
    # things that are not in this project's (empty) catalog, so its check fails.
    (root / "content" / "issues" / "007-ready.md").write_text(
        "---\nnumber: 7\ntitle: Ready\ndate: 2025-03-21\nstatus: published\n---\nA short, clean issue.\n",
        encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    return root


def cli(project: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


def test_a_draft_is_refused_unless_forced(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    refused = cli(project, "email", "6", "--smtp", hostport, "--yes")
    assert refused.exit_code == 1 and server.messages == []  # type: ignore[attr-defined]
    assert "issue 6 is not published" in refused.stderr and "--force" in refused.stderr  # type: ignore[attr-defined]
    forced = cli(project, "email", "6", "--smtp", hostport, "--yes", "--force")
    assert forced.exit_code == 0, forced.output  # type: ignore[attr-defined]
    assert "warning: --force: sending although issue 6 is not published" in forced.stderr  # type: ignore[attr-defined]
    assert sorted(server.recipients()) == PEOPLE
    # Without a list server the default links go to the static site, which cannot answer them: said so.
    assert "which a static site cannot answer" in forced.stderr  # type: ignore[attr-defined]


def test_a_failing_check_is_refused_unless_forced(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    refused = cli(project, "email", "5", "--smtp", hostport, "--yes")
    assert refused.exit_code == 1 and server.messages == []  # type: ignore[attr-defined]
    assert "`newsletter check 5` finds" in refused.stderr and "not in the catalog" in refused.stderr  # type: ignore[attr-defined]
    dry = cli(project, "email", "5", "--smtp", hostport, "--dry-run")
    assert dry.exit_code == 1 and "check 5" in dry.stderr  # type: ignore[attr-defined]
    # Previews and test copies are not sends to the list: no guard.
    assert cli(project, "email", "5", "--smtp", hostport, "--test-to", "me@example.org").exit_code == 0  # type: ignore[attr-defined]
    assert cli(project, "email", "6", "--out", str(project.parent / "preview")).exit_code == 0  # type: ignore[attr-defined]
    assert cli(project, "email", "7", "--smtp", hostport, "--yes").exit_code == 0  # type: ignore[attr-defined]
    assert sorted(rcpt for _f, (rcpt,), _d in server.messages) == sorted(["me@example.org", *PEOPLE])


def test_without_a_terminal_it_needs_yes(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    result = cli(project, "email", "7", "--smtp", hostport)
    assert result.exit_code == 2 and "needs --yes" in result.stderr and server.messages == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("answer", ["n", "y"])
def test_on_a_terminal_it_asks_with_the_count_and_no_addresses(
    project: Path, smtp: tuple[Collector, str], answer: str
) -> None:
    server, hostport = smtp
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "NO_COLOR": "1"}
    term = Terminal([sys.executable, "-m", "newsletter", "-C", str(project), "email", "7", "--smtp", hostport],
                    cwd=ROOT, env=env)
    try:
        term.expect(re.compile(r"Send issue 7 to 3 subscriber\(s\)\? \[y/N\]"), timeout=60)
        assert server.messages == [], "nothing goes out before the answer"
        term.send(answer + "\r")
        code = term.finish(timeout=60)
    finally:
        term.close()
    assert "@example.org" not in term.text, "the terminal never shows an address"
    if answer == "n":
        assert code == 1 and "not sent (not confirmed)" in term.text and server.messages == []
    else:
        assert code == 0, term.text
        assert sorted(server.recipients()) == PEOPLE


def test_a_web_link_to_a_page_the_built_site_lacks_is_refused(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    (project / "site" / "issues").mkdir(parents=True)  # built, but without issue 7
    refused = cli(project, "email", "7", "--smtp", hostport, "--yes")
    assert refused.exit_code == 1 and server.messages == []  # type: ignore[attr-defined]
    assert "https://weekly.example.org/issues/007-ready/" in refused.stderr  # type: ignore[attr-defined]
    assert "does not have" in refused.stderr  # type: ignore[attr-defined]
    page = project / "site" / "issues" / "007-ready" / "index.html"
    page.parent.mkdir()
    page.write_text("<html>issue 7</html>", encoding="utf-8")
    assert cli(project, "email", "7", "--smtp", hostport, "--yes").exit_code == 0  # type: ignore[attr-defined]
    assert sorted(server.recipients()) == PEOPLE
