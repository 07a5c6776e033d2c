"""Publication dates, authors and site names of an HTML page, decided from signals the tokenizer collects.

`newsletter.sources.page` reads the page once and hands over what it saw: ``<meta>`` values, JSON-LD
nodes, and `markup.MarkupSignals` (``<time>`` elements, byline and date classes, microdata authors).
The modules here are pure functions over those signals:

- `dates` — the publication date (never the modification date; nothing in the future or before 1995),
- `authors` — person names, cleaned ("By", job titles, handles) and split ("A, B and C"),
- `sites` — the site's name, never a bare IP address.
"""

from newsletter.sources.metadata.authors import pick_authors, split_names
from newsletter.sources.metadata.dates import pick_published, text_date, to_date
from newsletter.sources.metadata.markup import MarkupSignals, TimeSignal
from newsletter.sources.metadata.sites import pick_site, title_suffix_site

__all__ = ["MarkupSignals", "TimeSignal", "pick_authors", "pick_published", "pick_site", "split_names",
           "text_date", "title_suffix_site", "to_date"]
