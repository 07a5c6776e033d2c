"""The images an issue's Markdown shows: curators' own figures, and the checks before publishing.

A figure lives in the site's assets beside the item images (``content/assets/figures/005/
state-of-ai-slide-12.webp`` for issue 5) and is referenced relatively from the issue
(``![alt](../assets/figures/005/state-of-ai-slide-12.webp)``), which `serve`, the built site and the
email all resolve the same way: relative to the issue file inside the docs folder. Not under
``content/issues/``: the blog plugin publishes files in its post folder at other paths than their
source paths, and the email has to know where the site serves each image.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..config import Settings
from ..store.files import slugify
from .images import IMAGE_SUFFIXES, ImageError, StoredImage, store_image

# ![alt](src) and ![alt](src "title"); <src> in angle brackets too. Alt text may hold escaped brackets.
IMAGE_REF = re.compile(r'!\[((?:\\.|[^\]\\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)')
# What a reader downloads per image and per issue before it feels slow on a phone.
DEFAULT_IMAGE_KB = 500
DEFAULT_ISSUE_KB = 3000


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """One image in an issue body."""

    alt: str
    src: str
    line: int  # 1-based, in the body

    @property
    def remote(self) -> bool:
        return bool(urlsplit(self.src).scheme or self.src.startswith("//"))


def image_refs(body: str) -> Iterator[ImageRef]:
    """Every Markdown image in `body`, in order (fenced code is left out: it is shown, not loaded)."""
    fenced = False
    for number, line in enumerate(body.split("\n"), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        for match in IMAGE_REF.finditer(line):
            alt = re.sub(r"\\(.)", r"\1", match.group(1)).strip()
            yield ImageRef(alt, match.group(2), number)


def site_path(issue_path: Path, docs_dir: Path, src: str) -> str | None:
    """The image's path inside the docs folder (``issues/assets/005/x.webp``), or None when it leaves it."""
    try:
        folder = issue_path.parent.resolve().relative_to(docs_dir.resolve()).as_posix()
    except ValueError:
        return None
    joined = posixpath.normpath(posixpath.join(folder, unquote(urlsplit(src).path)))
    if joined.startswith(("../", "/")) or joined == "..":
        return None
    return joined


def budgets(settings: Settings) -> tuple[int, int]:
    """(bytes per image, bytes per issue) from `[images] max_kb` / `issue_max_kb`."""
    raw = settings.raw.get("images")
    table: dict[str, object] = raw if isinstance(raw, dict) else {}
    def kb(key: str, default: int) -> int:
        value = table.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

    return kb("max_kb", DEFAULT_IMAGE_KB) * 1000, kb("issue_max_kb", DEFAULT_ISSUE_KB) * 1000


@dataclasses.dataclass(frozen=True)
class ImageProblem:
    kind: str  # image-alt | image-missing | image-remote | image-size
    line: int
    message: str


def check_images(issue_path: Path, body: str, settings: Settings) -> list[ImageProblem]:
    """What is wrong with the images of one issue: no alt text, a missing file, a hotlinked image,
    one image or the whole issue over its size budget."""
    per_image, per_issue = budgets(settings)
    docs = settings.content_dir
    problems: list[ImageProblem] = []
    total = 0
    for ref in image_refs(body):
        if not ref.alt:
            problems.append(ImageProblem("image-alt", ref.line, f"image without alt text: {ref.src} "
                                         "(write what it shows between the brackets)"))
        if ref.remote:
            problems.append(ImageProblem("image-remote", ref.line, f"image from another server: {ref.src} "
                                         "(readers' browsers would ask it; `newsletter figure add` a copy)"))
            continue
        inside = site_path(issue_path, docs, ref.src)
        path = docs / inside if inside else None
        if path is None or not path.is_file():
            problems.append(ImageProblem("image-missing", ref.line, f"image file not found: {ref.src}"))
            continue
        size = path.stat().st_size
        total += size
        if size > per_image:
            problems.append(ImageProblem("image-size", ref.line, f"{ref.src} is {size // 1000} kB (budget "
                                         f"{per_image // 1000} kB; `newsletter figure add` resizes it)"))
    if total > per_issue:
        problems.append(ImageProblem("image-size", 0, f"the issue's images add up to {total // 1000} kB "
                                     f"(budget {per_issue // 1000} kB per issue)"))
    return problems


def md_image(alt: str, src: str) -> str:
    """``![alt](src)`` with the alt text on one line and Markdown's own characters escaped."""
    text = " ".join(alt.split())
    text = re.sub(r"([\\`*_\[\]<>!])", r"\\\1", text)
    return f"![{text}]({quote(src, safe='/:.-_~%')})"


def figures_dir(settings: Settings, number: int) -> Path:
    """Where issue `number`'s figures are stored."""
    return settings.content_dir / "assets" / "figures" / f"{number:03d}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure copied into an issue's assets folder, and the Markdown that shows it."""

    path: Path
    image: StoredImage
    markdown: str


def add_figure(settings: Settings, source: Path, number: int, *, alt: str) -> Figure:
    """Copy `source` (PNG/JPEG/GIF/WebP) resized and re-encoded into issue `number`'s assets folder.

    The file keeps a readable name (slug of the source's name); adding the same name again replaces it.
    """
    if source.suffix.lower() not in IMAGE_SUFFIXES and source.suffix.lower() != ".svg":
        raise ImageError(f"{source}: not an image file name (PNG, JPEG, GIF or WebP)")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ImageError(f"{source}: cannot read ({exc.strerror})") from None
    folder = figures_dir(settings, number)
    try:
        stored = store_image(data, folder, stem=slugify(source.stem))
    except ImageError as exc:
        raise ImageError(f"{source}: {exc}") from None
    relative = posixpath.join(os.path.relpath(folder, settings.issues_dir).replace(os.sep, "/"), stored.name)
    return Figure(folder / stored.name, stored, md_image(alt, relative))
