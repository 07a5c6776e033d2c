"""Hostile servers, on loopback: compression bombs, dripping redirect chains, bad Locations and validators.

Every attack must end in one `FetchError` line (never "this is a bug"), within the byte cap and the
per-URL time budget, and leave nothing behind that breaks the next fetch.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import pytest

from newsletter.errors import FetchError, NewsletterError
from newsletter.web.fetch import Fetcher, clean_validator, run_all
from tests.httpserver import LoopbackServer, Reply
from tests.test_fetch import fetch, fetch_error, settings

CAP = 1_000_000
BOMB_SETTINGS = settings(max_bytes=CAP)
RSS = "application/rss+xml"


def zeros_gzip(megabytes: int) -> bytes:
    """gzip of ``megabytes`` MB of zeros, built without ever holding them (about 1 KB per MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1_000_000)
    return b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()


def peak_while(func: object) -> tuple[object, int]:
    """(what ``func()`` returned or raised, the peak bytes Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        try:
            outcome: object = func()  # type: ignore[operator]
        except Exception as exc:  # the outcome is inspected by the caller
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- compression bombs


@pytest.mark.parametrize("encoding", ["gzip", "gzip, gzip", "deflate", "deflate-raw"])
def test_compression_bombs_stop_at_the_cap_without_inflating_in_memory(
    http_server: LoopbackServer, encoding: str
) -> None:
    inner = zeros_gzip(100)  # 100 MB of zeros in ~100 KB
    if encoding == "gzip, gzip":
        body = gzip.compress(inner, 9)  # the attack of the issue: ~1 KB on the wire, 100 MB two layers down
    elif encoding.startswith("deflate"):  # zlib-wrapped as the spec says, or raw as many servers send
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if encoding == "deflate-raw" else zlib.MAX_WBITS)
        body = b"".join(packer.compress(bytes(1_000_000)) for _ in range(50)) + packer.flush()
    else:
        body = inner
    header = "deflate" if encoding.startswith("deflate") else encoding
    http_server.add("/bomb", body=body, headers={"Content-Encoding": header}, content_type="text/html")
    outcome, peak = peak_while(lambda: fetch(http_server.url("/bomb"), BOMB_SETTINGS))
    assert isinstance(outcome, FetchError), outcome
    assert "larger than 1 MB" in str(outcome) and "\n" not in str(outcome)
    # Holding the capped body plus a few decompression pieces is fine; inflating a layer in full is not.
    assert peak < 8 * CAP, f"peak {peak / 1e6:.1f} MB while reading a {len(body)} byte bomb"


def test_honest_stacked_and_multi_member_encodings_still_decode(http_server: LoopbackServer) -> None:
    page = b"<html><title>ok</title>" + b"lorem ipsum " * 5000 + b"</html>"
    http_server.add("/double", body=gzip.compress(gzip.compress(page)), headers={"Content-Encoding": "gzip, gzip"})
    half = len(page) // 2
    http_server.add("/members", body=gzip.compress(page[:half]) + gzip.compress(page[half:]),
                    headers={"Content-Encoding": "gzip"})
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    http_server.add("/raw", body=packer.compress(page) + packer.flush(), headers={"Content-Encoding": "deflate"})
    for path in ("/double", "/members", "/raw"):
        assert fetch(http_server.url(path)).content == page, path


def test_damaged_or_unasked_encodings_are_one_clear_line(http_server: LoopbackServer) -> None:
    http_server.add("/broken", body=b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"})
    http_server.add("/br", body=b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    http_server.add("/triple", body=gzip.compress(gzip.compress(gzip.compress(b"x"))),
                    headers={"Content-Encoding": "gzip, gzip, gzip"})
    assert "cannot be decoded" in str(fetch_error(http_server.url("/broken")))
    assert "'br'" in str(fetch_error(http_server.url("/br")))
    assert "compressed 3 times" in str(fetch_error(http_server.url("/triple")))


# --------------------------------------------------------------------------- one time budget per URL


def test_the_time_limit_covers_the_whole_redirect_chain(http_server: LoopbackServer) -> None:
    # Each hop answers after 0.4 s, well inside the 2 s read timeout; the chain as a whole is 2.4 s.
    for n in range(5):
        http_server.add(f"/hop{n}", delay=0.4, redirect_to=f"/hop{n + 1}")
    http_server.add("/hop5", body=b"<html>finally</html>", delay=0.4)
    err = fetch_error(http_server.url("/hop0"), settings(read_timeout=2.0, total_timeout=1.0, retries=0))
    assert "gave up on" in str(err) and "after 1 s over" in str(err) and "requests" in str(err)
    assert http_server.hits["/hop5"] == 0  # the budget ran out on the way


def test_the_time_limit_covers_retries(http_server: LoopbackServer) -> None:
    http_server.add("/slow503", status=503, body=b"busy", delay=0.4)
    fetch_error(http_server.url("/slow503"), settings(read_timeout=2.0, total_timeout=1.0, retries=5, backoff=0.01))
    assert 1 <= http_server.hits["/slow503"] <= 3  # not the 6 attempts a per-attempt limit would allow


# --------------------------------------------------------------------------- bad redirect targets


@pytest.mark.parametrize("location", ["javascript:alert(1)", "JaVaScRiPt:alert(document.cookie)//",
                                      "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"])
def test_redirect_to_a_script_url_is_a_clear_error(http_server: LoopbackServer, location: str) -> None:
    http_server.add("/js", status=302, headers={"Location": location})

    async def get(fetcher: Fetcher, url: str) -> object:
        return await fetcher.get(url)

    [outcome] = run_all(get, [http_server.url("/js")], settings=settings())
    assert isinstance(outcome, FetchError)
    message = str(outcome)
    assert "redirects to" in message and "bug" not in message and "\n" not in message


# --------------------------------------------------------------------------- validators


@pytest.mark.parametrize("header", ["ETag", "Last-Modified"])
def test_non_ascii_validators_are_not_kept_or_sent_back(http_server: LoopbackServer, header: str) -> None:
    http_server.add("/v", body=b"<html>v</html>", headers={header: '"\u00e9t\u00e9-\u00fc"'})
    first = fetch(http_server.url("/v"))
    assert first.etag is None and first.last_modified is None
    # Even a bad value stored by an older version is never sent: the request goes out unconditional.
    second = fetch(http_server.url("/v"), etag='"\u00e9t\u00e9"', last_modified="Mon, 06 May 2024 \u00e9")
    assert second.status == 200
    sent = http_server.request_headers("/v")[-1]
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_clean_validator_keeps_honest_values() -> None:
    assert clean_validator('W/"abc-123"') == 'W/"abc-123"'
    assert clean_validator("Mon, 06 May 2024 08:00:00 GMT") == "Mon, 06 May 2024 08:00:00 GMT"
    assert clean_validator('"\u00e9"') is None and clean_validator("x" * 5000) is None
    assert clean_validator("a\r\nInjected: 1") is None


def test_a_feed_with_a_non_ascii_etag_keeps_pulling(tmp_path: Path, http_server: LoopbackServer) -> None:
    from click.testing import CliRunner

    from newsletter.catalog import Catalog
    from newsletter.cli.app import main
    from newsletter.feeds import Feeds, FeedState, PullState, feed_key
    from newsletter.project import init_project

    feed = (Path(__file__).parent / "data" / "hostile_feed" / "good.xml").read_bytes()
    http_server.add_sequence("/etag.xml", [
        Reply(body=feed, content_type=RSS, headers={"ETag": '"caf\u00e9"', "Last-Modified": "lundi \u00e9t\u00e9"}),
    ])
    project = init_project(tmp_path / "proj", name="Etag Weekly")
    url = http_server.url("/etag.xml")
    catalog = Catalog.open(project)
    try:
        Feeds(catalog).add([(url, None, "")], fetch=False)
        feeds = Feeds(catalog)
    finally:
        catalog.close()

    def pull() -> tuple[int, str]:
        result = CliRunner().invoke(main, ["-C", str(project), "feeds", "pull", "--no-similar"],
                                    catch_exceptions=False)
        return result.exit_code, result.stderr

    assert pull()[0] == 0
    # An older version stored the non-ASCII ETag as it came; every later pull then failed for good.
    state = PullState(feeds.state_path)
    try:
        with state.transaction() as conn:
            stored = FeedState(etag='"caf\u00e9"', last_modified="lundi \u00e9t\u00e9", last_ok="2026-01-01T00:00:00Z",
                               last_status="ok")
            state.record(conn, feed_key(url), stored, [])
    finally:
        state.close()
    for _ in range(2):
        code, err = pull()
        assert code == 0 and "codec" not in err, err
    state = PullState(feeds.state_path)
    try:
        after = state.get(feed_key(url))
    finally:
        state.close()
    assert after.etag is None and after.last_modified is None and after.last_status == "ok"


def test_run_all_reports_no_bug_for_any_attack(http_server: LoopbackServer) -> None:
    """The attacks above, as one batch: one clear error each, never an "unexpected ..." line."""
    http_server.add("/bomb", body=gzip.compress(zeros_gzip(20)), headers={"Content-Encoding": "gzip, gzip"})
    http_server.add("/js", status=301, headers={"Location": "javascript:void(0)"})
    http_server.add("/ok", body=b"<html>fine</html>", headers={"ETag": '"\u00fc"'})

    async def get(fetcher: Fetcher, url: str) -> object:
        return await fetcher.get(url)

    results = run_all(get, [http_server.url(p) for p in ("/bomb", "/js", "/ok")], settings=BOMB_SETTINGS)
    errors = [r for r in results if isinstance(r, NewsletterError)]
    assert len(errors) == 2 and not any("bug" in str(e) for e in errors)
    assert not isinstance(results[2], NewsletterError) and results[2].etag is None  # type: ignore[union-attr]
