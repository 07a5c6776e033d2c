"""Ghost: posts through the Admin API, a short-lived HS256 token per request.

Create: ``POST /ghost/api/admin/posts/?source=html`` with ``{"posts": [{title, html, status,
published_at}]}``; update: ``GET`` the post for its ``updated_at`` (Ghost refuses an edit without
it), then ``PUT /ghost/api/admin/posts/{id}/?source=html``. Sending (now or scheduled) names the
newsletter to mail (``?newsletter=slug``, `[platforms.ghost] newsletter`, default
``default-newsletter``). Errors come back as ``{"errors": [{"message", "context", "type"}]}``.
Ghost wraps a post in its own email template, footer and unsubscribe link included, so only the
issue's body is sent.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..web.fetch import Fetcher
from . import jwt
from .base import PlatformError, Post, Remote, call_json, env

NAME = "ghost"
ACCEPT_VERSION = "v5.0"
STATUS = {"draft": "draft", "schedule": "scheduled", "send": "published"}
HINT = "check NEWSLETTER_GHOST_ADMIN_KEY (a custom integration's Admin API key, id:secret)"


def _headers(key: str) -> dict[str, str]:
    try:
        token = jwt.admin_token(key)
    except ValueError as exc:
        raise PlatformError(f"ghost: NEWSLETTER_GHOST_ADMIN_KEY is not an Admin API key: {exc}") from None
    return {"Authorization": f"Ghost {token}", "Accept-Version": ACCEPT_VERSION}


def _first(doc: Any) -> dict[str, Any]:
    posts = doc.get("posts") if isinstance(doc, dict) else None
    if not isinstance(posts, list) or not posts or not isinstance(posts[0], dict) or not posts[0].get("id"):
        raise PlatformError("ghost answered without a post; is NEWSLETTER_GHOST_URL the site's admin address?")
    return posts[0]


async def push(fetcher: Fetcher, post: Post, remote_id: str | None, config: dict[str, Any]) -> Remote:
    """Create or update the post for `post`; publish (and mail) or schedule it as `post.mode` says."""
    base, key = env("NEWSLETTER_GHOST_URL", "NEWSLETTER_GHOST_ADMIN_KEY", platform=NAME)
    api = base.rstrip("/") + "/ghost/api/admin/posts/"
    fields: dict[str, Any] = {"title": post.subject, "html": post.content_html, "status": STATUS[post.mode]}
    if post.mode == "schedule":
        fields["published_at"] = post.at_iso(millis=True)
    query = "?source=html"
    if post.mode != "draft":
        query += "&newsletter=" + quote(str(config.get("newsletter") or "default-newsletter"), safe="")
    created = remote_id is None
    if remote_id is None:
        _s, doc = await call_json(fetcher, NAME, "POST", api + query, headers=_headers(key),
                                  body={"posts": [fields]}, hint=HINT)
    else:
        try:
            _s, current = await call_json(fetcher, NAME, "GET", f"{api}{quote(remote_id, safe='')}/",
                                          headers=_headers(key), hint=HINT)
        except PlatformError as exc:
            if exc.status == 404:
                raise PlatformError(f"ghost has no post {remote_id} (deleted there?); remove ghost_id from the "
                                    "issue's front matter to create a new one") from None
            raise
        fields["updated_at"] = _first(current).get("updated_at")
        _s, doc = await call_json(fetcher, NAME, "PUT", f"{api}{quote(remote_id, safe='')}/{query}",
                                  headers=_headers(key), body={"posts": [fields]}, hint=HINT)
    found = _first(doc)
    return Remote(NAME, str(found["id"]), str(found.get("status") or fields["status"]), created,
                  str(found.get("url") or ""))
