"""The URL readers get: clean links for drafts, the site, feeds and email, and registrable domains.

`canonicalize` (in `urls`) is an *identity*: it drops ``www.``, lower-cases GitHub paths and strips
trailing slashes so two spellings of one resource meet. A link has a different job: it must work
when clicked, and it must not carry the tracking parameters of whoever shared it. So a public link
is the canonical URL with the host the curator actually saw (``www.`` kept when the given URL had
it), and a link written by hand in an issue loses only its tracking parameters.

`registrable_domain` decides which declared ``<link rel=canonical>`` to trust: ``amp.`` and ``m.``
hosts of one site share a registrable domain (``theguardian.com``), while ``alice.github.io`` and
``bob.github.io`` do not (the public suffix list's private section makes ``github.io`` a suffix).
The list is tldextract's bundled snapshot: no network fetch, ever.
"""

from __future__ import annotations

import functools
import html
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from . import urls

if TYPE_CHECKING:
    from ..models import Item

__all__ = ["clean_hrefs", "public_url", "registrable_domain", "strip_tracking"]


def strip_tracking(url: str) -> str:
    """`url` without click-tracking query parameters and text fragments; anything else is kept as written.

    Not an http(s) URL (mailto:, a relative link, garbage): returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    host = (parts.hostname or "").lower().removeprefix("www.")
    query = parts.query
    if query:
        kept = [p for p in query.split("&") if p and not urls.is_tracking_param(p.split("=", 1)[0], host)]
        query = "&".join(kept)
    fragment = parts.fragment
    if fragment.startswith(":~:"):  # a browser's "scroll to text" fragment, not part of the resource
        fragment = ""
    if query == parts.query and fragment == parts.fragment:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment))


def public_url(item: Item) -> str:
    """The link readers get for an item: its clean canonical URL, as the curator saw it.

    When the given URL canonicalizes to the item's canonical URL it is kept as written, minus its
    tracking parameters; otherwise (the page declared another address) the canonical URL, on the
    ``www.`` host when the given URL had one.

    Falls back to the given URL without tracking parameters when the canonical is not an http(s)
    URL (a podcast's guid, a hand-edited file).
    """
    canonical = item.canonical_url or ""
    try:
        same = urls.canonicalize(item.url) == canonical
    except ValueError:
        same = False
    if same:
        # the given URL names the canonical resource: keep it as written (case, www., a video's t=),
        # minus tracking; canonicalize lower-cases GitHub paths and drops www. for identity only
        return strip_tracking(item.url)
    try:
        parts = urlsplit(canonical)
    except ValueError:
        return strip_tracking(item.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return strip_tracking(item.url)
    host = parts.netloc
    for seen in (item.url, *item.aliases):
        try:
            seen_host = (urlsplit(seen).hostname or "").lower()
        except ValueError:
            continue
        # canonicalize dropped "www." for identity; some sites do not answer without it
        if seen_host == f"www.{host}":
            return urlunsplit((parts.scheme, seen_host, parts.path, parts.query, parts.fragment))
    return canonical


@functools.cache
def _extractor() -> Any:
    import tldextract

    # suffix_list_urls=() and no cache dir: the snapshot bundled with the package, never a download
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def registrable_domain(host_or_url: str) -> str:
    """The registrable domain ("eTLD+1") of a host or URL: amp.theguardian.com -> theguardian.com.

    An IP address or a bare suffix gives the host itself, lower-cased.
    """
    host = host_or_url
    if "//" in host_or_url:
        try:
            host = urlsplit(host_or_url).hostname or ""
        except ValueError:
            return ""
    host = host.lower().rstrip(".")
    found = _extractor()(host)
    if hasattr(found, "top_domain_under_public_suffix"):  # tldextract >= 5.3 renamed registered_domain
        domain = found.top_domain_under_public_suffix
    else:  # pragma: no cover - older tldextract
        domain = found.registered_domain
    return domain or host


_HREF = re.compile(r'(\bhref=")([^"]*)(")')


def clean_hrefs(fragment: str) -> str:
    """Sanitized HTML with the tracking parameters taken out of every ``href="..."`` (quoted, as nh3 writes)."""

    def one(match: re.Match[str]) -> str:
        raw = html.unescape(match.group(2))
        cleaned = strip_tracking(raw)
        if cleaned == raw:
            return match.group(0)
        return match.group(1) + html.escape(cleaned, quote=True) + match.group(3)

    return _HREF.sub(one, fragment)
