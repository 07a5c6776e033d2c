"""Item files: the source of truth. One Markdown file per item with YAML front matter.

    catalog/2025/03/lora-low-rank-adaptation-of-large-language-models-3f2a9c1d0b7e.md

The folder is the month the item was added (so no folder grows past a few thousand files),
the name is a readable slug plus the item id (so names never collide), and the path never changes
after creation (so git sees edits, not renames). Writes are atomic: temp file in the same folder,
fsync, rename, fsync of the folder.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..errors import CatalogError
from ..models import Item

try:  # the C loader is ~10x faster; fall back where libyaml is missing
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?\n?(.*)\Z", re.S | re.M)
TEMP_PREFIX = ".tmp-"
# The process's umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def slugify(text: str, max_len: int = 60) -> str:
    """ASCII, lower-case, dash-separated slug; never empty, never a path component like '..'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug or "item"


def relative_path_for(item: Item) -> str:
    """Where a new item's file goes, relative to catalog/ (POSIX separators)."""
    match = re.match(r"(\d{4})-(\d{2})", item.added or "")
    year, month = (match.group(1), match.group(2)) if match else ("undated", "00")
    return f"{year}/{month}/{slugify(item.title or item.canonical_url)}-{item.id}.md"


def dump_item(item: Item) -> str:
    """The file text for an item: front matter (no empty optional fields) + the note as body."""
    data = item.to_dict(include_note=False)
    keep_empty = {"id", "kind", "url", "title", "status", "tags"}
    front = {k: v for k, v in data.items() if k in keep_empty or v not in (None, "", [], {})}
    text = yaml.dump(front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    body = item.note.strip()
    return f"---\n{text}---\n" + (f"\n{body}\n" if body else "")


def parse_item(text: str, *, source: str = "<string>") -> Item:
    """Parse item file text; raises CatalogError naming the file and the problem."""
    match = FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        raise CatalogError(f"{source}: no YAML front matter (the file must start with '---')")
    try:
        data = yaml.load(match.group(1), Loader=_Loader)
    except yaml.YAMLError as exc:
        problem = str(exc).replace("\n", " ")
        raise CatalogError(f"{source}: invalid YAML front matter: {problem}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: front matter must be a mapping of fields")
    data["note"] = match.group(2).strip()
    try:
        return Item.from_dict(data)
    except ValueError as exc:
        raise CatalogError(f"{source}: {exc}") from None


def read_item(path: Path) -> Item:
    """Read and parse one item file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not UTF-8 text; re-save it as UTF-8") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_item(text, source=str(path))


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write `text` (UTF-8, or bytes as they are) to `path` so that a crash leaves the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=path.parent)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        # mkstemp makes the file 0600; a replaced file keeps its mode, a new one gets the mode any
        # file the user creates gets (the site's web server must be able to read published images).
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def scan(catalog_dir: Path) -> Iterator[tuple[str, int, int]]:
    """Yield (relative path, mtime_ns, size) for every item file; skips hidden and temp files."""
    stack = [(catalog_dir, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif entry.name.endswith(".md") and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield f"{prefix}{entry.name}", st.st_mtime_ns, st.st_size


def remove_stale_temp_files(catalog_dir: Path) -> int:
    """Delete temp files left by writers that died mid-write (their pid is gone). Returns the count."""
    removed = 0
    for folder, _dirs, names in os.walk(catalog_dir):
        for name in names:
            if not name.startswith(TEMP_PREFIX):
                continue
            pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)):
                continue
            try:
                os.unlink(os.path.join(folder, name))
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
