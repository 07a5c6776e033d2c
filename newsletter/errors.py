"""The exception tree of the library.

    NewsletterError            anything the library reports to a user
    ├── ProjectError           no project, bad newsletter.toml, bad arguments to the library
    │   ├── DraftEdited        the draft was edited since `draft` wrote it: the curator's text wins
    │   └── TagError           a tag that cannot be one (too long); also a ValueError
    ├── CatalogError           an item file that cannot be read or written
    │   └── ItemNotFound       no item matches an id or URL
    ├── FetchError             a URL that could not be fetched (network, HTTP status, too large)
    └── SourceError            bytes that were fetched but could not be understood

Every message is one line a curator can act on: it says what failed and what to do next.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base class: every error the library raises on purpose."""


class ProjectError(NewsletterError):
    """The project folder or its settings are missing or invalid."""


class DraftEdited(ProjectError):
    """The draft differs from what the tool last wrote: the curator's text must not be overwritten."""


class TagError(ProjectError, ValueError):
    """A tag that cannot be stored (longer than the cap). A ValueError too, so item files reject it."""


class CatalogError(NewsletterError):
    """An item file could not be read, parsed or written."""


class ItemNotFound(CatalogError):
    """No catalog item matches the given id, id prefix or URL."""


class FetchError(NewsletterError):
    """A URL could not be fetched.

    ``status`` is the final HTTP status when there was one, ``url`` the URL that failed.
    """

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class SourceError(NewsletterError):
    """Fetched content could not be parsed into an item (garbage, wrong type, missing fields)."""
