"""`newsletter publish N` and `newsletter check N`: the issue's Markdown decides what was published.

Publishing marks every catalog item an issue links to (by any spelling of its URL) as published in
that issue, then sets the issue's status and date. Items first, issue file last: a crash in between
leaves the issue a draft, and running `publish` again finishes the job. Running it twice changes
nothing the second time. Links to items already published in *another* issue are left alone: they
are "Previously covered" backlinks or deliberate re-mentions, and moving them would rewrite history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from ..media.figures import check_images
from ..models import Item
from ..store import identity
from . import files as issues
from . import naming


@dataclasses.dataclass
class Problem:
    """One thing to fix before publishing."""

    # not-in-catalog | published-elsewhere | duplicate | empty-section | missing-title | placeholder
    # | image-alt | image-missing | image-remote | image-size | bad-item-file | same-id
    kind: str
    line: int  # 1-based line in the body (0: the front matter / whole file)
    message: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class PublishResult:
    number: int
    path: str
    marked: list[str]  # item ids newly marked published in this issue
    already: list[str]  # item ids that were already published in this issue
    elsewhere: list[tuple[str, int]]  # (item id, issue) left alone
    unmatched: list[str]  # URLs that are not catalog items
    issue_changed: bool

    @property
    def changed(self) -> bool:
        return bool(self.marked) or self.issue_changed

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["elsewhere"] = [{"id": i, "issue": n} for i, n in self.elsewhere]
        data["changed"] = self.changed
        return data


def _resolve(links: list[issues.Link], items: dict[str, Item]) -> list[tuple[issues.Link, str | None]]:
    return list(zip(links, identity.resolve_urls(items.values(), [link.url for link in links]), strict=True))


def check(catalog: Any, number: int, *, engine: Any = None) -> list[Problem]:
    """Problems in issue `number`: links to nothing in the catalog, entries already published in another
    issue, the same item twice (exactly, or as near-duplicates when `engine` is given), empty sections,
    missing titles, the draft's intro placeholder, and catalog files that cannot be read (an item in
    one of them is invisible to `publish`)."""
    issue = issues.find_issue(catalog.settings.issues_dir, number)
    snapshot = catalog.snapshot(refresh=True)
    items = snapshot.items
    problems: list[Problem] = [Problem("bad-item-file", 0, problem) for problem in snapshot.problems]
    # Both editors added one URL: two files, one id. Which one's tags and note publish is chance.
    problems += [Problem("same-id", 0, f"{len(others) + 1} files hold item {item_id} ({snapshot.paths[item_id]}, "
                         f"{', '.join(others)}): `newsletter doctor --fix` makes them one")
                 for item_id, others in sorted(snapshot.shadowed.items())]
    if not issue.title:
        problems.append(Problem("missing-title", 0, "the issue has no title in its front matter"))
    offset = issue.text.count("\n", 0, len(issue.text) - len(issue.body))  # body line -> file line
    resolved = _resolve(issues.extract_links(issue.body), items)
    first_entry: dict[str, int] = {}
    for link, item_id in resolved:
        line = link.line + offset
        if not link.text.strip() or link.text.strip() == link.url:
            problems.append(Problem("missing-title", line, f"link without a title: {link.url}"))
        if item_id is None:
            problems.append(Problem("not-in-catalog", line, f"not in the catalog: {link.url} (`newsletter add` it)"))
            continue
        if not link.entry:
            continue
        item = items.get(item_id)
        if item is not None and item.status == "published" and item.issue not in (None, number):
            problems.append(Problem(
                "published-elsewhere", line, f"{item.display_title()!r} was already published in issue {item.issue}",
            ))
        if item_id in first_entry:
            problems.append(Problem(
                "duplicate", line, f"{link.url} is the same item as the entry on line {first_entry[item_id]}",
            ))
        else:
            first_entry[item_id] = line
    if engine is not None and len(first_entry) > 1:
        problems.extend(_near_duplicates(engine, catalog, first_entry))
    lines = issue.body.split("\n")
    for section in issues.sections(issue.body):
        if not any(link.line - 1 in range(section.start, section.end) for link, _ in resolved):
            problems.append(Problem("empty-section", section.start + 1 + offset, f"section {section.title!r} is empty"))
    for n, text in enumerate(lines):
        if "<!-- newsletter:" in text:
            problems.append(Problem("placeholder", n + 1 + offset, "the draft's intro placeholder is still there"))
    for found in check_images(issue.path, issue.body, catalog.settings):
        problems.append(Problem(found.kind, found.line + offset if found.line else 0, found.message))
    return sorted(problems, key=lambda p: (p.line, p.kind))


def _near_duplicates(engine: Any, catalog: Any, entries: dict[str, int]) -> list[Problem]:
    from .draft import same_work

    items = catalog.items()
    by_id = {it.id: it for it in items}
    out = []
    # the draft's own rule, across sections too: a paper and its repo are the same work twice
    for a, b in same_work(engine, items, catalog.settings, set(entries)):
        if a in entries and b in entries:
            first, second = sorted((a, b), key=lambda i: entries[i])
            out.append(Problem(
                "duplicate", entries[second],
                f"{by_id[second].display_title()!r} looks like a near-duplicate of the entry on line {entries[first]}",
            ))
    return out


def publish(catalog: Any, number: int, *, date: str | None = None) -> PublishResult:
    """Mark the items issue `number` links to as published in it; set the issue's status and date.

    Idempotent: a second run finds every item already marked and the issue already published.
    """
    issue = issues.find_issue(catalog.settings.issues_dir, number)
    marked: list[str] = []
    already: list[str] = []
    elsewhere: list[tuple[str, int]] = []
    unmatched: list[str] = []
    with catalog.writing():
        snap = catalog.snapshot(refresh=True)
        linked: list[str] = []
        for link, item_id in _resolve(issues.extract_links(issue.body), snap.items):
            if item_id is None:
                if link.url not in unmatched:
                    unmatched.append(link.url)
            elif item_id not in linked:
                linked.append(item_id)

        outcome: dict[str, tuple[str, int | None]] = {}

        def mark(item: Item) -> Item | None:
            # Decided on the file as it is now (re-read under the lock), not on the snapshot; may run
            # twice for one item when another program replaced its file meanwhile: the last call counts.
            if item.status == "published" and item.issue == number:
                outcome[item.id] = ("already", None)
                return None
            if item.status == "published" and item.issue is not None:
                outcome[item.id] = ("elsewhere", item.issue)
                return None
            item.status, item.issue = "published", number
            outcome[item.id] = ("marked", None)
            return item

        catalog.modify_many(linked, mark)
        for item_id in linked:
            kind, other = outcome.get(item_id, ("", None))
            if kind == "marked":
                marked.append(item_id)
            elif kind == "already":
                already.append(item_id)
            elif kind == "elsewhere" and other is not None:
                elsewhere.append((item_id, other))
    issue_changed = False
    with catalog.writing():
        issue = issues.read_issue(issue.path)  # as it is now: a `draft --update` may have just written it
        if issue.status != issues.STATUS_PUBLISHED:
            when = date or dt.date.today().isoformat()
            state = issues.DraftState(catalog.settings.derived_dir)
            # the last moment the file name may follow the title: from now on it is a public URL
            path = naming.follow_title(issue, state)
            issues.write_issue(path, issues.set_front_fields(issue.text, status="published", date=when))
            state.forget(path.name)
            issue = issues.read_issue(path)
            issue_changed = True
    return PublishResult(number, str(issue.path), marked, already, elsewhere, unmatched, issue_changed)
