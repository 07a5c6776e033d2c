"""DKIM signatures (dkimpy) over every outgoing message, the list headers included.

    [email]
    dkim_selector = "news2026"        # the DNS record is news2026._domainkey.<domain>
    dkim_domain = "example.org"       # d=; aligned with the From domain for DMARC
    dkim_key_file = "/etc/newsletter/dkim.pem"   # optional: a path, never the key itself

The private key comes from NEWSLETTER_DKIM_KEY (PEM text, or the path of a PEM file) or, failing
that, from `dkim_key_file`. Since 2024 Gmail and Yahoo want RFC 8058's List-Unsubscribe and
List-Unsubscribe-Post *covered by the signature* (so nobody on the way can swap the link), so both
are always in the signed header list.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import secret
from ..errors import NewsletterError

KEY_ENV = "NEWSLETTER_DKIM_KEY"
# What a receiver needs to trust: who, to whom, what, when, and the unsubscribe promise. A header
# named here but absent is signed as absent, so it cannot be added later either.
SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
    "MIME-Version", "Content-Type",
)


class DkimError(NewsletterError):
    """DKIM is half configured or the key cannot be used."""


@dataclasses.dataclass(frozen=True)
class DkimSigner:
    """Signs wire-format messages with one selector, domain and private key."""

    selector: str
    domain: str
    key: bytes = dataclasses.field(repr=False)

    def sign(self, data: bytes) -> bytes:
        """`data` with a DKIM-Signature header in front (relaxed/relaxed, rsa-sha256: an RSA key in PEM)."""
        import dkim  # type: ignore[import-untyped]

        try:
            header = dkim.sign(data, self.selector.encode("ascii"), self.domain.encode("ascii"), self.key,
                               canonicalize=(b"relaxed", b"relaxed"),
                               include_headers=[h.encode("ascii") for h in SIGNED_HEADERS],
                               signature_algorithm=b"rsa-sha256")
        except dkim.DKIMException as exc:
            raise DkimError(f"DKIM signing failed: {exc}") from None
        return header + data


def from_settings(table: dict[str, Any], *, root: Path) -> DkimSigner | None:
    """The signer `[email]` and the environment describe; None when DKIM is not configured at all."""
    selector = str(table.get("dkim_selector", "") or "").strip()
    domain = str(table.get("dkim_domain", "") or "").strip().lower()
    key_file = str(table.get("dkim_key_file", "") or "").strip()
    env_key = secret(KEY_ENV)
    if not (selector or domain):
        if env_key or key_file:
            raise DkimError(f"a DKIM key is given ({KEY_ENV} or [email] dkim_key_file) but [email] dkim_selector "
                            "and dkim_domain are not set; set both or remove the key")
        return None
    if not (selector and domain):
        raise DkimError("set both [email] dkim_selector and dkim_domain in newsletter.toml (or neither)")
    if not all(part.replace("-", "").replace("_", "").isalnum() for part in (*selector.split("."), *domain.split("."))):
        raise DkimError("[email] dkim_selector and dkim_domain must be DNS names (letters, digits, dashes, dots)")
    key = _read_key(env_key, key_file, root)
    return DkimSigner(selector, domain, key)


def _read_key(env_key: str | None, key_file: str, root: Path) -> bytes:
    if env_key and "-----BEGIN" in env_key:
        return env_key.strip().encode("ascii", "replace") + b"\n"
    path_text = env_key or key_file
    if not path_text:
        raise DkimError(f"DKIM is configured but no key: set {KEY_ENV} (PEM text or a file path) or "
                        "[email] dkim_key_file")
    path = Path(path_text).expanduser()
    path = path if path.is_absolute() else root / path
    try:
        data = path.read_bytes()
    except OSError as exc:
        # The path, not the key, may be named: a path is no secret.
        raise DkimError(f"DKIM key {path}: cannot read it ({exc.strerror or exc})") from None
    if b"-----BEGIN" not in data:
        raise DkimError(f"DKIM key {path} is not a PEM file")
    return data
