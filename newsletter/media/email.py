"""An issue's local images as the email sees them: absolute URLs on the published site, sized.

Mail clients load images from the web, so each local figure or item image becomes the URL the
built site serves it at (the 600 px copy when there is one), with its width and height as
attributes (Outlook sizes by attribute, and a sized box keeps the layout when images are blocked).
An image the built site does not have would be a broken picture in every inbox: it is reported
so `email` can refuse to send.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from .figures import IMAGE_REF, site_path
from .images import EMAIL_WIDTH, read_size, small_variant


@dataclasses.dataclass
class EmailImages:
    """The body with image URLs made absolute, and the images the built site lacks."""

    body: str
    missing: list[str]  # the sources as written in the issue


def email_images(issue_path: Path, body: str, *, docs_dir: Path, site_dir: Path | None, site_url: str) -> EmailImages:
    """Rewrite `body`'s local images for email (see the module docstring); remote ones stay as they are.

    `site_dir` is the built site (checked for each file); None skips that check.
    """
    missing: list[str] = []
    base = site_url if site_url.endswith("/") else site_url + "/"

    def rewrite(match: re.Match[str]) -> str:
        alt, src = match.group(1), match.group(2)
        inside = site_path(issue_path, docs_dir, src) if src and not urlsplit(src).scheme else None
        if inside is None:
            return match.group(0)
        source = docs_dir / inside
        if not site_url or not source.is_file() or (site_dir is not None and not (site_dir / inside).is_file()):
            missing.append(src)
            return match.group(0)
        chosen, path = inside, source
        small = small_variant(source)
        if small is not None:
            small_inside = posixpath.join(posixpath.dirname(inside), small.name)
            if site_dir is None or (site_dir / small_inside).is_file():
                chosen, path = small_inside, small
        url = urljoin(base, quote(chosen, safe="/._-~"))
        size = read_size(path)
        if size is None:
            return f"![{alt}]({url})"
        width = min(size[0], EMAIL_WIDTH)
        height = max(1, round(size[1] * width / size[0]))
        return f'![{alt}]({url}){{: width="{width}" height="{height}" }}'

    return EmailImages(IMAGE_REF.sub(rewrite, body), missing)
