"""Buttondown: emails through `/v1/emails`, `Authorization: Token …`.

Create: ``POST /v1/emails`` (``subject``, ``body``, ``status`` draft | scheduled | about_to_send,
``publish_date`` for a schedule) → the email with its ``id``; update: ``PATCH /v1/emails/{id}``.
Errors come back as ``{"detail": "…"}`` or, for invalid fields, ``{"detail": [{"loc": …, "msg": …}]}``.
Its unsubscribe placeholder is ``{{ unsubscribe_url }}``.
"""

from __future__ import annotations

from typing import Any

from ..web.fetch import Fetcher
from .base import PlatformError, Post, Remote, call_json, env

NAME = "buttondown"
UNSUBSCRIBE = "{{ unsubscribe_url }}"
RECIPIENT = "{{ subscriber.email }}"
STATUS = {"draft": "draft", "schedule": "scheduled", "send": "about_to_send"}


async def push(fetcher: Fetcher, post: Post, remote_id: str | None, config: dict[str, Any], *, api: str) -> Remote:
    """Create or update the email for `post` with the status `post.mode` asks for."""
    (token,) = env("NEWSLETTER_BUTTONDOWN_TOKEN", platform=NAME)
    headers = {"Authorization": f"Token {token}"}
    body: dict[str, Any] = {"subject": post.subject, "body": post.html, "status": STATUS[post.mode]}
    if post.mode == "schedule":
        body["publish_date"] = post.at_iso()
    hint = "check NEWSLETTER_BUTTONDOWN_TOKEN (Settings → API in Buttondown)"
    base = api.rstrip("/") + "/v1/emails"
    created = remote_id is None
    try:
        if created:
            _status, doc = await call_json(fetcher, NAME, "POST", base, headers=headers, body=body, hint=hint)
        else:
            _status, doc = await call_json(fetcher, NAME, "PATCH", f"{base}/{remote_id}", headers=headers,
                                           body=body, hint=hint)
    except PlatformError as exc:
        if not created and exc.status == 404:
            raise PlatformError(f"buttondown has no email {remote_id} (deleted there?); remove buttondown_id from "
                                "the issue's front matter to create a new one") from None
        raise
    if not isinstance(doc, dict) or not doc.get("id"):
        raise PlatformError("buttondown answered without an email id; is NEWSLETTER_BUTTONDOWN_API its address?")
    return Remote(NAME, str(doc["id"]), str(doc.get("status") or body["status"]), created,
                  str(doc.get("absolute_url") or ""))
