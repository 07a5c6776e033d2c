"""`newsletter publish N --to PLATFORM`: render the issue, create or update it there, keep the remote id.

The remote id goes into the issue's front matter (``listmonk_id``, ``buttondown_id``, ``ghost_id``):
the issue file is what curators share, so whoever runs `publish --to` next updates the same campaign
instead of creating a second one. It is written as soon as the platform has returned it, even when
a later step (scheduling, starting) fails, for the same reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any
from urllib.parse import urljoin

from ..errors import NewsletterError, ProjectError
from ..issues import files as issue_files
from ..mail import render
from ..web.fetch import Fetcher, run_all
from . import PLATFORMS, buttondown, ghost, listmonk
from .base import PlatformError, Post, Remote


def parse_at(value: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO time with a zone ("2026-12-04T09:00Z", "…+01:00"), in the future; ProjectError otherwise."""
    text = value.strip()
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ProjectError(f"--at {value!r} is not an ISO time like 2026-12-04T09:00:00Z") from None
    if when.tzinfo is None:
        raise ProjectError(f"--at {value!r} has no time zone; add one, e.g. {text}Z (UTC) or {text}+01:00")
    if when <= (now or dt.datetime.now(dt.UTC)):
        raise ProjectError(f"--at {value!r} is in the past; give a future time, or leave --at out to send now")
    return when.astimezone(dt.UTC)


def _config(settings: Any, platform: str) -> dict[str, Any]:
    table = settings.raw.get("platforms", {})
    if not isinstance(table, dict) or not isinstance(table.get(platform, {}), dict):
        raise ProjectError(f"newsletter.toml: [platforms.{platform}] must be a table")
    return dict(table.get(platform, {}))


def build_post(settings: Any, issue: issue_files.IssueFile, platform: str, mode: str,
               at: dt.datetime | None) -> Post:
    """The issue rendered with the project's email templates and the platform's placeholders."""
    number = issue.number or 0
    web_url = urljoin(settings.site_url, f"issues/{issue.path.stem}/") if settings.site_url else ""
    info = {"name": settings.name, "description": settings.description, "site_url": settings.site_url,
            "language": settings.language, "sender_email": settings.sender_email,
            "subscribe_url": settings.subscribe_url}
    rendered = render.render_issue(number=number, title=issue.title, date=issue.date, body=issue.body,
                                   newsletter=info, templates_dir=settings.templates_dir, web_url=web_url)
    module = {"listmonk": listmonk, "buttondown": buttondown}.get(platform)
    if module is not None:
        page, text = rendered.personalize(unsubscribe_url=module.UNSUBSCRIBE, recipient=module.RECIPIENT)
    else:  # Ghost adds its own footer and unsubscribe link
        page, text = rendered.html, rendered.text
    return Post(
        number=number, subject=rendered.subject, html=page, text=text,
        content_html=render.markdown_to_html(issue.body, base_url=settings.site_url),
        mode=mode, send_at=at, name=f"{settings.name} #{number}: {rendered.subject}"[:200],
        sender=settings.sender_email,
    )


def remote_key(platform: str) -> str:
    """The front-matter key that holds the platform's id for an issue."""
    return f"{platform}_id"


def publish_to(catalog: Any, number: int, platform: str, *, mode: str = "send",
               at: dt.datetime | None = None) -> Remote:
    """Create (first run) or update (later runs) issue `number` on `platform`; see the module docstring."""
    if platform not in PLATFORMS:
        raise ProjectError(f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
    if mode == "schedule" and at is None:
        raise ProjectError("a scheduled send needs a time (--at)")
    settings = catalog.settings
    issue = issue_files.find_issue(settings.issues_dir, number)
    key = remote_key(platform)
    existing = issue.front.get(key)
    remote_id = str(existing).strip() if existing not in (None, "") else None
    post = build_post(settings, issue, platform, mode, at)
    config = _config(settings, platform)

    async def push(fetcher: Fetcher, _unused: int) -> Remote:
        if platform == "listmonk":
            return await listmonk.push(fetcher, post, remote_id, config)
        if platform == "buttondown":
            return await buttondown.push(fetcher, post, remote_id, config, api=settings.endpoint("buttondown_api"))
        return await ghost.push(fetcher, post, remote_id, config)

    fetch = dataclasses.replace(catalog.fetch_settings(), retries=1)
    (result,) = run_all(push, [0], settings=fetch)
    if isinstance(result, PlatformError) and result.remote_id:
        _remember(catalog, issue.path, key, result.remote_id)
    if isinstance(result, NewsletterError):
        raise result
    assert isinstance(result, Remote)
    if result.id != remote_id:
        _remember(catalog, issue.path, key, result.id)
    return result


def _remember(catalog: Any, path: Any, key: str, value: str) -> None:
    """Write `key: value` into the issue's front matter, re-read under the lock (curators edit it)."""
    with catalog.writing():
        current = issue_files.read_issue(path)
        # Digits stay a YAML number (listmonk ids are ints); anything else is quoted, so "0x..", "00..1"
        # or "1e5" ids come back as the same string.
        shown = value if value.isdigit() and not value.startswith("0") else json.dumps(value)
        issue_files.write_issue(path, issue_files.set_front_fields(current.text, **{key: shown}))
