"""Sending for real: an aiosmtpd server on 127.0.0.1 receives the issue.

Every subscriber gets exactly one message (parsed back: headers, both parts, a per-person unsubscribe
link that verifies); a server that goes away after k messages, then --resume: everyone exactly once;
4xx retried, 5xx recorded and reported with exit 1; a second send refuses; the secret never shows.
"""

from __future__ import annotations

import collections
import csv
import email
import email.policy
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.cli.mail import email as email_command
from newsletter.cli.mail import subscribers as subscribers_command
from newsletter.config import load_settings
from newsletter.mail import campaign, ledger, tokens
from newsletter.mail.campaign import EmailOptions, MailSettings
from tests.smtpserver import Collector, free_port

DATA = Path(__file__).parent / "data" / "mail"
SECRET = "test-secret-Zq81xw0-do-not-print-me"
PASSWORD = "smtp-password-also-never-printed"
N_SUBSCRIBERS = 24

for _command in (email_command, subscribers_command):
    if _command.name not in main.commands:  # the lead registers them in cli.py; tests work either way
        main.add_command(_command)


@pytest.fixture
def auth_smtp() -> Iterator[tuple[Collector, str]]:
    """A server that requires AUTH LOGIN/PLAIN (allowed without TLS: it is on loopback)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    handler = Collector()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"curator" and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    rows = ["email,name,status,subscribed_at"]
    rows += [f"reader{i:02d}@example.org,Reader {i} Ünïcode,active,2025-01-01T00:00:00Z" for i in range(N_SUBSCRIBERS)]
    rows += ["gone@example.org,Gone,unsubscribed,", "bounce@example.com,Bounce,bounced,", "not an address,X,active,"]
    (root / "subscribers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    monkeypatch.delenv("NEWSLETTER_SMTP_USER", raising=False)
    monkeypatch.delenv("NEWSLETTER_SMTP_PASSWORD", raising=False)
    return root


def run(project: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["-C", str(project), *list_send_flags(args)], catch_exceptions=False)


def list_send_flags(args: tuple[str, ...] | list[str]) -> list[str]:
    """A send to the list is guarded (tests/test_send_guard.py); these tests are about delivery, so they
    confirm it (--yes) and skip the catalog check (--force: the fixture project has no catalog)."""
    args = list(args)
    if args and args[0] == "email" and "--smtp" in args and "--test-to" not in args:
        args += ["--force"] if "--dry-run" in args else ["--yes", "--force"]
    return args


def fast(project: Path, **kwargs: Any) -> campaign.EmailReport:
    """The library call behind `newsletter email`, with millisecond retry and reconnect delays."""
    options = EmailOptions(issue=5, retry_delays=(0.01, 0.02), reconnect_delays=(0.01, 0.02), **kwargs)
    return campaign.run(load_settings(project), options)


def expected_addresses() -> set[str]:
    return {f"reader{i:02d}@example.org" for i in range(N_SUBSCRIBERS)}


def test_every_subscriber_gets_exactly_one_complete_message(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    result = run(project, "email", "5", "--smtp", hostport)
    assert result.exit_code == 0, result.output
    assert f"to {N_SUBSCRIBERS} subscriber(s)" in result.stdout
    assert "skipped 2 unsubscribed or bounced" in result.stdout
    assert "not an address" in result.stderr  # the bad row is reported, not fatal
    counts = server.recipients()
    assert set(counts) == expected_addresses() and set(counts.values()) == {1}
    assert server.connections == 1, "one connection reused for every message"
    list_id = MailSettings.from_settings(load_settings(project)).list_id
    message_ids = set()
    for mail_from, (rcpt,), raw in server.messages:
        assert mail_from == "editors@weekly.example.org"
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["To"].addresses[0].addr_spec == rcpt
        assert msg["Subject"] == "Issue #5: Ünïcode, <b>markup</b> & edge cases"
        assert msg["From"].addresses[0].display_name == "Zoë at Test Weekly"
        assert msg["List-Id"] == f"Test Weekly <{list_id}>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        message_ids.add(msg["Message-ID"])
        plain, html = msg.iter_parts()
        https = next(p.strip(" <>") for p in str(msg["List-Unsubscribe"]).split(",") if "https:" in p)
        query = parse_qs(urlsplit(https).query)
        assert query["email"] == [rcpt]
        assert tokens.verify_token(SECRET, list_id, rcpt, query["token"][0])
        assert https in plain.get_content()
        assert https.replace("&", "&amp;") in html.get_content()
        assert f"at {rcpt} because" in plain.get_content()
    assert len(message_ids) == N_SUBSCRIBERS


def test_second_send_refuses_without_resume(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    assert run(project, "email", "5", "--smtp", hostport).exit_code == 0
    again = run(project, "email", "5", "--smtp", hostport)
    assert again.exit_code == 1
    assert f"issue 5 was already sent to {N_SUBSCRIBERS} subscriber(s)" in again.stderr
    assert "--resume" in again.stderr and "Traceback" not in again.output
    resumed = run(project, "email", "5", "--smtp", hostport, "--resume")
    assert resumed.exit_code == 0 and f"({N_SUBSCRIBERS} had it already)" in resumed.stdout
    assert len(server.messages) == N_SUBSCRIBERS


@pytest.mark.parametrize("drop", [False, True], ids=["421", "connection-closed"])
def test_server_going_away_between_messages_then_resume(
    project: Path, smtp: tuple[Collector, str], drop: bool
) -> None:
    server, hostport = smtp
    server.down_after, server.drop = 9, drop
    report = fast(project, smtp=hostport)
    assert report.aborted and "--resume" in report.aborted
    assert len(server.messages) == 9 and len(report.delivered) == 9
    with ledger.Ledger(ledger.ledger_path(project / ".newsletter", 5)) as book:
        counts = book.counts()
    assert counts[ledger.SENT] == 9 and counts[ledger.SENDING] == 0 and counts[ledger.PENDING] == 1
    server.down_after = None  # the server is back
    result = run(project, "email", "5", "--smtp", hostport, "--resume")
    assert result.exit_code == 0, result.output
    assert f"to {N_SUBSCRIBERS - 9} subscriber(s)" in result.stdout and "(9 had it already)" in result.stdout
    counts_by_rcpt = server.recipients()
    assert set(counts_by_rcpt) == expected_addresses()
    assert sum(counts_by_rcpt.values()) == N_SUBSCRIBERS, "zero duplicates"


def test_temporary_refusal_is_retried_and_permanent_one_is_reported(
    project: Path, smtp: tuple[Collector, str]
) -> None:
    server, hostport = smtp
    server.rcpt_codes = {"reader03@example.org": [450, 450, 250], "reader07@example.org": [550]}
    report = fast(project, smtp=hostport)
    assert not report.ok
    assert report.failed == [("reader07@example.org", "550 5.1.1 No such user here")]
    assert server.recipients()["reader03@example.org"] == 1
    assert set(server.recipients()) == expected_addresses() - {"reader07@example.org"}
    lines = list(campaign.describe(report))
    assert ("err", "error: r…7@example.org: refused permanently: 550 5.1.1 No such user here") in lines
    assert not any("reader07@" in line for _stream, line in lines)  # reports never print whole addresses
    # The 5xx marked the address bounced in the list, and the batch went on past it.
    assert report.bounced == 1
    rows = {r["email"]: r["status"] for r in csv.DictReader(io.StringIO((project / "subscribers.csv").read_text()))}
    assert rows["reader07@example.org"] == "bounced" and rows["reader08@example.org"] == "active"
    # A resume does not hammer the refused address again (it is bounced now), and sends nothing twice.
    again = fast(project, smtp=hostport, resume=True)
    assert again.delivered == [] and again.skipped_inactive == 3 and len(server.messages) == N_SUBSCRIBERS - 1


def test_permanent_refusal_exits_1_from_the_cli(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    server.rcpt_codes = {"reader05@example.org": [550]}
    result = run(project, "email", "5", "--smtp", hostport)
    assert result.exit_code == 1
    assert "error: r…5@example.org: refused permanently: 550" in result.stderr and "reader05@" not in result.stderr
    assert len(server.messages) == N_SUBSCRIBERS - 1


def test_temporary_failures_that_persist_are_deferred_for_resume(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    server.rcpt_codes = {"reader01@example.org": [450]}
    report = fast(project, smtp=hostport, rate=500.0)
    assert [email for email, _ in report.deferred] == ["reader01@example.org"]
    server.rcpt_codes = {}
    again = fast(project, smtp=hostport, resume=True)
    assert again.delivered == ["reader01@example.org"]
    assert sum(server.recipients().values()) == N_SUBSCRIBERS


def test_connection_lost_while_server_answers_is_in_doubt_and_resent_with_same_message_id(
    project: Path, smtp: tuple[Collector, str]
) -> None:
    server, hostport = smtp
    server.drop_after_data = {"reader04@example.org"}
    report = fast(project, smtp=hostport)
    assert report.in_doubt == ["reader04@example.org"] and not report.ok
    assert sum(server.recipients().values()) == N_SUBSCRIBERS  # the run went on with the others
    again = fast(project, smtp=hostport, resume=True)
    assert again.resent_in_doubt == ["reader04@example.org"] and again.delivered == ["reader04@example.org"]
    copies = [raw for _f, rcpts, raw in server.messages if rcpts == ["reader04@example.org"]]
    ids = {email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"] for raw in copies}
    assert len(copies) == 2 and len(ids) == 1, "a repeat carries the same Message-ID"


def test_test_to_sends_one_copy_and_leaves_the_ledger_alone(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    result = run(project, "email", "5", "--smtp", hostport, "--test-to", "curator@example.org")
    assert result.exit_code == 0, result.output
    assert server.recipients() == collections.Counter({"curator@example.org": 1})
    assert not ledger.ledger_path(project / ".newsletter", 5).exists()


def test_dry_run_sends_nothing(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    result = run(project, "email", "5", "--smtp", hostport, "--dry-run")
    assert result.exit_code == 0 and f"would send to {N_SUBSCRIBERS}" in result.stdout
    assert server.messages == [] and server.connections == 0
    assert not ledger.ledger_path(project / ".newsletter", 5).exists()


def test_sending_without_the_secret_refuses_clearly(project: Path, smtp: tuple[Collector, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server, hostport = smtp
    monkeypatch.delenv("NEWSLETTER_SECRET")
    for args in (["--smtp", hostport], ["--mbox", str(project / "x.mbox")]):
        result = run(project, "email", "5", *args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: NEWSLETTER_SECRET is not set")
    assert server.messages == []
    preview = run(project, "email", "5", "--out", str(project / "out"))
    assert preview.exit_code == 0 and "dev token" in preview.stderr


def test_header_injection_through_the_issue_title(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    result = run(project, "email", "6", "--smtp", hostport, "--test-to", "curator@example.org")
    assert result.exit_code == 0, result.output
    (_from, rcpts, raw), = server.messages
    assert rcpts == ["curator@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_all("Bcc") is None and b"\r\nBcc:" not in raw
    assert msg["Subject"] == "Hello Bcc: victim@example.com"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_secret_and_password_never_appear_in_output_or_files(
    project: Path, auth_smtp: tuple[Collector, str], smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, hostport = auth_smtp
    monkeypatch.setenv("NEWSLETTER_SMTP_USER", "curator")
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", PASSWORD)
    outputs = [
        run(project, "email", "5", "--out", str(project / "out")),
        run(project, "email", "5", "--mbox", str(project / "all.mbox")),
        run(project, "email", "5", "--smtp", hostport, "--dry-run", "--json"),
        run(project, "email", "5", "--smtp", hostport, "--test-to", "curator@example.org"),
        run(project, "email", "5", "--smtp", hostport),
        run(project, "email", "5", "--smtp", hostport),  # refused: already sent
    ]
    assert [r.exit_code for r in outputs] == [0, 0, 0, 0, 0, 1]
    assert len(server.messages) == N_SUBSCRIBERS + 1, "logged in and sent"
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", PASSWORD + "-wrong")
    wrong = run(project, "email", "5", "--smtp", hostport, "--test-to", "curator@example.org")
    assert wrong.exit_code == 1 and "refused the login" in wrong.stderr
    no_auth_server = run(project, "email", "5", "--smtp", smtp[1], "--test-to", "curator@example.org")
    assert no_auth_server.exit_code == 1 and "does not support login" in no_auth_server.stderr
    for result in [*outputs, wrong, no_auth_server]:
        assert SECRET not in result.output and PASSWORD not in result.output
    for path in project.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and PASSWORD.encode() not in data, path
    assert all(SECRET.encode() not in raw for _f, _r, raw in server.messages)


def test_out_and_mbox_exports(project: Path) -> None:
    out = project / "out"
    result = run(project, "email", "5", "--out", str(out))
    assert result.exit_code == 0, result.output
    emls = sorted(out.glob("*.eml"))
    assert len(emls) == N_SUBSCRIBERS and (out / "preview.html").is_file()
    first = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert first["To"].addresses[0].addr_spec == "reader00@example.org"
    import mailbox

    assert run(project, "email", "5", "--mbox", str(project / "all.mbox")).exit_code == 0
    box = mailbox.mbox(str(project / "all.mbox"))
    assert sorted(m["To"].split("<")[-1].rstrip(">") for m in box) == sorted(expected_addresses())


class SlowCollector(Collector):
    """Takes a moment over each message, so a run can be killed in the middle."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_killed_mid_send_then_resume_skips_nobody(project: Path, trial: int) -> None:
    """SIGKILL at a random moment after the first acceptance (a few trials of bench/bench_send_kill.py)."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    handler = SlowCollector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        hostport = f"127.0.0.1:{controller.port}"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "email", "5",
                                 "--smtp", hostport, "--yes", "--force"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not handler.messages and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(random.Random(trial).uniform(0, 0.2))  # within the ~0.5 s the other 23 messages take
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        killed_at = len(handler.messages)
        assert 1 <= killed_at < N_SUBSCRIBERS, "killed in the middle of the run"
        result = run(project, "email", "5", "--smtp", hostport, "--resume")
        assert result.exit_code == 0, result.output
        counts = handler.recipients()
        assert set(counts) == expected_addresses(), "nobody skipped"
        repeated = [rcpt for rcpt, n in counts.items() if n > 1]
        # At most the one message that was in flight when the process died, with the same Message-ID.
        assert len(repeated) <= 1 and all(counts[r] == 2 for r in repeated)
        for rcpt in repeated:
            ids = {email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]
                   for _f, rcpts, raw in handler.messages if rcpts == [rcpt]}
            assert len(ids) == 1
    finally:
        controller.stop()


@pytest.mark.slow
def test_kill_during_the_rate_pause_sends_nothing_twice(project: Path, smtp: tuple[Collector, str]) -> None:
    """The outcome is committed at the 250, not with the next message (which waits for --rate)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    server, hostport = smtp
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "email", "5", "--smtp",
                             hostport, "--rate", "4", "--yes", "--force"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(server.messages) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.1)  # the middle of the 250 ms pause before message 3
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert len(server.messages) == 2
    result = run(project, "email", "5", "--smtp", hostport, "--resume")
    assert result.exit_code == 0, result.output
    assert "sent again" not in result.stderr
    counts = server.recipients()
    assert set(counts) == expected_addresses() and set(counts.values()) == {1}


def test_a_death_before_the_final_dot_leaves_the_message_pending_not_in_doubt(
    project: Path, smtp: tuple[Any, str]
) -> None:
    """The ledger marks `sending` only once the body is written, right before the dot (issue 16, finding 8).

    `before_end` failing stands in for the process dying there: no dot is sent, so the server
    discards the message, and the row is `pending`; `--resume` then sends it without calling it
    in doubt.
    """
    from newsletter.mail import deliver

    collector, hostport = smtp
    host, port = deliver.parse_hostport(hostport)
    path = project / ".newsletter" / "sends" / "probe.sqlite"
    with ledger.Ledger(path) as book:
        sender = deliver.SmtpSender(deliver.SmtpConfig(host, port))
        sender.connect()
        book.begin("a@example.org", "a@example.org", "<m@x>")
        states: list[str] = []

        def dies() -> None:
            states.append(book.entries()["a@example.org"].state)
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            sender.send("news@example.org", "a@example.org", b"Subject: x\r\n\r\nbody\r\n", before_end=dies)
        assert states == [ledger.PENDING], "until the dot, the row says: not accepted"
        assert not sender.maybe_accepted
        outcome = sender.send("news@example.org", "a@example.org", b"Subject: y\r\n\r\nbody\r\n",
                              before_end=lambda: book.in_doubt("a@example.org"))
        assert outcome.state == ledger.SENT
        assert book.entries()["a@example.org"].state == ledger.SENDING, "fsynced in doubt right before the dot"
        sender.close()
    assert [b"Subject: y" in data for _from, _to, data in collector.messages] == [True], \
        "the message without its dot was discarded"
