"""Ask the Wayback Machine's Save Page Now for a snapshot of each link, politely.

The contract: `GET {wayback_api}/save/<url>`; the snapshot is where the answer points, either a
``Content-Location`` header or a redirect to ``/web/<timestamp>/<url>``. Save Page Now allows a few
captures a minute and answers 429 when pushed: requests go one at a time, `interval` seconds apart,
and a 429 waits (``Retry-After`` if given, else `backoff` doubling) before the same URL is tried
again; after `max_attempts` refusals in a row the run stops and the rest is left for next time.
Nothing is recorded for a URL until its snapshot location is known.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin

from ..errors import FetchError, NewsletterError
from ..web.fetch import Fetcher, FetchSettings, parse_retry_after, run_all

DEFAULT_API = "https://web.archive.org"
_SNAPSHOT = re.compile(r"/web/(\d{14})(?:[a-z_]{0,4})/")


@dataclasses.dataclass(frozen=True)
class Pacing:
    """How fast to ask: seconds between requests, first 429 backoff, refusals before giving up."""

    interval: float = 20.0  # three a minute: under Save Page Now's anonymous limit
    backoff: float = 60.0
    max_attempts: int = 3
    max_wait: float = 600.0  # never sleep longer than this for one Retry-After


@dataclasses.dataclass
class ArchiveResult:
    """The outcome for one URL: archived (with where and when), skipped (recent snapshot), failed."""

    url: str
    result: str  # archived | recent | failed | not-tried
    archived_url: str = ""
    archived_at: str = ""
    reason: str = ""
    item: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def snapshot_from(location: str, api: str) -> tuple[str, str] | None:
    """(absolute snapshot URL, ISO time) from a Content-Location / Location value, if it is one."""
    match = _SNAPSHOT.search(location or "")
    if not match:
        return None
    stamp = dt.datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    return urljoin(api + "/", location.strip()), stamp.isoformat().replace("+00:00", "Z")


async def _save(fetcher: Fetcher, api: str, url: str, pacing: Pacing,
                sleep: Callable[[float], Any]) -> ArchiveResult:
    """One URL, with the 429 backoff; raises _Stop when Save Page Now keeps refusing."""
    delay = pacing.backoff
    for attempt in range(pacing.max_attempts):
        try:
            response = await fetcher.request("GET", f"{api}/save/{url}", follow_redirects=False,
                                             accept=set(range(400, 600)), max_bytes=65_536, truncate=True)
        except FetchError as exc:
            return ArchiveResult(url, "failed", reason=str(exc))
        if response.status == 429:
            if attempt + 1 >= pacing.max_attempts:
                raise _Stop(f"Save Page Now refused {pacing.max_attempts} times in a row (HTTP 429); "
                            "try again later")
            wait = parse_retry_after(response.headers.get("retry-after"))
            await sleep(min(wait if wait is not None else delay, pacing.max_wait))
            delay *= 2
            continue
        for header in ("content-location", "location"):
            found = snapshot_from(response.headers.get(header, ""), api)
            if found:
                return ArchiveResult(url, "archived", archived_url=found[0], archived_at=found[1])
        if response.status >= 400:
            return ArchiveResult(url, "failed", reason=f"Save Page Now answered HTTP {response.status} for {url}")
        return ArchiveResult(url, "failed", reason=f"Save Page Now gave no snapshot location for {url} "
                                                   f"(HTTP {response.status})")
    raise AssertionError("unreachable")


class _Stop(NewsletterError):
    """Save Page Now keeps refusing: stop asking for this run."""


def archive_urls(urls: Sequence[str], *, api: str = DEFAULT_API, pacing: Pacing | None = None,
                 settings: FetchSettings | None = None,
                 on_done: Callable[[ArchiveResult], None] | None = None) -> list[ArchiveResult]:
    """Ask for a snapshot of each URL in turn; one result per URL, in order.

    Sequential on purpose (the rate limit is the service's, not ours to parallelize around); the
    requests still go through the one fetch layer (timeouts, size caps, one-line errors).
    """
    pacing = pacing or Pacing()
    api = api.rstrip("/")
    out: list[ArchiveResult] = []

    async def main(fetcher: Fetcher, _unused: int) -> None:
        for n, url in enumerate(urls):
            if n and pacing.interval > 0:
                await asyncio.sleep(pacing.interval)
            try:
                result = await _save(fetcher, api, url, pacing, asyncio.sleep)
            except _Stop as stop:
                out.append(ArchiveResult(url, "failed", reason=str(stop)))
                out.extend(ArchiveResult(rest, "not-tried", reason="Save Page Now is rate limiting; run again later")
                           for rest in urls[n + 1:])
                for r in out[n:]:
                    if on_done:
                        on_done(r)
                return
            out.append(result)
            if on_done:
                on_done(result)

    # One retry less than usual: a 429 is handled here, with the service's own pacing.
    base = settings or FetchSettings()
    quiet = dataclasses.replace(base, retries=min(base.retries, 1), per_host=1, concurrency=1)
    errors = [r for r in run_all(main, [0], settings=quiet) if isinstance(r, NewsletterError)]
    if errors:
        raise errors[0]
    return out
