"""newsletter: collect, dedupe, draft and publish a technical newsletter.

The library is the product; the `newsletter` command is a thin shell over `Catalog`:

    from newsletter import Catalog, AddOptions
    catalog = Catalog.open("path/to/project")
    for result in catalog.add(["https://arxiv.org/abs/2106.09685"], AddOptions(fetch=False), similar=True):
        print(result.status, result.item.id if result.item else result.error)

Everything named in `__all__` is the public API (pinned by tests/test_public_api.py); other modules
are implementation, private by convention. Names load on first use, so `import newsletter` stays as
cheap as the command's `--help`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

# public name -> module that defines it
_EXPORTS = {
    "Catalog": "newsletter.catalog",
    "AddResult": "newsletter.catalog",
    "Item": "newsletter.models",
    "Metadata": "newsletter.models",
    "KINDS": "newsletter.models",
    "STATUSES": "newsletter.models",
    "Settings": "newsletter.config",
    "load_settings": "newsletter.config",
    "find_project": "newsletter.config",
    "init_project": "newsletter.project",
    "AddOptions": "newsletter.ingest.route",
    "ImportOptions": "newsletter.ingest.pipeline",
    "ImportReport": "newsletter.ingest.pipeline",
    "FeedResult": "newsletter.feeds",
    "DraftOptions": "newsletter.issues.draft",
    "DraftResult": "newsletter.issues.draft",
    "Problem": "newsletter.issues.publish",
    "PublishResult": "newsletter.issues.publish",
    "Suggestion": "newsletter.issues.suggest",
    "EmailOptions": "newsletter.mail.campaign",
    "EmailReport": "newsletter.mail.campaign",
    "NewsletterError": "newsletter.errors",
    "ProjectError": "newsletter.errors",
    "DraftEdited": "newsletter.errors",
    "CatalogError": "newsletter.errors",
    "ItemNotFound": "newsletter.errors",
    "FetchError": "newsletter.errors",
    "SourceError": "newsletter.errors",
}

__all__ = [
    "KINDS",
    "STATUSES",
    "AddOptions",
    "AddResult",
    "Catalog",
    "CatalogError",
    "DraftEdited",
    "DraftOptions",
    "DraftResult",
    "EmailOptions",
    "EmailReport",
    "FeedResult",
    "FetchError",
    "ImportOptions",
    "ImportReport",
    "Item",
    "ItemNotFound",
    "Metadata",
    "NewsletterError",
    "Problem",
    "ProjectError",
    "PublishResult",
    "Settings",
    "SourceError",
    "Suggestion",
    "__version__",
    "find_project",
    "init_project",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'newsletter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .catalog import AddResult, Catalog
    from .config import Settings, find_project, load_settings
    from .errors import CatalogError, DraftEdited, FetchError, ItemNotFound, NewsletterError, ProjectError, SourceError
    from .feeds import FeedResult
    from .ingest.pipeline import ImportOptions, ImportReport
    from .ingest.route import AddOptions
    from .issues.draft import DraftOptions, DraftResult
    from .issues.publish import Problem, PublishResult
    from .issues.suggest import Suggestion
    from .mail.campaign import EmailOptions, EmailReport
    from .models import KINDS, STATUSES, Item, Metadata
    from .project import init_project
