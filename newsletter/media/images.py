"""Images kept in the project: sniffed, re-encoded, resized and stored once per content.

Every picture an issue shows (an item's og:image, a curator's figure) is a local, re-encoded copy:
readers' browsers and mail clients then never ask a third-party server (which would learn who
reads the issue and break when the file moves), EXIF (GPS, camera serials) is gone because the
pixels are written out anew, and a decompression bomb or a disguised SVG/HTML file is refused
before Pillow decodes it.

Each stored image has two files named by a hash of the source bytes, so the same picture found
twice is stored once: ``<hash>.webp`` at most `FULL_WIDTH` wide (the site) and ``<hash>-600.webp``
at most `EMAIL_WIDTH` wide (the email and the site's small screens). An original no wider than
`EMAIL_WIDTH` has only the first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

from ..errors import NewsletterError
from ..store.files import atomic_write

FULL_WIDTH = 1200
EMAIL_WIDTH = 600
SMALL_SUFFIX = f"-{EMAIL_WIDTH}"
# A 12000×12000 RGBA image is ~576 MB decoded: far beyond any figure, well within an attack.
MAX_PIXELS = 40_000_000
WEBP_QUALITY = 80
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


class ImageError(NewsletterError):
    """An image that cannot be used (not a raster image, too large, damaged)."""


@dataclasses.dataclass(frozen=True)
class StoredImage:
    """One stored image: its file name in the images folder, pixel size and bytes on disk."""

    name: str  # "<hash>.webp"
    width: int
    height: int
    size: int  # bytes of both files together
    small: str | None = None  # "<hash>-600.webp" when the original is wider than EMAIL_WIDTH

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sniff(data: bytes) -> str | None:
    """The raster format the bytes really are (``png``, ``jpeg``, ``gif``, ``webp``), else None.

    Decided from the magic numbers, never from a Content-Type or file name: a server (or a file
    renamed .png) can claim anything, and SVG is script-capable XML that is refused from strangers.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _describe_unknown(data: bytes) -> str:
    head = data[:256].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        return "an SVG (vector images can carry scripts; export it as PNG)"
    if head.startswith((b"<!doctype", b"<html")):
        return "an HTML page, not an image"
    return "not a PNG, JPEG, GIF or WebP image"


def _decode(data: bytes) -> Any:
    """The first frame as a Pillow image, upright, in a mode WebP can store."""
    from PIL import Image, ImageOps

    kind = sniff(data)
    if kind is None:
        raise ImageError(_describe_unknown(data))
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind.upper()])
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"too many pixels: {image.width}×{image.height} (at most {MAX_PIXELS:,})")
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"too many pixels (at most {MAX_PIXELS:,})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"a damaged {kind.upper()} file ({exc})") from None
    upright: Any = ImageOps.exif_transpose(image)  # apply the camera's orientation before EXIF is dropped
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    return upright.convert("RGBA" if has_alpha else "RGB")


def _encode(image: Any, max_width: int) -> tuple[bytes, int, int]:
    from PIL import Image

    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=/icc_profile= arguments: the new file carries pixels only.
    image.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
    return out.getvalue(), image.width, image.height


def content_name(data: bytes) -> str:
    """The stem every copy of these bytes is stored under."""
    return hashlib.sha256(data).hexdigest()[:20]


def store_image(data: bytes, folder: Path, *, stem: str | None = None) -> StoredImage:
    """Re-encode `data` into `folder` (see the module docstring); an already stored image is reused.

    `stem` names the files instead of the content hash (a curator's figure keeps a readable name).
    Raises ImageError for anything that is not a usable raster image.
    """
    stem = stem or content_name(data)
    full_path = folder / f"{stem}.webp"
    small_path = folder / f"{stem}{SMALL_SUFFIX}.webp"
    if full_path.exists() and stem == content_name(data):
        found = read_size(full_path)
        if found is not None:
            small = small_path.name if small_path.exists() else None
            size = full_path.stat().st_size + (small_path.stat().st_size if small else 0)
            return StoredImage(full_path.name, found[0], found[1], size, small)
    image = _decode(data)
    full, width, height = _encode(image, FULL_WIDTH)
    atomic_write(full_path, full)
    size, small = len(full), None
    if image.width > EMAIL_WIDTH:
        small_bytes, _, _ = _encode(image, EMAIL_WIDTH)
        atomic_write(small_path, small_bytes)
        size, small = size + len(small_bytes), small_path.name
    elif small_path.exists():
        small_path.unlink()  # a replaced figure that is now narrow leaves no stale small copy
    return StoredImage(full_path.name, width, height, size, small)


def read_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header, or None when it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.width, image.height
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def small_variant(path: Path) -> Path | None:
    """The EMAIL_WIDTH copy stored beside `path`, if there is one."""
    candidate = path.with_name(f"{path.stem}{SMALL_SUFFIX}{path.suffix}")
    return candidate if path.stem and not path.stem.endswith(SMALL_SUFFIX) and candidate.is_file() else None
