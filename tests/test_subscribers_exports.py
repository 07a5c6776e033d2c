"""Migration from other platforms: one fixture per export shape (tests/data/mail/exports/), written in
that platform's columns, and the rule that no suppressed person is ever made active by an import."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.mail import exports, subscribers
from tests.test_server_support import LIST_TOKEN, Service, run_service

EXPORTS = Path(__file__).parent / "data" / "mail" / "exports"
DATA = Path(__file__).parent / "data" / "mail"

EXPECTED: dict[str, tuple[str, dict[str, str], int]] = {
    "listmonk.csv": ("listmonk", {"lm.active@example.org": "active", "lm.disabled@example.org": "unsubscribed",
                                  "lm.block@example.org": "unsubscribed"}, 2),
    "buttondown.csv": ("buttondown", {"bd.regular@example.org": "active", "bd.premium@example.org": "active",
                                      "bd.unactivated@example.org": "unconfirmed",
                                      "bd.unsub@example.org": "unsubscribed", "bd.bounce@example.org": "bounced",
                                      "bd.complain@example.org": "complained",
                                      "bd.removed@example.org": "unsubscribed"}, 0),
    "substack.csv": ("substack", {"ss.active@example.org": "active", "ss.paid@example.org": "active",
                                  "ss.disabled@example.org": "unsubscribed"}, 0),
    "ghost.csv": ("ghost", {"gh.yes@example.org": "active", "gh.no@example.org": "unsubscribed",
                            "gh.formula@example.org": "active"}, 0),
    "beehiiv.csv": ("beehiiv", {"bh.active@example.org": "active", "bh.inactive@example.org": "unsubscribed",
                                "bh.pending@example.org": "unconfirmed", "bh.left@example.org": "unsubscribed"}, 0),
    "kit.csv": ("kit", {"kit.active@example.org": "active", "kit.cancel@example.org": "unsubscribed",
                        "kit.bounce@example.org": "bounced", "kit.complain@example.org": "complained",
                        "kit.inactive@example.org": "unsubscribed"}, 0),
    "mailchimp.zip": ("mailchimp", {"mc.sub@example.org": "active", "mc.unsub@example.org": "unsubscribed",
                                    "mc.clean@example.org": "bounced", "mc.both@example.org": "bounced"}, 0),
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    (root / "subscribers.csv").unlink()
    return root


def cli(project: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


def statuses(project: Path) -> dict[str, str]:
    return {s.email: s.status for s in subscribers.load_file(project / "subscribers.csv").subscribers}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_export_is_recognised_and_mapped(project: Path, name: str) -> None:
    fmt, expected, bad_rows = EXPECTED[name]
    loaded, found = exports.read_export(EXPORTS / name)
    assert found == fmt
    assert {s.email: s.status for s in loaded.subscribers} == expected
    assert len(loaded.problems) == bad_rows, loaded.problems
    result = cli(project, "subscribers", "import", str(EXPORTS / name))
    assert result.exit_code == (1 if bad_rows else 0), result.output  # type: ignore[attr-defined]
    assert statuses(project) == expected
    explicit = cli(project, "subscribers", "import", str(EXPORTS / name), "--from", fmt)
    assert explicit.exit_code == (1 if bad_rows else 0)  # type: ignore[attr-defined]
    assert statuses(project) == expected, "importing twice changes nothing"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_suppressed_person_becomes_active(project: Path, name: str) -> None:
    _fmt, expected, _bad = EXPECTED[name]
    # Everyone in the export already left this list (an earlier migration, a complaint ...).
    rows = [subscribers.Subscriber(address, "", "unsubscribed", "2020-01-01") for address in expected]
    (project / "subscribers.csv").write_text(subscribers.dump_csv(rows), encoding="utf-8")
    result = cli(project, "subscribers", "import", str(EXPORTS / name))
    after = statuses(project)
    assert all(status in subscribers.SUPPRESSED for status in after.values()), after
    assert "not resubscribed by an import" in result.stderr or "active" not in expected.values()  # type: ignore[attr-defined]
    # And the other way round: an active person the export has as suppressed stops being mailed.
    rows = [subscribers.Subscriber(address, "", "active", "2020-01-01") for address in expected]
    (project / "subscribers.csv").write_text(subscribers.dump_csv(rows), encoding="utf-8")
    cli(project, "subscribers", "import", str(EXPORTS / name))
    after = statuses(project)
    for address, status in expected.items():
        if status in subscribers.SUPPRESSED:
            assert after[address] == status, address


def test_bad_rows_are_one_line_each_with_their_number(project: Path) -> None:
    result = cli(project, "subscribers", "import", str(EXPORTS / "listmonk.csv"))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # type: ignore[attr-defined]
    assert errors == [
        "error: listmonk.csv:5: unknown listmonk status 'paused'; skipped (never guessed active)",
        "error: listmonk.csv:6: invalid address 'not-an-address': must contain exactly one @",
    ]
    assert "imported 3 new subscriber(s)" in result.stdout  # type: ignore[attr-defined]


def test_spreadsheet_cells_and_dialects(project: Path) -> None:
    loaded, _ = exports.read_export(EXPORTS / "ghost.csv")
    assert {s.email: s.name for s in loaded.subscribers}["gh.formula@example.org"] == '=HYPERLINK("x")'
    cli(project, "subscribers", "import", str(EXPORTS / "ghost.csv"))
    assert "'=HYPERLINK" in (project / "subscribers.csv").read_text(), "written back neutralized"
    semicolons, found = exports.parse_export("Email;Name;Status\nann@example.org;Ann;unsubscribed\n")
    assert found == "csv" and [(s.email, s.status) for s in semicolons.subscribers] == [("ann@example.org",
                                                                                         "unsubscribed")]


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[Service]:
    yield from run_service(tmp_path / "service")


def test_importing_into_the_list_server_keeps_suppressions(
    project: Path, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'\n[list]\nserver = "{service.url}"\n')
    result = cli(project, "subscribers", "import", str(EXPORTS / "buttondown.csv"))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    listed = json.loads(cli(project, "subscribers", "list", "--json").stdout)["subscribers"]  # type: ignore[attr-defined]
    assert {r["email"]: r["status"] for r in listed} == EXPECTED["buttondown.csv"][1]
    # An old export that still has the complainer as a regular subscriber does not resurrect them.
    old = project.parent / "old.csv"
    old.write_text("id,email,subscriber_type\nb6,bd.complain@example.org,regular\n", encoding="utf-8")
    assert cli(project, "subscribers", "import", str(old)).exit_code == 0  # type: ignore[attr-defined]
    listed = json.loads(cli(project, "subscribers", "list", "--json", "--status", "active").stdout)["subscribers"]  # type: ignore[attr-defined]
    assert "bd.complain@example.org" not in {r["email"] for r in listed}
