"""Pure functions that decide what the archive site shows and turn it into HTML.

Nothing here touches files or mkdocs: items and issues in, a `SitePlan` (which pages exist, what
each lists) and HTML strings out. Catalog text comes from strangers, so every piece of it goes
through `html.escape`, and a link is written only for an http(s) URL (`safe_url`, on top of the
package's one link rule `newsletter.markup.is_safe_link`); anything else is shown as plain text. Listings are HTML, not Markdown, so no Markdown trick in a title can
become a link or an image, and python-markdown never has to parse 20k resources.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ..markup import is_safe_link, link_scheme
from ..models import KINDS, Item
from ..web.public import public_url
from .issues import Issue

# kind -> (file name under the catalog folder, page title); the order is the nav order.
KIND_PAGES: dict[str, tuple[str, str]] = {
    "paper": ("papers", "Papers"),
    "link": ("posts", "Posts and articles"),
    "podcast": ("podcasts", "Podcasts"),
    "repo": ("tools", "Tools and repos"),
    "video": ("videos", "Videos"),
    "tweet": ("tweets", "Tweets and threads"),
}
KIND_LABELS = {
    "paper": "Paper", "link": "Post", "podcast": "Podcast", "repo": "Repo", "video": "Video", "tweet": "Tweet",
}
assert set(KIND_PAGES) == set(KINDS)

Href = Callable[[str], str]  # src_uri of a page -> URL relative to the page being rendered

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SAFE_TAG_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


# -- small pure helpers --------------------------------------------------------------------------


def clean(text: object, limit: int = 0) -> str:
    """Text for display: control and bidi characters dropped, whitespace collapsed, cut at a word."""
    value = " ".join(_CONTROL.sub(" ", str(text or "")).split())
    if limit and len(value) > limit:
        cut = value[:limit].rsplit(" ", 1)[0] if " " in value[: limit] else value[:limit]
        value = cut.rstrip(" ,.;:-") + "…"
    return value


def esc(text: object, limit: int = 0) -> str:
    """`clean`, then HTML-escaped (quotes too, so it is safe inside attributes)."""
    return html.escape(clean(text, limit), quote=True)


def safe_url(url: object) -> str | None:
    """The URL if it is a plain absolute http(s) URL, else None (javascript:, data:, spaces ...)."""
    value = str(url or "").strip()
    if not value or len(value) > 4000 or _CONTROL.search(value) or any(ch in value for ch in " <>\"'`\\"):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or parts.netloc.startswith("@"):
        return None
    # The package-wide link rule as well (markup.is_safe_link: the scheme as a browser reads it).
    if not is_safe_link(value) or link_scheme(value) not in ("http", "https"):
        return None
    return value


def tag_slug(tag: str) -> str:
    """A URL-safe, collision-free path segment for a tag ("c++" -> "c-c4d2a1", "llm" -> "llm")."""
    if _SAFE_TAG_SLUG.fullmatch(tag) and tag not in ("index", "page"):
        return tag
    # Tags keep their letters (models.normalize_tag); the path segment is transliterated here:
    # "données" -> "donnees-…", and a script with no ASCII spelling ("机器学习") -> "tag-…".
    ascii_text = unicodedata.normalize("NFKD", tag).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "tag"
    return f"{base}-{hashlib.sha1(tag.encode()).hexdigest()[:6]}"


def format_date(value: str | None) -> str:
    """'2023-09-12' -> '12 Sep 2023' ('' for None or nonsense)."""
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return ""
    return f"{day.day} {day.strftime('%b')} {day.year}"


def month_label(month: str) -> str:
    """'2025-02' -> 'February 2025'."""
    try:
        return dt.date.fromisoformat(f"{month}-01").strftime("%B %Y")
    except ValueError:
        return month


def item_source(item: Item) -> str:
    """Where a resource comes from, for the listing line (show, @handle, site or host)."""
    extra = item.extra or {}
    if item.kind == "podcast" and extra.get("show"):
        return clean(extra["show"])
    if item.kind == "tweet" and extra.get("handle"):
        handle = clean(extra["handle"]).lstrip("@")
        return f"@{handle}" if handle else ""
    if item.kind == "video" and extra.get("channel"):
        return clean(extra["channel"])
    if item.site:
        return clean(item.site)
    try:
        return urlsplit(item.url).hostname or ""
    except ValueError:
        return ""


def front_matter_page(title: str, *, search: bool = True, hide_toc: bool = True) -> str:
    """The Markdown of a generated page: front matter only; the listing is added as HTML later."""
    meta: dict[str, object] = {"title": title}
    if not search:
        meta["search"] = {"exclude": True}
    if hide_toc:
        meta["hide"] = ["toc"]
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n"


# -- what is public ---------------------------------------------------------------------------


@dataclasses.dataclass
class PublicCatalog:
    """The items the public site may show and the visible issues that featured each."""

    items: list[Item]  # newest featured first
    featured: dict[str, tuple[int, ...]]  # item id -> issue numbers (visible issues only)
    issues: dict[int, Issue]  # visible issues by number
    month: dict[str, str]  # item id -> 'YYYY-MM' it was (first) featured, or its own date

    def featured_date(self, item: Item) -> str:
        dates = [self.issues[n].date or "" for n in self.featured.get(item.id, ())]
        return min((d for d in dates if d), default="") or item.published or item.added[:10]


def public_catalog(
    items: Iterable[Item], issues: Iterable[Issue], *, drafts: bool, identity_index: Mapping[str, str] | None = None
) -> PublicCatalog:
    """Select what the public site shows: never inbox/shortlisted/skipped items or merged duplicates.

    An item is public when it is marked published or names an issue, and (if it names one) that
    issue is visible: published, or any issue when `drafts`. Links in visible issues add more
    "featured in" numbers for public items (an item covered again later). `identity_index` maps
    identity keys to ids (`identity.identity_index`) for that; without it only `item.issue` counts.
    """
    from ..store import identity

    visible = {i.number: i for i in issues if i.number is not None and (i.published or drafts)}
    candidates = {
        it.id: it for it in items if not it.duplicate_of and (it.status == "published" or it.issue is not None)
    }
    featured: dict[str, set[int]] = defaultdict(set)
    for item in candidates.values():
        if item.issue is not None and item.issue in visible:
            featured[item.id].add(item.issue)
    if identity_index:
        for number, issue in visible.items():
            for url in issue.links:
                found = identity.find_existing(identity_index, url)
                if found in candidates:
                    featured[found].add(number)
    chosen = []
    for item in candidates.values():
        if item.issue is not None and not featured.get(item.id):
            continue  # its issue is a draft (or missing): not public yet
        chosen.append(item)
    catalog = PublicCatalog([], {k: tuple(sorted(v)) for k, v in featured.items()}, visible, {})
    dates = {it.id: catalog.featured_date(it) for it in chosen}
    catalog.items = sorted(chosen, key=lambda it: (dates[it.id], it.published or "", it.id), reverse=True)
    catalog.month = {it.id: dates[it.id][:7] for it in chosen if len(dates[it.id]) >= 7}
    return catalog


# -- the plan: which pages exist --------------------------------------------------------------


@dataclasses.dataclass
class PageSpec:
    """One generated page: where it lives, its title, and what it lists."""

    src_uri: str
    title: str
    role: str  # "index", "kind", "tags", "tag", "month"
    items: list[Item] = dataclasses.field(default_factory=list)
    in_nav: bool = False
    search: bool = False
    page: int = 1
    pages: int = 1
    first_src: str = ""  # src_uri of page 1 of this listing
    key: str = ""  # kind, tag or month

    @property
    def markdown(self) -> str:
        title = self.title if self.page == 1 else f"{self.title} (page {self.page})"
        return front_matter_page(title, search=self.search)


@dataclasses.dataclass
class SitePlan:
    """Every generated page, and lookups the renderers need."""

    catalog: PublicCatalog
    pages: list[PageSpec]
    root: str  # catalog folder
    tag_counts: dict[str, int]
    month_counts: dict[str, int]
    kind_counts: dict[str, int]
    tag_pages: bool
    month_pages: bool
    # item id → (docs path, width, height) of its local image copy, shown as a thumbnail
    thumbnails: dict[str, tuple[str, int, int]] = dataclasses.field(default_factory=dict)

    @property
    def index_src(self) -> str:
        return f"{self.root}/index.md"

    def kind_src(self, kind: str) -> str:
        return f"{self.root}/{KIND_PAGES[kind][0]}.md"

    def tags_src(self) -> str:
        return f"{self.root}/tags.md"

    def tag_src(self, tag: str) -> str | None:
        return f"{self.root}/tags/{tag_slug(tag)}.md" if self.tag_pages and tag in self.tag_counts else None

    def month_src(self, month: str) -> str | None:
        return f"{self.root}/months/{month}.md" if self.month_pages and month in self.month_counts else None


def _paginate(first_src: str, title: str, role: str, key: str, items: list[Item], per_page: int, *,
              in_nav: bool, search: bool) -> list[PageSpec]:
    per_page = max(1, per_page)
    chunks = [items[i : i + per_page] for i in range(0, len(items), per_page)] or [[]]
    base = first_src[: -len(".md")]
    specs = []
    for n, chunk in enumerate(chunks, start=1):
        src = first_src if n == 1 else f"{base}/page/{n}.md"
        specs.append(PageSpec(src, title, role, chunk, in_nav and n == 1, search, n, len(chunks), first_src, key))
    return specs


def plan_site(
    catalog: PublicCatalog, *, root: str = "catalog", per_page: int = 200, tags: bool = True, months: bool = True
) -> SitePlan:
    """Decide the generated pages: catalog index, one listing per kind, tag and month (paginated).

    Kind listings are the only ones in the search index, so each resource is found exactly once.
    """
    by_kind: dict[str, list[Item]] = defaultdict(list)
    by_tag: dict[str, list[Item]] = defaultdict(list)
    by_month: dict[str, list[Item]] = defaultdict(list)
    for item in catalog.items:
        by_kind[item.kind].append(item)
        for tag in dict.fromkeys(item.tags):
            by_tag[tag].append(item)
        if item.id in catalog.month:
            by_month[catalog.month[item.id]].append(item)
    for issue in catalog.issues.values():
        for tag in issue.tags:
            by_tag.setdefault(tag, [])
    plan = SitePlan(
        catalog, [], root.strip("/") or "catalog",
        {t: len(v) for t, v in by_tag.items()}, {m: len(v) for m, v in by_month.items()},
        {k: len(v) for k, v in by_kind.items()}, tags, months,
    )
    plan.pages.append(PageSpec(plan.index_src, "Catalog", "index", in_nav=True))
    for kind, (_, title) in KIND_PAGES.items():
        if by_kind.get(kind):
            plan.pages += _paginate(plan.kind_src(kind), title, "kind", kind, by_kind[kind], per_page,
                                    in_nav=True, search=True)
    if tags and by_tag:
        plan.pages.append(PageSpec(plan.tags_src(), "Tags", "tags", in_nav=True))
        for tag in sorted(by_tag):
            src = plan.tag_src(tag)
            assert src is not None
            plan.pages += _paginate(src, f"Tagged “{tag}”", "tag", tag, by_tag[tag], per_page,
                                    in_nav=False, search=False)
    if months:
        for month in sorted(by_month):
            src = plan.month_src(month)
            assert src is not None
            plan.pages += _paginate(src, f"Featured in {month_label(month)}", "month", month, by_month[month],
                                    per_page, in_nav=False, search=False)
    return plan


# -- HTML -------------------------------------------------------------------------------------


def link(href: str | None, text_html: str, *, external: bool = False, cls: str = "") -> str:
    """An <a> around already-escaped text; plain text when there is no usable href."""
    if not href:
        return text_html
    attrs = f' href="{html.escape(href, quote=True)}"'
    if cls:
        attrs += f' class="{cls}"'
    if external:
        attrs += ' rel="nofollow noopener ugc"'
    return f"<a{attrs}>{text_html}</a>"


def issue_links_html(numbers: Sequence[int], issues: Mapping[int, Issue], href: Href) -> str:
    """'Issue #1, Issue #3' linked to the issue pages."""
    parts = []
    for number in numbers:
        issue = issues.get(number)
        if issue is None:
            continue
        parts.append(link(href(issue.src_uri), esc(issue.label), cls="nl-issue"))
    return ", ".join(parts)


def item_html(item: Item, plan: SitePlan, href: Href, *, summary_chars: int, heading: str = "h3") -> str:
    """One resource: linked title, kind · date · source · featured in, summary, tags. All escaped."""
    catalog = plan.catalog
    title = esc(item.display_title(), 500)
    url = safe_url(public_url(item)) or safe_url(item.url)
    meta = [f'<span class="nl-kind nl-kind-{item.kind}">{esc(KIND_LABELS.get(item.kind, item.kind))}</span>']
    if item.published:
        meta.append(f'<time datetime="{esc(item.published)}">{esc(format_date(item.published))}</time>')
    source = item_source(item)
    if source:
        meta.append(f'<span class="nl-source">{esc(source, 120)}</span>')
    featured = issue_links_html(catalog.featured.get(item.id, ()), catalog.issues, href)
    if featured:
        meta.append(f'<span class="nl-featured">Featured in {featured}</span>')
    thumb = ""
    if item.id in plan.thumbnails and (src_href := href(plan.thumbnails[item.id][0])):
        _, width, height = plan.thumbnails[item.id]
        # Decorative: the title next to it says what it is, so the alt text is empty (not read twice).
        thumb = (f'<img class="nl-thumb" src="{esc(src_href)}" alt="" width="{width}" height="{height}" '
                 'loading="lazy" decoding="async">')
    parts = [
        f'<article class="nl-item{" nl-has-thumb" if thumb else ""}" data-kind="{esc(item.kind)}">{thumb}',
        f'<{heading} id="item-{esc(item.id)}" class="nl-item-title">{link(url, title, external=True)}</{heading}>',
        f'<p class="nl-meta">{" · ".join(meta)}</p>',
    ]
    if item.summary and summary_chars > 0:
        parts.append(f'<p class="nl-summary">{esc(item.summary, summary_chars)}</p>')
    tags = [link(href(src) if (src := plan.tag_src(t)) else None, esc(t), cls="nl-tag") for t in item.tags[:12]]
    if tags:
        parts.append(f'<p class="nl-tags">{" ".join(tags)}</p>')
    parts.append("</article>")
    return "".join(parts)


def pager_html(spec: PageSpec, href: Href) -> str:
    """Numbered links between the pages of one listing (nothing for a single page)."""
    if spec.pages <= 1:
        return ""
    base = spec.first_src[: -len(".md")]

    def src(n: int) -> str:
        return spec.first_src if n == 1 else f"{base}/page/{n}.md"

    shown = sorted({1, spec.pages, *range(max(1, spec.page - 2), min(spec.pages, spec.page + 2) + 1)})
    parts, last = [], 0
    if spec.page > 1:
        parts.append(link(href(src(spec.page - 1)), "← Newer", cls="nl-page"))
    for n in shown:
        if n - last > 1:
            parts.append('<span class="nl-gap">…</span>')
        if n == spec.page:
            parts.append(f'<span class="nl-page nl-current" aria-current="page">{n}</span>')
        else:
            parts.append(link(href(src(n)), str(n), cls="nl-page"))
        last = n
    if spec.page < spec.pages:
        parts.append(link(href(src(spec.page + 1)), "Older →", cls="nl-page"))
    return f'<nav class="nl-pager" aria-label="Pages">{" ".join(parts)}</nav>'


def listing_html(spec: PageSpec, plan: SitePlan, href: Href, *, summary_chars: int) -> str:
    """A listing page's body: a count line, optional tagged issues, the resources, a pager."""
    total = {"kind": plan.kind_counts, "tag": plan.tag_counts, "month": plan.month_counts}[spec.role].get(spec.key, 0)
    noun = "resource" if total == 1 else "resources"
    paging = f" · page {spec.page} of {spec.pages}" if spec.pages > 1 else ""
    parts = [f'<p class="nl-count">{total} {noun}{paging}</p>']
    if spec.role == "tag" and spec.page == 1:
        tagged = sorted(
            (i for i in plan.catalog.issues.values() if spec.key in i.tags), key=lambda i: i.date or "", reverse=True
        )
        if tagged:
            links = ", ".join(link(href(i.src_uri), esc(i.title)) for i in tagged)
            parts.append(f'<p class="nl-tagged-issues">Issues: {links}</p>')
    parts.append(pager_html(spec, href))
    parts.append('<div class="nl-items">')
    parts += [item_html(item, plan, href, summary_chars=summary_chars) for item in spec.items]
    parts.append("</div>")
    parts.append(pager_html(spec, href))
    return "\n".join(p for p in parts if p)


def tag_cloud_html(plan: SitePlan, href: Href, limit: int = 0) -> str:
    """Tags with their counts, most used first (all of them when limit is 0)."""
    ranked = sorted(plan.tag_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if limit:
        ranked = ranked[:limit]
    links = [
        link(href(src) if (src := plan.tag_src(t)) else None, f'{esc(t)} <span class="nl-n">{n}</span>',
             cls="nl-tag")
        for t, n in ranked
    ]
    return f'<p class="nl-tag-cloud">{" ".join(links)}</p>'


def index_html(plan: SitePlan, href: Href, *, recent: int, summary_chars: int) -> str:
    """The catalog's front page: kinds with counts, months, popular tags, recently featured."""
    catalog = plan.catalog
    parts = [
        f'<p class="nl-count">{len(catalog.items)} resources featured in {len(catalog.issues)} '
        f'issue{"s" if len(catalog.issues) != 1 else ""}.</p>',
        '<div class="nl-kinds">',
    ]
    for kind, (_, title) in KIND_PAGES.items():
        count = plan.kind_counts.get(kind, 0)
        if count:
            parts.append(link(href(plan.kind_src(kind)),
                              f'<span class="nl-kinds-title">{esc(title)}</span> <span class="nl-n">{count}</span>',
                              cls="nl-kind-card"))
    parts.append("</div>")
    if plan.tag_pages and plan.tag_counts:
        parts.append(f'<h2 id="tags">Popular tags</h2>{tag_cloud_html(plan, href, 40)}')
        parts.append(f'<p>{link(href(plan.tags_src()), "All tags →")}</p>')
    if plan.month_pages and plan.month_counts:
        months = [
            link(href(src) if (src := plan.month_src(m)) else None,
                 f'{esc(month_label(m))} <span class="nl-n">{n}</span>', cls="nl-month")
            for m, n in sorted(plan.month_counts.items(), reverse=True)
        ]
        parts.append(f'<h2 id="months">By month</h2><p class="nl-months">{" ".join(months)}</p>')
    if recent and catalog.items:
        parts.append('<h2 id="recent">Recently featured</h2><div class="nl-items">')
        parts += [item_html(it, plan, href, summary_chars=summary_chars) for it in catalog.items[:recent]]
        parts.append("</div>")
    return "\n".join(parts)


def related_html(related: Sequence[Item], plan: SitePlan, href: Href, *, summary_chars: int = 160) -> str:
    """'Related from the archive' under an issue (nothing when there is nothing related)."""
    if not related:
        return ""
    rows = "".join(item_html(it, plan, href, summary_chars=summary_chars, heading="h3") for it in related)
    heading = '<h2 id="related">Related from the archive</h2>'
    return f'<section class="nl-related">{heading}<div class="nl-items">{rows}</div></section>'


def issue_tags_html(issue: Issue, plan: SitePlan | None, href: Href) -> str:
    """The issue's tags, linked to the tag listings when those exist."""
    if not issue.tags:
        return ""
    links = [
        link(href(src) if plan and (src := plan.tag_src(t)) else None, esc(t), cls="nl-tag") for t in issue.tags
    ]
    return f'<p class="nl-tags nl-issue-tags">Tags: {" ".join(links)}</p>'


def subscribe_form_html(name: str, server_url: str, feed_href: str | None, templates_dir: Path | None) -> str:
    """The subscribe form that posts to the list server's /subscribe (templates/subscribe.html.j2).

    Only called when `[list] server` is set: without a server there is nothing to post to, and a
    form that goes nowhere is worse than the RSS link `subscribe_html` shows instead.
    """
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None and templates_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("newsletter", "templates"))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True, undefined=jinja2.StrictUndefined)
    action = safe_url(server_url.rstrip("/") + "/subscribe") or ""
    if not action:
        return subscribe_html(name, None, feed_href)
    return env.get_template("subscribe.html.j2").render(name=name, action=action, feed_href=feed_href or "")


def subscribe_html(name: str, subscribe_url: str | None, feed_href: str | None) -> str:
    """The call to action: a Subscribe button (when there is a link) and the RSS feed."""
    buttons = []
    target = safe_url(subscribe_url) or (subscribe_url if (subscribe_url or "").startswith("mailto:") else None)
    if target:
        buttons.append(link(target, "Subscribe", cls="md-button md-button--primary"))
    if feed_href:
        buttons.append(link(feed_href, "RSS feed", cls="md-button"))
    if not buttons:
        return ""
    text = f"Get every issue of {esc(name)}" + (" in your inbox." if target else " in your feed reader.")
    return f'<aside class="nl-subscribe"><p>{text}</p><p>{" ".join(buttons)}</p></aside>'
