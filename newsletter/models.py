"""The data types every stage shares: an `Item` of the catalog and the vocabularies around it.

An item's front matter is exactly `Item.to_dict()` minus the note; kind-specific fields
(``arxiv_id``, ``audio_url``, ``handle``, ``stars`` ...) live in ``extra`` and are written flat,
so the file stays readable and the JSON output matches DESIGN.md field for field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from .errors import TagError
from .text import TAG_LIMIT

# Long work reports (done, total) through one of these; the CLI turns it into a progress bar.
Progress = Callable[[int, int], None]

KINDS = ("link", "paper", "podcast", "tweet", "repo", "video")
STATUSES = ("inbox", "shortlisted", "published", "skipped")

# Kind-specific fields, in the order they are written after the core fields.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "paper": ("arxiv_id", "doi", "pdf_url", "categories", "venue"),
    "podcast": ("show", "audio_url", "duration_s", "episode_url", "guid", "feed_url"),
    "tweet": ("handle", "text", "links"),
    "repo": ("stars", "language", "homepage", "license", "topics"),
    "video": ("channel", "duration_s"),
    "link": (),
}

CORE_FIELDS = (
    "id",
    "kind",
    "title",
    "url",
    "canonical_url",
    "summary",
    "authors",
    "published",
    "site",
    "image",
    "tags",
    "status",
    "issue",
    "added",
    "duplicate_of",
    "aliases",
)

_TAG_PUNCT = frozenset("+#.-")
_TAG_RUN = re.compile("\0+")


def _tag_char(ch: str) -> bool:
    """A letter or digit of any script (with its combining marks), or one of ``+ # . -``."""
    return ch.isalnum() or ch in _TAG_PUNCT or unicodedata.category(ch).startswith("M")


def normalize_tag(tag: str) -> str:
    """NFKC, casefold, and runs of other characters to single dashes ("Vector DB" -> "vector-db").

    Tags keep their letters in every script: "Données" -> "données", "机器学习" stays as it is,
    "Naïve Bayes" -> "naïve-bayes". A tag is letters, digits, ``+ # . -`` and holds at least one
    letter or digit; anything else gives "" (no tag). Places that need ASCII (a file name, a URL
    path segment on the site) transliterate separately (`store.files.slugify`, `site.pages.tag_slug`).
    A tag longer than `TAG_LIMIT` characters once normalized raises `TagError`: cutting it would
    make a different tag, and an uncapped one breaks file names in the site build.
    """
    # Only a bounded prefix matters for the decision; never normalize megabytes.
    text = unicodedata.normalize("NFKC", str(tag)[: TAG_LIMIT * 8 + 64]).casefold().strip()
    # Each run of other characters becomes one dash (a NUL marks them: it can't survive NFKC input
    # as a tag character, and the run collapses in one regex pass).
    marked = "".join(ch if _tag_char(ch) else "\0" for ch in text)
    norm = _TAG_RUN.sub("-", marked).strip("-.")
    if not any(ch.isalnum() for ch in norm):
        return ""
    if len(norm) > TAG_LIMIT or len(str(tag)) > TAG_LIMIT * 8 + 64:
        shown = norm[:30] + "…"
        raise TagError(f"tag {shown!r} is longer than {TAG_LIMIT} characters; use a shorter tag")
    return norm


def usable_tag(tag: Any) -> str:
    """`normalize_tag` for tags nobody typed here (feeds, APIs, other files): "" instead of an error."""
    try:
        return normalize_tag(str(tag))
    except TagError:
        return ""


def now_timestamp() -> str:
    """The current UTC time as the ISO-8601 string stored in ``added``."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_date(value: Any) -> str | None:
    """Coerce a date-ish value (date, datetime, 'YYYY-MM-DD...', RFC 3339) to 'YYYY-MM-DD' or None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    match = re.match(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})", str(value))
    if not match:
        match_year = re.fullmatch(r"\s*(\d{4})(?:-(\d{1,2}))?\s*", str(value))
        if not match_year:
            return None
        year, month = int(match_year.group(1)), int(match_year.group(2) or 1)
        day = 1
    else:
        year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


# Front-matter keys the tool writes into `extra` (read through Item's methods).
IMPORTED_TAGS = "imported_tags"  # the subset of tags an import file's folders or headings gave
REVIEWS = "reviews"  # review decisions: [{on, field, offered, accepted}] (see issues/suggest.py)


@dataclasses.dataclass
class Item:
    """One resource in the catalog (a link, paper, podcast episode, tweet, repo or video)."""

    id: str
    kind: str
    url: str
    canonical_url: str
    title: str = ""
    summary: str = ""
    authors: list[str] = dataclasses.field(default_factory=list)
    published: str | None = None
    site: str = ""
    image: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)
    status: str = "inbox"
    issue: int | None = None
    added: str = ""
    duplicate_of: str | None = None
    aliases: list[str] = dataclasses.field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self, *, include_note: bool = True) -> dict[str, Any]:
        """The item as a flat dict: core fields, then kind-specific ones, then ``note``."""
        data: dict[str, Any] = {name: getattr(self, name) for name in CORE_FIELDS}
        for key in KIND_FIELDS.get(self.kind, ()):
            if key in self.extra:
                data[key] = self.extra[key]
        for key in sorted(self.extra):
            data.setdefault(key, self.extra[key])
        if include_note:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        """Build an item from front matter (plus ``note``); unknown keys go to ``extra``.

        Raises ValueError when a required field is missing or a value has the wrong type.
        """
        for required in ("id", "kind", "url"):
            if not data.get(required):
                raise ValueError(f"missing required field {required!r}")
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        status = str(data.get("status") or "inbox")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
        issue = data.get("issue")
        if issue is not None and not isinstance(issue, int):
            try:
                issue = int(issue)
            except (TypeError, ValueError):
                raise ValueError(f"issue must be a number, got {issue!r}") from None
        added = data.get("added") or ""
        if isinstance(added, dt.datetime):
            added = added.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        extra = {k: v for k, v in data.items() if k not in CORE_FIELDS and k != "note"}
        return cls(
            id=str(data["id"]),
            kind=kind,
            url=str(data["url"]),
            canonical_url=str(data.get("canonical_url") or data["url"]),
            title=_text(data.get("title")),
            summary=_text(data.get("summary")),
            authors=_str_list(data.get("authors"), "authors"),
            published=parse_date(data.get("published")),
            site=_text(data.get("site")),
            image=_text(data.get("image")),
            tags=[normalize_tag(t) for t in _str_list(data.get("tags"), "tags") if normalize_tag(t)],
            status=status,
            issue=issue,
            added=str(added),
            duplicate_of=str(data["duplicate_of"]) if data.get("duplicate_of") else None,
            aliases=_str_list(data.get("aliases"), "aliases"),
            note=_text(data.get("note")),
            extra=extra,
        )

    def display_title(self) -> str:
        """The title, or the URL when the page gave none."""
        return self.title or self.url

    def imported_tags(self) -> list[str]:
        """The tags an import file's structure gave this item (folders, headings), not a curator."""
        found = self.extra.get(IMPORTED_TAGS)
        return [t for t in found if isinstance(t, str) and t in self.tags] if isinstance(found, list) else []

    def hand_tags(self) -> list[str]:
        """The tags a curator chose (by `tag`, `add --tag`, an edit, an accepted suggestion, another tool)."""
        imported = set(self.imported_tags())
        return [t for t in self.tags if t not in imported]


def mark_hand_tags(item: Item, tags: Sequence[str]) -> None:
    """Record that a curator chose `tags` on `item`: they leave its `imported_tags`."""
    imported = [t for t in item.imported_tags() if t not in tags]
    if imported:
        item.extra[IMPORTED_TAGS] = imported
    else:
        item.extra.pop(IMPORTED_TAGS, None)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _str_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    raise ValueError(f"{name} must be a list, got {type(value).__name__}")


@dataclasses.dataclass
class Metadata:
    """What a source learned about a URL, before it becomes an `Item`.

    Sources (pure parsers) return this; ingest adds identity, status and curator input.
    ``kind`` is None when the source cannot tell; ``extra`` carries kind-specific fields
    (see KIND_FIELDS) and ``suggested_tags`` tags the source proposes (repo topics, arXiv
    categories, feed categories).
    """

    kind: str | None = None
    title: str = ""
    summary: str = ""
    authors: list[str] = dataclasses.field(default_factory=list)
    published: str | None = None
    site: str = ""
    image: str = ""
    canonical_url: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    suggested_tags: list[str] = dataclasses.field(default_factory=list)
