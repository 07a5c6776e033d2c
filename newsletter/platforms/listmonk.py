"""listmonk: campaigns through `/api/campaigns`, HTTP basic auth with an API user and its token.

Create: ``POST /api/campaigns`` → ``{"data": {"id": …}}``; update: ``PUT /api/campaigns/{id}``;
then ``PUT /api/campaigns/{id}/status`` with ``scheduled`` (needs ``send_at``) or ``running`` (send
now). Errors come back as ``{"message": "…"}``. listmonk wraps the body in a campaign template:
choose a bare one (``{{ template "content" . }}`` only) with ``template_id``, since the body already
is a whole email. Its unsubscribe placeholder is ``{{ UnsubscribeURL }}``.
"""

from __future__ import annotations

import base64
from typing import Any

from ..web.fetch import Fetcher
from .base import PlatformError, Post, Remote, call_json, env

NAME = "listmonk"
UNSUBSCRIBE = "{{ UnsubscribeURL }}"
RECIPIENT = "{{ .Subscriber.Email }}"
HINT = "check NEWSLETTER_LISTMONK_USER and NEWSLETTER_LISTMONK_TOKEN (an API user's name and token)"


def _lists(config: dict[str, Any]) -> list[int]:
    raw = config.get("lists")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(n, int) and not isinstance(n, bool) for n in raw):
        raise PlatformError("listmonk: set the list ids to send to in newsletter.toml: [platforms.listmonk] "
                            "lists = [1]")
    return raw


async def push(fetcher: Fetcher, post: Post, remote_id: str | None, config: dict[str, Any]) -> Remote:
    """Create or update the campaign for `post`, then schedule or start it as `post.mode` says."""
    base, user, token = env("NEWSLETTER_LISTMONK_URL", "NEWSLETTER_LISTMONK_USER", "NEWSLETTER_LISTMONK_TOKEN",
                            platform=NAME)
    api = base.rstrip("/") + "/api"
    auth = base64.b64encode(f"{user}:{token}".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {auth}"}
    body: dict[str, Any] = {
        "name": post.name, "subject": post.subject, "lists": _lists(config), "type": "regular",
        "content_type": "html", "body": post.html, "altbody": post.text, "messenger": "email",
        "send_later": post.mode == "schedule",
    }
    if post.sender:
        body["from_email"] = post.sender
    if post.mode == "schedule":
        body["send_at"] = post.at_iso()
    if isinstance(config.get("template_id"), int):
        body["template_id"] = config["template_id"]
    created = remote_id is None
    if created:
        _status, doc = await call_json(fetcher, NAME, "POST", f"{api}/campaigns", headers=headers, body=body, hint=HINT)
    else:
        try:
            _status, doc = await call_json(fetcher, NAME, "PUT", f"{api}/campaigns/{remote_id}", headers=headers,
                                           body=body, hint=HINT)
        except PlatformError as exc:
            if exc.status == 404:
                raise PlatformError(f"listmonk has no campaign {remote_id} (deleted there?); remove listmonk_id "
                                    "from the issue's front matter to create a new one") from None
            raise
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        raise PlatformError("listmonk answered without a campaign id; is NEWSLETTER_LISTMONK_URL its address?")
    campaign = str(data["id"])
    state = str(data.get("status") or "draft")
    wanted = {"schedule": "scheduled", "send": "running"}.get(post.mode)
    if wanted and state != wanted:
        try:
            _status, doc = await call_json(fetcher, NAME, "PUT", f"{api}/campaigns/{campaign}/status",
                                           headers=headers, body={"status": wanted}, hint=HINT)
        except PlatformError as exc:
            raise PlatformError(f"{exc} (campaign {campaign} was saved as a draft)",
                                remote_id=campaign if created else None) from None
        data = doc.get("data") if isinstance(doc, dict) else None
        state = str(data.get("status") if isinstance(data, dict) else wanted)
    return Remote(NAME, campaign, state, created, f"{base.rstrip('/')}/admin/campaigns/{campaign}")
