"""`[server]` of newsletter.toml as a typed dataclass; command-line options override it.

    [server]
    host = "127.0.0.1"
    port = 8025
    db = ".newsletter/subscribers.sqlite3"   # relative to the project
    smtp = "localhost:25"                     # where confirmation mail goes
    base_url = "https://list.example.org"     # the public address links in mail point at
    sender = "list@example.org"               # From: of the confirmation mail
    rate_limit = 5                            # signups per IP ...
    rate_window = 600                         # ... per this many seconds

Secrets are never read from here: NEWSLETTER_SECRET, NEWSLETTER_OLD_SECRETS and
NEWSLETTER_LIST_TOKEN come from the environment only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import DERIVED_DIR
from ..errors import ProjectError

LIST_TOKEN_ENV = "NEWSLETTER_LIST_TOKEN"


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """How and where the subscriber service runs."""

    host: str = "127.0.0.1"
    port: int = 8025
    db: Path = Path(DERIVED_DIR) / "subscribers.sqlite3"
    smtp: str = ""
    base_url: str = ""
    sender: str = ""
    list_name: str = "the newsletter"
    rate_limit: int = 5
    rate_window: float = 600.0

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


_FIELDS = {"host": str, "port": int, "db": str, "smtp": str, "base_url": str, "sender": str,
           "rate_limit": int, "rate_window": float}


def from_table(table: dict[str, Any], *, root: Path, list_name: str = "", sender: str = "",
               where: str = "[server]") -> ServerSettings:
    """Settings from the `[server]` table (unknown keys and wrong types are a ProjectError)."""
    unknown = set(table) - set(_FIELDS)
    if unknown:
        raise ProjectError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, kind in _FIELDS.items():
        if key in table:
            value = table[key]
            if kind is not str and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ProjectError(f"{where}: {key} must be a number, got {value!r}")
            if kind is str and not isinstance(value, str):
                raise ProjectError(f"{where}: {key} must be a string, got {value!r}")
            values[key] = kind(value)
    db = Path(values.pop("db", ServerSettings.db))
    settings = ServerSettings(db=db if db.is_absolute() else root / db, **values)
    if list_name:
        settings = dataclasses.replace(settings, list_name=list_name)
    if sender and not settings.sender:
        settings = dataclasses.replace(settings, sender=sender)
    if not 0 < settings.port < 65536:
        raise ProjectError(f"{where}: port must be 1-65535")
    if settings.rate_limit < 1 or settings.rate_window <= 0:
        raise ProjectError(f"{where}: rate_limit and rate_window must be positive")
    return settings


def override(settings: ServerSettings, **options: Any) -> ServerSettings:
    """`settings` with every option that is not None replaced (the command line wins)."""
    return dataclasses.replace(settings, **{k: v for k, v in options.items() if v is not None})
