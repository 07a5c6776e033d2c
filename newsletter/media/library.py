"""Local copies of items' images (og:image, thumbnails, artwork), downloaded once through the fetch layer.

The copies live in ``content/assets/images/`` (the site publishes the folder as it is) with an
``index.json`` beside them mapping each source URL to its stored file. The index is committed with
the project so both editors' drafts point at the same files; a source that failed is remembered
with its error, so a dead thumbnail is not asked for again on every draft (``retry=True`` asks).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import NewsletterError
from ..store.files import atomic_write
from ..web.fetch import Fetcher, FetchSettings, run_all
from .images import ImageError, StoredImage, store_image

IMAGES_FOLDER = Path("assets") / "images"
INDEX_FILE = "index.json"
# Larger than any useful web image; the fetch layer stops reading there.
MAX_DOWNLOAD = 10_000_000
ACCEPT = "image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1"


def images_dir(settings: Settings) -> Path:
    """Where item images are stored: under the site's docs folder, so `build` publishes them."""
    return settings.content_dir / IMAGES_FOLDER


def enabled(settings: Settings) -> bool:
    """`[images] enabled = false` turns local item images off (drafts then show none)."""
    table = settings.raw.get("images")
    return not (isinstance(table, dict) and table.get("enabled") is False)


@dataclasses.dataclass
class ImageIndex:
    """source URL → stored image (or the error it gave), persisted as sorted JSON."""

    folder: Path
    stored: dict[str, StoredImage] = dataclasses.field(default_factory=dict)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> ImageIndex:
        """The index in `folder`; a missing or damaged one starts empty (the files are re-found by hash)."""
        index = cls(folder)
        try:
            doc = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return index
        for url, entry in (doc.get("images") or {}).items() if isinstance(doc, dict) else ():
            try:
                image = StoredImage(**entry)
            except TypeError:
                continue
            if (folder / image.name).is_file():
                index.stored[url] = image
        failed = doc.get("failed") if isinstance(doc, dict) else None
        if isinstance(failed, dict):
            index.failed = {str(k): str(v) for k, v in failed.items()}
        return index

    def save(self) -> None:
        doc = {
            "images": {url: self.stored[url].to_json() for url in sorted(self.stored)},
            "failed": {url: self.failed[url] for url in sorted(self.failed)},
        }
        atomic_write(self.folder / INDEX_FILE, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


@dataclasses.dataclass
class FetchReport:
    """What `fetch_images` did: the images now available and one line per source that failed."""

    images: dict[str, StoredImage]
    errors: dict[str, str]
    downloaded: int = 0


def fetch_images(
    settings: Settings, urls: Iterable[str], *, fetch: FetchSettings | None = None, retry: bool = False,
    transport: Any = None, on_done: Callable[[int, object], None] | None = None,
) -> FetchReport:
    """Make sure each image URL has a local copy; download the missing ones concurrently.

    Never raises for one bad image: a failure (HTTP error, an SVG, a bomb) is reported per URL and
    remembered, and the rest go on. Writes only inside the images folder.
    """
    folder = images_dir(settings)
    index = ImageIndex.load(folder)
    wanted = list(dict.fromkeys(u for u in urls if u))
    todo = [u for u in wanted if u not in index.stored and (retry or u not in index.failed)]
    report = FetchReport({u: index.stored[u] for u in wanted if u in index.stored},
                         {u: index.failed[u] for u in wanted if u in index.failed and u not in todo})
    if not todo:
        return report
    base = fetch or FetchSettings()
    settings_for_images = dataclasses.replace(base, max_bytes=max(base.max_bytes, MAX_DOWNLOAD))

    async def download(fetcher: Fetcher, url: str) -> StoredImage:
        response = await fetcher.get(url, headers={"Accept": ACCEPT})
        try:
            return store_image(response.content, folder)
        except ImageError as exc:
            raise ImageError(f"{url}: {exc}") from None

    results = run_all(download, todo, settings=settings_for_images, transport=transport, on_done=on_done)
    for url, result in zip(todo, results, strict=True):
        if isinstance(result, NewsletterError):
            message = str(result) if str(result).startswith(url) else f"{url}: {result}"
            index.failed[url] = report.errors[url] = message
        else:
            index.stored[url] = report.images[url] = result
            index.failed.pop(url, None)
            report.downloaded += 1
    index.save()
    return report
