"""`newsletter links check`: verdicts from a real loopback server, stored results, item marks, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.catalog import Catalog
from newsletter.links.check import page_title, soft_404_reason
from newsletter.links.state import LinkState
from newsletter.web.fetch import Response
from tests.httpserver import LoopbackServer
from tests.linkproject import add_item, make_project, page, run, write_issue


@pytest.fixture
def site(http_server: LoopbackServer) -> LoopbackServer:
    s = http_server
    s.add("/", page("front.html"))
    s.add("/article", page("article.html"))
    s.add("/gone", b"no such page", status=404, content_type="text/plain")
    s.add("/refuses-head", page("article.html"))
    s.add_head("/refuses-head", 405)
    s.add("/soft", page("soft-404.html"))
    s.add("/heading-404", page("not-found-heading.html"))
    s.add("/blog/2019/old-post", redirect_to="/", status=302)
    s.add("/old-name", redirect_to="/article", status=301)
    s.add("/paper.pdf", b"%PDF-1.7 not really", content_type="application/pdf")
    s.add("/private", b"go away", status=403, content_type="text/plain")
    return s


def verdicts(results: list) -> dict[str, str]:
    return {r.url.rsplit("/", 1)[-1] or "/": r.verdict for r in results}


def test_each_kind_of_link_gets_its_verdict(tmp_path: Path, site: LoopbackServer) -> None:
    root = make_project(tmp_path)
    paths = ["/article", "/gone", "/refuses-head", "/soft", "/heading-404", "/blog/2019/old-post", "/old-name",
             "/paper.pdf", "/private"]
    write_issue(root, 1, [(p, site.url(p)) for p in paths] + [("closed", "http://127.0.0.1:9/nothing-here")])
    results = Catalog.open(root).check_links(1)
    assert verdicts(results) == {
        "article": "ok", "gone": "dead", "refuses-head": "ok", "soft": "dead", "heading-404": "dead",
        "old-post": "dead", "old-name": "moved", "paper.pdf": "ok", "private": "blocked", "nothing-here": "dead",
    }
    by_path = {r.url.replace(site.url(""), "/"): r for r in results}
    assert by_path["/refuses-head"].method == "GET"  # HEAD refused with 405: asked again with GET
    assert by_path["/old-name"].redirects == [(301, site.url("/article"))]
    assert by_path["/old-name"].final_url == site.url("/article")
    assert "front page" in by_path["/blog/2019/old-post"].reason
    assert "Page Not Found" in by_path["/soft"].reason
    # A PDF is never downloaded: HEAD said what it is.
    assert ("GET", "/paper.pdf") not in site.methods and ("HEAD", "/paper.pdf") in site.methods


def test_cli_table_json_exit_codes_and_item_marks(tmp_path: Path, site: LoopbackServer) -> None:
    root = make_project(tmp_path)
    good = add_item(root, site.url("/article"), "Serving LLMs")
    bad = add_item(root, site.url("/gone"), "A post that went away")
    write_issue(root, 1, [("Serving", site.url("/article")), ("Gone", site.url("/gone"))])
    code, out, err = run(root, "links", "check", "1")
    assert code == 1
    assert "dead" in out and site.url("/gone") in out and "1 dead" in err
    catalog = Catalog.open(root)
    assert catalog.get(bad.id).extra["dead_reason"] == "HTTP 404"
    assert catalog.get(bad.id).extra.get("dead_since")
    assert "dead_since" not in catalog.get(good.id).extra
    stored = LinkState(root / ".newsletter").results()
    assert stored[site.url("/gone")].verdict == "dead" and stored[site.url("/gone")].item == bad.id
    # --json: one document on stdout, the same verdicts
    code, out, _err = run(root, "links", "check", "1", "--json")
    data = json.loads(out)
    assert code == 1 and data["totals"]["dead"] == 1 and data["totals"]["ok"] == 1 and data["checked"] == 2
    assert {r["url"]: r["verdict"] for r in data["results"]} == {site.url("/article"): "ok", site.url("/gone"): "dead"}
    # The page comes back: the next check clears the mark and exits 0.
    site.add("/gone", page("article.html"))
    code, _out, _err = run(root, "links", "check", "1")
    assert code == 0
    assert "dead_since" not in Catalog.open(root).get(bad.id).extra


def test_all_checks_published_issues_only_and_usage_errors(tmp_path: Path, site: LoopbackServer) -> None:
    root = make_project(tmp_path)
    write_issue(root, 1, [("a", site.url("/article"))])
    write_issue(root, 2, [("g", site.url("/gone"))], status="draft")
    code, out, _err = run(root, "links", "check", "--all", "--json")
    assert code == 0 and [r["url"] for r in json.loads(out)["results"]] == [site.url("/article")]
    assert run(root, "links", "check")[0] == 2
    assert run(root, "links", "check", "1", "--all")[0] == 2
    code, _out, err = run(root, "links", "check", "7")
    assert code == 1 and "no issue 7" in err and "Traceback" not in err


def test_per_host_politeness_bounds_requests_in_flight(tmp_path: Path) -> None:
    root = make_project(tmp_path, "")
    text = (root / "newsletter.toml").read_text().replace("per_host = 8", "per_host = 2")
    (root / "newsletter.toml").write_text(text)
    with LoopbackServer() as slow:
        slow.add_prefix("/p/", lambda path, headers: (200, {"Content-Type": "application/pdf"}, b"%PDF"))
        for n in range(12):
            slow.add(f"/p/{n}", b"%PDF", content_type="application/pdf", delay=0.05)
        write_issue(root, 1, [(str(n), slow.url(f"/p/{n}")) for n in range(12)])
        results = Catalog.open(root).check_links(1)
        assert all(r.verdict == "ok" for r in results) and len(results) == 12
        assert slow.max_in_flight_total <= 2


def test_soft_404_rules_are_not_fooled_by_ordinary_pages() -> None:
    def response(url: str, body: bytes, final: str | None = None, redirects: list | None = None) -> Response:
        return Response(url, final or url, 200, {"content-type": "text/html"}, body, "text/html",
                        redirects=redirects or [])

    assert page_title(page("soft-404.html").decode()) == "Page Not Found | Example Blog"
    assert soft_404_reason("https://a.example/post", response("https://a.example/post", page("article.html"))) == ""
    # The front page itself, or a redirect that keeps a path, is not a soft 404.
    assert soft_404_reason("https://a.example/", response("https://a.example/", page("front.html"))) == ""
    moved = response("https://a.example/x", page("front.html"), "https://a.example/new/x", [(301, "https://a.example/new/x")])
    assert soft_404_reason("https://a.example/x", moved) == ""
    # A title that merely mentions "404" in passing is fine; one that says "not found" is not.
    mention = b"<html><head><title>Why HTTP 404 pages matter</title></head></html>"
    assert soft_404_reason("https://a.example/p", response("https://a.example/p", mention)) == ""
    # Hostile titles never break the check.
    odd = b"<title>\x00\r\n<script>Not Found</script></title>"
    assert "soft 404" in soft_404_reason("https://a.example/p", response("https://a.example/p", odd))


def test_a_server_answering_head_with_500_is_asked_again_with_get(tmp_path: Path, site: LoopbackServer) -> None:
    root = make_project(tmp_path)
    site.add_head("/article", 500)
    write_issue(root, 1, [("a", site.url("/article"))])
    (result,) = Catalog.open(root).check_links(1)
    assert result.verdict == "ok" and result.method == "GET"


def test_a_link_that_is_not_a_valid_url_is_dead_not_an_error(tmp_path: Path) -> None:
    """The fetcher says "not a valid URL"; the dead-link markers are lower case (review finding)."""
    root = make_project(tmp_path)
    write_issue(root, 1, [("broken", "http://[::1/broken")])
    (result,) = Catalog.open(root).check_links(1)
    assert "not a valid URL" in result.reason
    assert result.verdict == "dead"
