"""`newsletter bounces pull --mbox`: a DSN, ARF reports and mailto requests in a real mbox
(tests/data/mail/bounces.mbox) update the local list and, with `[list] server`, the running service."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.mail import subscribers
from tests.test_mail_smtp import Collector, free_port
from tests.test_server_support import LIST_TOKEN, Service, run_service

DATA = Path(__file__).parent / "data" / "mail"
MBOX = DATA / "bounces.mbox"
READERS = [f"reader{i}@example.org" for i in range(8)]
EXPECTED = {"reader0@example.org": "active", "reader1@example.org": "bounced", "reader2@example.org": "active",
            "reader3@example.org": "complained", "reader4@example.org": "complained",
            "reader5@example.org": "unsubscribed", "reader6@example.org": "unsubscribed",
            "reader7@example.org": "complained"}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    rows = [subscribers.Subscriber(a, "", "complained" if a == "reader7@example.org" else "active", "2025-01-01")
            for a in READERS]
    (root / "subscribers.csv").write_text(subscribers.dump_csv(rows), encoding="utf-8")
    return root


def cli(project: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


def test_pull_marks_the_local_list(project: Path) -> None:
    result = cli(project, "bounces", "pull", "--mbox", str(MBOX))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "example.org" not in result.output, "counts only, never addresses"  # type: ignore[attr-defined]
    assert ("read 8 message(s): marked 1 bounced, 2 complained, 2 unsubscribed; 1 already suppressed, "
            "1 not on the list, 1 temporary failure(s), 2 ignored") in result.stdout  # type: ignore[attr-defined]
    after = {s.email: s.status for s in subscribers.load_file(project / "subscribers.csv").subscribers}
    assert after == EXPECTED
    # Pulling the same mailbox again changes nothing.
    again = json.loads(cli(project, "bounces", "pull", "--mbox", str(MBOX), "--json").stdout)  # type: ignore[attr-defined]
    assert again["bounced"] == again["complained"] == again["unsubscribed"] == 0 and again["already_suppressed"] == 6
    assert {s.email: s.status for s in subscribers.load_file(project / "subscribers.csv").subscribers} == EXPECTED


def test_a_missing_mbox_is_one_line(project: Path) -> None:
    result = cli(project, "bounces", "pull", "--mbox", str(project / "nope.mbox"))
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.output  # type: ignore[attr-defined]


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[Service]:
    yield from run_service(tmp_path / "service")


def test_pull_marks_the_list_server(project: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write(f'\n[list]\nserver = "{service.url}"\n')
    assert cli(project, "subscribers", "import", str(project / "subscribers.csv")).exit_code == 0  # type: ignore[attr-defined]
    result = cli(project, "bounces", "pull", "--mbox", str(MBOX), "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    counts = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert counts["bounced"] == 1 and counts["complained"] == 2 and counts["not_on_list"] == 1
    with sqlite3.connect(service.db_path) as conn:
        rows = dict(conn.execute("SELECT email, status FROM subscribers").fetchall())
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY seq")]
    assert rows == EXPECTED
    assert "complained" in kinds and "bounced" in kinds


PLAIN_BOUNCE = """From MAILER-DAEMON Fri Mar  7 09:00:00 2025
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>
To: {verp}
Subject: Delivery Status Notification (Failure)
Message-ID: <late-{n}@mx.example.net>

Your message could not be delivered to one or more recipients. (A late bounce with no DSN fields.)

"""


@pytest.fixture()
def smtp() -> Iterator[tuple[Collector, str]]:
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()


@pytest.mark.parametrize("where", ["csv", "server"])
def test_verp_return_paths_identify_late_bounces(
    project: Path, smtp: tuple[Collector, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_SECRET", "test-secret-verp-0123456789")
    text = (project / "newsletter.toml").read_text() + '\n[email]\nbounce_address = "bounces@weekly.example.org"\n'
    service_gen = None
    if where == "server":
        service_gen = run_service(tmp_path / "service")
        service = next(service_gen)
        monkeypatch.setenv("NEWSLETTER_LIST_TOKEN", LIST_TOKEN)
        text += f'\n[list]\nserver = "{service.url}"\n'
    (project / "newsletter.toml").write_text(text)
    try:
        if where == "server":
            assert cli(project, "subscribers", "import", str(project / "subscribers.csv")).exit_code == 0  # type: ignore[attr-defined]
        result = cli(project, "email", "5", "--smtp", hostport, "--yes", "--force")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        paths = {rcpts[0]: mail_from for mail_from, rcpts, _raw in server.messages}
        assert len(set(paths.values())) == len(paths) == 7, "one return path per subscriber"
        for address, mail_from in paths.items():
            assert mail_from.startswith("bounces+") and mail_from.endswith("@weekly.example.org")
            assert address.split("@")[0] not in mail_from, "the tag is not the address"
        mbox = tmp_path / "late.mbox"
        mbox.write_text(PLAIN_BOUNCE.format(verp=paths["reader2@example.org"], n=1), encoding="utf-8")
        pulled = json.loads(cli(project, "bounces", "pull", "--mbox", str(mbox), "--json").stdout)  # type: ignore[attr-defined]
        assert pulled["bounced"] == 1 and pulled["not_on_list"] == 0
        if where == "server":
            with sqlite3.connect(service.db_path) as conn:
                query = "SELECT status FROM subscribers WHERE email = 'reader2@example.org'"
                status = conn.execute(query).fetchone()[0]
        else:
            status = {s.email: s.status for s in subscribers.load_file(project / "subscribers.csv").subscribers}[
                "reader2@example.org"]
        assert status == "bounced"
    finally:
        if service_gen is not None:
            service_gen.close()


def test_a_4xx_in_three_sends_in_a_row_marks_the_address_bounced(project: Path, smtp: tuple[Collector, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from newsletter.config import load_settings
    from newsletter.mail import campaign

    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_SECRET", "test-secret-soft-0123456789")
    issues = project / "content" / "issues"
    for number in (7, 8):
        (issues / f"00{number}-n.md").write_text(
            f"---\nnumber: {number}\ntitle: N{number}\ndate: 2025-04-0{number}\nstatus: published\n---\nHi.\n")
    server.rcpt_codes = {"reader2@example.org": [450]}  # "mailbox full", every time
    reports = []
    for number in (5, 7, 8):
        options = campaign.EmailOptions(issue=number, smtp=hostport, force=True, retry_delays=(0.01,),
                                        reconnect_delays=(0.01,))
        reports.append(campaign.run(load_settings(project), options))
        status = {s.email: s.status for s in subscribers.load_file(project / "subscribers.csv").subscribers}
        assert status["reader2@example.org"] == ("bounced" if number == 8 else "active"), number
    assert [len(r.deferred) for r in reports] == [1, 1, 1] and reports[-1].bounced == 1
    assert status["reader1@example.org"] == "active"


def test_pull_over_imap_reads_without_changing_the_mailbox(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mailbox as mailbox_module

    from tests.imapserver import Mailbox, imap_server

    raw = [msg.as_bytes() for msg in mailbox_module.mbox(str(MBOX))]
    box = Mailbox("bounces@weekly.example.org", "imap-pass-Qx7-never-printed", {"Bounces": raw})
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", box.password)
    with imap_server(box) as hostport:
        result = cli(project, "bounces", "pull", "--imap", hostport, "--user", box.user, "--folder", "Bounces")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert "read 8 message(s): marked 1 bounced, 2 complained, 2 unsubscribed" in result.stdout  # type: ignore[attr-defined]
        after = {s.email: s.status for s in subscribers.load_file(project / "subscribers.csv").subscribers}
        assert after == EXPECTED
        verbs = {c.split(" ")[0] for c in box.commands}
        assert "EXAMINE" in verbs and not verbs & {"STORE", "COPY", "EXPUNGE", "SELECT", "MOVE"}, box.commands
        assert all("BODY.PEEK[]" in c for c in box.commands if "FETCH" in c), "nothing is marked seen"

        monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "wrong")
        refused = cli(project, "bounces", "pull", "--imap", hostport, "--user", box.user)
        assert refused.exit_code == 1 and "login refused" in refused.stderr  # type: ignore[attr-defined]
        assert box.password not in refused.output and "wrong" not in refused.output  # type: ignore[attr-defined]
    monkeypatch.delenv("NEWSLETTER_IMAP_PASSWORD")
    usage = cli(project, "bounces", "pull", "--imap", "127.0.0.1:1", "--user", "u")
    assert usage.exit_code == 2 and "NEWSLETTER_IMAP_PASSWORD" in usage.stderr  # type: ignore[attr-defined]
    both = cli(project, "bounces", "pull")
    assert both.exit_code == 2  # type: ignore[attr-defined]


def test_pull_reports_rates_against_the_last_send(project: Path, smtp: tuple[Collector, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_SECRET", "test-secret-rates-0123456789")
    assert cli(project, "email", "5", "--smtp", hostport, "--yes", "--force").exit_code == 0  # type: ignore[attr-defined]
    assert len(server.messages) == 7
    result = cli(project, "bounces", "pull", "--mbox", str(MBOX))
    assert "complaint rate 28.57% (2 of 7), ABOVE the 0.3% line" in result.stdout  # type: ignore[attr-defined]
    assert "bounce rate 14.29% (1 of 7), ABOVE the 0.1% line" in result.stdout  # type: ignore[attr-defined]
    assert "issue 5" in result.stdout  # type: ignore[attr-defined]
