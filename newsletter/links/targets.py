"""Which links to look at: those of issue N, or of every published issue, and the items they stand for."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ..config import Settings
from ..issues import files as issue_files
from ..models import Item
from ..store import identity


@dataclasses.dataclass
class Target:
    """One distinct URL, the issues that link it and the catalog item it is (None: not in the catalog)."""

    url: str
    issues: list[int]
    item: str | None = None


def issue_targets(settings: Settings, items: Mapping[str, Item], number: int | None) -> list[Target]:
    """The links of issue `number` (any status: checking a draft before sending is the point), or with
    None those of every published issue; each URL once, in order of first appearance."""
    if number is not None:
        chosen = [issue_files.find_issue(settings.issues_dir, number)]
    else:
        chosen = [i for i in issue_files.list_issues(settings.issues_dir) if i.status == issue_files.STATUS_PUBLISHED]
    index = identity.identity_index(items.values())
    found: dict[str, Target] = {}
    for issue in chosen:
        for url in issue_files.link_urls(issue.body):
            target = found.get(url)
            if target is None:
                target = found[url] = Target(url, [], identity.find_existing(index, url))
            if issue.number is not None and issue.number not in target.issues:
                target.issues.append(issue.number)
    return list(found.values())
