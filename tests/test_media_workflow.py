"""Images end to end, as a curator uses them: `figure add`, `check`, the built site, the email, and
item images that `draft` downloads (from a real HTTP server on loopback) into feature sections."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsletter.cli.app import main
from newsletter.issues import draft
from newsletter.mail.render import CONTENT_WIDTH
from newsletter.media.images import read_size
from newsletter.models import Item
from newsletter.store import files
from tests.httpserver import LoopbackServer
from tests.test_draft import hashing_engine
from tests.test_site import build_site, copy_sample

DATA = Path(__file__).parent / "data" / "images"
SITE = "https://gazette.example.org/"


def cli(project: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(draft, "semantic_engine", hashing_engine)
    return copy_sample(tmp_path / "gazette")


def write_issue(project: Path, body: str, *, status: str = "published") -> Path:
    path = project / "content" / "issues" / "005-pictures.md"
    path.write_text(f"---\nnumber: 5\ntitle: \"Issue #5: Pictures\"\ndate: 2025-03-14\nstatus: {status}\n"
                    f"tags: []\n---\nAn image-rich issue.\n\n<!-- more -->\n\n## Charts\n\n{body}\n", encoding="utf-8")
    return path


def test_figure_add_copies_resizes_and_prints_the_markdown(project: Path) -> None:
    result = cli(project, "figure", "add", str(DATA / "wide-chart.png"), "--issue", "5", "--alt", "Bar chart [2025]")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == r"![Bar chart \[2025\]](../assets/figures/005/wide-chart.webp)"
    folder = project / "content" / "assets" / "figures" / "005"
    assert read_size(folder / "wide-chart.webp") == (1200, 675)
    assert read_size(folder / "wide-chart-600.webp") == (600, 338)
    assert "1200×675" in result.stderr


def test_figure_add_refuses_an_svg_and_writes_nothing(project: Path) -> None:
    result = cli(project, "figure", "add", str(DATA / "disguised.png"), "--issue", "5", "--alt", "x")
    assert result.exit_code == 1
    assert "SVG" in result.stderr and result.stderr.count("\n") == 1
    assert not (project / "content" / "assets" / "figures" / "005").exists()


def test_check_reports_missing_alt_missing_file_and_hotlinks(project: Path) -> None:
    cli(project, "figure", "add", str(DATA / "small-logo.png"), "--issue", "5", "--alt", "Logo")
    write_issue(project, "![](../assets/figures/005/small-logo.webp)\n\n![Gone](../assets/figures/005/nothing.webp)\n\n"
                         "![Theirs](https://cdn.example.com/x.png)\n\n![Logo](../assets/figures/005/small-logo.webp)")
    result = cli(project, "check", "5", "--no-semantic", "--json")
    kinds = [p["kind"] for p in json.loads(result.stdout)["problems"]]
    assert kinds.count("image-alt") == 1
    assert kinds.count("image-missing") == 1
    assert kinds.count("image-remote") == 1
    assert result.exit_code == 1


def test_check_enforces_the_size_budget(project: Path) -> None:
    cli(project, "figure", "add", str(DATA / "wide-chart.png"), "--issue", "5", "--alt", "Chart")
    write_issue(project, "![Chart](../assets/figures/005/wide-chart.webp)")
    with open(project / "newsletter.toml", "a", encoding="utf-8") as handle:
        handle.write("\n[images]\nmax_kb = 1\nissue_max_kb = 1\n")
    problems = json.loads(cli(project, "check", "5", "--no-semantic", "--json").stdout)["problems"]
    assert [p["kind"] for p in problems if p["kind"].startswith("image")] == ["image-size", "image-size"]


def built_project(project: Path) -> Path:
    cli(project, "figure", "add", str(DATA / "wide-chart.png"), "--issue", "5", "--alt", "Bar chart of five numbers")
    write_issue(project, "![Bar chart of five numbers](../assets/figures/005/wide-chart.webp)")
    return project


def test_site_shows_the_figure_sized_lazy_and_with_a_small_copy(project: Path) -> None:
    site = build_site(built_project(project), project / "site")
    page = next(p for p in site.rglob("index.html") if "An image-rich issue" in p.read_text(encoding="utf-8")
                and "<article" in p.read_text(encoding="utf-8") and "pictures" in str(p))
    tag = re.search(r"<img [^>]*wide-chart[^>]*>", page.read_text(encoding="utf-8"))
    assert tag is not None
    img = tag.group(0)
    for attribute in ('width="1200"', 'height="675"', 'loading="lazy"', 'alt="Bar chart of five numbers"'):
        assert attribute in img
    srcset = re.search(r'srcset="([^"]+)"', img)
    assert srcset and "wide-chart-600.webp 600w" in srcset.group(1) and "wide-chart.webp 1200w" in srcset.group(1)
    src = re.search(r'src="([^"]+)"', img).group(1)  # type: ignore[union-attr]
    assert (page.parent / src).resolve().is_file()  # the relative URL reaches the published file


def read_exported(folder: Path) -> email.message.EmailMessage:
    [path] = list(folder.glob("*.eml"))
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def test_email_refuses_images_the_built_site_lacks(project: Path, tmp_path: Path) -> None:
    built_project(project)
    result = cli(project, "email", "5", "--out", str(tmp_path / "out"), "--test-to", "me@example.org")
    assert result.exit_code == 1
    assert "image(s) the built site does not have" in result.stderr and "newsletter build" in result.stderr
    forced = cli(project, "email", "5", "--out", str(tmp_path / "forced"), "--test-to", "me@example.org", "--force")
    assert forced.exit_code == 0, forced.output


def test_email_loads_the_600px_copy_from_the_site_with_size_and_alt(project: Path, tmp_path: Path) -> None:
    build_site(built_project(project), project / "site")
    result = cli(project, "email", "5", "--out", str(tmp_path / "out"), "--test-to", "me@example.org")
    assert result.exit_code == 0, result.output
    message = read_exported(tmp_path / "out")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    tag = re.search(r"<img [^>]*>", html)
    assert tag is not None
    assert f'src="{SITE}assets/figures/005/wide-chart-600.webp"' in tag.group(0)
    width = CONTENT_WIDTH  # the 600 px copy is scaled to the column, its height with it
    assert f'width="{width}"' in tag.group(0) and f'height="{round(338 * width / 600)}"' in tag.group(0)
    assert 'alt="Bar chart of five numbers"' in tag.group(0)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "[Image: Bar chart of five numbers]" in text


# -- item images in the draft ------------------------------------------------------------------------------


def add_feature_item(project: Path, title: str, image: str) -> Item:
    ident = f"{abs(hash(title)) % 16**12:012x}"
    item = Item(id=ident, kind="link", url=f"https://example.org/{ident}", canonical_url=f"https://example.org/{ident}",
                title=title, status="shortlisted", added="2025-03-05T09:00:00Z", note="Worth a read.", image=image)
    path = project / "catalog" / files.relative_path_for(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files.dump_item(item), encoding="utf-8")
    return item


def test_draft_shows_a_local_copy_of_a_feature_items_image(project: Path) -> None:
    with LoopbackServer() as server:
        server.add("/og.png", body=(DATA / "wide-chart.png").read_bytes(), content_type="image/png")
        server.add("/evil.png", body=(DATA / "disguised.png").read_bytes(), content_type="image/png")
        add_feature_item(project, "Serving at scale, illustrated", server.url("/og.png"))
        add_feature_item(project, "A post with a poisoned thumbnail", server.url("/evil.png"))
        result = cli(project, "draft", "--date", "2025-03-14")
        assert result.exit_code == 0, result.output
        text = Path(result.stdout.strip()).read_text(encoding="utf-8")
        [src] = re.findall(r"!\[Serving at scale, illustrated\]\(([^)]+)\)", text)
        assert src.startswith("../assets/images/") and src.endswith(".webp")
        assert (project / "content" / "issues" / src).resolve().is_file()
        assert "poisoned thumbnail" in text and text.count("![") == 1  # the SVG is left out ...
        assert "warning: image not shown:" in result.stderr and "SVG" in result.stderr  # ... and said
        hits = server.hits["/og.png"]
        again = cli(project, "draft", "--date", "2025-03-14")  # a rerun asks neither server again
        assert again.exit_code == 0
        assert server.hits["/og.png"] == hits and server.hits["/evil.png"] == 1


def test_draft_no_images_downloads_nothing(project: Path) -> None:
    with LoopbackServer() as server:
        server.add("/og.png", body=(DATA / "wide-chart.png").read_bytes(), content_type="image/png")
        add_feature_item(project, "Serving at scale, illustrated", server.url("/og.png"))
        result = cli(project, "draft", "--date", "2025-03-14", "--no-images")
        assert result.exit_code == 0, result.output
        assert "![" not in Path(result.stdout.strip()).read_text(encoding="utf-8")
        assert server.hits["/og.png"] == 0


def test_published_item_gets_a_thumbnail_on_the_catalog_pages(project: Path) -> None:
    with LoopbackServer() as server:
        server.add("/og.png", body=(DATA / "wide-chart.png").read_bytes(), content_type="image/png")
        item = add_feature_item(project, "Serving at scale, illustrated", server.url("/og.png"))
        drafted = cli(project, "draft", "--date", "2025-03-14")
        assert drafted.exit_code == 0, drafted.output
    assert cli(project, "publish", "5", "--date", "2025-03-14").exit_code == 0
    site = build_site(project, project / "site")
    page = site / "catalog" / "posts" / "index.html"  # links are listed under "Posts and articles"
    thumbs = re.findall(r'<article class="nl-item nl-has-thumb"[^>]*><img class="nl-thumb" src="([^"]+)"[^>]*>'
                        rf'<h3 id="item-{item.id}"', page.read_text(encoding="utf-8"))
    assert len(thumbs) == 1, "the published item has no thumbnail"
    assert thumbs[0].endswith("-600.webp") and (page.parent / thumbs[0]).resolve().is_file()
    assert not (site / "assets" / "images" / "index.json").exists()  # bookkeeping is not published
