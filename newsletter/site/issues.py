"""Issue files as the site sees them: front matter (number, title, date, status, tags) and links.

Reading and parsing the files is `newsletter.issues`' job (the same links `publish` marks); this
module turns them into what the site lists, links and feeds. The site never writes issue files;
other commands (draft, publish) own them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..issues import files as issue_files
from ..models import Item, parse_date, usable_tag


@dataclasses.dataclass(frozen=True)
class Issue:
    """One issue file: what the site needs to list, link and feed it."""

    number: int | None
    title: str
    date: str | None  # YYYY-MM-DD
    status: str
    tags: tuple[str, ...]
    src_uri: str  # relative to docs_dir, e.g. "issues/001-serving.md"
    links: tuple[str, ...] = ()

    @property
    def published(self) -> bool:
        return self.status == "published"

    @property
    def label(self) -> str:
        return f"Issue #{self.number}" if self.number is not None else self.title


def site_issue(issue: issue_files.IssueFile, src_uri: str) -> Issue:
    """The site's view of an issue file (missing or odd fields get harmless defaults)."""
    meta = issue.front
    number = meta.get("number")
    try:
        number = int(number) if number is not None and not isinstance(number, bool) else None
    except (TypeError, ValueError):
        number = None
    raw_tags = meta.get("tags") or []
    if isinstance(raw_tags, str):
        raw_tags = [raw_tags]
    tags = tuple(t for t in (usable_tag(t) for t in raw_tags if t is not None) if t)
    return Issue(
        number=number,
        title=str(meta.get("title") or Path(src_uri).stem),
        date=parse_date(meta.get("date")),
        status=str(meta.get("status") or "draft").strip().lower(),
        tags=tags,
        src_uri=src_uri,
        links=tuple(issue_files.link_urls(issue.body)),
    )


def parse_issue(text: str, src_uri: str) -> Issue:
    """An `Issue` from the text of an issue file; never raises (no front matter: a draft)."""
    return site_issue(issue_files.parse_issue(text, Path(src_uri), strict=False), src_uri)


def read_issues(docs_dir: Path, issues_dir: str) -> tuple[list[Issue], list[str]]:
    """Every `*.md` under docs_dir/issues_dir (sorted by path) and a line per unreadable file."""
    found, problems = issue_files.read_issue_folder(docs_dir / issues_dir)
    return [site_issue(f, f.path.relative_to(docs_dir).as_posix()) for f in found], problems


def check_issue_links(
    issues: Iterable[Issue], items: Mapping[str, Item], identity_index: Mapping[str, str]
) -> list[str]:
    """Warnings about links between issues and the catalog that do not hold together.

    - an item says it was featured in issue N, but there is no issue N;
    - a published issue links a catalog item that is not marked published (forgot `publish N`?);
    - two issue files share a number.
    """
    from ..store import identity

    warnings: list[str] = []
    by_number: dict[int, Issue] = {}
    for issue in issues:
        if issue.number is None:
            warnings.append(f"{issue.src_uri}: no `number` in the front matter")
            continue
        if issue.number in by_number:
            other = by_number[issue.number].src_uri
            warnings.append(f"{issue.src_uri}: issue number {issue.number} is also used by {other}")
            continue
        by_number[issue.number] = issue
    for item in sorted(items.values(), key=lambda i: i.id):
        if item.issue is not None and item.issue not in by_number:
            warnings.append(
                f"item {item.id} says it was featured in issue {item.issue}, but there is no issue {item.issue}"
            )
    for issue in by_number.values():
        if not issue.published:
            continue
        for url in issue.links:
            found = identity.find_existing(identity_index, url)
            linked = items.get(found) if found else None
            if linked is not None and linked.status != "published" and linked.issue is None:
                warnings.append(
                    f"{issue.src_uri} links {url} (item {linked.id}, status {linked.status}); "
                    f"run `newsletter publish {issue.number}` to mark it published"
                )
    return warnings
