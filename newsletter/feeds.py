"""Feed subscriptions (`feeds.yaml`, shared through git) and pulling their new entries into the catalog.

Two kinds of state, kept apart on purpose:

- ``<project>/feeds.yaml`` is the truth: which feeds the newsletter follows (url, kind, title, added, and
  ``gone`` once a feed answered 410). Curators share it through git; writes are atomic, under the
  catalog lock.
- ``<project>/.newsletter/feeds.sqlite`` is derived pull state: ETag / Last-Modified for conditional
  GETs, last pull time and status, and the entry keys seen per feed. Deleting it loses nothing: the
  next pull re-fetches every feed, and exact dedupe by URL keeps already-cataloged entries out.

A pull fetches every feed concurrently (the Fetcher's bound), then, under ONE catalog lock, turns each
unseen entry into an Item from the feed's own metadata (no page fetch per entry) and saves them in a
batch. Entries are known by `FeedEntry.key` (GUID, else link, else a hash), never by date, so a feed
that rewrites its dates or is re-added adds nothing twice. The first pull of a subscription takes only
the newest ``backlog`` entries and reports how many older ones it left out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import yaml

from . import urls
from .errors import FetchError, NewsletterError, ProjectError, SourceError
from .models import Item, now_timestamp

if TYPE_CHECKING:
    from .catalog import Catalog
    from .fetch import Fetcher, Response
    from .sources.feed import FeedEntry, ParsedFeed

FEEDS_FILE = "feeds.yaml"
STATE_FILE = "feeds.sqlite"
FEED_KINDS = ("podcast", "link")
DEFAULT_BACKLOG = 20  # entries taken from a new subscription's back-catalogue on its first pull
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
_HEADER = "# Feed subscriptions of this newsletter: `newsletter feeds add/rm` edit this file, `feeds pull` reads it.\n"
_FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml")

Progress = Callable[[int, int], None]
# The C (libyaml) safe loader/dumper is ~10x faster: it matters at a few hundred subscriptions.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# --------------------------------------------------------------------------- subscriptions (feeds.yaml)


@dataclasses.dataclass
class Subscription:
    """One followed feed. ``extra`` keeps keys a curator added by hand, so they survive rewrites."""

    url: str
    kind: str = "link"
    title: str = ""
    added: str = ""
    gone: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        return feed_key(self.url)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"url": self.url, "kind": self.kind, "title": self.title, "added": self.added}
        if self.gone:
            data["gone"] = self.gone
        return {**data, **{k: v for k, v in self.extra.items() if k not in data}}


def feed_key(url: str) -> str:
    """The identity of a feed URL: every spelling (http/https, www., tracking params) gives one key."""
    try:
        return urls.identity_key(urls.canonicalize(url))
    except ValueError:
        return url.strip()


def parse_subscriptions(text: str, *, source: str = FEEDS_FILE) -> list[Subscription]:
    """Read feeds.yaml text; raises ProjectError naming the problem (the file is hand-editable)."""
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ProjectError(f"{source} is not valid YAML ({' '.join(str(exc).split())}); fix it and retry") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ProjectError(f"{source} must be a list of feeds (- url: ...), got {type(data).__name__}")
    subs = []
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or not str(entry.get("url") or "").strip():
            raise ProjectError(f"{source}: entry {number} has no url; every feed needs `url: https://...`")
        kind = str(entry.get("kind") or "link")
        if kind not in FEED_KINDS:
            raise ProjectError(f"{source}: entry {number} has kind {kind!r}; use podcast or link")
        known = {"url", "kind", "title", "added", "gone"}
        subs.append(
            Subscription(
                url=str(entry["url"]).strip(),
                kind=kind,
                title=str(entry.get("title") or ""),
                added=str(entry.get("added") or ""),
                gone=str(entry["gone"]) if entry.get("gone") else None,
                extra={k: v for k, v in entry.items() if k not in known},
            )
        )
    return subs


def dump_subscriptions(subs: Sequence[Subscription]) -> str:
    """feeds.yaml text, sorted by URL so two curators' additions rarely touch the same lines."""
    ordered = sorted(subs, key=lambda s: s.key)
    body = yaml.dump(
        [s.to_dict() for s in ordered], Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True, width=110
    )
    return _HEADER + (body if ordered else "[]\n")


# --------------------------------------------------------------------------- feed autodiscovery (pure)


class _FeedLinks(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":
            href = dict(attrs).get("href")
            if href:
                self.base = urljoin(self.base, href.strip())
        if tag not in ("link", "a"):
            return
        values = {k: (v or "").strip() for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        href = values.get("href", "")
        if "alternate" in rels and kind in _FEED_LINK_TYPES and href:
            absolute = urljoin(self.base, href)
            if absolute not in self.links:
                self.links.append(absolute)


def discover_feed_links(html: str, base_url: str) -> list[str]:
    """Feed URLs a page advertises with ``<link rel="alternate" type="application/rss+xml" href>``, in order."""
    reader = _FeedLinks(base_url)
    with contextlib.suppress(Exception):  # html.parser is lenient; never let a hostile page crash us
        reader.feed(html[:500_000])
        reader.close()
    return [u for u in reader.links if u.startswith(("http://", "https://"))]


# --------------------------------------------------------------------------- pull state (derived SQLite)

_SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    key TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, last_pull TEXT, last_ok TEXT,
    last_status TEXT, last_error TEXT
);
CREATE TABLE IF NOT EXISTS seen (
    feed TEXT NOT NULL, entry TEXT NOT NULL, item_id TEXT, first_seen TEXT,
    PRIMARY KEY (feed, entry)
) WITHOUT ROWID;
"""


@dataclasses.dataclass
class FeedState:
    """What the last pulls of one feed left behind."""

    etag: str | None = None
    last_modified: str | None = None
    last_pull: str | None = None
    last_ok: str | None = None
    last_status: str | None = None
    last_error: str | None = None
    seen: int = 0


class PullState:
    """The derived feeds.sqlite; any damage (or another schema) and it is rebuilt empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._connect()
        except sqlite3.DatabaseError:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
            elif row[0] != _SCHEMA_VERSION:
                raise sqlite3.DatabaseError("feeds.sqlite schema changed")
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> FeedState:
        row = self.conn.execute(
            "SELECT etag, last_modified, last_pull, last_ok, last_status, last_error FROM feeds WHERE key=?", (key,)
        ).fetchone()
        seen = self.conn.execute("SELECT count(*) FROM seen WHERE feed=?", (key,)).fetchone()[0]
        return FeedState(*row, seen=seen) if row else FeedState(seen=seen)

    def seen_keys(self, key: str) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT entry FROM seen WHERE feed=?", (key,))}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def record(
        self, conn: sqlite3.Connection, key: str, state: FeedState, entries: Iterable[tuple[str, str | None]]
    ) -> None:
        """Store a feed's pull outcome and the entry keys it saw (entry key, item id or None)."""
        conn.execute(
            "INSERT OR REPLACE INTO feeds VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, state.etag, state.last_modified, state.last_pull, state.last_ok, state.last_status, state.last_error),
        )
        now = now_timestamp()
        conn.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)", [(key, entry, item, now) for entry, item in entries]
        )

    def rename(self, conn: sqlite3.Connection, old: str, new: str) -> None:
        """A feed moved: its state follows it (entries already seen stay seen)."""
        if old == new:
            return
        conn.execute(
            "INSERT OR IGNORE INTO seen SELECT ?, entry, item_id, first_seen FROM seen WHERE feed=?", (new, old)
        )
        self.forget(conn, old)

    def forget(self, conn: sqlite3.Connection, key: str) -> None:
        conn.execute("DELETE FROM seen WHERE feed=?", (key,))
        conn.execute("DELETE FROM feeds WHERE key=?", (key,))


# --------------------------------------------------------------------------- pure decisions


def plan_entries(
    entries: Sequence[FeedEntry], seen: set[str], *, first_pull: bool, backlog: int
) -> tuple[list[FeedEntry], list[FeedEntry]]:
    """Split a feed's unseen entries into (to take, left out).

    Only the first pull of a subscription is capped: it takes the ``backlog`` newest entries (by date when
    entries have one, else document order, which feeds keep newest first) and leaves the rest out.
    """
    fresh: list[FeedEntry] = []
    keys: set[str] = set()
    for entry in entries:
        if entry.key in seen or entry.key in keys:
            continue
        keys.add(entry.key)
        fresh.append(entry)
    if not first_pull or len(fresh) <= backlog:
        return fresh, []
    # A stable sort, newest first; undated entries keep their document order after the dated ones.
    newest = sorted(fresh, key=lambda e: e.metadata.published or "", reverse=True)
    return newest[: max(backlog, 0)], newest[max(backlog, 0) :]


def entry_url(entry: FeedEntry) -> str:
    """The URL an entry is cataloged under: its link, else (episodes) the audio file, else a URL-ish GUID."""
    if entry.link:
        return entry.link
    audio = entry.metadata.extra.get("audio_url")
    if audio:
        return str(audio)
    if entry.key.startswith(("http://", "https://")):
        return entry.key
    return ""


def entry_item(entry: FeedEntry, sub: Subscription) -> Item:
    """A new inbox Item from a feed entry's own metadata (no fetch). Raises ValueError when it has no URL.

    Kind: what the URL says (an arXiv link is a paper, a tweet a tweet), else what the feed says
    (an audio episode is a podcast), else the subscription's kind.
    """
    from . import ingest

    url = entry_url(entry)
    if not url:
        raise ValueError("the entry has no link, enclosure or URL GUID")
    prepared = ingest.prepare(url)
    meta = dataclasses.replace(entry.metadata, extra=dict(entry.metadata.extra))
    kind = prepared.info.kind or meta.kind or sub.kind
    if kind == "podcast" or meta.kind == "podcast":
        meta.extra["feed_url"] = sub.url
        meta.extra.setdefault("show", sub.title or meta.site)
    else:
        meta.extra["feed_url"] = sub.url  # provenance: which subscription brought it in
    return ingest.build_item(prepared, meta, ingest.AddOptions(kind=kind))


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class SubscribeResult:
    """Outcome of subscribing to one URL: ``added``, ``exists`` or ``failed``."""

    input: str
    status: str
    subscription: Subscription | None = None
    note: str = ""  # e.g. "found the feed on the page ..."
    error: str = ""
    entries: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"input": self.input, "status": self.status}
        if self.subscription:
            data.update(self.subscription.to_dict())
        if self.note:
            data["note"] = self.note
        if self.error:
            data["error"] = self.error
        return data


@dataclasses.dataclass
class FeedResult:
    """What one feed's pull did. ``status``: ok, not_modified, error, gone (skipped)."""

    url: str
    title: str
    status: str
    new: list[Item] = dataclasses.field(default_factory=list)
    existing: int = 0
    left_out: int = 0
    unusable: int = 0  # entries with no usable URL
    moved_to: str | None = None
    error: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "error" or (self.status == "gone" and bool(self.error))

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "status": self.status,
            "new": len(self.new),
            "existing": self.existing,
            "not_modified": self.status == "not_modified",
            "left_out": self.left_out,
            "unusable": self.unusable,
            "moved_to": self.moved_to,
            "error": self.error or None,
            "warnings": self.warnings,
            "items": [{"id": i.id, "kind": i.kind, "title": i.title, "url": i.url} for i in self.new],
        }


@dataclasses.dataclass
class _Fetched:
    sub: Subscription
    response: Response | None = None
    parsed: ParsedFeed | None = None
    error: NewsletterError | None = None
    moved_to: str | None = None  # where a 301/308 said the feed now lives


# --------------------------------------------------------------------------- the facade


class Feeds:
    """Subscriptions and pulls of one project (wraps a `Catalog`)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.path = catalog.settings.root / FEEDS_FILE
        self.state_path = catalog.settings.derived_dir / STATE_FILE

    # -- subscriptions --------------------------------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        """Every subscription in feeds.yaml (empty when the file does not exist)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(f"cannot read {self.path}: {exc}") from None
        return parse_subscriptions(text, source=str(self.path))

    def _write(self, subs: Sequence[Subscription]) -> None:
        from .store.files import atomic_write

        atomic_write(self.path, dump_subscriptions(subs))

    def find(self, url: str, subs: Sequence[Subscription] | None = None) -> Subscription | None:
        """The subscription any spelling of ``url`` names, if any."""
        key = feed_key(urls.normalize_input(url))
        return next((s for s in (subs if subs is not None else self.subscriptions()) if s.key == key), None)

    @contextlib.contextmanager
    def _state(self) -> Iterator[PullState]:
        state = PullState(self.state_path)
        try:
            yield state
        finally:
            state.close()

    def status(self) -> list[tuple[Subscription, FeedState]]:
        """Every subscription with its pull state (for `feeds list`)."""
        subs = self.subscriptions()
        with self._state() as state:
            return [(s, state.get(s.key)) for s in subs]

    def add(
        self,
        requests: Sequence[tuple[str, str | None, str]],
        *,
        fetch: bool = True,
        progress: Progress | None = None,
    ) -> list[SubscribeResult]:
        """Subscribe to feeds given as (url, kind or None, title); one result per request, in order.

        With ``fetch`` each URL is fetched once (concurrently) to check it is a feed and read its title and
        kind; an HTML page is searched for its advertised feed, which is subscribed instead.
        feeds.yaml is written once, under the catalog lock.
        """
        existing = self.subscriptions()
        results: list[SubscribeResult | None] = [None] * len(requests)
        todo: list[tuple[int, str]] = []
        for i, (raw, kind, _title) in enumerate(requests):
            url = urls.normalize_input(raw)
            try:
                urls.canonicalize(url)
            except ValueError as exc:
                results[i] = SubscribeResult(raw, "failed", error=str(exc))
                continue
            if kind is not None and kind not in FEED_KINDS:
                results[i] = SubscribeResult(raw, "failed", error=f"unknown feed kind {kind!r}; use podcast or link")
                continue
            found = self.find(url, existing)
            if found:
                results[i] = SubscribeResult(raw, "exists", found, note=f"already subscribed as {found.url}")
                continue
            todo.append((i, url))

        probes: list[Any] = [None] * len(todo)
        if fetch and todo:
            from .fetch import run_all

            done = [len(requests) - len(todo)]

            def on_done(_i: int, _r: object) -> None:
                done[0] += 1
                if progress:
                    progress(done[0], len(requests))

            probes = run_all(_probe, [url for _, url in todo], settings=self.catalog.fetch_settings(), on_done=on_done)

        with self.catalog.store.locked():
            subs = self.subscriptions()  # re-read under the lock: another curator's process may have written
            for (i, url), probe in zip(todo, probes, strict=True):
                raw, kind, title = requests[i]
                if isinstance(probe, Exception):
                    results[i] = SubscribeResult(raw, "failed", error=str(probe))
                    continue
                note, entries = "", 0
                if probe is not None:
                    feed_url, parsed = probe
                    if feed_key(feed_url) != feed_key(url):
                        note = f"{url} is a web page; subscribed to the feed it advertises, {feed_url}"
                    url, title = feed_url, parsed.title or title
                    kind = kind or ("podcast" if parsed.is_podcast else "link")
                    entries = len(parsed.entries)
                found = self.find(url, subs)
                if found:
                    results[i] = SubscribeResult(raw, "exists", found, note=f"already subscribed as {found.url}")
                    continue
                sub = Subscription(url=url, kind=kind or "link", title=title, added=now_timestamp())
                subs.append(sub)
                results[i] = SubscribeResult(raw, "added", sub, note=note, entries=entries)
            if any(r is not None and r.status == "added" for r in results):
                self._write(subs)
        return [r for r in results if r is not None]

    def remove(self, url: str) -> Subscription:
        """Unsubscribe (any spelling of the URL); its pull state is forgotten. Items stay in the catalog."""
        with self.catalog.store.locked():
            subs = self.subscriptions()
            found = self.find(url, subs)
            if found is None:
                raise NewsletterError(f"not subscribed to {url}; `newsletter feeds list` shows the subscriptions")
            self._write([s for s in subs if s is not found])
            with self._state() as state, state.transaction() as conn:
                state.forget(conn, found.key)
        return found

    # -- pulling --------------------------------------------------------------------------------

    def pull(
        self,
        only: Sequence[str] = (),
        *,
        backlog: int = DEFAULT_BACKLOG,
        progress: Progress | None = None,
        on_saved: Callable[[Item], None] | None = None,
    ) -> list[FeedResult]:
        """Fetch the subscriptions (or those named in ``only``) and add their new entries to the catalog.

        Returns one result per subscription. Gone feeds are skipped; a feed that fails is reported and
        the others are still pulled. ``on_saved`` is called for each new item once its file is durable.
        """
        subs = self.subscriptions()
        if only:
            chosen = []
            for url in only:
                found = self.find(url, subs)
                if found is None:
                    raise NewsletterError(f"not subscribed to {url}; add it with `newsletter feeds add {url}`")
                if found not in chosen:
                    chosen.append(found)
        else:
            chosen = list(subs)
        results: dict[str, FeedResult] = {}
        active = []
        for sub in chosen:
            if sub.gone:
                results[sub.key] = FeedResult(sub.url, sub.title, "gone", warnings=[f"gone since {sub.gone}; skipped"])
            else:
                active.append(sub)
        with self._state() as state:
            fetched = self._fetch_all(active, state, progress)
            with self.catalog.store.locked():
                results.update(self._apply(fetched, state, backlog, on_saved))
        return [results[s.key] for s in chosen]

    def _fetch_all(self, subs: list[Subscription], state: PullState, progress: Progress | None) -> list[_Fetched]:
        import httpx

        from .fetch import run_all

        states = {s.key: state.get(s.key) for s in subs}
        settings = self.catalog.fetch_settings()
        recorder = _PermanentRedirects(
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=settings.concurrency * 4)
            )
        )
        done = [0]

        async def one(fetcher: Fetcher, sub: Subscription) -> _Fetched:
            from .sources.feed import parse_feed

            st = states[sub.key]
            first = st.last_ok is None  # no validators unless we also have the entries they vouch for
            try:
                response = await fetcher.get(
                    sub.url,
                    headers={"Accept": FEED_ACCEPT},
                    etag=None if first else st.etag,
                    last_modified=None if first else st.last_modified,
                )
            except NewsletterError as exc:
                return _Fetched(sub, error=exc)
            if response.not_modified:
                return _Fetched(sub, response=response)
            try:
                parsed = parse_feed(response.content, url=response.final_url, content_type=response.content_type)
            except SourceError as exc:
                return _Fetched(sub, response=response, error=exc)
            return _Fetched(sub, response=response, parsed=parsed)

        def on_done(_i: int, _r: object) -> None:
            done[0] += 1
            if progress:
                progress(done[0], len(subs))

        if progress:
            progress(0, len(subs))
        out = run_all(one, subs, settings=settings, on_done=on_done, transport=recorder)
        fetched = []
        for sub, result in zip(subs, out, strict=True):
            if isinstance(result, NewsletterError):
                result = _Fetched(sub, error=result)
            if result.error is None:
                result.moved_to = recorder.moved(sub.url)
            fetched.append(result)
        return fetched

    def _apply(
        self, fetched: list[_Fetched], state: PullState, backlog: int, on_saved: Callable[[Item], None] | None
    ) -> dict[str, FeedResult]:
        """Under the lock: build items from new entries, save them in one batch, record the state."""
        from .bulk import CatalogIndex, save_items

        subs = self.subscriptions()  # fresh under the lock, to apply moves and gone marks to
        by_key = {s.key: s for s in subs}
        index: CatalogIndex | None = None  # loaded only if some feed brought entries (not for all-304 pulls)
        now = now_timestamp()
        results: dict[str, FeedResult] = {}
        records: list[tuple[str, str, FeedState, list[tuple[str, str | None]]]] = []
        pending: list[Item] = []
        changed_subs = False
        for f in fetched:
            sub = f.sub
            old_url = sub.url
            old_key = feed_key(old_url)
            result = results[old_key] = FeedResult(old_url, sub.title, "ok")
            st = state.get(old_key)
            st.last_pull = now
            if f.error is not None:
                if isinstance(f.error, FetchError) and f.error.status == 410:
                    result.status, result.error = "gone", f"{old_url} is gone (HTTP 410); marked gone, no longer pulled"
                    if old_key in by_key:
                        by_key[old_key].gone = now[:10]
                        changed_subs = True
                else:
                    result.status, result.error = "error", str(f.error)
                st.last_status, st.last_error = result.status, result.error
                records.append((old_key, old_key, st, []))
                continue
            new_key = old_key
            if f.moved_to and feed_key(f.moved_to) != old_key:
                new_key = feed_key(f.moved_to)
                result.moved_to = f.moved_to
                sub = dataclasses.replace(sub, url=f.moved_to)
                if old_key in by_key:
                    if new_key in by_key:  # moved onto a feed we already follow
                        subs.remove(by_key.pop(old_key))
                        result.warnings.append(f"moved to {f.moved_to}, which is already subscribed: dropped {old_url}")
                    else:
                        by_key[old_key].url = f.moved_to
                    changed_subs = True
            assert f.response is not None
            st.last_error = None
            if f.parsed is None:  # 304
                result.status = st.last_status = "not_modified"
                records.append((old_key, new_key, st, []))
                continue
            parsed = f.parsed
            if not result.title and parsed.title and old_key in by_key and not by_key[old_key].title:
                by_key[old_key].title = result.title = parsed.title
                changed_subs = True
            result.warnings.extend(parsed.warnings)
            seen = state.seen_keys(old_key)
            take, left = plan_entries(parsed.entries, seen, first_pull=st.last_ok is None, backlog=backlog)
            result.left_out = len(left)
            entries: list[tuple[str, str | None]] = [(e.key, None) for e in left]
            for entry in take:
                try:
                    item = entry_item(entry, sub)
                except ValueError:
                    result.unusable += 1
                    entries.append((entry.key, None))
                    continue
                index = index or CatalogIndex(self.catalog)
                extra_urls = [str(item.extra.get(k) or "") for k in ("episode_url", "audio_url")]
                found = index.find(item.canonical_url, *item.aliases, item.url, *extra_urls)
                if found or item.id in index.known:
                    result.existing += 1
                    entries.append((entry.key, found or item.id))
                    continue
                index.note(item)  # so a second feed carrying the same entry sees it
                pending.append(item)
                result.new.append(item)
                entries.append((entry.key, item.id))
            # A truncated download's validators would make the next pull a 304 that never brings the rest.
            complete = not parsed.warnings
            st.etag = f.response.etag if complete else None
            st.last_modified = f.response.last_modified if complete else None
            st.last_ok, st.last_status = now, "ok"
            records.append((old_key, new_key, st, entries))
        save_items(self.catalog, pending, on_saved=on_saved)
        if changed_subs:
            self._write(subs)
        with state.transaction() as conn:
            for old_key, new_key, st, entries in records:
                state.rename(conn, old_key, new_key)
                state.record(conn, new_key, st, entries)
        return results


async def _probe(fetcher: Fetcher, url: str) -> tuple[str, ParsedFeed]:
    """Fetch ``url`` and return (feed URL, parsed feed); follows a page's advertised feed link once."""
    from .sources.feed import parse_feed

    response = await fetcher.get(url, headers={"Accept": FEED_ACCEPT})
    try:
        # Subscribe to what was asked for; a permanent move is picked up (and saved) by the first pull.
        return url, parse_feed(response.content, url=response.final_url, content_type=response.content_type)
    except SourceError as first_error:
        links = discover_feed_links(response.text, response.final_url)
        if not links:
            raise SourceError(f"{url} is not a feed and its page advertises none ({first_error})") from None
    feed_response = await fetcher.get(links[0], headers={"Accept": FEED_ACCEPT})
    parsed = parse_feed(feed_response.content, url=feed_response.final_url, content_type=feed_response.content_type)
    return links[0], parsed


class _PermanentRedirects:
    """An httpx transport wrapper that remembers 301/308 answers, so a pull can update moved feeds.

    The Fetcher follows redirects itself and reports only the final URL, which cannot tell a permanent
    move (update the subscription) from a temporary one (keep it). Until `fetch.Response` carries its
    redirect history, this wrapper is handed to the Fetcher as its transport.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.permanent: dict[str, str] = {}

    async def handle_async_request(self, request: Any) -> Any:
        response = await self.inner.handle_async_request(request)
        location = response.headers.get("location")
        if response.status_code in (301, 308) and location:
            with contextlib.suppress(Exception):
                self.permanent[str(request.url)] = str(request.url.join(location.strip()))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> _PermanentRedirects:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.inner.__aexit__(*args)

    def moved(self, url: str) -> str | None:
        """Where ``url`` has permanently moved to (following chained permanent moves), or None."""
        import httpx

        try:
            start = current = str(httpx.URL(url))
        except Exception:
            return None
        seen = {current}
        while current in self.permanent:
            current = self.permanent[current]
            if current in seen:
                return None
            seen.add(current)
        return current if current != start else None


def subscribe_hint(catalog: Catalog, item: Item) -> str | None:
    """For `add` of a show's feed URL: the hint line offering to subscribe, unless already subscribed."""
    feed_url = str(item.extra.get("feed_url") or "")
    if item.kind != "podcast" or not feed_url or item.extra.get("audio_url"):
        return None
    if Feeds(catalog).find(feed_url) is not None:
        return None
    return f"subscribe with: newsletter feeds add {feed_url}"
