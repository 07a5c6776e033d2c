"""`NewsletterPlugin`: the mkdocs plugin that turns a newsletter project into its archive site.

Everything site-specific lives behind this one module (plus the pure `pages`/`feed` helpers), so
swapping the renderer later (Material is in maintenance mode) touches this package only.

Events, in build order:
- `on_config`: read newsletter.toml next to mkdocs.yml (site URL, name, subscribe link).
- `on_files`: read issue front matter; drop unpublished issues from the build (unless drafts);
  load the catalog; add the catalog pages as virtual files (`File.generated`, no temp folder).
  Runs before Material's blog plugin (priority -50), which then sees only the public issues.
- `on_nav`: put the catalog section in a sensible order (index, kinds, tags).
- `on_page_markdown`: page titles, descriptions and authors become escaped HTML text
  (`markup.title_html`): the theme prints them unescaped and the blog feeds titles to Markdown.
- `on_page_content`: fill generated pages with their (escaped) HTML listings; sanitize issue pages
  (`markup.sanitize_html`: notes are Markdown from people, imports and other editors) and add
  tags, related resources and the subscribe call to action; remember issue HTML for the feed.
- `on_page_context`: sanitize the issue excerpts the blog plugin rendered for the home page and
  archive views (it renders them with its own Markdown, past `on_page_content`).
- `on_post_page`: advertise the feeds in every page's <head>.
- `on_post_build`: write the RSS and Atom feeds.
"""

from __future__ import annotations

import html as html_lib
import logging
import os
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.nav import Navigation, Section
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from ..markup import sanitize_html, text_only, title_html
from ..media.library import IMAGES_FOLDER, INDEX_FILE
from . import pages as P
from .config import DRAFTS_ENV, NewsletterConfig
from .feed import FeedEntry, FeedInfo, absolutize, atom_xml, rss_xml
from .images import item_thumbnails, responsive_images
from .issues import Issue, read_issues

log = logging.getLogger("mkdocs.plugins.newsletter")
STYLESHEET = "assets/newsletter/newsletter.css"  # where the packaged stylesheet lands in the site


class NewsletterPlugin(BasePlugin[NewsletterConfig]):
    """Catalog pages, issue extras (tags, related, subscribe) and feeds for a newsletter project."""

    def __init__(self) -> None:
        super().__init__()
        self.settings: Any = None
        self.drafts = False
        self.issues: dict[str, Issue] = {}
        self.plan: P.SitePlan | None = None
        self.specs: dict[str, P.PageSpec] = {}
        self.urls: dict[str, str] = {}
        self.assets: set[str] = set()  # docs paths of thumbnails that are in the build
        self.by_issue: dict[int, list[str]] = {}
        self.feed_entries: list[tuple[Issue, FeedEntry]] = []
        self.finder: Any = None
        self._finder_opened = False

    # -- configuration ---------------------------------------------------------------------------

    def on_config(self, config: Any) -> Any:
        if not self.config.enabled:
            return config
        from ..config import load_settings
        from ..errors import NewsletterError

        here = Path(config.config_file_path or ".").resolve().parent
        root = here / self.config.project_dir if self.config.project_dir else here
        try:
            self.settings = load_settings(root)
        except NewsletterError as exc:
            raise PluginError(f"newsletter: {exc}") from None
        self.drafts = self.config.issues_drafts or os.environ.get(DRAFTS_ENV) == "1"
        if not config.site_url and self.settings.site_url:
            config.site_url = self.settings.site_url.rstrip("/") + "/"
        if not config.site_description and self.settings.description:
            # Material writes it unescaped into <meta name="description" content="...">.
            config.site_description = html_lib.escape(self.settings.description, quote=True)
        if self.config.stylesheet and STYLESHEET not in config.extra_css:
            config.extra_css.append(STYLESHEET)
        blog = config.plugins.get("material/blog")
        temp_dir = getattr(blog, "temp_dir", None)
        if isinstance(temp_dir, str) and not os.path.isdir(temp_dir):
            # mkdocs reuses plugin instances across builds in one process; the blog plugin deletes
            # its temp folder at shutdown and, with no posts, does not recreate it before the next.
            os.makedirs(temp_dir, exist_ok=True)
        if blog is not None and blog.config.enabled:
            post_dir = os.path.normpath(blog.config.post_dir.format(blog=blog.config.blog_dir))
            if post_dir != os.path.normpath(self.config.issues_dir):
                log.warning(
                    "newsletter: the blog plugin reads posts from %r but issues are in %r; "
                    "set `post_dir: %s` under `blog:` in mkdocs.yml", post_dir, self.config.issues_dir,
                    self.config.issues_dir,
                )
        return config

    def on_serve(self, server: Any, *, config: Any, builder: Any) -> Any:
        # Catalog edits (newsletter add/tag, or by hand) should refresh `mkdocs serve` too.
        if self.config.enabled and self.settings is not None and self.settings.catalog_dir.is_dir():
            server.watch(str(self.settings.catalog_dir))
        return server

    # -- files ---------------------------------------------------------------------------------

    def on_files(self, files: Files, *, config: Any) -> Files:
        if not self.config.enabled:
            return files
        from ..store import Store, identity

        self.feed_entries = []
        self.urls = {}
        issues, problems = read_issues(Path(config.docs_dir), self.config.issues_dir)
        for problem in problems:
            log.warning("newsletter: %s", problem)
        visible = [i for i in issues if i.published or self.drafts]
        self.issues = {i.src_uri: i for i in visible}
        hidden = {i.src_uri for i in issues} - set(self.issues)
        for file in list(files):
            if file.src_uri in hidden:
                files.remove(file)  # a draft: not in the build at all, so no page, feed or search entry

        store = Store(self.settings.catalog_dir, self.settings.derived_dir)
        try:
            snapshot = store.load()
        finally:
            store.close()
        for problem in snapshot.problems:
            log.warning("newsletter: %s", problem)
        candidates = [it for it in snapshot.items.values() if it.status == "published" or it.issue is not None]
        public = P.public_catalog(
            snapshot.items.values(), issues, drafts=self.drafts, identity_index=identity.identity_index(candidates)
        )
        self.by_issue = {}
        for item in public.items:
            for number in public.featured.get(item.id, ()):
                self.by_issue.setdefault(number, []).append(item.id)
        self.plan = P.plan_site(
            public, root=self.config.catalog_dir, per_page=self.config.catalog_per_page,
            tags=self.config.catalog_tags, months=self.config.catalog_months,
        )
        self.plan.thumbnails = item_thumbnails(public.items, Path(config.docs_dir))
        index_file = files.get_file_from_path(f"{IMAGES_FOLDER.as_posix()}/{INDEX_FILE}")
        if index_file is not None:
            files.remove(index_file)  # bookkeeping of the image copies, not part of the site
        self.assets = {src for src, _, _ in self.plan.thumbnails.values() if files.get_file_from_path(src)}
        self.specs = {}
        if self.config.stylesheet and files.get_file_from_path(STYLESHEET) is None:
            css = (Path(__file__).parent / "assets" / "newsletter.css").read_text(encoding="utf-8")
            files.append(File.generated(config, STYLESHEET, content=css))
        if not self.config.catalog:
            return files
        for spec in self.plan.pages:
            if files.get_file_from_path(spec.src_uri) is not None:
                log.warning("newsletter: %s exists in docs_dir; not generating the catalog page there", spec.src_uri)
                continue
            inclusion = InclusionLevel.INCLUDED if spec.in_nav else InclusionLevel.NOT_IN_NAV
            files.append(File.generated(config, spec.src_uri, content=spec.markdown, inclusion=inclusion))
            self.specs[spec.src_uri] = spec
        return files

    # -- navigation ----------------------------------------------------------------------------

    @event_priority(-100)  # after the blog plugin attached its views
    def on_nav(self, nav: Navigation, *, config: Any, files: Files) -> Navigation:
        if not self.config.enabled:
            return nav
        # Final URLs (the blog plugin has moved the issue posts by now); pages render after on_nav.
        self.urls = {f.src_uri: f.url for f in files}
        if self.plan is None or not self.specs:
            return nav
        plan = self.plan
        order = [plan.index_src, *(plan.kind_src(k) for k in P.KIND_PAGES), plan.tags_src()]
        rank = {src: n for n, src in enumerate(order)}
        for section in _sections(nav.items):
            srcs = [getattr(getattr(c, "file", None), "src_uri", None) for c in section.children]
            if plan.index_src in srcs:
                section.children.sort(key=lambda c: rank.get(getattr(getattr(c, "file", None), "src_uri", ""), 99))
        return nav

    # -- pages ---------------------------------------------------------------------------------

    @event_priority(100)  # before the blog plugin builds excerpts from the title (-50)
    def on_page_markdown(self, markdown: str, *, page: Page, config: Any, files: Files) -> str | None:
        if not self.config.enabled:
            return None
        # Titles are text, but Material prints page.meta.title / page.title raw (<title>, header,
        # nav, the issue's <h1>) and the blog plugin renders `# {title}` as Markdown on the home page.
        for key in ("title", "description", "author"):
            value = page.meta.get(key)
            if isinstance(value, str):
                page.meta[key] = title_html(value)
        return None

    def _href(self, page: Page) -> P.Href:
        def href(src_uri: str) -> str:
            url = self.urls.get(src_uri)
            if url is None and not src_uri.endswith(".md") and src_uri in self.assets:
                url = src_uri  # a static file (a thumbnail) is published at its own path
            return get_relative_url(url, page.url) if url is not None else ""

        return href

    @event_priority(-10)
    def on_page_content(self, html: str, *, page: Page, config: Any, files: Files) -> str:
        if not self.config.enabled or self.plan is None:
            return html
        src = page.file.src_uri
        href = self._href(page)
        chars = self.config.catalog_summary_chars
        spec = self.specs.get(src)
        if spec is not None:
            if spec.role == "index":
                return html + P.index_html(self.plan, href, recent=self.config.catalog_recent, summary_chars=chars)
            if spec.role == "tags":
                return html + P.tag_cloud_html(self.plan, href)
            return html + P.listing_html(spec, self.plan, href, summary_chars=chars)
        issue = self.issues.get(src)
        if issue is not None:
            return self._issue_content(html, issue, page, config, href)
        if src == "index.md" and self.config.subscribe:
            return html + self._subscribe(page)
        return html

    def _issue_content(self, html: str, issue: Issue, page: Page, config: Any, href: P.Href) -> str:
        assert self.plan is not None
        # The issue body is curator text (notes from people, imports, other editors) rendered with
        # attr_list and raw HTML on: only the allow-list survives, on the page and in the feeds.
        parts = [responsive_images(sanitize_html(html), page.url, Path(config.docs_dir))]
        _sanitize_toc(page.toc)
        if not issue.published:
            parts.insert(0, '<div class="admonition warning"><p class="admonition-title">Draft</p>'
                            "<p>This issue is not published; only <code>--drafts</code> previews show it.</p></div>")
        parts.append(P.issue_tags_html(issue, self.plan if self.config.catalog_tags else None, href))
        if self.config.related and issue.number is not None:
            parts.append(P.related_html(self._related(issue.number), self.plan, href))
        if self.config.subscribe:
            parts.append(self._subscribe(page))
        content = "\n".join(p for p in parts if p)
        if issue.published and self.config.feed:
            base = page.canonical_url or ""
            body = "\n".join(p for p in parts[:-1] if p) if self.config.subscribe else content
            self.feed_entries.append(
                (issue, FeedEntry(issue.title, base or page.url, issue.date,
                                  absolutize(body.replace("<!-- more -->", ""), base)))
            )
        return content

    def _related(self, number: int) -> list[Any]:
        if not self._finder_opened:
            from .related import open_finder

            self._finder_opened = True
            self.finder = open_finder(self.settings.derived_dir, self.settings.model, self.settings.embed_backend)
        if self.finder is None or self.plan is None:
            return []
        mine = self.by_issue.get(number, [])
        if not mine:
            return []
        public = {it.id: it for it in self.plan.catalog.items}
        allowed = set(public) - set(mine)
        found = self.finder.related(mine, allowed, self.config.related_count)
        return [public[i] for i, _ in found if i in public]

    def _subscribe(self, page: Page) -> str:
        url = self.config.subscribe_url if self.config.subscribe_url is not None else self.settings.subscribe_url
        feed = get_relative_url(self.config.feed_rss, page.url) if self.config.feed else None
        table = self.settings.raw.get("list")
        server = str(table.get("server") or "") if isinstance(table, dict) else ""
        if server:  # the subscriber service: a real form (see templates/subscribe.html.j2)
            return P.subscribe_form_html(self.settings.name, server, feed, self.settings.templates_dir)
        return P.subscribe_html(self.settings.name, url or None, feed)

    @event_priority(-110)  # after the blog plugin rendered the excerpts of a view (-100)
    def on_page_context(self, context: Any, *, page: Page, config: Any, nav: Navigation) -> Any:
        if not self.config.enabled:
            return context
        for excerpt in context.get("posts") or ():
            if getattr(excerpt, "content", None):
                excerpt.content = sanitize_html(excerpt.content)
            if getattr(excerpt, "more", None):
                excerpt.more = sanitize_html(excerpt.more)
            _sanitize_toc(getattr(excerpt, "toc", None))
        _sanitize_toc(page.toc)  # a view's toc collects its excerpts' headlines
        return context

    def on_post_page(self, output: str, *, page: Page, config: Any) -> str:
        if not self.config.enabled or not self.config.feed:
            return output
        rss = P.esc(get_relative_url(self.config.feed_rss, page.url))
        atom = P.esc(get_relative_url(self.config.feed_atom, page.url))
        name = P.esc(self.settings.name)
        links = (
            f'<link rel="alternate" type="application/rss+xml" title="{name} (RSS)" href="{rss}">'
            f'<link rel="alternate" type="application/atom+xml" title="{name} (Atom)" href="{atom}">'
        )
        return output.replace("</head>", links + "</head>", 1)

    # -- feeds ---------------------------------------------------------------------------------

    def on_post_build(self, *, config: Any) -> None:
        if not self.config.enabled or not self.config.feed:
            return
        site_url = config.site_url or ""
        if not site_url:
            log.warning("newsletter: no site_url (newsletter.toml or mkdocs.yml): feed links are relative")
        ranked = sorted(self.feed_entries, key=lambda e: (e[0].date or "", e[0].number or 0), reverse=True)
        entries = [entry for _, entry in ranked[: max(0, self.config.feed_items)]]
        info = FeedInfo(
            title=self.settings.name or config.site_name,
            link=site_url,
            description=self.settings.description or config.site_description or "",
            language=self.settings.language,
            self_rss=site_url + self.config.feed_rss,
            self_atom=site_url + self.config.feed_atom,
        )
        site = Path(config.site_dir)
        outputs = ((self.config.feed_rss, rss_xml(info, entries)), (self.config.feed_atom, atom_xml(info, entries)))
        for name, data in outputs:
            target = site / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _sanitize_toc(toc: Any) -> None:
    """Table-of-contents titles as escaped text: the theme prints them as HTML."""
    for entry in toc or ():
        if isinstance(getattr(entry, "title", None), str):
            entry.title = text_only(entry.title)
        _sanitize_toc(getattr(entry, "children", None))


def _sections(items: list[Any]) -> list[Section]:
    found = []
    for item in items:
        if isinstance(item, Section):
            found.append(item)
            found += _sections(item.children)
    return found
