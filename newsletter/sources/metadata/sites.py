"""The name of the site a page belongs to.

Sources, first that names the site wins: ``og:site_name`` (last of all when it merely repeats the page title),
``application-name``, the JSON-LD ``WebSite`` name, the suffix of ``<title>`` when the rest of it is
the page's own title ("Bloom filter - Wikipedia" above an ``<h1>`` "Bloom filter"), the JSON-LD
``publisher.name``, ``apple-mobile-web-app-title``, Dublin Core ``dc.publisher``, and finally the host
name without "www." — never a bare IP address, which names no site.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Sequence

from newsletter.sources.text import NAME_MAX, clean_inline

TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " · ", " :: ", " » ", " • ")
_SUFFIX_MAX = 60


def title_suffix_site(title_tag: str, own_titles: Sequence[str]) -> str:
    """The " | Site" part of `title_tag` when what precedes it is one of the page's `own_titles`."""
    title = clean_inline(title_tag, 1000)
    owns = {clean_inline(t, 1000).casefold() for t in own_titles if t and t.strip()}
    for sep in TITLE_SEPARATORS:
        head, found, tail = title.rpartition(sep)
        tail = tail.strip()
        if (found and head.strip().casefold() in owns and tail and len(tail) <= _SUFFIX_MAX
                and not tail.lower().startswith("by ") and tail.casefold() not in owns):
            return tail
    return ""


def host_site(url: str) -> str:
    """The host of `url` without "www.", or "" for an IP address or no host."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        return ""
    except ValueError:
        pass
    return host[4:] if host.startswith("www.") else host


def pick_site(*, og_site: str, application_name: str, ld_website: str, title_suffix: str, ld_publisher: str,
              apple_title: str, dc_publisher: str, page_title: str, url: str) -> str:
    """The site's name from the sources in the module docstring's order."""
    og = clean_inline(og_site, NAME_MAX)
    repeats_title = bool(og) and og.casefold() == clean_inline(page_title, 1000).casefold()
    for candidate in ("" if repeats_title else og, application_name, ld_website, title_suffix, ld_publisher,
                      apple_title, dc_publisher, og):
        name = clean_inline(candidate, NAME_MAX)
        if name:
            return name
    return host_site(url)
