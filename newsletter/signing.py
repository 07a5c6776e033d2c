"""Purpose-bound, rotatable link tokens that never carry an address: `<key id>.<subscriber id>.<mac>`.

* The subscriber id is pseudonymous (random, stored next to the address by the server), so a token
  leaked through a log, browser history or a Referer header reveals nothing about the person.
* The MAC is HMAC-SHA256 over (purpose, key id, subscriber id): a `confirm` token is no
  `unsubscribe` token, and no token can be made without a key.
* The key id names which secret signed the token, so the secret can be rotated: the current secret
  comes from NEWSLETTER_SECRET, earlier ones from NEWSLETTER_OLD_SECRETS (whitespace-separated);
  tokens signed by any of them verify, new tokens use the current one. The key id is a short hash of
  the secret, not configuration, so operators cannot mislabel keys.
* Tokens do not expire: unsubscribe links must keep working for months after a send.

Stdlib only (part of the shared kernel).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping, Sequence

SECRET_ENV = "NEWSLETTER_SECRET"
OLD_SECRETS_ENV = "NEWSLETTER_OLD_SECRETS"
MIN_SECRET_LENGTH = 16
PURPOSES = frozenset({"confirm", "unsubscribe"})
_TOKEN = re.compile(r"([0-9a-f]{8})\.([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{43})")


def key_id(secret: str) -> str:
    """Eight hex characters naming `secret` (a hash: it reveals nothing usable about the key)."""
    return hashlib.sha256(b"newsletter-key-id\x00" + secret.encode()).hexdigest()[:8]


def _mac(secret: str, purpose: str, kid: str, subscriber_id: str) -> str:
    # NUL separators: none of the fields can contain one, so field boundaries cannot be shifted.
    message = f"{purpose}\x00{kid}\x00{subscriber_id}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Keyring:
    """The current secret (signs) plus earlier ones (verify only), looked up by key id."""

    def __init__(self, current: str, old: Sequence[str] = ()) -> None:
        if len(current) < MIN_SECRET_LENGTH:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters")
        self._current = current
        self._by_id: dict[str, str] = {key_id(s): s for s in (*old, current) if s}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring | None:
        """The keyring from NEWSLETTER_SECRET / NEWSLETTER_OLD_SECRETS; None when no secret is set."""
        env = os.environ if environ is None else environ
        current = env.get(SECRET_ENV, "")
        if not current:
            return None
        return cls(current, env.get(OLD_SECRETS_ENV, "").split())

    @property
    def current_id(self) -> str:
        return key_id(self._current)

    def sign(self, purpose: str, subscriber_id: str) -> str:
        """A token for `subscriber_id` good for `purpose` only, signed with the current secret."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        if not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", subscriber_id):
            raise ValueError("subscriber ids are 8-64 URL-safe characters")
        kid = self.current_id
        return f"{kid}.{subscriber_id}.{_mac(self._current, purpose, kid, subscriber_id)}"

    def verify(self, purpose: str, token: str) -> str | None:
        """The subscriber id when `token` is a genuine `purpose` token under any known key, else None."""
        match = _TOKEN.fullmatch(token or "")
        if not match or purpose not in PURPOSES:
            return None
        kid, subscriber_id, mac = match.groups()
        secret = self._by_id.get(kid)
        if secret is None:
            return None
        return subscriber_id if hmac.compare_digest(_mac(secret, purpose, kid, subscriber_id), mac) else None

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        return f"Keyring(current={self.current_id}, keys={len(self._by_id)})"
