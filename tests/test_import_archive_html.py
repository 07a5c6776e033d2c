"""`import_archive.html` and `import_archive.body`: untrusted HTML and Markdown become inert issue Markdown,
and only links worth an item stay links (pure functions on strings)."""

from __future__ import annotations

import markdown

from newsletter.issues import files
from newsletter.issues.import_archive.body import clean_markdown, filter_links, usable_link
from newsletter.issues.import_archive.html import html_to_markdown
from newsletter.markup import sanitize_html


def rendered(md: str) -> str:
    return markdown.markdown(md)


def test_structure_survives_as_markdown() -> None:
    html = (
        "<h1>Top</h1><p>Plain <strong>bold</strong> and <em>soft</em> text with <code>a_b()</code>.</p>"
        "<ul><li>one</li><li>two<ol><li>nested</li></ol></li></ul><blockquote><p>quoted</p></blockquote><hr>"
        '<p><a href="https://example.org/a?x=1&amp;y=2">a link</a></p>'
    )
    md = html_to_markdown(html)
    assert md.splitlines()[0] == "## Top"
    assert "Plain **bold** and *soft* text with `a_b()`." in md
    assert "- one\n- two\n    1. nested" in md
    assert "> quoted" in md and "\n---\n" in md
    assert "[a link](https://example.org/a?x=1&y=2)" in md


def test_hostile_html_renders_as_text_only() -> None:
    html = (
        '<p onclick="x()">Hi <script>alert(1)</script><style>p{}</style><img src=x onerror=alert(2)>'
        '<a href="javascript:alert(3)">js</a> <a href="data:text/html,<b>">data</a> '
        '<iframe src="https://evil.example/"></iframe>*stars* [brackets](https://example.org/) &lt;b&gt;</p>'
        "<form><input name=q><button>Go</button></form>"
    )
    md = html_to_markdown(html)
    out = rendered(md)
    for bad in ("<script", "onerror", "onclick", "javascript:", "data:", "<iframe", "<img", "<form", "<b>"):
        assert bad not in out, (bad, out)
    assert "js" in md and "data" in md  # the words stay, the links do not
    assert "\\*stars\\*" in md and "\\[brackets\\]\\(https://example.org/\\)" in md
    assert "<a " not in out and "<em>" not in out
    assert sanitize_html(out) == out  # nothing for the site's sanitizer to take out


def test_code_blocks_keep_their_spacing_and_cannot_be_closed_early() -> None:
    md = html_to_markdown("<pre><code>a  =  1\n    ``` still code\n\tb = 2</code></pre>")
    assert md.startswith("````\n") and md.rstrip().endswith("````")
    assert "a  =  1\n    ``` still code\n    b = 2" in md


def test_deep_nesting_and_unclosed_tags_do_not_break_it() -> None:
    md = html_to_markdown("<div>" * 5000 + "<p>deep <a href='https://example.org/deep'>link</a>" + "</div>" * 10)
    assert "[link](https://example.org/deep)" in md
    assert html_to_markdown("") == "" and html_to_markdown("<p>   </p>") == ""


def test_platform_widgets_are_dropped_with_their_text() -> None:
    html = (
        '<p>Body.</p><div class="subscription-widget-wrap"><p>Subscribe for free</p></div>'
        '<p class="button-wrapper"><a href="https://x.substack.com/p/y?action=share">Share</a></p>'
    )
    assert html_to_markdown(html).strip() == "Body."


def test_markdown_bodies_stay_as_written_minus_raw_html_and_controls() -> None:
    text = (
        "Intro\u202e with a bidi override.\r\n\r\n<div onclick='x'>raw</div> and <https://example.org/auto>\n"
        "<!-- a comment -->\n```\n<kept in code>\n```\n`<span>` too\n"
    )
    md = clean_markdown(text)
    assert "\u202e" not in md and "\r" not in md and "comment" not in md
    assert "&lt;div onclick='x'&gt;raw&lt;/div&gt;" in md
    assert "[https://example.org/auto](https://example.org/auto)" in md
    assert "<kept in code>" in md and "`<span>`" in md
    assert "<div" not in rendered(md) and "onclick" not in rendered(md).replace("onclick='x'", "")


def test_an_escaped_backtick_does_not_open_a_code_span() -> None:
    md = clean_markdown("a \\`<script>alert(1)</script> and ``x `<b>` y`` and `<i>`\n")
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "``x `<b>` y``" in md and "`<i>`" in md  # real code spans keep their text
    assert "<script" not in rendered(md)


def test_furniture_goes_with_its_words_and_trackers_are_resolved() -> None:
    body = (
        "Read [the paper](https://www.google.com/url?q=https://arxiv.org/abs/2106.09685&sa=D).\n"
        "[Share on X](https://twitter.com/intent/tweet?text=hi) · [Email us](mailto:ed@example.org) · "
        "[Unsubscribe](https://example.com/unsubscribe?u=1)\n"
        "A [hidden target](https://substack.com/redirect/2/abc) and [our archive](https://news.example.com/p/1).\n"
        "`[code](https://example.org/code)` stays code.\n"
    )
    cleaned, links = filter_links(body, own_hosts=frozenset({"news.example.com"}))
    assert [(link.url, link.text) for link in links] == [("https://arxiv.org/abs/2106.09685", "the paper")]
    lines = cleaned.splitlines()
    assert lines[0] == "Read [the paper](https://arxiv.org/abs/2106.09685)."
    assert lines[1] == "Email us"
    assert lines[2] == "A hidden target and our archive."
    assert lines[3] == "`[code](https://example.org/code)` stays code."


def test_usable_link_decisions() -> None:
    assert usable_link("https://example.org/post") == "https://example.org/post"
    assert usable_link("mailto:a@example.org") is None
    assert usable_link("https://example.org/logo.png") == ""
    assert usable_link("https://www.linkedin.com/sharing/share-offsite/?url=x") == ""
    assert usable_link("https://www.youtube.com/watch?v=dQw4w9WgXcQ") == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert usable_link("https://mlnotes.substack.com/subscribe?utm_source=post") == ""


def test_map_links_rewrites_only_inline_links_outside_code() -> None:
    body = "[a](https://a.example/) ![img](https://i.example/x.png) <https://auto.example/>\n```\n[c](https://c.example/)\n```\n"
    out = files.map_links(body, lambda url, text: url.replace("a.example", "b.example") if "a." in url else None)
    assert out.splitlines()[0] == "[a](https://b.example/) ![img](https://i.example/x.png) <https://auto.example/>"
    assert "[c](https://c.example/)" in out
