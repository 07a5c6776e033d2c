"""`newsletter import-archive`: a newsletter's past issues from another platform, into this project.

`platforms` reads each platform's export (Buttondown, Substack, Curated, Ghost, a folder of Markdown)
from a `bundle` (folder, zip or file, with caps), `html` and `body` make their text safe issue Markdown
and pick the links worth an item (through the one boilerplate filter), and `run` numbers the issues,
matches the links against the catalog and writes items and issue files under the writer lock.
"""

from .platforms import PLATFORMS
from .run import ArchiveReport, IssueOutcome, import_archive

__all__ = ["PLATFORMS", "ArchiveReport", "IssueOutcome", "import_archive"]
