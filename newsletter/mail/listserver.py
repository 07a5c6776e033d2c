"""The CLI's side of the subscriber service: `[list] server` in newsletter.toml and its bearer-token API.

    [list]
    server = "https://list.example.org"   # the `newsletter server` this project's list lives in

The API token comes only from NEWSLETTER_LIST_TOKEN (a `token` key in the file is refused, so it is
never committed). When a server is configured it *is* the list: every command that reads or changes
subscribers goes through it, and when it cannot be reached or refuses, the command fails with one
line and changes or sends nothing. Falling back to a local `subscribers.csv` would mail people who
unsubscribed since that file was written, which is exactly what a list service exists to prevent.

httpx's synchronous client is used directly rather than `web.fetch`: that layer is built for
polite, bounded GETs of public pages in batches; this is a handful of authenticated JSON calls to
one service the curator runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings, secret
from ..errors import NewsletterError

TOKEN_ENV = "NEWSLETTER_LIST_TOKEN"
TIMEOUT = 15.0


class ListServerError(NewsletterError):
    """The list server is misconfigured, unreachable, or refused a request (nothing was changed or sent)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status when the server answered (404: no such subscriber)


@dataclasses.dataclass(frozen=True)
class ListSettings:
    """The `[list]` table: where the subscriber service is (empty: the local subscribers.csv)."""

    server: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.server)

    @classmethod
    def from_settings(cls, settings: Settings) -> ListSettings:
        table = settings.raw.get("list", {})
        if not isinstance(table, dict):
            raise ListServerError("newsletter.toml: [list] must be a table")
        if "token" in table:
            raise ListServerError(f"newsletter.toml: [list] token must not be in the file (it would be committed); "
                                  f"set {TOKEN_ENV} in the environment and remove the line")
        unknown = set(table) - {"server"}
        if unknown:
            raise ListServerError(f"newsletter.toml: [list]: unknown setting(s) {', '.join(sorted(unknown))}")
        server = str(table.get("server", "") or "").strip().rstrip("/")
        if server:
            parts = urlsplit(server)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ListServerError(f"newsletter.toml: [list] server must be an http(s) URL like "
                                      f"https://list.example.org, not {server[:80]!r}")
        return cls(server=server)


class ListClient:
    """The service's API: subscribers by status, import, unsubscribe, status changes, events."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        token = token if token is not None else secret(TOKEN_ENV)
        if not token:
            raise ListServerError(f"[list] server is set but {TOKEN_ENV} is not: the list server's API needs "
                                  "its bearer token (nothing was read or sent)")
        self._token = token
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> ListClient | None:
        """A client when `[list] server` is set, else None (the local list is used)."""
        config = ListSettings.from_settings(settings)
        return cls(config.server) if config.configured else None

    def __repr__(self) -> str:  # never show the token
        return f"ListClient({self.base_url!r})"

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
              payload: Any = None) -> Any:
        import httpx

        url = f"{self.base_url}{path}"
        try:
            with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
                response = client.request(method, url, params=params, json=payload,
                                          headers={"Authorization": f"Bearer {self._token}"})
        except httpx.HTTPError as exc:
            raise ListServerError(f"list server {self.base_url} unreachable ({type(exc).__name__}); "
                                  "nothing was changed or sent") from None
        if response.status_code == 401:
            raise ListServerError(f"list server {self.base_url} refused the token (401): check {TOKEN_ENV}; "
                                  "nothing was changed or sent", 401)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 300 or not isinstance(data, dict):
            reason = data.get("error") if isinstance(data, dict) else ""
            raise ListServerError(f"list server {self.base_url} answered {response.status_code}"
                                  f"{': ' + str(reason)[:200] if reason else ''}; nothing was changed or sent",
                                  response.status_code)
        return data

    def subscribers(self, status: str | None = None, *, with_links: bool = False) -> list[dict[str, str]]:
        """Rows (id, email, name, status, created_at ...); `with_links` adds each one's `unsubscribe_url`."""
        params = {k: v for k, v in (("status", status or ""), ("links", "1" if with_links else "")) if v}
        rows = self._call("GET", "/api/subscribers", params=params).get("subscribers")
        if not isinstance(rows, list):
            raise ListServerError(f"list server {self.base_url} sent no subscriber list; nothing was sent")
        return rows

    def import_rows(self, rows: list[dict[str, str]], *, chunk: int = 1000) -> dict[str, int]:
        """Add or update rows (in chunks: one transaction each, bounded requests); counts summed.

        The server never makes a suppressed address active.
        """
        totals: dict[str, int] = {"added": 0, "updated": 0, "unchanged": 0}
        for start in range(0, len(rows), chunk):
            counts = self._call("POST", "/api/subscribers", payload={"rows": rows[start:start + chunk]})
            for key in totals:
                totals[key] += int(counts.get(key, 0))
        return totals

    def unsubscribe(self, email: str) -> dict[str, str]:
        """Unsubscribe one address (ListServerError with 404 when it is not on the list)."""
        return self._call("POST", "/api/unsubscribe", payload={"email": email})

    def set_status(self, email: str, status: str, detail: str = "") -> dict[str, str]:
        """Suppress one address (`bounced`, `complained`, `unsubscribed`)."""
        return self._call("POST", "/api/status", payload={"email": email, "status": status, "detail": detail})

    def events(self, since: str = "") -> list[dict[str, Any]]:
        """The event log after `since` (an ISO timestamp; empty: everything)."""
        return self._call("GET", "/api/events", params={"since": since} if since else None)["events"]
