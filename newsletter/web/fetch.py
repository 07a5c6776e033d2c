"""The fetch layer: the only module that talks HTTP.

One `Fetcher` (one `httpx.AsyncClient`) serves a whole batch. Every request is bounded twice: by a
global semaphore (``concurrency``) and by a per-host one (``per_host``) so a batch never hammers one
site. Each attempt has connect/read timeouts plus a wall-clock deadline, bodies are streamed under a
size cap counted on the decoded bytes of every content-coding layer (so a gzip-of-gzip bomb stops at
the cap, not after inflating in memory), redirects are followed by hand (limit + loop detection +
http(s) only), and transient failures are retried with exponential backoff and jitter, honouring
``Retry-After``. The wall-clock limit is one budget per URL, shared by all its redirects and retries.

Every failure becomes one `FetchError` line a curator can act on. `run_all` is the synchronous
entry point the rest of the library uses for batches.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import email.utils
import importlib.util
import random
import sys
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Self, TypeVar

import httpx

from newsletter.errors import FetchError, NewsletterError
from newsletter.web.charset import decode_body, mime_type

from ..version import __version__

PROJECT_URL = "https://github.com/newsletter/newsletter"

T = TypeVar("T")
X = TypeVar("X")

KEEPALIVE_FACTOR = 4  # idle keep-alive connections kept per unit of concurrency
# A response closed before its body is read costs its keep-alive connection (httpcore drops it), so the
# bodies of 304s, redirects and errors are read first, up to these bounds; a bigger or slower one is
# not worth waiting for and its connection is dropped instead.
DRAIN_BYTES = 65_536
DRAIN_SECONDS = 1.0

# httpcore 1.0.x runs `import sniffio` on every request and newer anyio no longer installs sniffio; a
# failed import is not cached, so each request rescanned sys.path (~20% of client CPU in the bench).
# Recording the absence once makes that import fail instantly.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

# Content codings we ask for and decode ourselves, one bounded piece at a time (see `_Decoder`).
ACCEPT_ENCODING = "gzip, deflate"
DECODE_PIECE = 65_536  # the most one decompression step may produce before its output is counted
MAX_ENCODING_LAYERS = 2  # "gzip, gzip" is legal but already odd; more is only ever an attack
# A validator we send back must be a visible-ASCII header value (RFC 9110 §8.8); a longer one is junk.
VALIDATOR_MAX = 1024

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# 408 and 429 are the only 4xx worth repeating; other 4xx mean the request itself is wrong.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchSettings:
    """Knobs of the fetch layer; the defaults are what a daily run wants."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 60.0  # wall clock per URL (all hops and retries), guards against slow drips
    max_bytes: int = 5_000_000
    max_redirects: int = 10
    # httpx 0.28 gets slower per request above ~16-32 in flight on one client (perf-baselines.md §5;
    # bench/bench_fetch.py: 1.12x ideal at 16, 1.19x at 32, 8.5x at 64).
    concurrency: int = 16
    per_host: int = 8
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    user_agent: str = f"newsletter/{__version__} (+{PROJECT_URL})"


@dataclass
class Response:
    """A fetched (or not-modified) response. ``text`` and ``encoding`` are decoded on first use.

    ``redirects`` is the chain that led to ``final_url``: one ``(status, absolute target URL)`` per hop,
    in order, so a permanent move (301/308) can be told from a temporary one (302/303/307).
    """

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    content: bytes
    content_type: str = ""
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    redirects: list[tuple[int, str]] = field(default_factory=list)

    @cached_property
    def _decoded(self) -> tuple[str, str]:
        return decode_body(self.content, self.headers.get("content-type", ""))

    @property
    def text(self) -> str:
        """The body decoded with the best charset guess (never raises)."""
        return self._decoded[0]

    @property
    def encoding(self) -> str:
        """The Python codec name used to decode ``text``."""
        return self._decoded[1]


# --------------------------------------------------------------------------- Retry-After

def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


# --------------------------------------------------------------------------- errors

def _secs(value: float) -> str:
    return f"{value:g} s"


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n / 1000:g} KB"


class _Retry(Exception):
    """A failure worth another attempt; becomes a FetchError when attempts run out."""

    def __init__(self, what: str, hint: str, *, url: str, status: int | None = None,
                 delay: float | None = None, sent: bool = True) -> None:
        super().__init__(what)
        self.what, self.hint, self.url, self.status, self.delay = what, hint, url, status, delay
        self.sent = sent  # False: the request never reached the server, so repeating it is always safe

    def final(self, retries: int) -> FetchError:
        done = f"gave up after {retries} {'retry' if retries == 1 else 'retries'}; " if retries else ""
        return FetchError(f"{self.what} ({done}{self.hint})", url=self.url, status=self.status)


def _status_failure(status: int, url: str, host: str, retry_after: float | None,
                    settings: FetchSettings) -> Exception:
    """The exception for a non-success final status: a `_Retry` or a `FetchError`."""
    reason = httpx.codes.get_reason_phrase(status) or "error"
    what = f"HTTP {status} {reason} for {url}"
    if status in (429, 503) and retry_after is not None and retry_after > settings.max_retry_after:
        if status == 429:
            msg = f"rate limited by {host}; retry after {retry_after:.0f} s"
        else:
            msg = f"{host} is unavailable (HTTP 503); retry after {retry_after:.0f} s"
        return FetchError(msg, url=url, status=status)
    if status == 429:
        return _Retry(f"rate limited by {host}: HTTP 429 for {url}", "slow down or try again later",
                      url=url, status=status, delay=retry_after)
    if status in RETRY_STATUSES:
        return _Retry(what, "the server is failing, try again later", url=url, status=status,
                      delay=retry_after if status == 503 else None)
    if status in (404, 410):
        hint = "check the URL"
    elif status in (401, 403):
        hint = "the site refuses access"
    elif status >= 500:
        hint = "the server is failing, try again later"
    else:
        hint = "the request was refused"
    return FetchError(f"{what} ({hint})", url=url, status=status)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes: httpx wraps httpcore wraps anyio wraps the OSError that says what happened."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _transport_failure(exc: httpx.HTTPError, url: str, host: str, settings: FetchSettings) -> Exception:
    """Translate an httpx exception into a `_Retry` (transient) or a `FetchError` (final)."""
    chain = _chain(exc)
    detail = " | ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    if any(isinstance(e, (ConnectionResetError, BrokenPipeError)) for e in chain):
        detail += " reset"
    root = next((str(e) for e in reversed(chain) if str(e)), type(exc).__name__)
    if isinstance(exc, httpx.ConnectTimeout):
        return _Retry(f"timed out after {_secs(settings.connect_timeout)} connecting to {host}",
                      "check the URL or try again later", url=url, sent=False)
    if isinstance(exc, httpx.ConnectError):
        if "refused" in detail:
            reason = "connection refused"
        elif "name or service" in detail or "nodename" in detail:
            # The resolver's final answer (EAI_NONAME): asking again gives the same answer, so no
            # retries (they cost 3.5-4.3 s per mistyped host). "Temporary failure" (EAI_AGAIN) retries.
            return FetchError(f"could not connect to {host}: host not found (check the URL)", url=url)
        elif "getaddrinfo" in detail or "temporary failure in name resolution" in detail:
            reason = "host not found"
        elif "ssl" in detail or "certificate" in detail:
            return FetchError(f"TLS handshake with {host} failed: {root} (check the URL's scheme and the "
                              "site's certificate)", url=url)
        else:
            reason = root
        return _Retry(f"could not connect to {host}: {reason}", "check the URL or try again later", url=url,
                      sent=False)
    if isinstance(exc, httpx.ReadTimeout):
        return _Retry(f"timed out after {_secs(settings.read_timeout)} reading {url}",
                      "the server is too slow, try again later", url=url)
    if isinstance(exc, httpx.TimeoutException):
        return _Retry(f"timed out talking to {host}", "try again later", url=url)
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        what = f"connection reset by {host}" if "reset" in detail or "broken pipe" in detail \
            else f"connection to {host} failed: {root}"
        return _Retry(what, "try again later", url=url)
    if isinstance(exc, httpx.RemoteProtocolError):
        if "reset" in detail:
            what = f"connection reset by {host}"
        elif "without sending" in detail or "peer closed" in detail:
            what = f"connection closed by {host} before a complete response"
        else:
            what = f"{host} sent an invalid HTTP response"
        return _Retry(what, "try again later", url=url)
    return FetchError(f"could not fetch {url}: {root}", url=url)


def check_url(url: str) -> httpx.URL:
    """Parse ``url`` and insist on http(s) with a host; FetchError otherwise."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(f"cannot fetch {url!r}: not a valid URL ({exc})", url=str(url)) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"cannot fetch {url!r}: only http:// and https:// URLs are supported", url=url)
    return parsed


def clean_validator(value: str | None) -> str | None:
    """An ETag / Last-Modified value that can be sent back as a header, else None.

    Servers send non-ASCII or absurd validators; httpx cannot encode them, and a stored one would break
    every later conditional GET of the feed. Dropping it costs one unconditional fetch, nothing more.
    """
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > VALIDATOR_MAX or not all(" " <= ch <= "~" for ch in value):
        return None
    return value


# --------------------------------------------------------------------------- decoding


class _TooBig(Exception):
    """A decoded layer went past the byte cap."""


class _Layer:
    """One content coding, decoded incrementally: no call ever yields more than `DECODE_PIECE` bytes."""

    def __init__(self, coding: str, cap: int) -> None:
        self.coding = coding
        self.cap = cap
        self.produced = 0
        self._first = True
        self._obj: Any = self._new()

    def _new(self, *, raw_deflate: bool = False) -> Any:
        if self.coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else zlib.MAX_WBITS)

    def stream(self, pieces: Iterable[bytes], *, final: bool) -> Iterator[bytes]:
        """Decode ``pieces`` (then, when ``final``, what is still buffered) in bounded steps."""
        for data in pieces:
            yield from self._feed(data)
        if final:
            yield from self._feed(b"")

    def _feed(self, data: bytes) -> Iterator[bytes]:
        if self._obj.eof:
            if not (self.coding == "gzip" and data[:2] == b"\x1f\x8b"):
                return  # trailing bytes after the stream: ignored, as browsers do
            self._obj = self._new()  # the next member of a multi-member gzip body
        while True:
            try:
                out = self._obj.decompress(data, DECODE_PIECE)
            except zlib.error:
                if self.coding == "deflate" and self._first:
                    # "deflate" is zlib-wrapped by the spec, raw by many servers: retry the first bytes raw.
                    self._first = False
                    self._obj = self._new(raw_deflate=True)
                    continue
                raise
            self._first = False
            data = self._obj.unconsumed_tail
            if out:
                self.produced += len(out)
                if self.produced > self.cap:
                    raise _TooBig
                yield out
            if self._obj.eof:
                rest = self._obj.unused_data
                if self.coding == "gzip" and rest[:2] == b"\x1f\x8b":  # a multi-member gzip body
                    self._obj = self._new()
                    data = rest
                    continue
                return
            if not data and len(out) < DECODE_PIECE:
                return


class _Decoder:
    """The stack of content codings of one response, decoded with the cap counted at every layer."""

    def __init__(self, header: str, cap: int) -> None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        if unknown:
            raise ValueError(f"it is encoded as {unknown[0][:40]!r}, which was not asked for")
        if len(codings) > MAX_ENCODING_LAYERS:
            raise ValueError(f"it is compressed {len(codings)} times over")
        # Codings are listed in the order they were applied: undo the last one first.
        self.layers = [_Layer("gzip" if c == "x-gzip" else c, cap) for c in reversed(codings)]

    def decode(self, chunk: bytes, *, final: bool = False) -> Iterator[bytes]:
        stream: Iterable[bytes] = [chunk] if chunk else []
        for layer in self.layers:
            stream = layer.stream(stream, final=final)
        return iter(stream)


# --------------------------------------------------------------------------- Fetcher


@dataclass(frozen=True)
class _Call:
    """How one request is made and answered: `get` uses the defaults, `request` can change them."""

    method: str = "GET"
    content: bytes | None = None
    follow_redirects: bool = True
    accept: frozenset[int] = frozenset()  # non-2xx statuses answered as a Response instead of an error
    max_bytes: int | None = None  # None: the settings' cap
    truncate: bool = False  # keep the first max_bytes of a bigger body instead of failing

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")


class _Budget:
    """The wall-clock seconds one URL may still use, across its redirects, retries and retry waits.

    Time spent queued for a concurrency slot is not charged: that wait is the batch's doing, not the
    server's, and charging it would fail the tail of any large batch.
    """

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.left = seconds
        self.requests = 0

    def charge(self, seconds: float) -> None:
        self.left -= seconds


class Fetcher:
    """Async HTTP client for one batch. Use as ``async with Fetcher(settings) as f: await f.get(url)``."""

    def __init__(self, settings: FetchSettings | None = None, *, transport: Any = None) -> None:
        self.settings = settings or FetchSettings()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Self:
        s = self.settings
        # The pool never waits: our semaphores admit at most `concurrency` requests at once.
        timeout = httpx.Timeout(connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout,
                                pool=None)
        # Requests in flight are bounded by our semaphores, so the pool's own cap only decides how many
        # idle keep-alive connections survive. Capping it at `concurrency` made a batch spread over
        # several hosts evict and reconnect on ~75% of requests (measured: bench/bench_fetch.py).
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=s.concurrency * KEEPALIVE_FACTOR)
        self._client = httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, transport=self._transport,
            headers={"User-Agent": s.user_agent, "Accept": "*/*"},
        )
        self._global = asyncio.Semaphore(s.concurrency)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        return sem

    def _backoff(self, attempt: int) -> float:
        # Exponential with ±50% jitter so a batch of failures does not retry in lockstep.
        base = self.settings.backoff * (2 ** attempt)
        return min(base * (0.5 + random.random()), self.settings.max_retry_after)

    async def get(self, url: str, *, headers: dict[str, str] | None = None, etag: str | None = None,
                  last_modified: str | None = None) -> Response:
        """GET ``url`` following redirects; raises `FetchError` on any failure.

        With ``etag``/``last_modified`` the request is conditional and an unchanged resource comes
        back as ``Response(status=304, not_modified=True, content=b"")``.
        """
        if self._client is None:
            raise RuntimeError("Fetcher.get() called outside 'async with Fetcher()'")
        parsed = check_url(url)
        req_headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        etag, last_modified = clean_validator(etag), clean_validator(last_modified)
        if etag:
            req_headers["If-None-Match"] = etag
        if last_modified:
            req_headers["If-Modified-Since"] = last_modified
        return await self._attempts(url, parsed, req_headers, _Call())

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      content: bytes | None = None, follow_redirects: bool = True,
                      accept: Iterable[int] = (), max_bytes: int | None = None,
                      truncate: bool = False) -> Response:
        """Any method (HEAD, POST, PUT ...) with the same limits, politeness and one-line errors as `get`.

        ``accept`` lists non-2xx statuses to return as a `Response` (body read, capped) instead of
        raising, so a caller can read an API's error document. Without ``follow_redirects`` a redirect
        comes back as a `Response` whose ``headers["location"]`` says where. With ``truncate`` a body
        over ``max_bytes`` is cut there instead of failing (enough to read a page's title). A request
        that is not idempotent (POST, PATCH) is repeated only when it provably never reached the server
        or was refused with 429, so a retry can never create a second campaign.
        """
        if self._client is None:
            raise RuntimeError("Fetcher.request() called outside 'async with Fetcher()'")
        parsed = check_url(url)
        req_headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        call = _Call(method.upper(), content, follow_redirects, frozenset(accept), max_bytes, truncate)
        return await self._attempts(url, parsed, req_headers, call)

    async def _attempts(self, url: str, parsed: httpx.URL, req_headers: dict[str, str], call: _Call) -> Response:
        """Run one request with retries (exponential backoff, Retry-After) inside one wall-clock budget."""
        budget = _Budget(self.settings.total_timeout)
        attempt = 0
        while True:
            try:
                return await self._follow(url, parsed, req_headers, budget, call)
            except _Retry as retry:
                if not call.idempotent and retry.sent and retry.status != 429:
                    raise retry.final(attempt) from None  # it may have been done: never repeat it
                if attempt >= self.settings.retries:
                    raise retry.final(attempt) from None
                delay = retry.delay if retry.delay is not None else self._backoff(attempt)
                if delay >= budget.left:
                    raise retry.final(attempt) from None  # the URL's time is up before the next try
                attempt += 1
                budget.charge(delay)
                await asyncio.sleep(delay)  # outside the semaphores: waiting costs no slot

    async def _follow(self, url: str, parsed: httpx.URL, headers: dict[str, str], budget: _Budget,
                      call: _Call) -> Response:
        """One attempt: request ``url`` and follow its redirects."""
        current = parsed
        seen: dict[str, int] = {}
        redirects: list[tuple[int, str]] = []
        for _ in range(self.settings.max_redirects + 1):
            # Visiting a URL twice can be a legitimate cookie round-trip; a third time is a loop.
            key = str(current)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 2:
                raise FetchError(f"redirect loop: {url} keeps redirecting back to {key} "
                                 "(open it in a browser to check)", url=url)
            hop_headers = headers
            if current.host != parsed.host:
                hop_headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            result = await self._hop(url, current, hop_headers, budget, call)
            if isinstance(result, Response):
                result.redirects = redirects
                return result
            status, current = result
            redirects.append((status, str(current)))
            if status == 303 or (status in (301, 302) and call.method == "POST"):
                call = dataclasses.replace(call, method="GET", content=None)  # what browsers do
        raise FetchError(f"too many redirects (more than {self.settings.max_redirects}) fetching {url}",
                         url=url)

    async def _hop(self, url: str, current: httpx.URL, headers: dict[str, str],
                   budget: _Budget, call: _Call) -> Response | tuple[int, httpx.URL]:
        """One request; returns the Response or, for a redirect, its (status, next URL)."""
        assert self._client is not None and self._global is not None
        s = self.settings
        host = current.host
        async with self._host_slot(host), self._global:
            loop = asyncio.get_running_loop()
            started = loop.time()
            budget.requests += 1
            try:
                if budget.left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(budget.left):
                    request = self._client.build_request(call.method, current, headers=headers,
                                                         content=call.content)
                    try:
                        resp = await self._client.send(request, stream=True)
                    except httpx.InvalidURL:
                        # httpx builds the next request of a redirect even when not following it, and
                        # fails on a Location such as "javascript:..." before we see the answer.
                        raise FetchError(f"{current} redirects to a URL that is not http(s) or not valid; "
                                         "open it in a browser to check", url=url) from None
                    try:
                        return await self._handle(url, str(current), host, resp, call)
                    finally:
                        await resp.aclose()
            except TimeoutError:
                spread = f" over {budget.requests} requests" if budget.requests > 1 else ""
                raise FetchError(f"gave up on {url} after {_secs(budget.total)}{spread}: the server is "
                                 "sending too slowly (try again later)", url=url) from None
            except httpx.HTTPError as exc:
                raise _transport_failure(exc, str(current), host, s) from None
            finally:
                budget.charge(loop.time() - started)

    async def _handle(
        self, url: str, current: str, host: str, resp: httpx.Response, call: _Call
    ) -> Response | tuple[int, httpx.URL]:
        s = self.settings
        status = resp.status_code
        headers = {k.lower(): v for k, v in resp.headers.items()}
        if status in REDIRECT_STATUSES and call.follow_redirects:
            location = headers.get("location")
            if not location:
                raise FetchError(f"HTTP {status} redirect without a Location from {current}", url=url,
                                 status=status)
            try:
                target = resp.url.join(location.strip())
            except (httpx.InvalidURL, ValueError):
                raise FetchError(f"{current} redirects to an invalid URL: {location[:200]!r}",
                                 url=url, status=status) from None
            if target.scheme not in ("http", "https") or not target.host:
                raise FetchError(f"{current} redirects to a non-http URL: {str(target)[:200]}", url=url,
                                 status=status)
            await self._drain(resp)
            return status, target
        def respond(content: bytes, not_modified: bool = False) -> Response:
            return Response(url=url, final_url=str(resp.url), status=status, headers=headers, content=content,
                            content_type=mime_type(headers.get("content-type", "")), not_modified=not_modified,
                            etag=clean_validator(headers.get("etag")),
                            last_modified=clean_validator(headers.get("last-modified")))

        if status == 304:
            await self._drain(resp)
            return respond(b"", not_modified=True)
        if call.method == "HEAD" or (status in REDIRECT_STATUSES and not call.follow_redirects):
            await self._drain(resp)
            return respond(b"")
        if not 200 <= status < 300 and status not in call.accept:
            retry_after = parse_retry_after(headers.get("retry-after"))
            await self._drain(resp)  # a retry or the next URL of the batch can reuse the connection
            raise _status_failure(status, current, host, retry_after, s)
        return respond(await self._read_capped(resp, current, call))

    async def _drain(self, resp: httpx.Response) -> None:
        """Read a small unwanted body so its connection goes back to the pool; never raises."""
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > DRAIN_BYTES:
            return
        read = 0
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                async for chunk in resp.aiter_raw():
                    read += len(chunk)
                    if read > DRAIN_BYTES:
                        return
        except (TimeoutError, httpx.HTTPError):
            pass  # the connection is dropped on close; the answer itself is already known

    async def _read_capped(self, resp: httpx.Response, url: str, call: _Call) -> bytes:
        """Read the (decompressed) body, refusing to hold more than ``max_bytes``."""
        cap = call.max_bytes if call.max_bytes is not None else self.settings.max_bytes
        too_big = FetchError(f"response from {url} is larger than {_size(cap)}; skip it or raise "
                             "max_bytes in the fetch settings", url=url, status=resp.status_code)
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap and not call.truncate:
            raise too_big
        try:
            decoder = _Decoder(resp.headers.get("content-encoding", ""), cap)
        except ValueError as exc:
            raise FetchError(f"cannot read the response from {url}: {exc}", url=url,
                             status=resp.status_code) from None
        body = bytearray()
        try:
            # Raw bytes, decoded here: httpx would inflate each layer of a chunk in full before we could
            # count a single byte of it.
            async for chunk in resp.aiter_raw():
                if len(body) + len(chunk) > cap and not decoder.layers:
                    if call.truncate:
                        return bytes((body + chunk)[:cap])
                    raise too_big
                for piece in decoder.decode(chunk):
                    body += piece
                    if len(body) > cap:
                        raise _TooBig
            for piece in decoder.decode(b"", final=True):
                body += piece
                if len(body) > cap:
                    raise _TooBig
        except _TooBig:
            if call.truncate:
                return bytes(body[:cap])  # the start of the body is all the caller wanted
            raise too_big from None
        except zlib.error as exc:
            raise FetchError(f"the response from {url} is damaged: its compressed body cannot be "
                             f"decoded ({exc})", url=url, status=resp.status_code) from None
        return bytes(body)


# --------------------------------------------------------------------------- batches

def _url_of(x: object) -> str:
    url = x if isinstance(x, str) else getattr(x, "url", "")
    return url if isinstance(url, str) else ""


def _describe(x: object) -> str:
    text = _url_of(x) or repr(x)
    return text if len(text) <= 200 else text[:197] + "..."


async def arun_all(func: Callable[[Fetcher, X], Awaitable[T]], inputs: Iterable[X], *,
                   settings: FetchSettings | None = None,
                   on_done: Callable[[int, T | NewsletterError], None] | None = None,
                   transport: Any = None) -> list[T | NewsletterError]:
    """Async form of `run_all`, for callers already inside an event loop."""
    settings = settings or FetchSettings()
    items = list(inputs)
    results: list[Any] = [None] * len(items)
    todo = iter(range(len(items)))

    async def call(x: X) -> T | NewsletterError:
        try:
            return await func(fetcher, x)
        except NewsletterError as exc:
            return exc
        except Exception as exc:
            return FetchError(f"unexpected {type(exc).__name__} while processing {_describe(x)}: {exc} "
                              "(this is a bug; please report it)", url=_url_of(x))

    async def worker() -> None:
        for i in todo:  # a shared iterator: each index is taken by exactly one worker
            results[i] = await call(items[i])
            if on_done is not None:
                on_done(i, results[i])

    # More workers than HTTP slots so inputs queued behind a busy host don't idle the other slots;
    # the Fetcher's semaphores are what bound the requests actually in flight.
    workers = min(len(items), settings.concurrency * 4)
    async with Fetcher(settings, transport=transport) as fetcher:
        await asyncio.gather(*(worker() for _ in range(workers)))
    return results


def run_all(func: Callable[[Fetcher, X], Awaitable[T]], inputs: Iterable[X], *,
            settings: FetchSettings | None = None,
            on_done: Callable[[int, T | NewsletterError], None] | None = None,
            transport: Any = None) -> list[T | NewsletterError]:
    """Run ``await func(fetcher, x)`` for every input concurrently over one shared `Fetcher`.

    Returns one result per input, in input order: the return value, or the `NewsletterError` it
    raised (any other exception becomes a `FetchError`), so one bad input never stops the batch.
    ``on_done(i, result)`` is called as each input finishes (for progress bars).
    """
    coro = arun_all(func, inputs, settings=settings, on_done=on_done, transport=transport)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside a running loop (a notebook, an async app): run in a private thread's loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
