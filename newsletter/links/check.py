"""Is a link alive? One verdict per URL from HEAD (or GET where HEAD is refused), through the fetch layer.

Verdicts:

- ``ok``: the page answers 2xx; ``moved`` when the first hop was a permanent redirect (301/308) to
  another URL, so the curator can update the link (it still works);
- ``dead``: 404, 410 and other definitive 4xx, a host that does not resolve or refuses connections,
  or a *soft 404*: a 2xx page whose title or main heading says "not found", or a deep link that
  redirects to the site's front page;
- ``blocked``: 401, 403, 429: the site refuses robots; a browser may well see the page;
- ``error``: 5xx after retries, timeouts, TLS trouble: try again later.

Only ``dead`` makes `links check` exit 1 and marks an item; ``blocked`` and ``error`` change nothing,
because one bad minute of a server must not put "(archived)" links all over the archive.

HEAD is tried first (a PDF or a podcast episode is not downloaded to learn it exists). A server that
refuses HEAD (405, 501) or mishandles it (400, 403, 5xx: common on CDNs and app servers) is asked
again with GET. A 2xx HTML answer is then read with GET up to `SNIFF_BYTES` to look at its title:
that is how a soft 404 shows itself; non-HTML answers never need the second request.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..errors import FetchError, NewsletterError
from ..models import now_timestamp
from ..web.fetch import Fetcher, FetchSettings, Response, run_all

VERDICTS = ("ok", "moved", "dead", "blocked", "error")
SNIFF_BYTES = 65_536  # enough for <head> and the first heading of any real page
# 4xx answered as a Response (not an error) so the verdict sees the status; 408 and 429 stay with the
# fetch layer, which retries them with backoff.
ANSWERED = frozenset(set(range(400, 500)) - {408, 429}) | {501}
HEAD_REFUSED = frozenset({400, 403, 405, 501})
BLOCKED = frozenset({401, 403, 429})
SOFT_404_TITLE = re.compile(
    r"^\s*404\b|\b404\s*[-:|–—]|\bpage\s+not\s+found\b|\bnot\s+found\b|\bdoes\s*(?:n['’]t|\s+not)\s+exist\b"
    r"|\bno\s+longer\s+(?:available|exists)\b|\bcannot\s+be\s+found\b|\bcould\s+not\s+be\s+found\b"
    r"|\bpage\s+(?:is\s+)?missing\b|\berror\s+404\b",
    re.I,
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.I | re.S)
_TAGS = re.compile(r"<[^>]+>")
# Connection failures that mean the site is gone rather than having a bad minute.
_GONE = ("host not found", "connection refused", "redirects to a non-http", "redirects to an invalid",
         "not a valid url", "only http:// and https://")


@dataclasses.dataclass
class LinkResult:
    """The outcome of checking one URL."""

    url: str
    verdict: str
    status: int | None = None
    final_url: str = ""
    redirects: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    reason: str = ""
    method: str = "HEAD"
    checked: str = ""
    issues: list[int] = dataclasses.field(default_factory=list)
    item: str | None = None

    @property
    def dead(self) -> bool:
        return self.verdict == "dead"

    def to_json(self) -> dict[str, Any]:
        """The result as stored and as printed by `--json`."""
        data = dataclasses.asdict(self)
        data["redirects"] = [{"status": s, "url": u} for s, u in self.redirects]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkResult:
        """A stored result back (unknown keys ignored, odd values tolerated)."""
        redirects = [(int(r.get("status", 0)), str(r.get("url", ""))) for r in data.get("redirects") or []
                     if isinstance(r, dict)]
        status = data.get("status")
        return cls(
            url=str(data.get("url", "")), verdict=str(data.get("verdict", "error")),
            status=status if isinstance(status, int) else None, final_url=str(data.get("final_url") or ""),
            redirects=redirects, reason=str(data.get("reason") or ""), method=str(data.get("method") or ""),
            checked=str(data.get("checked") or ""),
            issues=[int(n) for n in data.get("issues") or [] if isinstance(n, int)],
            item=str(data["item"]) if data.get("item") else None,
        )


def page_title(body: str) -> str:
    """The text of a page's <title> (else its first <h1>), unescaped and collapsed."""
    for pattern in (_TITLE, _H1):
        match = pattern.search(body)
        if match:
            text = html.unescape(_TAGS.sub(" ", match.group(1)))
            text = re.sub(r"\s+", " ", text).strip()
            if text:
                return text[:200]
    return ""


def soft_404_reason(url: str, response: Response) -> str:
    """Why a 2xx answer is really "not found" (empty: it is not).

    A deep link (path other than "/") that ends, after redirects, on the front page of a site is the
    classic soft 404; so is a page whose title or first heading says it was not found.
    """
    start, end = urlsplit(url), urlsplit(response.final_url or url)
    if response.redirects and start.path not in ("", "/") and end.path in ("", "/") and not end.query:
        return f"redirects to the site's front page ({response.final_url})"
    if response.content and "html" in (response.content_type or "text/html"):
        title = page_title(response.text)
        if title and SOFT_404_TITLE.search(title):
            return f"the page says {title[:80]!r} (a soft 404)"
    return ""


def _verdict_for_status(url: str, response: Response, method: str) -> LinkResult:
    status = response.status
    base = LinkResult(url, "ok", status, response.final_url, list(response.redirects), method=method)
    if 200 <= status < 300:
        if response.redirects and response.redirects[0][0] in (301, 308) and response.final_url != url:
            base.verdict, base.reason = "moved", f"moved permanently to {response.final_url}"
        return base
    if status in BLOCKED:
        base.verdict, base.reason = "blocked", f"HTTP {status}: the site refuses robots (check it in a browser)"
    elif 400 <= status < 500:
        base.verdict, base.reason = "dead", f"HTTP {status}"
    else:
        base.verdict, base.reason = "error", f"HTTP {status}: the server is failing, check again later"
    return base


def _verdict_for_error(url: str, exc: NewsletterError, method: str) -> LinkResult:
    status = getattr(exc, "status", None)
    message = str(exc)
    result = LinkResult(url, "error", status, reason=message, method=method)
    if status in BLOCKED:
        result.verdict = "blocked"
    else:
        definitive = status is not None and 400 <= status < 500
        gone = status is None and any(marker in message.lower() for marker in _GONE)  # markers are lower case
        if definitive or gone:
            result.verdict = "dead"
    return result


async def check_one(fetcher: Fetcher, url: str) -> LinkResult:
    """Check one URL: HEAD, GET where HEAD is refused, then a short GET of HTML pages for soft 404s."""
    method = "HEAD"
    try:
        response = await fetcher.request("HEAD", url, accept=ANSWERED)
        if response.status in HEAD_REFUSED or response.status >= 500:
            method = "GET"
            response = await fetcher.request("GET", url, accept=ANSWERED, max_bytes=SNIFF_BYTES, truncate=True)
    except FetchError as exc:
        if method == "GET" or exc.status is None or exc.status < 500:
            return _stamp(_verdict_for_error(url, exc, method))
        method = "GET"  # a HEAD that fails with 5xx: some servers only break on HEAD
        try:
            response = await fetcher.request("GET", url, accept=ANSWERED, max_bytes=SNIFF_BYTES, truncate=True)
        except FetchError as again:
            return _stamp(_verdict_for_error(url, again, method))
    result = _verdict_for_status(url, response, method)
    if result.verdict in ("ok", "moved"):
        if method == "HEAD" and "html" in (response.content_type or "text/html"):
            try:
                page = await fetcher.request("GET", url, accept=ANSWERED, max_bytes=SNIFF_BYTES, truncate=True)
            except FetchError:
                page = None  # HEAD said it is there; a failed second look is not a verdict
            if page is not None and 200 <= page.status < 300:
                response = page
        reason = soft_404_reason(url, response)
        if reason:
            result.verdict, result.reason = "dead", reason
    return _stamp(result)


def _stamp(result: LinkResult) -> LinkResult:
    result.checked = now_timestamp()
    return result


def check_urls(urls: Sequence[str], *, settings: FetchSettings | None = None,
               on_done: Callable[[int, object], None] | None = None) -> list[LinkResult]:
    """Check many URLs concurrently (the fetch layer bounds the total and the requests per host)."""
    found = run_all(check_one, list(urls), settings=settings, on_done=on_done)
    out: list[LinkResult] = []
    for url, result in zip(urls, found, strict=True):
        if isinstance(result, LinkResult):
            out.append(result)
        else:
            out.append(_stamp(_verdict_for_error(url, result, "HEAD")))
    return out
