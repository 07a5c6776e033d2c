"""Per-subscriber unsubscribe tokens: HMAC-SHA256 over (list id, address) keyed by NEWSLETTER_SECRET.

A token proves that whoever follows the unsubscribe link got it from us, for that address on that
list, without storing anything per subscriber: the endpoint recomputes it with `verify_token`.

The secret comes only from the environment and is never printed or written. Without it, previews
(`--out`, `--test-to`, `--dry-run`) use a *dev token*: prefixed `dev-`, keyed by a public constant,
so it is obviously not real and never verifies against a real secret. Sending to subscribers
(`--smtp`, `--mbox`) refuses to run without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from ..config import secret
from ..errors import NewsletterError

SECRET_ENV = "NEWSLETTER_SECRET"
DEV_PREFIX = "dev-"
_DEV_KEY = b"newsletter-dev-token-not-a-secret"
MIN_SECRET_LENGTH = 16


class MissingSecret(NewsletterError):
    """Sending to real subscribers needs NEWSLETTER_SECRET."""


def _digest(key: bytes, list_id: str, email: str) -> str:
    # A NUL separates the fields: neither a list id nor an address can contain one.
    message = f"{list_id}\x00{email.strip().lower()}".encode()
    mac = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def make_token(secret_value: str, list_id: str, email: str) -> str:
    """The unsubscribe token for `email` on `list_id` (43 URL-safe characters)."""
    if not secret_value:
        raise MissingSecret(f"{SECRET_ENV} is empty; set it to a long random string")
    return _digest(secret_value.encode(), list_id, email)


def dev_token(list_id: str, email: str) -> str:
    """A clearly-marked preview token (`dev-…`) for runs without a secret; it never verifies."""
    return DEV_PREFIX + _digest(_DEV_KEY, list_id, email)[:22]


def verify_token(secret_value: str, list_id: str, email: str, token: str) -> bool:
    """True when `token` is the real token for (list id, email); dev tokens are always False."""
    if not secret_value or not token or token.startswith(DEV_PREFIX):
        return False
    return hmac.compare_digest(make_token(secret_value, list_id, email), token)


def load_secret(*, required: bool, purpose: str = "send to subscribers") -> str | None:
    """NEWSLETTER_SECRET from the environment; MissingSecret when `required` and unset or too short."""
    value = secret(SECRET_ENV)
    if value is not None and len(value) < MIN_SECRET_LENGTH:
        # Said without echoing any of it.
        raise MissingSecret(f"{SECRET_ENV} is too short (use {MIN_SECRET_LENGTH}+ random characters)")
    if value is None and required:
        raise MissingSecret(
            f"{SECRET_ENV} is not set: it signs each subscriber's unsubscribe link, so it is needed to "
            f"{purpose}. Set it in the environment (e.g. `export {SECRET_ENV}=$(openssl rand -hex 32)`; "
            "keep the same value for every send and never commit it), or use --out for a preview"
        )
    return value


class Signer:
    """Makes per-subscriber unsubscribe URLs with the real secret or, without one, dev tokens."""

    def __init__(self, list_id: str, base_url: str, secret_value: str | None) -> None:
        self.list_id = list_id
        self.base_url = base_url
        self._secret = secret_value

    @property
    def is_dev(self) -> bool:
        return self._secret is None

    def token(self, email: str) -> str:
        if self._secret is None:
            return dev_token(self.list_id, email)
        return make_token(self._secret, self.list_id, email)

    def url(self, email: str) -> str:
        """The https one-click unsubscribe link for `email` (list, address and token as query)."""
        query = urlencode({"list": self.list_id, "email": email, "token": self.token(email)})
        joiner = "&" if "?" in self.base_url else "?"
        return f"{self.base_url}{joiner}{query}"

    def __repr__(self) -> str:  # never show the secret, even in a traceback or debugger
        return f"Signer(list_id={self.list_id!r}, dev={self.is_dev})"
