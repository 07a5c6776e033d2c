"""The public library API: `from newsletter import ...` names, pinned so a change is a decision."""

from __future__ import annotations

import subprocess
import sys

import newsletter

PUBLIC = {
    "__version__",
    "AddOptions", "AddResult", "Catalog", "CatalogError", "DraftEdited", "DraftOptions", "DraftResult",
    "EmailOptions", "EmailReport", "FeedResult", "FetchError", "ImportOptions", "ImportReport", "Item",
    "ItemNotFound", "KINDS", "Metadata", "NewsletterError", "Problem", "ProjectError", "PublishResult",
    "STATUSES", "Settings", "SourceError", "Suggestion", "find_project", "init_project", "load_settings",
}

# What a library caller does with a catalog: every verb the CLI has.
CATALOG_VERBS = {
    "open", "close", "get", "list", "items", "search", "related", "add", "import_file", "pull", "feeds",
    "tag", "set_status", "modify", "modify_many", "remove", "merge", "update", "save_edited",
    "duplicate_groups", "near_duplicates", "sync_semantic", "draft", "suggestions", "accept_suggestions",
    "reject_suggestions", "check", "publish", "email", "writing",
}


def test_all_is_exactly_the_pinned_public_names() -> None:
    assert set(newsletter.__all__) == PUBLIC
    assert len(newsletter.__all__) == len(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in newsletter.__all__:
        assert getattr(newsletter, name) is not None, name
    assert issubclass(newsletter.DraftEdited, newsletter.NewsletterError)
    assert issubclass(newsletter.ItemNotFound, newsletter.CatalogError)


def test_every_error_class_of_the_package_is_in_the_one_tree() -> None:
    errors_module = sys.modules[newsletter.NewsletterError.__module__]
    for name in ("ProjectError", "DraftEdited", "CatalogError", "ItemNotFound", "FetchError", "SourceError"):
        assert getattr(errors_module, name) is getattr(newsletter, name)


def test_catalog_offers_every_verb() -> None:
    missing = {verb for verb in CATALOG_VERBS if not hasattr(newsletter.Catalog, verb)}
    assert missing == set()


def test_unknown_names_raise_attribute_error() -> None:
    try:
        newsletter.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("newsletter.NoSuchThing resolved")


def test_import_newsletter_loads_no_stage() -> None:
    """The API is lazy: importing the package costs what `newsletter --help` may cost."""
    code = "import sys, newsletter; print(sorted(m for m in sys.modules if m.startswith('newsletter')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['newsletter', 'newsletter.version']"
