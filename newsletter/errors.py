"""The exception tree of the library.

    NewsletterError            anything the library reports to a user
    ├── ProjectError           no project, bad newsletter.toml, bad arguments to the library
    │   ├── DraftEdited        the draft was edited since `draft` wrote it: the curator's text wins
    │   └── ArgumentError      a command-line argument that cannot work (the CLI exits with code 2)
    ├── CatalogError           an item file that cannot be read or written
    │   ├── ItemNotFound       no item matches an id or URL
    │   └── ItemChanged        an item file changed on disk while it was being edited
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


class ArgumentError(ProjectError):
    """A command-line argument (or an argument to a library call) has a value that cannot work.

    The message names the argument and the value, escaped so it prints safely. The CLI exits with
    code 2 (usage error) for it, like for an unknown option.
    """


class CatalogError(NewsletterError):
    """An item file could not be read, parsed or written."""


class ItemNotFound(CatalogError):
    """No catalog item matches the given id, id prefix or URL."""


class ItemChanged(CatalogError):
    """The item's file is not the one an edit started from: someone (a `tag`, a `git pull`, another
    editor) changed it meanwhile, so saving would lose their change.

    ``kept`` is where the caller put the curator's text (empty when nothing was kept).
    """

    def __init__(self, message: str, *, path: str = "", kept: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.kept = kept


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
