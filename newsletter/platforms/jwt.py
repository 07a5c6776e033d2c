"""HS256 JSON Web Tokens for Ghost's Admin API, built with the standard library.

Ghost admin keys are ``id:secret`` with a hex secret; each request carries a token whose header
names the key (``kid``), whose audience is ``/admin/`` and which expires within five minutes.
(PyJWT is not a dependency; signing one HMAC does not warrant one.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

LIFETIME = 300  # seconds: Ghost refuses tokens valid for longer than five minutes
_KEY = re.compile(r"^([0-9a-fA-F]{8,64}):([0-9a-fA-F]{32,256})$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_admin_key(key: str) -> tuple[str, bytes]:
    """(key id, secret bytes) from ``id:hexsecret``; ValueError (without echoing the secret) otherwise."""
    match = _KEY.match(key.strip())
    if not match:
        raise ValueError("an Admin API key looks like 64f0c…:9a3b… (the id, a colon, a hex secret)")
    return match.group(1), bytes.fromhex(match.group(2))


def admin_token(key: str, *, now: float | None = None, audience: str = "/admin/") -> str:
    """A signed token for one Admin API request."""
    key_id, secret = parse_admin_key(key)
    issued = int(now if now is not None else time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id}
    payload = {"iat": issued, "exp": issued + LIFETIME, "aud": audience}
    signing_input = ".".join(_b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload))
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
