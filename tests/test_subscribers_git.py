"""Subscriber addresses stay out of git: new projects ignore the list, and a tracked list is warned about.

Real git repositories in a temporary folder; the commands run through the CLI.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.mail import subscribers

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)


def cli(root: Path, *args: str) -> object:
    subscribers._warned_tracked.clear()  # each CLI run is its own process in real life
    return CliRunner().invoke(main, ["-C", str(root), *args], catch_exceptions=False)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "gazette"
    result = CliRunner().invoke(main, ["init", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert git(root, "init", "-q").returncode == 0
    git(root, "config", "user.email", "curator@example.org")
    git(root, "config", "user.name", "Curator")
    (root / "new.csv").write_text("email\nann@example.org\nbob@example.org\n", encoding="utf-8")
    assert cli(root, "subscribers", "import", str(root / "new.csv")).exit_code == 0  # type: ignore[attr-defined]
    (root / "new.csv").unlink()
    return root


def test_a_new_project_ignores_its_subscriber_list(project: Path) -> None:
    assert (project / "subscribers.csv").is_file()
    assert git(project, "check-ignore", "-q", "subscribers.csv").returncode == 0
    git(project, "add", "-A")
    staged = git(project, "diff", "--cached", "--name-only").stdout.split()
    assert "newsletter.toml" in staged and "subscribers.csv" not in staged
    quiet = cli(project, "subscribers", "count")
    assert quiet.exit_code == 0 and "tracked by git" not in quiet.stderr  # type: ignore[attr-defined]


def test_a_tracked_list_is_warned_about_once_per_command(project: Path) -> None:
    git(project, "add", "-f", "subscribers.csv")
    git(project, "commit", "-qm", "oops")
    for args in (("subscribers", "count"), ("subscribers", "list"), ("subscribers", "unsubscribe", "ann@example.org")):
        result = cli(project, *args)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert result.stderr.count("subscribers.csv is tracked by git") == 1, args  # type: ignore[attr-defined]
        assert "git rm --cached subscribers.csv" in result.stderr  # type: ignore[attr-defined]
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text().replace('email = ""', 'email = "editors@example.org"')
                    .replace('site_url = ""', 'site_url = "https://news.example.org/"'))
    (project / "content" / "issues" / "001-one.md").write_text(
        "---\nnumber: 1\ntitle: One\ndate: 2025-01-01\nstatus: published\n---\nHello.\n", encoding="utf-8")
    exported = cli(project, "email", "1", "--out", str(project.parent / "out"))
    assert exported.exit_code == 0, exported.output  # type: ignore[attr-defined]
    assert exported.stderr.count("tracked by git") == 1  # type: ignore[attr-defined]
    built = cli(project, "build", "--site-dir", str(project.parent / "site"))
    assert built.exit_code == 0, built.output  # type: ignore[attr-defined]
    assert built.stderr.count("subscribers.csv is tracked by git") == 1  # type: ignore[attr-defined]
    # Once it is untracked (and ignored), the warning stops.
    git(project, "rm", "-q", "--cached", "subscribers.csv")
    assert "tracked by git" not in cli(project, "subscribers", "count").stderr  # type: ignore[attr-defined]
