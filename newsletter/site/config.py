"""Typed settings of the `newsletter` mkdocs plugin (the `plugins: - newsletter:` block of mkdocs.yml).

Options are grouped by prefix like Material's own plugins: `catalog_*` (generated catalog pages),
`issues_*` (the issue posts), `related_*`, `feed_*`, `subscribe_*`. Every option has a default, so
`plugins: [newsletter]` alone works; project settings (name, site URL, subscribe link) come from
newsletter.toml next to mkdocs.yml. URL shapes are format strings, not code.
"""

from __future__ import annotations

from mkdocs.config import config_options as c
from mkdocs.config.base import Config

# Set to "1" by `newsletter serve --drafts`: an environment variable (not a config override)
# because `mkdocs serve` re-reads mkdocs.yml on every rebuild.
DRAFTS_ENV = "NEWSLETTER_SITE_DRAFTS"


class NewsletterConfig(Config):
    """Settings of the newsletter plugin; each option's help is the comment above it."""

    # Turn the whole plugin off (the site then has only the hand-written pages).
    enabled = c.Type(bool, default=True)
    # The newsletter project (folder holding newsletter.toml); default: the folder of mkdocs.yml.
    project_dir = c.Optional(c.Type(str))

    # Generate the catalog pages (index, kinds, tags, months). Off: issues only.
    catalog = c.Type(bool, default=True)
    # Folder (under docs_dir, and so in URLs) that holds the generated catalog pages.
    catalog_dir = c.Type(str, default="catalog")
    # Resources per listing page; longer listings are split into numbered pages.
    catalog_per_page = c.Type(int, default=200)
    # Characters of a resource's summary shown in listings (the full text stays in the catalog).
    catalog_summary_chars = c.Type(int, default=320)
    # Generate one listing per tag (catalog/tags/<tag>/) and the tags index.
    catalog_tags = c.Type(bool, default=True)
    # Generate one listing per month an issue featured resources (catalog/months/<yyyy-mm>/).
    catalog_months = c.Type(bool, default=True)
    # Resources listed as "recently featured" on the catalog index page.
    catalog_recent = c.Type(int, default=30)

    # Folder under docs_dir holding the issues (the blog plugin's post_dir must point here too).
    issues_dir = c.Type(str, default="issues")
    # Include issues whose status is not "published" (and the resources they feature).
    # `newsletter serve --drafts` turns this on through the NEWSLETTER_SITE_DRAFTS variable.
    issues_drafts = c.Type(bool, default=False)

    # Add "Related from the archive" to issue pages, from the semantic index if it was built
    # (by `newsletter search`/`related`/`dupes`); the model is never loaded during a build.
    related = c.Type(bool, default=True)
    # How many related resources an issue page shows.
    related_count = c.Type(int, default=6)

    # Write RSS 2.0 and Atom feeds of the published issues.
    feed = c.Type(bool, default=True)
    # File names of the feeds, relative to the site root.
    feed_rss = c.Type(str, default="feed.xml")
    feed_atom = c.Type(str, default="atom.xml")
    # Newest issues in the feeds.
    feed_items = c.Type(int, default=20)

    # Add the plugin's stylesheet (listings, related block, subscribe box) to the theme's extra_css.
    stylesheet = c.Type(bool, default=True)

    # Where "Subscribe" points; default: newsletter.toml's subscribe_url (or the RSS feed when empty).
    subscribe_url = c.Optional(c.Type(str))
    # Show the subscribe call to action on the home page and under each issue.
    subscribe = c.Type(bool, default=True)
