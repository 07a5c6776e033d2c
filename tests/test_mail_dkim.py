"""DKIM: every message is signed (dkimpy) with List-Unsubscribe and List-Unsubscribe-Post covered.

The issue goes through aiosmtpd; the received bytes are verified by dkimpy's own verifier, with a
DNS lookup function that answers the selector's TXT record from the test key pair in tests/data
(a key made for these tests only, never used anywhere else).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from aiosmtpd.controller import Controller

from newsletter.mail.dkimsign import DkimError
from tests.test_mail_smtp import DATA, SECRET, Collector, free_port, run

KEY = DATA / "dkim-test-only.pem"
PUBLIC = (DATA / "dkim-test-only.pub.b64").read_text().strip()


def dns(name: bytes, timeout: int = 5) -> bytes | None:
    """The TXT record of news2026._domainkey.weekly.example.org, and nothing else."""
    if name.rstrip(b".") == b"news2026._domainkey.weekly.example.org":
        return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()
    return None


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
    with open(root / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write('\n[email]\ndkim_selector = "news2026"\ndkim_domain = "weekly.example.org"\n')
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    monkeypatch.delenv("NEWSLETTER_DKIM_KEY", raising=False)
    return root


@pytest.mark.parametrize("how", ["pem-in-env", "path-in-env"])
def test_received_messages_verify_and_sign_the_unsubscribe_headers(
    project: Path, smtp: tuple[Collector, str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    server, hostport = smtp
    monkeypatch.setenv("NEWSLETTER_DKIM_KEY", KEY.read_text() if how == "pem-in-env" else str(KEY))
    result = run(project, "email", "5", "--smtp", hostport)
    assert result.exit_code == 0, result.output
    assert server.messages
    for _from, _rcpts, raw in server.messages:
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=dns), "dkimpy verifies the received message"
        signature = raw.split(b"\r\n\r\n", 1)[0].decode().split("DKIM-Signature:", 1)[1]
        signed = re.search(r"h=([^;]+);", re.sub(r"\s+", "", signature)).group(1).lower().split(":")  # type: ignore[union-attr]
        assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(signed)
        # Swapping the unsubscribe link breaks the signature: it is covered.
        head, body = raw.split(b"\r\n\r\n", 1)
        assert head.count(b"<https://weekly.example.org/unsubscribe?") == 1  # only in List-Unsubscribe
        forged = head.replace(b"<https://weekly.example.org/", b"<https://evil.example.org/") + b"\r\n\r\n" + body
        assert dkim.verify(head + b"\r\n\r\n" + body, dnsfunc=dns) and not dkim.verify(forged, dnsfunc=dns)
    assert "BEGIN RSA PRIVATE KEY" not in result.output


def test_key_file_setting_and_wrong_configuration(project: Path, smtp: tuple[Collector, str]) -> None:
    server, hostport = smtp
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text() + f'dkim_key_file = "{KEY}"\n')
    assert run(project, "email", "5", "--smtp", hostport, "--test-to", "curator@example.org").exit_code == 0
    assert dkim.verify(server.messages[0][2], dnsfunc=dns)

    toml.write_text(toml.read_text().replace(f'dkim_key_file = "{KEY}"', 'dkim_key_file = "missing.pem"'))
    result = run(project, "email", "5", "--smtp", hostport, "--test-to", "curator@example.org")
    assert result.exit_code == 1 and "DKIM key" in result.stderr and "cannot read it" in result.stderr
    toml.write_text(toml.read_text().replace('dkim_domain = "weekly.example.org"\n', ""))
    half = run(project, "email", "5", "--out", str(project.parent / "out"))
    assert half.exit_code == 1 and "dkim_selector and dkim_domain" in half.stderr
    assert len(server.messages) == 1
    assert issubclass(DkimError, Exception)
