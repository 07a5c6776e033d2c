"""The `Feeds` facade: subscribe, unsubscribe and pull new entries into the catalog (the I/O of feeds).

A pull fetches every feed concurrently (the Fetcher's bound), then, under ONE catalog lock, turns each
unseen entry into an Item from the feed's own metadata (no page fetch per entry) and saves them in a
batch. A feed that answered a permanent redirect (301/308, from `Response.redirects`) has its
subscription moved; one that answered 410 is marked gone and no longer pulled.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import FetchError, NewsletterError, ProjectError, SourceError
from ..models import Item, Progress, now_timestamp
from ..web import urls
from .entries import DEFAULT_BACKLOG, entry_item, permanent_move, plan_entries
from .results import FeedResult, SubscribeResult
from .state import STATE_FILE, FeedState, PullState
from .subscriptions import (
    FEED_KINDS,
    FEEDS_FILE,
    Subscription,
    discover_feed_links,
    dump_subscriptions,
    feed_key,
    parse_subscriptions,
)

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..sources.feed import ParsedFeed
    from ..web.fetch import Fetcher, Response

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)



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
        from ..store.files import atomic_write

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
            from ..web.fetch import run_all

            done = [len(requests) - len(todo)]

            def on_done(_i: int, _r: object) -> None:
                done[0] += 1
                if progress:
                    progress(done[0], len(requests))

            probes = run_all(_probe, [url for _, url in todo], settings=self.catalog.fetch_settings(), on_done=on_done)

        with self.catalog.writing():
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
        with self.catalog.writing():
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
            with self.catalog.writing():
                results.update(self._apply(fetched, state, backlog, on_saved))
        return [results[s.key] for s in chosen]

    def _fetch_all(self, subs: list[Subscription], state: PullState, progress: Progress | None) -> list[_Fetched]:
        from ..web.fetch import run_all

        states = {s.key: state.get(s.key) for s in subs}
        settings = self.catalog.fetch_settings()
        done = [0]

        async def one(fetcher: Fetcher, sub: Subscription) -> _Fetched:
            from ..sources.feed import parse_feed

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
        out = run_all(one, subs, settings=settings, on_done=on_done)
        fetched = []
        for sub, result in zip(subs, out, strict=True):
            if isinstance(result, NewsletterError):
                result = _Fetched(sub, error=result)
            if result.error is None and result.response is not None:
                result.moved_to = permanent_move(sub.url, result.response.redirects)
            fetched.append(result)
        return fetched

    def _apply(
        self, fetched: list[_Fetched], state: PullState, backlog: int, on_saved: Callable[[Item], None] | None
    ) -> dict[str, FeedResult]:
        """Under the lock: build items from new entries, save them in one batch, record the state."""
        from ..ingest.pipeline import CatalogIndex, save_items

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
                except ValueError as exc:
                    result.unusable += 1
                    result.warnings.append(f"{old_url}: skipped entry {entry.key[:120]!r}: {exc}")
                    entries.append((entry.key, None))
                    continue
                index = index or CatalogIndex(self.catalog)
                found = index.duplicate_of(item)
                if found:
                    result.existing += 1
                    entries.append((entry.key, found))
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
    from ..sources.feed import parse_feed

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


def subscribe_hint(catalog: Catalog, item: Item) -> str | None:
    """For `add` of a show's feed URL: the hint line offering to subscribe, unless already subscribed."""
    feed_url = str(item.extra.get("feed_url") or "")
    if item.kind != "podcast" or not feed_url or item.extra.get("audio_url"):
        return None
    if Feeds(catalog).find(feed_url) is not None:
        return None
    return f"subscribe with: newsletter feeds add {feed_url}"
