"""The checks `newsletter build` / `serve` run before rendering: is the catalog whole, do issues
and items agree? Errors are item files that cannot be read (the site would silently miss them);
warnings are links between issues and items that do not hold together.
"""

from __future__ import annotations

from typing import Any

from .issues import check_issue_links, read_issues


def project_checks(settings: Any) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a project's catalog and issues; one line each, nothing raised."""
    from ..store import Store, identity

    store = Store(settings.catalog_dir, settings.derived_dir)
    try:
        snapshot = store.load()
    finally:
        store.close()
    errors = list(snapshot.problems)
    warnings = [
        f"item {item_id} is also in {', '.join(paths)} (the earlier addition wins)"
        for item_id, paths in sorted(snapshot.shadowed.items())
    ]
    content = settings.content_dir
    issues_dir = settings.issues_dir.relative_to(content).as_posix()
    issues, problems = read_issues(content, issues_dir)
    errors += problems
    warnings += check_issue_links(issues, snapshot.items, identity.identity_index(snapshot.items.values()))
    return errors, warnings
