"""`import-archive`: past issues become issue files, and their links catalog items published in them.

    report = import_archive(catalog, Path("buttondown-export.zip"), "buttondown")

Order of work (DESIGN.md's lock rule): the export is read, parsed and planned with no lock held
(bodies made safe, links filtered, numbers given, each link matched against the catalog); then,
under the writer lock, identities are re-checked (another process may have added a URL
meanwhile), new items are saved in one durable batch, existing items get the issue, and the issue
files are written last, each only if no file holds its number by then. A crash before the issue
files leaves items and no issue: the next run finds the items (linked, not copied) and writes the
issues. Nothing existing is overwritten: an issue already imported (its `imported_from` key), or a
number already taken by an issue of the same date, is `exists`; a number taken by another issue
fails that issue alone.

Items: each link of an imported issue is one item (the first spelling wins; http and https are one
resource), titled by the link's text, `added` on the issue's date, status `published` in the
earliest imported issue that links it, which is what `draft` and `add` read as "covered before".
An item already in the catalog gets that issue unless it is published in another one already
(history is not rewritten, as in `publish`). Nothing is fetched: the archive's words are the titles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import NewsletterError
from ...ingest import route as ingest
from ...ingest.pipeline import CatalogIndex, save_items
from ...models import Item, Metadata, Progress
from ...store import identity
from ...store.files import dump_yaml
from .. import files, naming
from ..draft import md_url
from .body import BodyLink, filter_links
from .bundle import Bundle
from .platforms import PARSERS, PastIssue, Problem

if TYPE_CHECKING:
    from ...catalog import Catalog


@dataclasses.dataclass
class IssueOutcome:
    """What became of one past issue: `imported` (`planned` on a dry run), `exists` or `failed`."""

    source: str
    key: str
    result: str
    number: int | None = None
    title: str = ""
    date: str = ""
    path: str = ""
    links: int = 0
    new: list[str] = dataclasses.field(default_factory=list)  # ids of items this issue brought in
    linked: list[str] = dataclasses.field(default_factory=list)  # ids of catalog items now published in it
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.source,
            "result": self.result,
            "key": self.key,
            "number": self.number,
            "title": self.title,
            "date": self.date,
            "path": self.path,
            "links": self.links,
            "new": self.new,
            "linked": self.linked,
        }


@dataclasses.dataclass
class ArchiveReport:
    """The outcome of one `import-archive`: one `IssueOutcome` per issue found, failures included."""

    file: str
    platform: str
    dry_run: bool
    issues: list[IssueOutcome] = dataclasses.field(default_factory=list)
    skipped: int = 0  # drafts, pages, threads
    items_new: int = 0
    items_linked: int = 0  # catalog items that got an imported issue
    items_elsewhere: int = 0  # catalog items already published in another issue: left alone

    def count(self, result: str) -> int:
        return sum(o.result == result for o in self.issues)

    @property
    def failed(self) -> list[IssueOutcome]:
        return [o for o in self.issues if o.result == "failed"]


@dataclasses.dataclass
class _Plan:
    issue: PastIssue
    outcome: IssueOutcome
    body: str
    links: list[BodyLink]


def import_archive(
    catalog: Catalog, path: Path, platform: str, *, dry_run: bool = False, progress: Progress | None = None
) -> ArchiveReport:
    """Import a platform's past issues (see the module docstring); idempotent."""
    if platform not in PARSERS:
        raise NewsletterError(f"unknown platform {platform!r}; use one of {', '.join(PARSERS)}")
    bundle = Bundle(path)
    try:
        parsed = PARSERS[platform](bundle)
    finally:
        bundle.close()
    report = ArchiveReport(str(path), platform, dry_run, skipped=parsed.skipped)
    report.issues.extend(_failure(p) for p in parsed.problems)
    plans = _number(catalog.settings.issues_dir, parsed.issues, report)
    new_items, wanted = _match_links(catalog, plans)
    total = len(plans) + len(new_items)
    if progress:
        progress(0, total)
    if dry_run:
        for plan in plans:
            plan.outcome.result = "planned"
        report.items_new = len(new_items)
        report.items_linked = len({i for i in wanted if i not in {it.id for it in new_items}})
        return report
    saved = [0]

    def one_saved(_item: Item) -> None:
        saved[0] += 1
        if progress:
            progress(saved[0], total)

    with catalog.writing():
        new_items = _recheck(catalog, new_items, plans, wanted)
        save_items(catalog, new_items, on_saved=one_saved)
        report.items_new = len(new_items)
        _give_issues(catalog, {i: n for i, n in wanted.items() if i not in {it.id for it in new_items}}, report)
        existing = {i.number: i for i in files.list_issues(catalog.settings.issues_dir)}
        for done, plan in enumerate(plans, start=1):
            _write(catalog, plan, existing)
            if progress:
                progress(len(new_items) + done, total)
    return report


def _failure(problem: Problem) -> IssueOutcome:
    return IssueOutcome(problem.source, "", "failed", error=problem.reason)


def _number(issues_dir: Path, found: list[PastIssue], report: ArchiveReport) -> list[_Plan]:
    """Decide each issue's number (the platform's, else the next free one in date order) or its outcome."""
    existing = files.list_issues(issues_dir)
    by_key = {str(i.front.get("imported_from")): i for i in existing if i.front.get("imported_from")}
    by_number = {i.number: i for i in existing if i.number is not None}
    plans: list[_Plan] = []
    taken: dict[int, str] = {}
    waiting: list[_Plan] = []
    for issue in sorted(found, key=lambda i: (i.date, i.number or 0, i.key)):
        outcome = IssueOutcome(issue.source, issue.key, "imported", issue.number, issue.title, issue.date)
        report.issues.append(outcome)
        known = by_key.get(issue.key)
        if known is not None:
            outcome.result, outcome.number, outcome.path = "exists", known.number, str(known.path)
            continue
        body, links = filter_links(issue.body, own_hosts=issue.own_hosts)
        plan = _Plan(issue, outcome, body, links)
        outcome.links = len(links)
        if issue.number is None:
            waiting.append(plan)
            continue
        held = by_number.get(issue.number)
        if held is not None:
            if held.date == issue.date:
                outcome.result, outcome.path, outcome.links = "exists", str(held.path), 0
            else:
                outcome.result = "failed"
                outcome.error = (
                    f"issue {issue.number} is already {held.path.name} (dated {held.date or 'never'}); not overwritten"
                )
            continue
        if issue.number in taken:
            outcome.result, outcome.error = "failed", f"number {issue.number} is also {taken[issue.number]}"
            continue
        taken[issue.number] = issue.source
        plans.append(plan)
    following = max([*by_number, *taken, 0]) + 1
    for plan in waiting:  # already in date order
        plan.outcome.number = plan.issue.number = following
        following += 1
        plans.append(plan)
    return sorted(plans, key=lambda p: p.issue.number or 0)


def _match_links(catalog: Catalog, plans: list[_Plan]) -> tuple[list[Item], dict[str, int]]:
    """New items to save, and item id -> the earliest imported issue that links it (new and existing)."""
    index = CatalogIndex(catalog)
    batch: dict[str, str] = {}  # identity key -> id, for this import's new items
    new_items: dict[str, Item] = {}
    wanted: dict[str, int] = {}
    for plan in plans:  # by number: the first issue to link an item is the one it was covered in
        number = plan.issue.number or 0
        for link in plan.links:
            try:
                prepared = ingest.prepare(link.url)
            except ValueError:
                continue  # stays a link in the text; nothing a catalog item can stand for
            item_id = index.find(prepared.url, prepared.canonical_url) or identity.find_existing(
                batch, prepared.url, prepared.canonical_url
            )
            if item_id is None:
                try:
                    item = ingest.build_item(
                        prepared, Metadata(kind=prepared.info.kind), ingest.AddOptions(title=link.text)
                    )
                except ValueError:
                    continue
                item_id = item.id
                if item_id not in new_items:  # else: the same id by another spelling, earlier in the batch
                    item.status, item.issue, item.added = "published", number, f"{plan.issue.date}T00:00:00Z"
                    new_items[item_id] = item
                    for key in identity.identity_keys(item):
                        batch.setdefault(key, item_id)
                    plan.outcome.new.append(item_id)
            elif item_id not in new_items and item_id not in wanted:
                plan.outcome.linked.append(item_id)
            wanted.setdefault(item_id, number)
    return list(new_items.values()), wanted


def _recheck(catalog: Catalog, items: list[Item], plans: list[_Plan], wanted: dict[str, int]) -> list[Item]:
    """Under the lock: drop new items another process saved meanwhile (they are linked instead)."""
    index = CatalogIndex(catalog)
    keep = []
    for item in items:
        existing = index.duplicate_of(item)
        if existing is None:
            index.note(item)
            keep.append(item)
            continue
        number = wanted.pop(item.id)
        wanted.setdefault(existing, number)
        for plan in plans:
            if item.id in plan.outcome.new:
                plan.outcome.new.remove(item.id)
                plan.outcome.linked.append(existing)
    return keep


def _give_issues(catalog: Catalog, wanted: dict[str, int], report: ArchiveReport) -> None:
    """Existing items: published in their imported issue, unless already published in another."""
    outcome: dict[str, str] = {}

    def change(item: Item) -> Item | None:
        number = wanted[item.id]
        if item.status == "published" and item.issue is not None:
            outcome[item.id] = "already" if item.issue == number else "elsewhere"
            return None
        item.status, item.issue = "published", number
        outcome[item.id] = "linked"
        return item

    catalog.modify_many(list(wanted), change)
    report.items_linked = sum(v == "linked" for v in outcome.values())
    report.items_elsewhere = sum(v == "elsewhere" for v in outcome.values())


def _write(catalog: Catalog, plan: _Plan, existing: dict[int | None, files.IssueFile]) -> None:
    """Write one issue file (under the lock); never over a file or a number that is there now."""
    issue, outcome = plan.issue, plan.outcome
    number = issue.number or 0
    title = issue.title or naming.default_title(number)
    path = catalog.settings.issues_dir / naming.filename_for(number, title)
    held = existing.get(number)
    if held is not None or path.exists():
        outcome.result = "exists" if held is not None and held.front.get("imported_from") == issue.key else "failed"
        outcome.path = str(held.path if held is not None else path)
        if outcome.result == "failed":
            outcome.error = f"issue {number} appeared meanwhile ({Path(outcome.path).name}); not overwritten"
        return
    front: dict[str, Any] = {
        "number": number,
        "title": title,
        "date": dt.date.fromisoformat(issue.date),
        "status": files.STATUS_PUBLISHED,
        "imported_from": issue.key,
    }
    if md_url(issue.url):
        front["original_url"] = md_url(issue.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_issue(path, f"---\n{dump_yaml(front)}---\n{plan.body}")
    outcome.path = str(path)
    existing[number] = files.read_issue(path)
