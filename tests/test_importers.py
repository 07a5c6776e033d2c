"""Tests for newsletter.importers: bulk import formats on fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.ingest.importers import ImportProblem, ImportRow, detect_format, parse_import

DATA = Path(__file__).parent / "data" / "imports"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("subscriptions.opml", "opml"),
        ("firefox_bookmarks.html", "bookmarks"),
        ("pocket_export.html", "bookmarks"),
        ("raindrop.csv", "csv"),
        ("awesome.md", "markdown"),
        ("urls.txt", "urls"),
    ],
)
def test_detect_format_on_fixtures(name: str, fmt: str) -> None:
    assert detect_format(name, read(name)[:2048]) == fmt


@pytest.mark.parametrize(
    ("name", "head", "fmt"),
    [
        ("feeds.xml", '<?xml version="1.0"?>\n<opml version="1.0">', "opml"),
        ("export", "<!DOCTYPE NETSCAPE-Bookmark-file-1>", "bookmarks"),
        ("export", "<DL><p><DT><A HREF=\"https://a.example/\">a</A>", "bookmarks"),
        ("list.txt", "- [A](https://a.example/) - b", "markdown"),
        ("export", "\ufeffURL,Title,Selection,Folder,Timestamp\n", "csv"),
        ("links", "https://a.example/\nhttps://b.example/\n", "urls"),
        ("notes.txt", "# comment\nhttps://a.example/\n", "urls"),
    ],
)
def test_detect_format_by_content(name: str, head: str, fmt: str) -> None:
    assert detect_format(name, head) == fmt


def test_unknown_format_raises_value_error() -> None:
    with pytest.raises(ValueError, match="unknown import format"):
        parse_import("x", "yaml")


def test_opml_nested_outlines() -> None:
    rows, problems = parse_import(read("subscriptions.opml"), "opml")
    assert rows == [
        ImportRow(line=10, url="https://radio.example.org/feed.xml", title="Latent Space Radio",
                  tags=["tech", "machine-learning"], folder_tags=["tech", "machine-learning"], is_feed=True),
        ImportRow(line=11, url="https://blog.example.dev/atom.xml", title="Compilers & Coffee",
                  tags=["tech", "machine-learning", "compilers", "deep-dives"],
                  folder_tags=["tech", "machine-learning"], is_feed=True),  # categories are the author's
        ImportRow(line=13, url="https://json.example.com/feed.json", title="Tiny JSON Blog", tags=["tech"],
                  folder_tags=["tech"], is_feed=True),
        ImportRow(line=15, url="https://site.example.com/", title="A site, not a feed", is_feed=False),
        ImportRow(line=17, url="http://top.example.net/rss", title="Top level feed", is_feed=True),
    ]
    assert problems == [ImportProblem(line=16, text="Broken relative feed", reason="not a URL")]


def test_opml_tolerates_unescaped_ampersand() -> None:
    text = '<opml><body><outline text="R&D" xmlUrl="https://rd.example/feed?a=1&b=2"/></body></opml>'
    rows, problems = parse_import(text, "opml")
    assert problems == []
    assert [(r.url, r.title, r.is_feed) for r in rows] == [("https://rd.example/feed?a=1&b=2", "R&D", True)]


def test_not_opml_is_one_problem() -> None:
    rows, problems = parse_import("hello world", "opml")
    assert rows == []
    assert len(problems) == 1 and "not an OPML file" in problems[0].reason


def test_firefox_bookmarks() -> None:
    rows, problems = parse_import(read("firefox_bookmarks.html"), "bookmarks")
    assert rows == [
        ImportRow(line=12, url="https://www.mozilla.org/about/", title="About Mozilla",
                  added="2023-11-14T22:13:20Z"),
        ImportRow(line=15, url="https://arxiv.org/abs/1706.03762", title="Attention Is All You Need",
                  summary="The transformer paper & its famous title.",
                  tags=["research", "transformers", "attention"], folder_tags=["research"],
                  added="2024-03-09T16:00:00Z"),
        ImportRow(line=19, url="https://github.com/nmslib/hnswlib", title="hnswlib",
                  tags=["research", "vector-search"], folder_tags=["research", "vector-search"],  # two folders
                  added="2024-03-09T16:08:20Z"),
        # The browser's toolbar root folder is not a tag.
        ImportRow(line=28, url="https://news.ycombinator.com/", title="Hacker News",
                  added="2023-07-22T04:26:40Z"),
    ]
    assert [(p.line, p.text, p.reason) for p in problems] == [
        (21, "Bookmarklet", "browser-internal entry (javascript:), skipped"),
        (24, "Recent Tags", "browser-internal entry (place:), skipped"),
        (29, "Data URL", "not an http(s) URL (data:)"),
    ]
    # The browser's own entries are skipped, not failures: only the data: URL fails.
    assert [p.skipped for p in problems] == [True, True, False]


def test_pocket_export() -> None:
    rows, problems = parse_import(read("pocket_export.html"), "bookmarks")
    assert problems == []
    assert rows == [
        ImportRow(line=11, url="https://blog.example.dev/posts/regalloc/",
                  title="Register allocation, gently", tags=["compilers", "must-read"],
                  added="2024-05-01T07:53:20Z"),
        ImportRow(line=12, url="https://example.org/untitled", title="", added="2024-05-01T10:40:00Z"),
        ImportRow(line=17, url="http://old.example.com/article?id=3&ref=pocket", title="An old article",
                  tags=["archive-me"], added="2020-09-13T12:26:40Z"),
    ]


def test_csv_with_bom_extra_columns_and_aliases() -> None:
    text = read("raindrop.csv")
    assert text.startswith("\ufeff")
    rows, problems = parse_import(text, "csv")
    assert rows == [
        ImportRow(line=2, url="https://json.example.com/2024/06/01/evals.html", title="Evals are hard",
                  summary="Why evaluation is hard.", tags=["research", "llm", "evaluation"], folder_tags=["research"],
                  added="2024-06-01T08:15:00Z", note="My note, with a comma"),
        ImportRow(line=4, url="https://pipes.example.com/a", title="Pipe tags", summary="Excerpt only",
                  tags=["ml", "nlp", "data-eng"], added="2024-05-01T07:53:20Z"),
        ImportRow(line=7, url="https://dates.example.com/", title="Date only", added="2024-05-01T00:00:00Z"),
    ]
    assert [(p.line, p.reason) for p in problems] == [
        (3, "no URL"),
        (5, "browser-internal entry (javascript:), skipped"),
    ]


def test_csv_link_alias_and_description_priority() -> None:
    text = (
        "Link,Name,Description,Note,Tags,Added\n"
        "https://a.example/x,A,the desc,the note,x;y,1700000000000\n"
    )
    rows, problems = parse_import(text, "csv")
    assert problems == []
    # The note column is the curator's note, not a second-choice summary.
    assert rows == [ImportRow(line=2, url="https://a.example/x", title="A", summary="the desc",
                              tags=["x", "y"], added="2023-11-14T22:13:20Z", note="the note")]


def test_csv_without_url_column_is_one_problem() -> None:
    rows, problems = parse_import("title,notes\nA,b\n", "csv")
    assert rows == []
    assert problems == [ImportProblem(line=1, text="title,notes",
                                      reason="no URL column (expected a header named url, link or href)")]


def test_csv_multiline_cell_keeps_row_line_numbers() -> None:
    text = 'url,summary\nhttps://a.example/,"two\nlines"\nnot-a-url,x\n'
    rows, problems = parse_import(text, "csv")
    assert [(r.line, r.summary) for r in rows] == [(2, "two lines")]
    assert [(p.line, p.reason) for p in problems] == [(4, "not a URL")]


def test_awesome_list_markdown() -> None:
    rows, problems = parse_import(read("awesome.md"), "markdown")
    base = ["awesome-vector-search"]
    assert [(r.line, r.url, r.title, r.summary, r.tags) for r in rows] == [
        (13, "https://github.com/nmslib/hnswlib", "hnswlib",
         "Header-only C++/Python library for fast approximate nearest neighbors.", [*base, "libraries"]),
        (14, "https://github.com/facebookresearch/faiss", "FAISS",
         "A library for efficient similarity search.",
         [*base, "libraries"]),
        (15, "https://github.com/spotify/annoy", "Annoy",
         "Approximate Nearest Neighbors Oh Yeah, by Spotify.",
         [*base, "libraries"]),
        (19, "https://cloud.example.com/vectors", "Example Cloud", "Hosted vectors.",
         [*base, "libraries", "managed-services"]),
        (20, "https://cloud.example.com/sdk", "Nested SDK", "Sub-item keeps the heading path.",
         [*base, "libraries", "managed-services"]),
        (26, "https://en.wikipedia.org/wiki/Hierarchical_navigable_small_world_(graph)", "HNSW (Wikipedia)",
         "The graph behind it.", [*base, "papers"]),
        (27, "https://arxiv.org/abs/1603.09320", "", "Malkov & Yashunin.", [*base, "papers"]),
        (31, "https://github.com/google-research/scann", "ScaNN", "Google's library.", [*base, "papers"]),
    ]
    assert [(p.line, p.reason) for p in problems] == [(22, "browser-internal entry (javascript:), skipped")]
    urls = {r.url for r in rows}
    # Paragraph links, badges, in-document anchors and fenced code are not entries.
    assert "https://intro.example.com/why-vectors" not in urls
    assert "https://awesome.re" not in urls
    assert "https://license.example.com/" not in urls
    assert "https://fenced.example.com/" not in urls
    assert not any("img.shields.io" in r.summary for r in rows)


def test_markdown_heading_path_resets_on_higher_level() -> None:
    text = "## A\n### B\n- [x](https://x.example/)\n## C\n- [y](https://y.example/)\n"
    rows, _ = parse_import(text, "markdown")
    assert [r.tags for r in rows] == [["a", "b"], ["c"]]


def test_url_list_with_junk_lines() -> None:
    rows, problems = parse_import(read("urls.txt"), "urls")
    assert [(r.line, r.url, r.title) for r in rows] == [
        (2, "https://example.com/one", ""),
        (4, "https://example.com/two", "Optional title for two"),
        (5, "http://example.com/three", ""),
        (8, "https://example.com/four", ""),
    ]
    assert [(p.line, p.text, p.reason) for p in problems] == [
        (6, "this line is junk", "not a URL"),
        (7, "ftp://files.example.com/archive.zip", "not an http(s) URL (ftp:)"),
        (10, "javascript:alert(1)", "browser-internal entry (javascript:), skipped"),
        (11, "https://", "malformed URL"),
    ]


@pytest.mark.parametrize("fmt", ["urls", "markdown", "csv", "bookmarks", "opml"])
def test_ten_thousand_lines_parse_completely(fmt: str) -> None:
    n = 10_000
    if fmt == "urls":
        text = "\n".join(f"https://example.com/{i}" for i in range(n))
    elif fmt == "markdown":
        text = "\n".join(f"- [Item {i}](https://example.com/{i}) - about {i}" for i in range(n))
    elif fmt == "csv":
        text = "url,title\n" + "\n".join(f"https://example.com/{i},Item {i}" for i in range(n))
    elif fmt == "bookmarks":
        text = "<DL><p>\n" + "\n".join(
            f'<DT><A HREF="https://example.com/{i}" ADD_DATE="1700000000">Item {i}</A>' for i in range(n)
        ) + "\n</DL>"
    else:
        text = "<opml><body>\n" + "\n".join(
            f'<outline text="F{i}" xmlUrl="https://example.com/{i}.xml"/>' for i in range(n)
        ) + "\n</body></opml>"
    rows, problems = parse_import(text, fmt)
    assert problems == []
    assert len(rows) == n
    assert rows[-1].url.startswith(f"https://example.com/{n - 1}")
