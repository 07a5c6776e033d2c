"""The fetch layer against a real (misbehaving) HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import tracemalloc
from typing import Any

import pytest

from newsletter import __version__
from newsletter.errors import FetchError, NewsletterError
from newsletter.web.fetch import Fetcher, FetchSettings, Response, decode_body, parse_retry_after, run_all

try:
    from tests.httpserver import LoopbackServer, Reply
except ImportError:  # pytest run without the project root on sys.path
    from httpserver import LoopbackServer, Reply  # type: ignore[no-redef]

# Low timeouts and near-zero backoff keep the whole file fast.
FAST = FetchSettings(connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0, retries=2, backoff=0.01)


def fetch(url: str, settings: FetchSettings = FAST, **kwargs: Any) -> Response:
    async def go() -> Response:
        async with Fetcher(settings) as fetcher:
            return await fetcher.get(url, **kwargs)

    return asyncio.run(go())


def fetch_error(url: str, settings: FetchSettings = FAST, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, settings, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return info.value


def settings(**changes: Any) -> FetchSettings:
    return FetchSettings(**{**FAST.__dict__, **changes})


# --------------------------------------------------------------------------- success paths

def test_ok_page_returns_body_metadata_and_sends_user_agent(http_server: LoopbackServer) -> None:
    http_server.add("/ok", body="<html><title>Héllo</title></html>", headers={"ETag": '"v1"', "X-Thing": "1"})
    resp = fetch(http_server.url("/ok"))
    assert resp.status == 200 and not resp.not_modified
    assert resp.url == resp.final_url == http_server.url("/ok")
    assert resp.content == "<html><title>Héllo</title></html>".encode()
    assert resp.text == "<html><title>Héllo</title></html>" and resp.encoding == "utf-8"
    assert resp.content_type == "text/html"
    assert resp.headers["x-thing"] == "1" and resp.etag == '"v1"'
    sent = http_server.request_headers("/ok")[0]
    assert sent["user-agent"].startswith(f"newsletter/{__version__}")


def test_slow_answer_within_read_timeout_succeeds(http_server: LoopbackServer) -> None:
    http_server.add("/slow", body=b"late but fine", delay=0.3)
    assert fetch(http_server.url("/slow"), settings(read_timeout=2.0)).content == b"late but fine"


def test_redirect_chain_reports_final_url(http_server: LoopbackServer) -> None:
    http_server.add("/a", status=301, redirect_to="/b")
    http_server.add("/b", redirect_to=http_server.url("/c"))  # absolute Location too
    http_server.add("/c", body=b"end")
    resp = fetch(http_server.url("/a"))
    assert resp.url == http_server.url("/a")
    assert resp.final_url == http_server.url("/c") and resp.content == b"end"


def test_malformed_html_is_returned_as_text(http_server: LoopbackServer) -> None:
    junk = b"<html><head><title>Unclosed <b><<div>>\x00</i></p></html"
    http_server.add("/junk", body=junk)
    assert fetch(http_server.url("/junk")).text == junk.decode()


def test_conditional_get_gives_not_modified(http_server: LoopbackServer) -> None:
    def page(path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if headers.get("if-none-match") == '"v7"':
            return 304, {"ETag": '"v7"'}, b""
        return 200, {"ETag": '"v7"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}, b"body"

    http_server.add_prefix("/feed", page)
    first = fetch(http_server.url("/feed"))
    assert first.status == 200 and first.etag == '"v7"'
    again = fetch(http_server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.status == 304 and again.content == b""
    sent = http_server.request_headers("/feed")[1]
    assert sent["if-none-match"] == '"v7"'
    assert sent["if-modified-since"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def fetch_each(urls: list[str], **kwargs: Any) -> list[Response | FetchError]:
    """Fetch ``urls`` one after another over ONE Fetcher (one connection pool)."""
    async def go() -> list[Response | FetchError]:
        out: list[Response | FetchError] = []
        async with Fetcher(FAST) as fetcher:
            for url in urls:
                try:
                    out.append(await fetcher.get(url, **kwargs))
                except FetchError as exc:
                    out.append(exc)
        return out

    return asyncio.run(go())


def test_sequential_304s_reuse_one_keep_alive_connection(http_server: LoopbackServer) -> None:
    http_server.add("/same", status=304, headers={"ETag": '"v1"'}, content_type=None)
    http_server.add("/page", body=b"fresh")
    answers = fetch_each([http_server.url("/same")] * 10, etag='"v1"')
    assert all(isinstance(r, Response) and r.not_modified for r in answers)
    assert http_server.connections_opened == 1  # not one per 304
    fetch_each([http_server.url("/page")] * 10)
    assert http_server.connections_opened == 2  # the same as ten 200s on a fresh Fetcher


def test_redirects_and_error_answers_keep_the_connection(http_server: LoopbackServer) -> None:
    http_server.add("/moved", status=301, redirect_to="/here", body=b"<a href=/here>moved</a>")
    http_server.add("/here", body=b"here")
    answers = fetch_each([http_server.url("/moved"), http_server.url("/missing"), http_server.url("/moved")])
    assert [getattr(r, "status", None) for r in answers] == [200, 404, 200]
    assert http_server.hits["/here"] == 2 and http_server.connections_opened == 1


def test_big_error_body_is_not_read_and_its_connection_is_dropped(http_server: LoopbackServer) -> None:
    http_server.add("/huge-404", status=404, body=b"x" * 1_000_000)
    http_server.add("/ok", body=b"ok")
    err, ok = fetch_each([http_server.url("/huge-404"), http_server.url("/ok")])
    assert isinstance(err, FetchError) and err.status == 404
    assert isinstance(ok, Response) and ok.content == b"ok"
    assert http_server.connections_opened == 2


def test_redirect_history_tells_permanent_from_temporary_moves(http_server: LoopbackServer) -> None:
    http_server.add("/a", status=301, redirect_to="/b")
    http_server.add("/b", status=302, redirect_to=http_server.url("/c"))
    http_server.add("/c", status=308, redirect_to="d")  # relative to /c
    http_server.add("/d", body=b"end")
    resp = fetch(http_server.url("/a"))
    assert resp.redirects == [(301, http_server.url("/b")), (302, http_server.url("/c")), (308, http_server.url("/d"))]
    assert resp.final_url == http_server.url("/d")
    assert fetch(http_server.url("/d")).redirects == []


# --------------------------------------------------------------------------- retries and statuses

def test_429_with_retry_after_is_retried_after_the_wait(http_server: LoopbackServer) -> None:
    http_server.add_sequence("/limited", [Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"ok")])
    resp = fetch(http_server.url("/limited"), settings(backoff=0.0))
    assert resp.content == b"ok"
    assert http_server.hits["/limited"] == 2
    first, second = http_server.hit_times["/limited"]
    assert second - first >= 1.0  # measured by the server: the Retry-After was honoured


def test_429_with_huge_retry_after_gives_up_at_once(http_server: LoopbackServer) -> None:
    http_server.add("/limited", status=429, headers={"Retry-After": "3600"})
    err = fetch_error(http_server.url("/limited"))
    assert str(err) == "rate limited by 127.0.0.1; retry after 3600 s"
    assert err.status == 429 and http_server.hits["/limited"] == 1


def test_500_is_retried_then_reported_with_status_and_retry_count(http_server: LoopbackServer) -> None:
    http_server.add("/broken", status=500)
    err = fetch_error(http_server.url("/broken"))
    assert err.status == 500 and http_server.hits["/broken"] == 3
    assert str(err).startswith(f"HTTP 500 Internal Server Error for {http_server.url('/broken')}")
    assert "gave up after 2 retries" in str(err)


def test_503_then_ok_recovers(http_server: LoopbackServer) -> None:
    http_server.add_sequence("/busy", [{"status": 503, "headers": {"Retry-After": "0"}}, {"body": b"up"}])
    assert fetch(http_server.url("/busy")).content == b"up"
    assert http_server.hits["/busy"] == 2


def test_404_is_not_retried_and_carries_status(http_server: LoopbackServer) -> None:
    err = fetch_error(http_server.url("/missing"))
    assert err.status == 404 and http_server.hits["/missing"] == 1
    assert str(err) == f"HTTP 404 Not Found for {http_server.url('/missing')} (check the URL)"


# --------------------------------------------------------------------------- network failures

def test_read_timeout_is_a_clean_fetch_error(http_server: LoopbackServer) -> None:
    http_server.add("/sleepy", delay=3.0)
    err = fetch_error(http_server.url("/sleepy"), settings(read_timeout=0.3, retries=1))
    assert str(err).startswith(f"timed out after 0.3 s reading {http_server.url('/sleepy')}")
    assert err.status is None and http_server.hits["/sleepy"] == 2


def test_hanging_server_times_out(http_server: LoopbackServer) -> None:
    http_server.add("/hang", behaviour="hang")
    err = fetch_error(http_server.url("/hang"), settings(read_timeout=0.3, retries=0))
    assert "timed out after 0.3 s" in str(err)


def test_slow_drip_is_cut_by_the_total_deadline(http_server: LoopbackServer) -> None:
    http_server.add("/drip", body=b"x" * 50, behaviour="slow_drip", drip_interval=0.1)
    err = fetch_error(http_server.url("/drip"), settings(read_timeout=1.0, total_timeout=0.5))
    assert "after 0.5 s: the server is sending too slowly" in str(err)
    assert http_server.hits["/drip"] == 1  # a drip would drip again: not retried


def test_connection_reset_is_a_fetch_error(http_server: LoopbackServer) -> None:
    http_server.add("/rst", behaviour="reset")
    err = fetch_error(http_server.url("/rst"))
    assert str(err).startswith("connection reset by 127.0.0.1")
    assert http_server.hits["/rst"] == 3


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = fetch_error(f"http://127.0.0.1:{port}/", settings(retries=1))
    assert str(err) == ("could not connect to 127.0.0.1: connection refused "
                        "(gave up after 1 retry; check the URL or try again later)")


def test_a_host_the_resolver_does_not_know_fails_at_once_without_retries() -> None:
    # `.invalid` never resolves (RFC 6761): the resolver's answer is final, so asking again is waste.
    err = fetch_error("http://no-such-host.invalid/page", settings(retries=3, backoff=5.0))
    assert str(err) == "could not connect to no-such-host.invalid: host not found (check the URL)"


def test_endless_body_stops_at_the_size_cap_with_bounded_memory(http_server: LoopbackServer) -> None:
    http_server.add("/endless", behaviour="endless")
    tracemalloc.start()
    try:
        err = fetch_error(http_server.url("/endless"), settings(max_bytes=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(err).startswith(f"response from {http_server.url('/endless')} is larger than 1 MB;")
    assert peak < 4_000_000


def test_declared_length_over_the_cap_is_refused(http_server: LoopbackServer) -> None:
    http_server.add("/big", body=b"x" * 5000)
    err = fetch_error(http_server.url("/big"), settings(max_bytes=1000))
    assert "is larger than 1 KB" in str(err)


def test_redirect_loop_is_detected(http_server: LoopbackServer) -> None:
    http_server.add("/loop", behaviour="redirect_loop")
    err = fetch_error(http_server.url("/loop"))
    assert str(err).startswith("redirect loop:")
    assert http_server.hits["/loop"] == 2


def test_endless_redirect_chain_hits_the_limit(http_server: LoopbackServer) -> None:
    http_server.add_prefix("/chain/", lambda path, h: (302, {"Location": f"/chain/{int(path[7:]) + 1}"}, b""))
    err = fetch_error(http_server.url("/chain/0"), settings(max_redirects=3))
    assert str(err).startswith("too many redirects (more than 3)")
    assert sum(n for p, n in http_server.hits.items() if p.startswith("/chain/")) == 4


def test_redirect_to_a_non_http_url_is_refused(http_server: LoopbackServer) -> None:
    http_server.add("/sneaky", redirect_to="file:///etc/passwd")
    assert "non-http URL" in str(fetch_error(http_server.url("/sneaky")))


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "no"])
def test_non_http_urls_are_rejected(url: str) -> None:
    assert "only http:// and https://" in str(fetch_error(url))


# --------------------------------------------------------------------------- charsets

HTTP_EQUIV = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'

@pytest.mark.parametrize(
    ("body", "content_type", "expected", "encoding"),
    [
        ("Café – “quoted”".encode("cp1252"), "text/html; charset=utf-8", "Café – “quoted”", "cp1252"),
        ("naïve café".encode("latin-1"), "text/html", "naïve café", "cp1252"),
        ('<meta charset="iso-8859-15"><p>€uro'.encode("iso-8859-15"), "text/html",
         '<meta charset="iso-8859-15"><p>€uro', "iso8859-15"),
        ('<meta charset="shift_jis"><p>日本語のページ'.encode("shift_jis"), "text/html",
         '<meta charset="shift_jis"><p>日本語のページ', "shift_jis"),
        (f"{HTTP_EQUIV}<p>Привет".encode("cp1251"), None, f"{HTTP_EQUIV}<p>Привет", "cp1251"),
        (b"\xef\xbb\xbf<p>BOM \xc3\xa9t\xc3\xa9", "text/html; charset=iso-8859-1", "<p>BOM été", "utf-8"),
        ('<?xml version="1.0" encoding="ISO-8859-1"?><rss>é</rss>'.encode("latin-1"), "application/xml",
         '<?xml version="1.0" encoding="ISO-8859-1"?><rss>é</rss>', "cp1252"),
    ],
    ids=["cp1252-labelled-utf8", "latin1-no-header", "meta-charset", "shift-jis-meta", "http-equiv", "bom",
         "xml-decl"],
)
def test_charsets_are_decoded_correctly(http_server: LoopbackServer, body: bytes, content_type: str | None,
                                        expected: str, encoding: str) -> None:
    http_server.add("/page", body=body, content_type=content_type)
    resp = fetch(http_server.url("/page"))
    assert resp.text == expected and resp.encoding == encoding


@pytest.mark.parametrize("label", ["no-such-charset", "base64", "utf-7", '"utf-8'])
def test_unknown_or_unsafe_charset_labels_fall_back(label: str) -> None:
    assert decode_body("été".encode(), f"text/html; charset={label}") == ("été", "utf-8")


def test_undecodable_bytes_never_crash() -> None:
    text, encoding = decode_body(bytes(range(256)) * 4, "text/html; charset=utf-8")
    assert len(text) == 1024 and encoding == "cp1252"


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# --------------------------------------------------------------------------- batches and bounds

def test_run_all_keeps_order_and_survives_failures(http_server: LoopbackServer) -> None:
    http_server.add("/one", body=b"1", delay=0.2)
    http_server.add("/two", body=b"2")

    async def title(fetcher: Fetcher, url: str) -> bytes:
        if url == "boom":
            raise KeyError("title")
        return (await fetcher.get(url)).content

    url = http_server.url
    inputs = [url("/one"), url("/missing"), "ftp://nope", "boom", url("/two")]
    done: list[int] = []
    results = run_all(title, inputs, settings=FAST, on_done=lambda i, r: done.append(i))
    assert results[0] == b"1" and results[4] == b"2"
    assert isinstance(results[1], FetchError) and results[1].status == 404
    assert isinstance(results[2], FetchError) and "only http" in str(results[2])
    assert isinstance(results[3], FetchError)
    assert "unexpected KeyError while processing boom" in str(results[3])
    assert all(isinstance(r, (bytes, NewsletterError)) for r in results)
    assert sorted(done) == [0, 1, 2, 3, 4] and done[-1] == 0  # /one is slow, so it finishes last


def test_per_host_bound_is_respected(http_server: LoopbackServer) -> None:
    http_server.add("/slow", body=b"ok", delay=0.3)

    async def get(fetcher: Fetcher, url: str) -> int:
        return (await fetcher.get(url)).status

    results = run_all(get, [http_server.url("/slow")] * 9, settings=settings(concurrency=10, per_host=3))
    assert results == [200] * 9
    assert http_server.max_in_flight["/slow"] == 3


def test_global_bound_is_respected(http_server: LoopbackServer) -> None:
    http_server.add("/slow", body=b"ok", delay=0.3)

    async def get(fetcher: Fetcher, url: str) -> int:
        return (await fetcher.get(url)).status

    results = run_all(get, [http_server.url("/slow")] * 6, settings=settings(concurrency=2, per_host=8))
    assert results == [200] * 6
    assert http_server.max_in_flight_total == 2
