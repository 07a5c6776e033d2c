"""The archive site: the mkdocs plugin's generated pages, privacy, escaping, feeds and links.

Sites are built for real (mkdocs + Material + the plugin) from a copy of the repository's sample
newsletter in tmp_path; tests/data/site_xss/ plants hostile catalog items, an inbox item and a
draft issue into that copy.
"""

from __future__ import annotations

import contextlib
import html.parser
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import pytest
from click.testing import CliRunner

from newsletter.issues.files import link_urls
from newsletter.models import Item
from newsletter.site import pages as P
from newsletter.site.feed import FeedEntry, FeedInfo, atom_xml, rss_xml
from newsletter.site.issues import Issue, check_issue_links, parse_issue

REPO = Path(__file__).resolve().parent.parent
XSS_DATA = Path(__file__).resolve().parent / "data" / "site_xss"
PUBLISHED_ISSUES = {1, 2, 3, 4}
MARKERS_PRIVATE = ("zqxjv", "kwpfz", "vbnmq")  # inbox item, draft issue, draft-only item


# -- helpers (also used by tests/test_site_browser.py) -------------------------------------------


def copy_sample(dest: Path) -> Path:
    """A copy of the repo's sample newsletter (settings, mkdocs.yml, content, catalog, templates)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("newsletter.toml", "mkdocs.yml"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("content", "catalog", "templates"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns(".newsletter", "__pycache__"))
    return dest


def plant_xss(root: Path) -> None:
    """Add the hostile items, the inbox item and the draft issue of tests/data/site_xss."""
    shutil.copytree(XSS_DATA / "catalog", root / "catalog" / "planted")
    for issue in (XSS_DATA / "issues").glob("*.md"):
        shutil.copy2(issue, root / "content" / "issues" / issue.name)


def set_plugin_options(root: Path, **options: object) -> None:
    """Rewrite the `- newsletter:` block of mkdocs.yml with these options."""
    config = root / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    block = "".join(f"      {key}: {json.dumps(value)}\n" for key, value in options.items())
    text, count = re.subn(r"  - newsletter:\n(?:      .*\n)*", "  - newsletter:\n" + block, text)
    assert count == 1, "mkdocs.yml has no `- newsletter:` plugin block"
    config.write_text(text, encoding="utf-8")


def build_site(root: Path, site_dir: Path, *, drafts: bool = False) -> Path:
    """Build with the mkdocs API (as `mkdocs build` does); returns the site folder."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from newsletter.site.config import DRAFTS_ENV

    os.environ["NO_MKDOCS_2_WARNING"] = "1"
    with _env(DRAFTS_ENV, "1" if drafts else None):
        cfg = load_config(str(root / "mkdocs.yml"), site_dir=str(site_dir))
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            build(cfg)
        finally:
            cfg.plugins.on_shutdown()
    return site_dir


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.pop(name, None)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
        if old is not None:
            os.environ[name] = old


@contextlib.contextmanager
def hashing_related(root: Path) -> Iterator[None]:
    """Related items from a real semantic index built with the model-free HashingEmbedder.

    The plugin opens the index the project's model setting names; here the finder is pointed at
    an index over the same catalog built without torch (same engine, same `related` call).
    """
    from newsletter.semantic import HashingEmbedder, SemanticEngine
    from newsletter.site import related
    from newsletter.store import Store

    store = Store(root / "catalog", root / ".newsletter")
    items = list(store.load().items.values())
    store.close()
    engine = SemanticEngine(root / ".newsletter" / "semantic", embedder=HashingEmbedder())
    engine.sync(items)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(related, "open_finder", lambda *args: related.RelatedFinder(engine))
        yield


def build_xss_site(root: Path, site_dir: Path, *, drafts: bool = False) -> Path:
    """The sample plus planted items, small pages (pagination), related items on; built."""
    copy_sample(root)
    plant_xss(root)
    set_plugin_options(root, catalog_per_page=5, related_count=200)
    with hashing_related(root):
        return build_site(root, site_dir, drafts=drafts)


def html_files(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def all_text(site: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in site.rglob("*")
        if p.is_file() and p.suffix in (".html", ".xml", ".json", ".txt")
    )


class _Collector(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of inline scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse_html(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def assert_no_injection(path: Path) -> None:
    """No event handler attributes, no javascript:/data: links, no injected script anywhere."""
    page = parse_html(path)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{path}: <{tag} {name}=...> event handler"
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), f"{path}: {value}"
        if tag == "script":
            src = urlsplit(attrs.get("src", ""))
            assert not src.scheme and not src.netloc and ("src" not in attrs or "assets/" in src.path), attrs
        assert tag not in ("iframe", "details", "object", "embed"), f"{path}: <{tag}> injected"
        if tag == "img":
            assert attrs.get("src") != "x", f"{path}: planted <img> became markup"
    for script in page.scripts:
        assert "alert(" not in script, f"{path}: injected inline script"


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_sample(tmp_path_factory.mktemp("sample"))
    return build_site(root, root / "site")


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("xss")
    return build_xss_site(root, root / "site")


@pytest.fixture(scope="module")
def drafts_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drafts")
    return build_xss_site(root, root / "site", drafts=True)


# -- the built sample ---------------------------------------------------------------------------


def test_generated_catalog_pages_exist(sample_site: Path) -> None:
    for rel in (
        "catalog/index.html", "catalog/papers/index.html", "catalog/posts/index.html", "catalog/podcasts/index.html",
        "catalog/tools/index.html", "catalog/tweets/index.html", "catalog/videos/index.html",
        "catalog/tags/index.html", "catalog/tags/inference/index.html", "catalog/months/2025-02/index.html",
        "issues/001-serving-llms-without-melting-your-gpus/index.html", "archive/2025/02/index.html",
        "feed.xml", "atom.xml", "sitemap.xml",
    ):
        assert (sample_site / rel).is_file(), rel
    papers = (sample_site / "catalog/papers/index.html").read_text(encoding="utf-8")
    assert "Efficient Memory Management for Large Language Model Serving with PagedAttention" in papers
    assert "Featured in" in papers and 'href="../../issues/001-serving-llms-without-melting-your-gpus/"' in papers


def test_published_items_listed_with_date_source_and_issue(sample_site: Path) -> None:
    tools = (sample_site / "catalog/tools/index.html").read_text(encoding="utf-8")
    match = re.search(r'<article class="nl-item" data-kind="repo"><h3 id="item-1c31594bc1da".*?</article>', tools)
    assert match, "llama.cpp (published in issue 1) is not on the tools page"
    block = match.group(0)
    assert 'href="https://github.com/ggerganov/llama.cpp"' in block
    assert "GitHub" in block and "Issue #1" in block
    assert 'href="../tags/inference/"' in block


def test_no_related_block_without_a_semantic_index(sample_site: Path) -> None:
    issue = (sample_site / "issues/001-serving-llms-without-melting-your-gpus/index.html").read_text(encoding="utf-8")
    assert "Get every issue of The MLOps Gazette" in issue  # the subscribe call to action
    assert "Related from the archive" not in issue


def test_site_loads_nothing_from_other_hosts(sample_site: Path) -> None:
    for path in html_files(sample_site):
        for tag, attrs in parse_html(path).tags:
            if tag in ("script", "img", "iframe") or (tag == "link" and attrs.get("rel") in ("stylesheet", "preload")):
                url = attrs.get("src") or attrs.get("href") or ""
                assert not urlsplit(url).netloc, f"{path}: <{tag}> loads {url}"
        assert "fonts.googleapis" not in path.read_text(encoding="utf-8")


def test_search_index_lists_each_item_once_from_kind_pages(sample_site: Path) -> None:
    docs = json.loads((sample_site / "search/search_index.json").read_text(encoding="utf-8"))["docs"]
    locations = [d["location"] for d in docs]
    assert "catalog/papers/#item-0ef0f6f97f9d" in locations  # Toolformer
    assert not any(loc.startswith(("catalog/tags/", "catalog/months/")) for loc in locations)
    item_hits = [loc for loc in locations if "#item-" in loc]
    assert len(item_hits) == len(set(loc.split("#")[1] for loc in item_hits))


# -- privacy ------------------------------------------------------------------------------------


def test_inbox_items_never_reach_the_site(xss_site: Path) -> None:
    text = all_text(xss_site)
    assert "zqxjv" not in text
    inbox_ids = []
    for path in (REPO / "catalog").rglob("*.md"):
        head = path.read_text(encoding="utf-8")
        if "\nstatus: inbox\n" in head or "\nstatus: shortlisted\n" in head or "\nstatus: skipped\n" in head:
            inbox_ids.append(re.search(r"^id: (\S+)", head, re.M).group(1))
    assert inbox_ids
    for item_id in inbox_ids:
        assert f"item-{item_id}" not in text


def test_draft_issue_and_its_items_only_with_drafts(xss_site: Path, drafts_site: Path) -> None:
    text = all_text(xss_site)
    for marker in MARKERS_PRIVATE[1:]:
        assert marker not in text
    assert not (xss_site / "issues/005-draft").exists()
    draft_page = drafts_site / "issues/005-draft/index.html"
    assert draft_page.is_file()
    assert "This issue is not published" in draft_page.read_text(encoding="utf-8")
    assert "vbnmq" in (drafts_site / "catalog/posts/index.html").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in (drafts_site / "catalog/posts/page").rglob("*.html")
    )
    assert "zqxjv" not in all_text(drafts_site)  # inbox stays private even in a drafts preview
    feed = feedparser.parse((drafts_site / "feed.xml").read_bytes())
    assert not any("kwpfz" in e.title for e in feed.entries)  # drafts never go to the feed


# -- escaping -----------------------------------------------------------------------------------


def _pages_with(site: Path, needle: str) -> list[Path]:
    return [p for p in html_files(site) if needle in p.read_text(encoding="utf-8")]


def test_xss_payloads_render_as_text_on_catalog_pages(xss_site: Path) -> None:
    hits = _pages_with(xss_site, "&lt;script&gt;alert(1)&lt;/script&gt; Script in the title")
    names = {p.relative_to(xss_site).as_posix() for p in hits}
    assert any(n.startswith("catalog/posts/") for n in names)
    assert "catalog/tags/xss/index.html" in names
    assert any(n.startswith("catalog/months/2025-02/") for n in names)
    for path in html_files(xss_site):
        assert_no_injection(path)
    tag_page = (xss_site / "catalog/tags/xss/index.html").read_text(encoding="utf-8")
    assert "&quot;&gt;&lt;img src=x onerror=alert(6)&gt; [click me](javascript:alert(7))" in tag_page
    assert "https://evil.example" not in tag_page  # a URL that breaks out of its attribute is dropped
    assert "@&quot;&gt;&lt;svg onload=alert(15)&gt;" in tag_page  # the tweet handle, as text
    assert 'href="javascript' not in tag_page
    # "c++" is a tag too: its page gets a safe, unique path segment
    assert list((xss_site / "catalog/tags").glob("c-*/index.html"))


def test_xss_payloads_render_as_text_in_the_related_block(xss_site: Path) -> None:
    issue = (xss_site / "issues/001-serving-llms-without-melting-your-gpus/index.html").read_text(encoding="utf-8")
    related = issue[issue.index('<section class="nl-related">') :]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Script in the title" in related
    assert "item-1c31594bc1da" not in related  # llama.cpp is in issue 1 itself
    assert "zqxjv" not in related and "vbnmq" not in related


def test_feed_parses_lists_published_issues_and_escapes(xss_site: Path) -> None:
    for name in ("feed.xml", "atom.xml"):
        raw = (xss_site / name).read_bytes()
        feed = feedparser.parse(raw)
        assert not feed.bozo, (name, feed.get("bozo_exception"))
        numbers = {int(re.search(r"#(\d+)", e.title).group(1)) for e in feed.entries}
        assert numbers == PUBLISHED_ISSUES
        assert all(e.link.startswith("https://gazette.example.org/issues/") for e in feed.entries)
        text = raw.decode("utf-8")
        # catalog text is HTML-escaped inside the HTML, which is XML-escaped: "&amp;lt;script"
        assert "&amp;lt;script&amp;gt;alert(1)" in text
        assert "&lt;script" not in text and "<script" not in text
        entry = next(e for e in feed.entries if "#1:" in e.title)
        content = entry.get("content", [{}])[0].get("value") or entry.get("summary", "")
        assert "https://gazette.example.org/catalog/" in content  # relative links made absolute


# -- links --------------------------------------------------------------------------------------


def _local_targets(path: Path, site: Path) -> Iterator[tuple[str, Path]]:
    for tag, attrs in parse_html(path).tags:
        for name in ("href", "src"):
            value = attrs.get(name)
            if not value or (tag == "a" and value.startswith("#")):
                continue
            parts = urlsplit(value)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            if parts.path.startswith("/"):  # 404.html links from the site root (site_url's path is "/")
                target = (site / unquote(parts.path).lstrip("/")).resolve()
            else:
                target = (path.parent / unquote(parts.path)).resolve()
            if value.endswith("/") or target.is_dir():
                target = target / "index.html"
            yield value, target


@pytest.mark.parametrize("which", ["sample_site", "xss_site"])
def test_every_local_link_resolves(which: str, request: pytest.FixtureRequest) -> None:
    site: Path = request.getfixturevalue(which)
    broken = []
    checked = 0
    for path in html_files(site):
        for value, target in _local_targets(path, site):
            checked += 1
            if not target.is_file():
                broken.append(f"{path.relative_to(site)} -> {value}")
    assert checked > 500
    assert not broken, "\n".join(broken[:20])


def test_pagination_pages_exist_and_link_each_other(xss_site: Path) -> None:
    second = xss_site / "catalog/papers/page/2/index.html"
    assert second.is_file()
    text = second.read_text(encoding="utf-8")
    assert 'href="../../"' in text  # back to page 1
    assert 'aria-current="page">2<' in text


# -- `newsletter build` -------------------------------------------------------------------------


def _cli() -> object:
    from newsletter.cli import app as cli
    from newsletter.cli import site as cli_site

    if "build" not in cli.main.commands:
        cli_site.register_commands(cli.main)
    return cli.main


def test_cli_build_runs_checks_and_builds(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "project")
    (root / "catalog" / "broken.md").write_text("---\nid: [unclosed\n---\n", encoding="utf-8")
    orphan = next((root / "catalog").rglob("*llama-cpp*.md"), None) or next((root / "catalog").rglob("*.md"))
    orphan.write_text(orphan.read_text(encoding="utf-8").replace("issue: 1\n", "issue: 99\n"), encoding="utf-8")
    result = CliRunner().invoke(_cli(), ["-C", str(root), "build", "-d", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    stderr = result.stderr
    assert re.search(r"^error: .*broken\.md", stderr, re.M), stderr
    assert re.search(r"^warning: item \w+ says it was featured in issue 99", stderr, re.M), stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "out" / "catalog" / "index.html").is_file()
    assert os.environ.get("NO_MKDOCS_2_WARNING")  # Material's MkDocs-2 banner is silenced


def test_cli_build_drafts_flag(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "project")
    plant_xss(root)
    runner = CliRunner()
    result = runner.invoke(_cli(), ["-C", str(root), "build", "--drafts", "-d", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "issues" / "005-draft" / "index.html").is_file()
    result = runner.invoke(_cli(), ["-C", str(root), "build", "-d", str(tmp_path / "out2")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out2" / "issues" / "005-draft").exists()


def test_scaffold_project_builds(tmp_path: Path) -> None:
    from newsletter.project import init_project

    root = init_project(tmp_path / "fresh", name="Fresh Notes")
    site = build_site(root, tmp_path / "site")
    assert (site / "index.html").is_file() and (site / "feed.xml").is_file()
    assert "Fresh Notes" in (site / "index.html").read_text(encoding="utf-8")


# -- pure parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/a?b=1&c=2", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("https://example.com/\" onmouseover=\"x", False),
        ("https://exa mple.com", False),
        ("//example.com/x", False),
        ("https://@evil", False),
        ("ftp://example.com", False),
        ("https://example.com/\u202ebidi", False),
        ("", False),
    ],
)
def test_safe_url(url: str, ok: bool) -> None:
    assert (P.safe_url(url) is not None) is ok


def test_tag_slug_is_safe_and_unique() -> None:
    assert P.tag_slug("llm") == "llm"
    slugs = {P.tag_slug(t) for t in ("c++", "c#", "c", "index", "page", "a..b", ".net")}
    assert len(slugs) == 7
    assert all(re.fullmatch(r"[a-z0-9-]+", s) for s in slugs)


def test_clean_and_escape() -> None:
    assert P.esc('<b a="1">x</b>') == "&lt;b a=&quot;1&quot;&gt;x&lt;/b&gt;"
    assert P.clean("a\n\tb\u202ec\x00d") == "a b c d"
    assert P.clean("one two three four", 9) == "one two…"


def _item(item_id: str, **kw: object) -> Item:
    base = {"id": item_id, "kind": "link", "url": f"https://example.com/{item_id}", "title": item_id}
    return Item.from_dict({**base, **kw})


def _issue(number: int, status: str = "published", links: tuple[str, ...] = ()) -> Issue:
    return Issue(number, f"Issue #{number}", f"2025-01-{number:02d}", status, ("t",), f"issues/{number:03d}.md", links)


def test_public_catalog_rules() -> None:
    from newsletter.store import identity

    items = [
        _item("pub1", status="published", issue=1),
        _item("inbox", status="inbox"),
        _item("short", status="shortlisted"),
        _item("draft", status="published", issue=2),
        _item("dupe", status="published", issue=1, duplicate_of="pub1"),
        _item("noissue", status="published"),
        _item("again", status="published", issue=1),
    ]
    issues = [_issue(1), _issue(2, "draft"), _issue(3, links=("https://example.com/again",))]
    index = identity.identity_index(items)
    public = P.public_catalog(items, issues, drafts=False, identity_index=index)
    assert {it.id for it in public.items} == {"pub1", "noissue", "again"}
    assert public.featured["again"] == (1, 3)
    with_drafts = P.public_catalog(items, issues, drafts=True, identity_index=index)
    assert {it.id for it in with_drafts.items} == {"pub1", "noissue", "again", "draft"}


def test_plan_paginates_and_keeps_listings_out_of_search() -> None:
    items = [_item(f"i{n}", status="published", issue=1, tags=["x"]) for n in range(7)]
    plan = P.plan_site(P.public_catalog(items, [_issue(1)], drafts=False), per_page=3)
    srcs = [p.src_uri for p in plan.pages]
    assert "catalog/posts.md" in srcs and "catalog/posts/page/3.md" in srcs
    assert "catalog/tags/x/page/2.md" in srcs and "catalog/months/2025-01.md" in srcs
    searchable = {p.src_uri for p in plan.pages if p.search}
    assert searchable == {"catalog/posts.md", "catalog/posts/page/2.md", "catalog/posts/page/3.md"}
    third = next(p for p in plan.pages if p.src_uri == "catalog/posts/page/3.md")
    assert [it.id for it in third.items] == ["i0"]  # newest first: i6 i5 i4 | i3 i2 i1 | i0
    pager = P.pager_html(third, lambda src: "/" + src)
    assert 'href="/catalog/posts/page/2.md"' in pager and 'aria-current="page">3<' in pager


def test_issue_parsing_and_link_checks() -> None:
    text = (
        "---\nnumber: 7\ntitle: Seven\ndate: 2025-03-01\nstatus: published\ntags: [LLM Ops]\n---\n"
        "See [a](https://a.example/x \"t\") and <https://b.example/y>.\n\n[ref]: https://c.example/z\n"
    )
    issue = parse_issue(text, "issues/007.md")
    assert (issue.number, issue.date, issue.published, issue.tags) == (7, "2025-03-01", True, ("llm-ops",))
    assert issue.links == ("https://a.example/x", "https://b.example/y", "https://c.example/z")
    assert link_urls("[x](javascript:alert(1))") == []
    assert parse_issue("no front matter", "issues/x.md").status == "draft"
    from newsletter.store import identity

    items = {i.id: i for i in (_item("orphan", status="published", issue=9), _item("x", status="inbox",
                                                                                   url="https://a.example/x"))}
    warnings = check_issue_links([issue], items, identity.identity_index(items.values()))
    assert any("issue 9" in w for w in warnings)
    assert any("newsletter publish 7" in w for w in warnings)


def test_feed_xml_escapes_everything() -> None:
    info = FeedInfo("N & <b>", "https://n.example/", "d", "en", "https://n.example/feed.xml", "https://n.example/atom.xml")
    entry = FeedEntry("<script>alert(1)</script>", "https://n.example/1/", "2025-01-01", "<p>&lt;b&gt;</p>\x01")
    for data in (rss_xml(info, [entry]), atom_xml(info, [entry])):
        parsed = feedparser.parse(data)
        assert not parsed.bozo
        assert parsed.entries[0].title == "<script>alert(1)</script>"
        assert b"<script" not in data
