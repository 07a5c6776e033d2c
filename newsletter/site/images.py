"""Issue pages' images made responsive: intrinsic size, lazy loading, a small copy for phones.

Runs on the sanitized HTML of an issue page. For every ``<img>`` whose file is in the docs folder
it adds ``width``/``height`` (the page does not jump while images load), ``loading="lazy"`` and
``decoding="async"``, and a ``srcset`` with the 600 px copy when `media.images` stored one. Images
from other hosts are left as they are (`check` warns about them).
"""

from __future__ import annotations

import html as html_lib
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..media.library import IMAGES_FOLDER, ImageIndex
from ..media.images import read_size, small_variant
from ..models import Item

IMG_TAG = re.compile(r"<img\b([^>]*?)\s*/?>", re.IGNORECASE)
ATTR = re.compile(r'([a-zA-Z-]+)="([^"]*)"')


def docs_file(src: str, page_url: str, docs_dir: Path) -> Path | None:
    """The docs-folder file a page-relative image URL points at, or None (remote, outside, missing)."""
    parts = urlsplit(html_lib.unescape(src))
    if parts.scheme or parts.netloc or not parts.path:
        return None
    base = posixpath.dirname(page_url) if not page_url.endswith("/") else page_url.rstrip("/")
    joined = posixpath.normpath(posixpath.join("/" + base, unquote(parts.path))).lstrip("/")
    if not joined or joined.startswith(".."):
        return None
    path = docs_dir / joined
    try:
        path.resolve().relative_to(docs_dir.resolve())
    except ValueError:
        return None
    return path if path.is_file() else None


def responsive_images(fragment: str, page_url: str, docs_dir: Path) -> str:
    """`fragment` with its local images sized, lazy and with a 600 px `srcset` entry where one exists."""

    def rewrite(match: re.Match[str]) -> str:
        attrs = dict(ATTR.findall(match.group(1)))
        src = attrs.get("src", "")
        path = docs_file(src, page_url, docs_dir)
        if path is None:
            return match.group(0)
        size = read_size(path)
        if size is not None and "width" not in attrs and "height" not in attrs:
            attrs["width"], attrs["height"] = str(size[0]), str(size[1])
        attrs.setdefault("loading", "lazy")
        attrs.setdefault("decoding", "async")
        small = small_variant(path)
        if small is not None and size is not None:
            small_src = posixpath.join(posixpath.dirname(src), small.name)
            small_size = read_size(small)
            if small_size is not None:
                attrs["srcset"] = f"{small_src} {small_size[0]}w, {src} {size[0]}w"
                attrs["sizes"] = f"(max-width: {small_size[0]}px) 100vw, {size[0]}px"
        rendered = " ".join(f'{name}="{value}"' for name, value in attrs.items())
        return f"<img {rendered}>"

    return IMG_TAG.sub(rewrite, fragment)


def item_thumbnails(items: Iterable[Item], docs_dir: Path) -> dict[str, tuple[str, int, int]]:
    """item id → (docs path, width, height) of the smallest local copy of its image, for catalog pages.

    Only images `draft` (or `fetch_images`) already stored count: building the site never downloads.
    """
    folder = docs_dir / IMAGES_FOLDER
    index = ImageIndex.load(folder)
    found: dict[str, tuple[str, int, int]] = {}
    for item in items:
        stored = index.stored.get(item.image) if item.image else None
        if stored is None:
            continue
        name = stored.small or stored.name
        size = read_size(folder / name)
        if size is not None:
            found[item.id] = ((IMAGES_FOLDER / name).as_posix(), size[0], size[1])
    return found
