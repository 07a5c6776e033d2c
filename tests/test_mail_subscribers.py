"""The subscriber CSV: validation, duplicates, statuses, import, unsubscribe, and the CLI commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.cli.mail import email as email_command
from newsletter.cli.mail import subscribers as subscribers_command
from newsletter.mail import subscribers

DATA = Path(__file__).parent / "data" / "mail"

for _command in (email_command, subscribers_command):
    if _command.name not in main.commands:  # the lead registers them in cli.py; tests work either way
        main.add_command(_command)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    return root


def run(project: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ann@Example.ORG", "Ann@example.org"),
        ("  ann.b+news@example.org ", "ann.b+news@example.org"),
        ("Ann <ann@example.org>", "ann@example.org"),
        ("heidi@bücher.example", "heidi@xn--bcher-kva.example"),
    ],
)
def test_valid_addresses_are_normalized(raw: str, expected: str) -> None:
    assert subscribers.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "no-at-sign", "a@b@example.org", "has space@example.org", "ann@localhost", "ann@-bad-.example",
     ".ann@example.org", "ann..b@example.org", "ann@example.org\r\nBcc: x@example.com", "ann@1.2.3.4",
     "zoë@example.org"],
)
def test_invalid_addresses_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        subscribers.normalize_email(raw)


def test_parse_reports_invalid_duplicate_and_bad_status_rows_but_keeps_the_rest() -> None:
    text = (
        "email,name,status,subscribed_at\n"
        "ann@example.org,Ann,active,2025-01-01\n"
        "not-an-address,X,active,\n"
        "ANN@example.org,Ann again,active,\n"
        "bob@example.org,Bob,paused,\n"
        "carol@example.org,\"Carol\r\nBcc: x@example.com\",active,\n"
    )
    result = subscribers.parse_csv(text)
    assert [s.email for s in result.subscribers] == ["ann@example.org", "carol@example.org"]
    assert result.subscribers[1].name == "Carol Bcc: x@example.com"
    assert len(result.problems) == 3
    assert "invalid address" in result.problems[0] and ":3:" in result.problems[0]
    assert "duplicate of line 2" in result.problems[1]
    assert "unknown status 'paused'" in result.problems[2]


def test_import_adds_new_reports_problems_and_never_resubscribes(project: Path) -> None:
    result = run(project, "subscribers", "import", str(DATA / "import.csv"))
    assert result.exit_code == 1, result.output  # bad rows fail (the good ones are imported)
    assert "imported 3 new subscriber(s), 1 already on the list" in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 4, warnings
    assert any("not-an-address" in w for w in warnings) and any("has space" in w for w in warnings)
    assert any("duplicate" in w and "frank" in w.lower() for w in warnings)
    assert any("CAROL@example.org: unsubscribed on the list" in w for w in warnings)
    loaded = subscribers.load_file(project / "subscribers.csv")
    assert loaded.problems == []
    by_key = {s.key: s for s in loaded.subscribers}
    assert by_key["carol@example.org"].status == "unsubscribed"
    assert by_key["frank@example.com"].name == "Frank" and by_key["frank@example.com"].subscribed_at
    assert "heidi@xn--bcher-kva.example" in by_key
    assert len(loaded.subscribers) == 8


def test_list_json_count_and_unsubscribe(project: Path) -> None:
    listed = json.loads(run(project, "subscribers", "list", "--json").stdout)["subscribers"]
    assert [s["email"] for s in listed][:2] == ["ann@example.org", "Bob@example.com"]
    assert set(listed[0]) == {"email", "name", "status", "subscribed_at"}
    assert run(project, "subscribers", "count").stdout.strip() == "3"
    result = run(project, "subscribers", "unsubscribe", "BOB@EXAMPLE.com")
    assert result.exit_code == 0 and "unsubscribed Bob@example.com" in result.stdout
    assert run(project, "subscribers", "count").stdout.strip() == "2"
    counts = json.loads(run(project, "subscribers", "count", "--json").stdout)
    assert counts == {"schema": 1, "command": "subscribers count", "active": 2, "unconfirmed": 0, "unsubscribed": 2,
                      "bounced": 1, "complained": 0, "total": 5}
    missing = run(project, "subscribers", "unsubscribe", "nobody@example.org")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: nobody@example.org is not on the list")


def test_writes_are_atomic_and_keep_the_file_readable(project: Path) -> None:
    path = project / "subscribers.csv"
    book = subscribers.SubscriberList(path, project / ".newsletter")
    book.set_status("erin@example.org", "bounced")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    assert subscribers.load_file(path).subscribers[-1].status == "bounced"
    assert path.read_text(encoding="utf-8").startswith("email,name,status,subscribed_at\n")


def test_reports_show_addresses_masked() -> None:
    from newsletter.mail.subscribers import masked

    assert masked("reader07@example.org") == "r…7@example.org"
    assert masked("ab@example.org") == "a…@example.org"  # too short to show its last letter too
    assert masked("not-an-address") == "…"


def test_suppress_many_applies_each_change_in_turn_with_one_write(tmp_path: Path) -> None:
    """`bounces pull` hands over all its findings at once (review finding: it rewrote the CSV per finding)."""
    from newsletter.mail.subscribers import SubscriberList

    path = tmp_path / "subscribers.csv"
    path.write_text("email,name,status,subscribed_at\nann@example.org,Ann,active,\nbob@example.org,Bob,active,\n"
                    "cy@example.org,Cy,complained,\n", encoding="utf-8")
    book = SubscriberList(path, tmp_path / ".newsletter")
    before = path.stat().st_ino
    results = book.suppress_many([("Ann@Example.org", "bounced"), ("ann@example.org", "unsubscribed"),
                                  ("bob@example.org", "complained"), ("cy@example.org", "bounced"),
                                  ("nobody@example.org", "bounced"), ("not an address", "bounced")])
    assert results == [True, False, True, False, None, None]
    assert {s.email: s.status for s in book.load().subscribers} == {
        "ann@example.org": "bounced", "bob@example.org": "complained", "cy@example.org": "complained"}
    assert path.stat().st_ino != before, "written (atomically: a new file)"
    unchanged = path.stat().st_ino
    assert book.suppress_many([("cy@example.org", "bounced")]) == [False]
    assert path.stat().st_ino == unchanged, "nothing changed, nothing written"
