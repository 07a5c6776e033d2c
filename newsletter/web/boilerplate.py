"""Which links in a newsletter are its furniture, and where click-tracking redirects lead (pure).

The one boilerplate filter: `inbox pull` (forwarded mail) and `import-archive` (a platform's past
issues) both use it. Furniture is unsubscribe / preferences / view-in-browser links, mailto: and
other non-http(s) schemes, social share buttons and bare profile links, images and tracking pixels,
and the sender's own homepage root. `resolve_redirect` undoes a click-tracking redirect offline when
its target is in the query (`?url=`, `?u=`, Google `/url?q=`…): nothing is fetched, because a
tracker's redirect is a GET that records a click. `is_platform_redirect` names the trackers whose
target is opaque (Substack's `/redirect/<id>`, Mailchimp's `/track/click`): `inbox pull` keeps
them for `add`'s fetch to follow, an archive import (which does not fetch) leaves them out.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

REDIRECT_PARAMS = (
    "url",
    "u",
    "q",
    "redirect",
    "redirect_url",
    "redirect_uri",
    "target",
    "dest",
    "destination",
    "link",
    "to",
    "goto",
    "out",
)
BOILERPLATE_WORDS = (
    "unsubscribe",
    "optout",
    "opt-out",
    "opt_out",
    "manage-preferences",
    "manage_preferences",
    "preferences",
    "email-preferences",
    "view-in-browser",
    "view_in_browser",
    "viewinbrowser",
    "webversion",
    "web-version",
    "view-online",
    "forward-to-a-friend",
    "list-manage.com/profile",
    "/subscribe",
)
SOCIAL_HOSTS = {
    "twitter.com",
    "x.com",
    "facebook.com",
    "fb.com",
    "linkedin.com",
    "instagram.com",
    "youtube.com",
    "mastodon.social",
    "threads.net",
    "bsky.app",
    "tiktok.com",
    "pinterest.com",
    "reddit.com",
}
SOCIAL_SHARE = ("/intent/", "/share", "/sharer", "/shareArticle", "/sharing/", "/submit")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp", ".ico")
PIXEL_WORDS = ("/open.", "/open/", "/pixel", "/track/open", "/beacon", "/o.gif", "/wf/open")


def _host(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def resolve_redirect(url: str, *, depth: int = 3) -> str:
    """The target of a click-tracking redirect when it is in the query; else `url` unchanged."""
    for _ in range(depth):
        try:
            parts = urlsplit(url)
            query = parse_qs(parts.query)
        except ValueError:
            return url
        target = None
        for name in REDIRECT_PARAMS:
            for value in query.get(name, []):
                value = value.strip()
                if not re.match(r"https?(://|%3A)", value, re.IGNORECASE):
                    continue
                target = unquote(value) if value.lower().startswith(("http%3a", "https%3a")) else value
                break
            if target:
                break
        if not target or target == url:
            return url
        url = target
    return url


def is_boilerplate(url: str, *, sender_domain: str = "", unsubscribe: frozenset[str] = frozenset()) -> bool:
    """Whether a link is a newsletter's furniture rather than something it links to."""
    low = url.lower()
    if not low.startswith(("http://", "https://")):
        return True  # mailto:, tel:, javascript:, anchors
    if url in unsubscribe:
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    host = _host(url)
    if not host:
        return True
    path = parts.path or "/"
    if any(word in low for word in BOILERPLATE_WORDS):
        return True
    if path.lower().endswith(IMAGE_EXT) or any(word in path.lower() for word in PIXEL_WORDS):
        return True
    base = ".".join(host.split(".")[-2:])
    social = base in SOCIAL_HOSTS or host in SOCIAL_HOSTS
    bare_profile = path.rstrip("/").count("/") <= 1 and not parts.query  # youtube.com/watch?v=… is a video
    if social and (any(path.startswith(share) for share in SOCIAL_SHARE) or bare_profile):
        return True  # a share button or a bare profile (https://twitter.com/ournewsletter)
    # the newsletter's own homepage
    return bool(
        sender_domain and path in ("", "/") and not parts.query and base == ".".join(sender_domain.split(".")[-2:])
    )


# (registrable-domain suffix, path prefix) of the mail platforms' own click trackers.
PLATFORM_REDIRECTS = (
    ("substack.com", "/redirect/"),
    ("list-manage.com", "/track/click"),
    ("mailchi.mp", "/track/click"),
)


def is_platform_redirect(url: str) -> bool:
    """Whether `url` is a mail platform's click tracker whose target only a request would reveal."""
    host = _host(url)
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return any(
        (host == suffix or host.endswith("." + suffix)) and path.startswith(prefix)
        for suffix, prefix in PLATFORM_REDIRECTS
    )
