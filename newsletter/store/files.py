"""Item files: the source of truth. One Markdown file per item with YAML front matter.

    catalog/2025/03/lora-low-rank-adaptation-of-large-language-models-3f2a9c1d0b7e.md

The folder is the month the item was added (so no folder grows past a few thousand files),
the name is a readable slug plus the item id (so names never collide), and the path never changes
after creation (so git sees edits, not renames). Writes are atomic: temp file in the same folder,
fsync, rename, fsync of the folder.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..errors import CatalogError
from ..models import Item, parse_date

try:  # the C loader is ~10x faster; fall back where libyaml is missing
    _BaseLoader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _BaseLoader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper


class _Loader(_BaseLoader):
    """Safe YAML, except that dates and timestamps stay the strings they were written as.

    YAML 1.1 turns an unquoted ``2025-01-02`` into a `datetime.date`: ``2025-13-45`` then crashes the
    loader, a custom ``read_on: 2025-01-02`` reaches places that only take strings (the cache, JSON),
    and the value written back differs from the one read. Strings are validated where they mean
    something (`published`, `added`) and kept verbatim everywhere else.
    """


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)

MAX_FILE_BYTES = 4_000_000  # an item file is a few KB; a note longer than a book is a mistake or an attack
MAX_VALUES = 100_000  # values in one front matter, counting shared YAML aliases each time they are used
MAX_DEPTH = 32  # nesting of lists and mappings in one front-matter value
_DATE = re.compile(r"\d{4}(?:-\d{1,2}(?:-\d{1,2})?)?")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?)?"
)

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
    text = dump_yaml(front)
    body = item.note.strip()
    return f"---\n{text}---\n" + (f"\n{body}\n" if body else "")


def dump_yaml(data: dict[str, Any]) -> str:
    """Front-matter YAML for a mapping, keys in the order given (item and issue files alike)."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


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
    try:
        _check_plain(data)
        data["added"] = _check_added(data.get("added"))
        _check_published(data.get("published"))
        issue = data.get("issue")
        if isinstance(issue, bool) or (isinstance(issue, float) and not issue.is_integer()):
            raise ValueError(f"issue must be a whole number, got {issue!r}")
        data["note"] = match.group(2).strip()
        return Item.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise CatalogError(f"{source}: {exc}") from None


def _check_plain(data: dict[Any, Any]) -> None:
    """Every key a string, every value text, a number, a boolean, null, or a list/mapping of those.

    YAML can also build bytes (``!!binary``), sets, self-referencing lists and aliases that expand a
    few lines into billions of values; none of these survive the cache, JSON or a rewrite, so they
    are refused here, with the field named, instead of crashing a command far from the file.
    """
    budget = [MAX_VALUES]

    def walk(value: Any, field: str, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(f"front matter holds more than {MAX_VALUES:,} values (YAML aliases?)")
        if depth > MAX_DEPTH:
            raise ValueError(f"field {field!r} is nested more than {MAX_DEPTH} levels deep")
        if value is None or isinstance(value, (str, bool, int)):
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"field {field!r} is not a finite number ({value!r})")
            return
        if isinstance(value, list):
            for element in value:
                walk(element, field, depth + 1)
            return
        if isinstance(value, dict):
            for key, element in value.items():
                if not isinstance(key, str):
                    raise ValueError(f"field {field!r} has a key that is not text ({key!r})")
                walk(element, field, depth + 1)
            return
        kinds: dict[type, str] = {bytes: "binary data", set: "a set"}
        kind = kinds.get(type(value), type(value).__name__)
        raise ValueError(f"field {field!r} holds {kind}, which an item file cannot store")

    for key, value in data.items():
        if not isinstance(key, str):
            raise ValueError(f"field name {key!r} is not text")
        walk(value, key, 0)


def _check_published(value: Any) -> None:
    """``published`` is YYYY-MM-DD (or YYYY, YYYY-MM), a real date, or empty."""
    if value is None or value == "":
        return
    text = str(value).strip()
    if isinstance(value, (bool, float, list, dict)) or not _DATE.fullmatch(text) or parse_date(text) is None:
        raise ValueError(f"published: {text[:40]!r} is not a date (write it as YYYY-MM-DD)")


def _check_added(value: Any) -> str:
    """``added`` as a valid ISO-8601 date or UTC timestamp ("" when missing).

    A timestamp with a time is normalized to "YYYY-MM-DDTHH:MM:SSZ", what the tool writes, so that
    items sort by it correctly whichever way a person typed it.
    """
    if value is None or value == "":
        return ""
    text = str(value).strip()
    match = _TIMESTAMP.fullmatch(text) if isinstance(value, str) else None
    problem = f"added: {text[:40]!r} is not a date and time (write it as YYYY-MM-DDTHH:MM:SSZ)"
    if match is None:
        raise ValueError(problem)
    try:
        if match.group(4) is None:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
        when = dt.datetime.fromisoformat(text.replace("z", "Z").replace(" ", "T", 1))
    except ValueError:
        raise ValueError(problem) from None
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read_item(path: Path) -> Item:
    """Read and parse one item file; every problem is a CatalogError naming the file."""
    try:
        # O_NONBLOCK: a FIFO put where an item file was must not hang the command.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise CatalogError(f"{path}: not a regular file")
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise CatalogError(f"{path}: larger than {MAX_FILE_BYTES // 1_000_000} MB; an item file is a few KB")
        text = data.decode("utf-8")
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
