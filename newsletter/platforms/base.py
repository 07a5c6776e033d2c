"""What every platform adapter shares: the post, credentials, JSON calls and one-line API errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from typing import Any

from ..errors import FetchError, NewsletterError
from ..web.fetch import Fetcher

MODES = ("draft", "schedule", "send")
# Answered as documents (the API says what is wrong); 408 and 429 are left to the fetch layer, which waits
# and retries them: nothing was done, so even a POST may be repeated.
ERROR_STATUSES = frozenset(range(400, 500)) - {408, 429}


class PlatformError(NewsletterError):
    """A platform refused or failed a request. ``remote_id`` is set when something was created first;
    ``status`` is the HTTP status of the answer that failed (None when there was no answer)."""

    def __init__(self, message: str, *, remote_id: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.remote_id = remote_id
        self.status = status


@dataclasses.dataclass(frozen=True)
class Post:
    """One issue as a platform receives it."""

    number: int
    subject: str
    html: str  # the whole email (our template), with the platform's unsubscribe placeholder
    text: str  # the plain-text part, likewise
    content_html: str  # the body alone, for platforms that wrap it in their own template (Ghost)
    mode: str = "draft"  # draft | schedule | send
    send_at: dt.datetime | None = None  # aware, UTC; set when mode == "schedule"
    name: str = ""  # a campaign name for the platform's list of campaigns
    sender: str = ""  # the From address, where the platform takes one

    def at_iso(self, *, millis: bool = False) -> str | None:
        """The schedule as RFC 3339 UTC ("2026-12-04T09:00:00Z"), or None."""
        if self.send_at is None:
            return None
        when = self.send_at.astimezone(dt.UTC).replace(microsecond=0)
        text = when.strftime("%Y-%m-%dT%H:%M:%S")
        return text + (".000Z" if millis else "Z")


@dataclasses.dataclass
class Remote:
    """What the platform has now: its id for the post, its status there, and whether this run created it."""

    platform: str
    id: str
    status: str
    created: bool
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def env(*names: str, platform: str) -> list[str]:
    """The values of these environment variables; PlatformError naming every missing one."""
    values = [os.environ.get(name, "").strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise PlatformError(f"{platform}: set {' and '.join(missing)} in the environment (credentials are never "
                            "read from files)")
    return values


def describe_error(platform: str, status: int, body: bytes, hint: str = "") -> str:
    """One line from an API's error answer: listmonk {"message"}, Buttondown {"detail"}, Ghost {"errors"}."""
    detail = ""
    try:
        doc = json.loads(body.decode("utf-8", "replace")) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("errors"), list) and doc["errors"]:
            first = doc["errors"][0] if isinstance(doc["errors"][0], dict) else {}
            detail = " ".join(str(first.get(k) or "") for k in ("message", "context")).strip()
        elif isinstance(doc.get("detail"), list):  # a list of field problems
            parts = []
            for problem in doc["detail"][:3]:
                if isinstance(problem, dict):
                    where = ".".join(str(p) for p in problem.get("loc", []) if p != "body")
                    parts.append(f"{where}: {problem.get('msg', '')}".strip(": "))
            detail = "; ".join(parts)
        else:
            detail = str(doc.get("message") or doc.get("detail") or doc.get("error") or "")
    detail = " ".join(detail.split())[:300] or "no details given"
    if status == 401:
        hint = hint or "check the credentials in the environment"
        return f"{platform} refused the credentials (HTTP 401: {detail}); {hint}"
    if status == 403:
        return f"{platform} does not allow this (HTTP 403: {detail}); check the API user's permissions"
    if status == 404:
        return f"{platform}: not found (HTTP 404: {detail})"
    if status in (400, 422):
        return f"{platform} rejected the post (HTTP {status}: {detail})"
    return f"{platform} answered HTTP {status}: {detail}"


async def call_json(fetcher: Fetcher, platform: str, method: str, url: str, *, headers: dict[str, str],
                    body: Any = None, hint: str = "") -> tuple[int, Any]:
    """Send a JSON request; return (status, parsed document) for 2xx, PlatformError for 4xx/5xx/garbage."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    all_headers = {"Accept": "application/json", **headers}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    try:
        response = await fetcher.request(method, url, headers=all_headers, content=data, accept=ERROR_STATUSES,
                                         max_bytes=10_000_000)
    except FetchError as exc:
        raise PlatformError(f"{platform}: {exc}") from None
    if response.status >= 400:
        raise PlatformError(describe_error(platform, response.status, response.content, hint), status=response.status)
    if not response.content:
        return response.status, None
    try:
        return response.status, json.loads(response.content)
    except ValueError:
        raise PlatformError(f"{platform} answered HTTP {response.status} with something that is not JSON "
                            f"(is {url} really its API?)") from None
