"""Issue Markdown → email HTML and plain text: safety rules, layout, templates, the sample issues."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.issues.files import find_issue, list_issues
from newsletter.mail import campaign, render

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Path(__file__).parent / "data" / "mail" / "project"
INFO = {"name": "Test Weekly", "site_url": "https://weekly.example.org/", "language": "en"}


@pytest.fixture
def edge() -> render.RenderedEmail:
    issue = find_issue(PROJECT / "content" / "issues", 5)
    return render.render_issue(number=5, title=issue.title, date=issue.date, body=issue.body, newsletter=INFO,
                               web_url="https://weekly.example.org/issues/005-email-edge-cases/")


def test_more_marker_and_comments_are_stripped() -> None:
    html = render.markdown_to_html("Intro.\n\n<!-- more -->\n\nRest <!-- hidden note -->.")
    assert "more" not in html and "hidden" not in html and "&lt;!--" not in html
    assert "<p>Intro.</p>" in html


def test_raw_html_in_markdown_is_escaped_not_passed_through() -> None:
    html = render.markdown_to_html('Text <script>alert("x")</script>\n\n<div onclick="x()">block</div>')
    assert "<script" not in html and "<div" not in html
    assert "&lt;script&gt;" in html and "&lt;div" in html


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("https://example.com/a?b=1&c=2", 'href="https://example.com/a?b=1&amp;c=2"'),
        ("mailto:ed@example.org", 'href="mailto:ed@example.org"'),
        ("/issues/", 'href="https://weekly.example.org/issues/"'),
        ("javascript:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("vbscript:msgbox", None),
    ],
)
def test_links_keep_only_http_and_mailto(href: str, expected: str | None) -> None:
    html = render.markdown_to_html(f"[label]({href})", base_url="https://weekly.example.org/")
    if expected is None:
        assert "href" not in html and "label" in html
    else:
        assert expected in html


def test_images_get_alt_text_and_a_width_that_fits_the_column() -> None:
    html = render.markdown_to_html("![A chart](https://x.example/c.png)\n\n![](/rel.png)\n\n![evil](javascript:x)",
                                   base_url="https://weekly.example.org/")
    images = re.findall(r"<img [^>]*>", html)
    assert len(images) == 2
    assert all(f'width="{render.CONTENT_WIDTH}"' in img and 'alt="' in img for img in images)
    assert 'alt="A chart"' in images[0]
    assert 'src="https://weekly.example.org/rel.png"' in images[1] and 'alt="Image"' in images[1]
    assert "javascript" not in html and "[Image: evil]" in html


def test_plain_text_has_no_html_residue_and_numbers_links(edge: render.RenderedEmail) -> None:
    text = edge.text
    typed = ("<b>markup</b>", '<script>alert("x")</script>', "<img src=x onerror=alert(1)>")
    untyped = re.sub("|".join(map(re.escape, typed)), "", " ".join(text.split()))
    assert not re.search(r"</?[a-z][a-z0-9]*[\s>/]", untyped), text
    assert "&amp;" not in text and "&lt;" not in text and "&quot;" not in text
    # The raw HTML the curator typed is shown as the text it is.
    assert '<script>alert("x")</script>' in text
    # Links: the label, a [n] reference, and the URL listed under the section.
    number = re.search(r"A very long title .*?\[(\d+)\]", text, re.S)
    assert number, text
    assert f"[{number.group(1)}] https://example.com/posts/a-very-long-url" in text
    assert "[1] https://weekly.example.org/issues/" in text  # relative link made absolute
    assert "bad link" in text and "javascript" not in text
    # Lists, code and quotes survive as plain-text conventions.
    assert "1. first\n2. second" in text
    assert '    return "wörld"' in text
    assert "> A quotation that stands out." in text
    assert "hnswlib | 4000 | approximate nearest neighbours" in text


def test_plain_text_lines_are_wrapped_except_unbreakable_urls(edge: render.RenderedEmail) -> None:
    for line in edge.text.splitlines():
        if len(line) > render.TEXT_WIDTH:
            assert "http" in line or line.startswith("    "), line


def test_html_is_table_based_inlined_responsive_and_dark_mode_aware(edge: render.RenderedEmail) -> None:
    html = edge.html
    assert 'role="presentation"' in html and 'width="600"' in html and "max-width: 600px" in html
    assert "@media only screen and (max-width: 599px)" in html
    assert "prefers-color-scheme: dark" in html and 'name="color-scheme"' in html
    # Inlined: the content cell carries its styles itself; only @media rules are left in <style>.
    assert re.search(r'<td class="content"[^>]*style="[^"]*font-size: 16px', html)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style and re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", style.group(1)).strip() == ""
    assert "<!-- more -->" not in html


def test_issue_title_is_escaped_in_html_and_plain_in_text(edge: render.RenderedEmail) -> None:
    assert "<b>markup</b>" not in edge.html
    assert "&lt;b&gt;markup&lt;/b&gt; &amp; edge cases" in edge.html
    assert edge.subject == "Issue #5: Ünïcode, <b>markup</b> & edge cases"
    assert "Issue #5: Ünïcode, <b>markup</b> & edge cases" in edge.text


def test_personalize_fills_markers_escaped_per_format(edge: render.RenderedEmail) -> None:
    url = "https://weekly.example.org/unsubscribe?list=l&email=a%40b.c&token=T"
    page, text = edge.personalize(unsubscribe_url=url, recipient="a@b.c")
    assert render.UNSUBSCRIBE_MARKER not in page + text and render.RECIPIENT_MARKER not in page + text
    assert 'href="https://weekly.example.org/unsubscribe?list=l&amp;email=a%40b.c&amp;token=T"' in page
    assert f"Unsubscribe: {url}" in text and "at a@b.c because" in text


def test_preheader_is_the_intro_without_markup(edge: render.RenderedEmail) -> None:
    match = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', edge.html, re.S)
    assert match and match.group(1).startswith("Hello, readers — this intro is the preheader.")
    assert "[1]" not in match.group(1) and "<" not in match.group(1)


def test_project_templates_override_the_packaged_defaults(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    shutil.copytree(PROJECT, project)
    (project / "templates").mkdir()
    (project / "templates" / "email.txt.j2").write_text(
        "CUSTOM {{ issue.title }}\n{{ content_text }}\nbye: {{ unsubscribe_url }}\n", encoding="utf-8"
    )
    prepared = campaign.prepare(load_settings(project), 5, secret_value=None)
    assert prepared.rendered.text.startswith("CUSTOM Issue #5")
    assert 'role="presentation"' in prepared.rendered.html  # the HTML still comes from the default


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_every_sample_issue_renders_cleanly(number: int) -> None:
    issue = find_issue(ROOT / "content" / "issues", number)
    out = render.render_issue(number=number, title=issue.title, date=issue.date, body=issue.body, newsletter=INFO)
    assert "<!-- more -->" not in out.html and "more -->" not in out.text
    assert not re.search(r"<[a-z/][^>]*>", out.text), "HTML residue in the plain text"
    links_in_markdown = {u for u in re.findall(r"\]\((https?://[^)\s]+)\)", issue.body)}
    for url in links_in_markdown:
        assert f'href="{url.replace("&", "&amp;")}"' in out.html
        assert url in out.text


def test_sample_issues_exist() -> None:
    assert len(list_issues(ROOT / "content" / "issues")) >= 4
