"""`Catalog`: the facade over every stage. The CLI calls one method per command; so can scripts.

    from newsletter.catalog import Catalog
    catalog = Catalog.open("path/to/project")
    results = catalog.add(["https://arxiv.org/abs/2106.09685"])
    for item in catalog.list(status="inbox"):
        print(item.title)
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings, find_project, load_settings
from .errors import ArgumentError, CatalogError, ItemChanged, ItemNotFound, NewsletterError, ProjectError
from .models import KINDS, STATUSES, Item, Metadata, Progress, mark_hand_tags, normalize_tag
from .store import Snapshot, Store, identity

if TYPE_CHECKING:
    from .feeds import FeedResult, Feeds
    from .ingest import route as ingest
    from .ingest.pipeline import ImportOptions, ImportReport
    from .issues.draft import DraftOptions, DraftResult
    from .issues.import_archive import ArchiveReport
    from .issues.publish import Problem, PublishResult
    from .issues.suggest import Decision, Suggestion
    from .links.archive import ArchiveResult, Pacing
    from .links.check import LinkResult
    from .mail.campaign import EmailOptions, EmailReport
    from .media.figures import Figure
    from .platforms.base import Remote
    from .semantic import SemanticEngine
    from .semantic.relevance import Scored
    from .web.fetch import FetchSettings

SEMANTIC_LOCK = "sync.lock"  # serializes rewrites of the derived vectors and index, apart from the writer lock
MERGED_POST_FILTER = 200  # up to this many merged items are filtered out of results rather than by an allowed set
MIN_PREFIX = 4  # shorter id prefixes match too much to name one item
log = logging.getLogger("newsletter")


@dataclasses.dataclass
class AddResult:
    """The outcome of one input of `add`: added, already there (`exists`), or failed."""

    input: str
    status: str
    item: Item | None = None
    error: str | None = None
    similar: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    unfetched: str | None = None  # why the page could not be fetched, when the given title was used instead

    def to_json(self) -> dict[str, Any]:
        # "result", not "status": an item has a status field of its own (inbox, published ...)
        data: dict[str, Any] = {"input": self.input, "result": self.status}
        if self.item is not None:
            data.update(self.item.to_dict())
            if self.status == "exists":
                data["duplicate_of"] = self.item.id
            data["similar"] = self.similar
        if self.error:
            data["error"] = self.error
        return data


class Catalog:
    """A newsletter project's catalog: load, query and change items."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.catalog_dir, settings.derived_dir)
        from .semantic.text import TEXT_VERSION, item_text_hash

        # Stored per cache row, so no command recomputes the embedding text of the whole catalog.
        self.store.text_key, self.store.text_version = item_text_hash, TEXT_VERSION
        self._snapshot: Snapshot | None = None
        self._semantic: SemanticEngine | None = None
        self._problems: builtins.list[str] | None = None  # from the last `list` by query

    @classmethod
    def open(cls, start: Path | str | None = None) -> Catalog:
        """Open the project at `start` or the nearest parent folder holding newsletter.toml."""
        return cls(load_settings(find_project(start)))

    def close(self) -> None:
        self.store.close()

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self, *, refresh: bool = False) -> Snapshot:
        """The catalog as on disk now (cached for the life of this object unless `refresh`)."""
        if self._snapshot is None or refresh:
            self._snapshot = self.store.load()
        return self._snapshot

    def items(self, *, statuses: Sequence[str] | None = None) -> builtins.list[Item]:
        """Every item (or those of these statuses), oldest addition first.

        With `statuses` and no snapshot loaded, only the matching cache rows are decoded (the same
        stat sweep as a full load): `draft` needs the candidates and the published items, not the
        skipped half of a large catalog.
        """
        if statuses is None or self._snapshot is not None:
            found: Iterable[Item] = self.snapshot().items.values()
            if statuses is not None:
                found = [it for it in found if it.status in statuses]
        else:
            found = self.store.select(statuses=list(statuses)).items.values()
        return sorted(found, key=lambda i: (i.added, i.id))

    def list(
        self, *, kind: str | None = None, status: str | None = None, tag: str | None = None
    ) -> builtins.list[Item]:
        """Items filtered by kind, status and tag, newest addition first."""
        if kind and kind not in KINDS:
            raise NewsletterError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        if status and status not in STATUSES:
            raise NewsletterError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        wanted_tag = normalize_tag(tag) if tag else None
        if tag and not wanted_tag:
            raise NewsletterError(f"{tag!r} is not a tag (tags are letters, digits, '-', '+', '#', '.')")
        # Without a loaded snapshot, decode only the rows the filters can match (the same stat sweep).
        if self._snapshot is None and (kind or status):
            source = self.store.select(kinds=[kind] if kind else None, statuses=[status] if status else None)
            self._problems = source.problems
        else:
            source = self.snapshot()
        found = [
            item
            for item in source.items.values()
            if (not kind or item.kind == kind)
            and (not status or item.status == status)
            and (not wanted_tag or wanted_tag in item.tags)
        ]
        return sorted(found, key=lambda i: (i.added, i.id), reverse=True)

    def problems(self) -> builtins.list[str]:
        """One line per item file that could not be read (as of the last full read, else read now)."""
        if self._snapshot is not None:
            return self._snapshot.problems
        if self._problems is None:
            self._problems = [e.error or f"{e.path}: unreadable" for e in self.store.unreadable()]
        return self._problems

    def get(self, ref: str) -> Item:
        """An item by id, unique id prefix (4+ characters) or any URL it is known by.

        Answered from the derived cache by query (folder stamps checked, the item's file stat'ed),
        or from the loaded snapshot when a command already holds one.
        """
        if self._snapshot is None:
            return self._lookup(ref)[0]
        snap = self.snapshot()
        ref = ref.strip()
        if ref in snap.items:
            return snap.items[ref]
        if "/" in ref or "." in ref:
            found = identity.find_existing(identity.identity_index(snap.items.values()), ref)
            if found and found in snap.items:
                return snap.items[found]
        if len(ref) >= MIN_PREFIX:
            matches = [i for i in snap.items if i.startswith(ref.lower())]
            if len(matches) == 1:
                return snap.items[matches[0]]
            if len(matches) > 1:
                raise _ambiguous(ref, matches)
        raise _not_found(ref)

    def path_of(self, item_id: str) -> Path:
        """The file that holds an item."""
        if self._snapshot is None:
            return self.settings.catalog_dir / self._lookup(item_id)[1]
        return self.settings.catalog_dir / self.snapshot().paths[item_id]

    def _lookup(self, ref: str) -> tuple[Item, str]:
        """(item, path) by id, unique id prefix or URL, by query: no whole-catalog load."""
        store = self.store
        store.freshen()
        ref = ref.strip()
        found = store.entry(ref) if ref else None
        if found is None and ("/" in ref or "." in ref):
            item_id = store.find_url(ref)
            found = store.entry(item_id) if item_id else None
        if found is None and len(ref) >= MIN_PREFIX:
            matches = store.find_prefix(ref.lower(), limit=1000)
            if len(matches) > 1:
                raise _ambiguous(ref, matches)
            found = store.entry(matches[0]) if matches else None
        if found is None:
            raise _not_found(ref)
        return found

    def note_saved(self, item: Item, path: str) -> None:
        """Keep a loaded snapshot in step with a file just saved (a no-op when none is loaded)."""
        if self._snapshot is not None:
            self._snapshot.items[item.id], self._snapshot.paths[item.id] = item, path

    # -- adding --------------------------------------------------------------------------------

    def add(
        self,
        inputs: Sequence[str],
        options: ingest.AddOptions | None = None,
        *,
        progress: Progress | None = None,
        on_result: Callable[[AddResult], None] | None = None,
        similar: bool = False,
    ) -> builtins.list[AddResult]:
        """Add URLs (or arXiv ids, DOIs) to the inbox; one result per input, in input order.

        Inputs already in the catalog (by any URL they are known by) come back as `exists`;
        failures come back as `failed` with a one-line reason and never stop the others.
        `on_result` is called for each saved item right after its file is durable, so a caller
        can report progress that stays true even if the process dies a moment later. With
        `similar`, each added item's probable near-duplicates are filled in (`AddResult.similar`).

        The pipeline is the one `import` and `feeds pull` use: dedupe, fetch with no lock held,
        then under the lock re-check identity (another process may have added the same URL) and
        save the new items in one durable batch.
        """
        from .ingest import route as ingest
        from .ingest.pipeline import CatalogIndex, save_items

        options = options or ingest.AddOptions()
        if options.kind and options.kind not in KINDS:
            raise NewsletterError(f"unknown kind {options.kind!r}; use one of {', '.join(KINDS)}")
        results: builtins.list[AddResult | None] = [None] * len(inputs)
        index = CatalogIndex(self)
        pending: builtins.list[tuple[int, ingest.Prepared]] = []
        first_seen: dict[str, int] = {}  # canonical URL -> index of its first input
        repeats: dict[int, int] = {}  # a later input's index -> the first input with its URL
        for i, raw in enumerate(inputs):
            try:
                prepared = ingest.prepare(raw)
            except ValueError as exc:
                results[i] = AddResult(raw, "failed", error=f"not a URL, arXiv id or DOI ({exc})")
                continue
            existing = index.find(prepared.url, prepared.canonical_url)
            if existing and existing in index.snap.items:
                results[i] = AddResult(raw, "exists", item=index.snap.items[existing])
                continue
            key = prepared.canonical_url
            if key in first_seen:  # the same thing twice in one batch: fetch it once
                repeats[i] = first_seen[key]
                continue
            first_seen[key] = i
            pending.append((i, prepared))

        done = sum(r is not None for r in results) + len(repeats)
        if progress:
            progress(done, len(inputs))
        metas = self._resolve_all(pending, options, progress, done, len(inputs))
        built: builtins.list[tuple[int, Item]] = []
        unfetched: dict[int, str] = {}
        for (i, prepared), meta in zip(pending, metas, strict=True):
            if isinstance(meta, Exception) and options.fallback_title:
                # The caller sent what it saw (a browser capture): keep the link with that title.
                unfetched[i] = str(meta)
                meta = Metadata(kind=options.kind or prepared.info.kind)
            if isinstance(meta, Exception):
                results[i] = AddResult(prepared.input, "failed", error=str(meta))
                continue
            try:
                built.append((i, ingest.build_item(prepared, meta, options)))
            except ValueError as exc:
                results[i] = AddResult(prepared.input, "failed", error=str(exc))

        with self.writing():
            index.refresh()
            batch: dict[str, Item] = {}
            position: dict[str, int] = {}
            for i, item in built:
                existing = index.duplicate_of(item)
                if existing:
                    found = index.snap.items.get(existing) or batch.get(existing)
                    results[i] = AddResult(inputs[i], "exists", item=found)
                    continue
                index.note(item)
                batch[item.id], position[item.id] = item, i

            def saved(item: Item) -> None:
                i = position[item.id]
                result = results[i] = AddResult(inputs[i], "added", item=item, unfetched=unfetched.get(i))
                if on_result:
                    on_result(result)

            save_items(self, list(batch.values()), on_saved=saved)
        for i, first_index in repeats.items():
            first = results[first_index]
            if first is not None and first.item is not None:
                results[i] = AddResult(inputs[i], "exists", item=first.item)
            else:
                results[i] = AddResult(inputs[i], "failed", error=first.error if first else "failed")
        final = [r for r in results if r is not None]
        if similar:
            added = [r for r in final if r.status == "added" and r.item is not None]
            found_similar = self.near_duplicates([r.item for r in added if r.item is not None])
            for r in added:
                assert r.item is not None
                r.similar = found_similar.get(r.item.id, [])
        return final

    def import_file(
        self,
        path: Path | str,
        options: ImportOptions | None = None,
        *,
        progress: Progress | None = None,
        on_saved: Callable[[Item], None] | None = None,
        similar: bool = False,
    ) -> ImportReport:
        """Import a bookmarks / CSV / Markdown / URL-list / OPML file (OPML feeds become subscriptions).

        Idempotent: rows already in the catalog are counted as existing; see `newsletter import --help`.
        With `similar`, `report.similar` holds the near-duplicates of the new items.
        """
        from .ingest.pipeline import import_file

        report = import_file(self, Path(path), options, progress=progress, on_saved=on_saved, subscribe=self._subscribe)
        if similar:
            report.similar = self.near_duplicates(report.new)
        return report

    def import_archive(
        self, path: Path | str, platform: str, *, dry_run: bool = False, progress: Progress | None = None,
    ) -> ArchiveReport:
        """Import a newsletter's past issues from a platform's export (buttondown, substack, curated, ghost,
        markdown): issue files in content/issues/, their links catalog items published in those issues.

        Idempotent: an issue imported before is `exists`; nothing existing is overwritten. With
        `dry_run`, the report says what would happen and nothing is written. See
        `newsletter.issues.import_archive`.
        """
        from .issues.import_archive import import_archive

        return import_archive(self, Path(path), platform, dry_run=dry_run, progress=progress)

    def _subscribe(self, requests: builtins.list[tuple[str, str | None, str]], fetch: bool) -> builtins.list[Any]:
        return self.feeds.add(requests, fetch=fetch)

    @property
    def feeds(self) -> Feeds:
        """The project's feed subscriptions: `add`, `remove`, `status`, `pull` (see `pull` below)."""
        from .feeds import Feeds

        return Feeds(self)

    def pull(
        self,
        only: Sequence[str] | None = None,
        *,
        backlog: int | None = None,
        progress: Progress | None = None,
        on_saved: Callable[[Item], None] | None = None,
        similar: bool = False,
    ) -> builtins.list[FeedResult]:
        """Fetch the subscribed feeds (or those in `only`) and add their new entries; one result per feed.

        Fetching happens with no lock held; the new items are saved in one durable batch under it. With
        `similar`, each result's `similar` maps its new items to their probable near-duplicates.
        """
        from .feeds import DEFAULT_BACKLOG

        results = self.feeds.pull(
            only or (), backlog=DEFAULT_BACKLOG if backlog is None else backlog, progress=progress, on_saved=on_saved
        )
        if similar:
            found = self.near_duplicates([item for r in results for item in r.new])
            for r in results:
                r.similar = {item.id: found[item.id] for item in r.new if item.id in found}
        return results

    # -- issues --------------------------------------------------------------------------------

    def draft(self, options: DraftOptions | None = None, *, engine: SemanticEngine | None = None) -> DraftResult:
        """Write (or with `options.update`, safely extend) the next issue's draft; never overwrites edits."""
        from .issues import draft

        return draft.write_draft(self, options or draft.DraftOptions(), engine=engine)

    def add_figure(self, source: Path | str, *, issue: int | None = None, alt: str) -> Figure:
        """Copy an image into an issue's assets folder (resized, re-encoded, EXIF gone); see media.figures.

        `issue` defaults to the open draft, else the next issue. Returns the Markdown to paste.
        """
        from .issues import files as issue_files
        from .media.figures import add_figure

        if issue is None:
            known = issue_files.list_issues(self.settings.issues_dir)
            last = known[-1] if known else None
            if last is not None and last.status == issue_files.STATUS_DRAFT and last.number:
                issue = last.number
            else:
                issue = max((i.number or 0 for i in known), default=0) + 1
        if issue < 1:
            raise ProjectError(f"issue numbers start at 1, not {issue}")
        image = Path(source)
        with self.writing():
            return add_figure(self.settings, image, issue, alt=alt)

    def suggestions(
        self, *, min_confidence: float = 0.0, engine: SemanticEngine | None = None, progress: Progress | None = None
    ) -> builtins.list[Suggestion]:
        """Tag and section suggestions for unlabelled items, from their labelled neighbours (best first).

        Suggestions rejected before (`reject_suggestions`) are not offered again.
        """
        from .issues import draft, sections, suggest

        engine = engine or draft.semantic_engine(self)
        items = self.items()
        self.sync_engine(engine, items, progress=progress)
        found = suggest.suggest(
            engine, items, issues_dir=self.settings.issues_dir,
            rules=sections.section_rules(self.settings.raw),
            rejected=suggest.Rejections(self.settings.derived_dir).load(),
        )
        return [s for s in found if s.confidence >= min_confidence]

    def accept_suggestions(self, accepted: Sequence[Suggestion]) -> int:
        """Write accepted suggestions into the item files; returns how many items changed."""
        from .issues import suggest

        return suggest.apply(self, accepted)

    def reject_suggestions(self, rejected: Sequence[Suggestion]) -> None:
        """Remember rejected suggestions (in the items' files) so `suggestions` does not offer them again."""
        from .issues import suggest

        suggest.record(self, [suggest.Decision(s, []) for s in rejected])

    def review(self, decisions: Sequence[Decision]) -> int:
        """Record review decisions (values accepted, the rest rejected) in the item files; items changed."""
        from .issues import suggest

        return suggest.record(self, decisions)

    def review_stats(self) -> dict[str, Any]:
        """The share of suggestions accepted as offered, per ISO week and per tag (`review --stats`)."""
        from .issues import suggest

        return suggest.review_stats(self.items())

    def check(
        self, number: int, *, near_duplicates: bool = True, engine: SemanticEngine | None = None
    ) -> builtins.list[Problem]:
        """Problems in issue `number` before publishing (empty: ready). Embeds first unless told not to."""
        from .issues import draft, publish

        if near_duplicates:
            engine = engine or draft.semantic_engine(self)
            self.sync_engine(engine, self.items())
        return publish.check(self, number, engine=engine if near_duplicates else None)

    def publish(self, number: int, *, date: str | None = None) -> PublishResult:
        """Mark every item issue `number` links to as published in it, and the issue itself (idempotent)."""
        from .issues import publish

        return publish.publish(self, number, date=date)

    # -- export --------------------------------------------------------------------------------

    def issue_items(self, number: int) -> builtins.list[Item]:
        """The items issue `number` links to (by any spelling of their URLs), in the issue's order."""
        from .issues import files as issue_files

        issue = issue_files.find_issue(self.settings.issues_dir, number)
        items = self.snapshot().items
        links = issue_files.extract_links(issue.body)
        ids = identity.resolve_urls(items.values(), [link.url for link in links])
        return [items[i] for i in dict.fromkeys(ids) if i and i in items]

    def export_items(
        self, *, kind: str | None = None, tag: str | None = None, issue: int | None = None
    ) -> builtins.list[Item]:
        """The items an export holds: every filter given must match (AND); oldest addition first,
        or the issue's order with `issue`."""
        if kind and kind not in KINDS:
            raise ArgumentError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        wanted_tag = normalize_tag(tag) if tag else None
        if tag and not wanted_tag:
            raise ArgumentError(f"{tag!r} is not a tag (tags are letters, digits, '-', '+', '#', '.')")
        chosen = self.issue_items(issue) if issue is not None else self.items()
        return [
            item for item in chosen if (not kind or item.kind == kind) and (not wanted_tag or wanted_tag in item.tags)
        ]

    def export(
        self, format: str = "json", *, kind: str | None = None, tag: str | None = None, issue: int | None = None
    ) -> str:
        """The catalog or a slice of it as text for other tools: `json` (JSON Lines), `csv`, `bibtex`
        (papers) or `opml` (the feed subscriptions). See `newsletter.export`."""
        from . import export

        if format not in export.FORMATS:
            raise ArgumentError(f"unknown export format {format!r}; use one of {', '.join(export.FORMATS)}")
        if format == "opml":
            if tag is not None or issue is not None:
                raise ArgumentError("--tag and --issue select items; an OPML export lists the feed subscriptions")
            from .feeds.subscriptions import FEED_KINDS

            if kind and kind not in FEED_KINDS:
                raise ArgumentError(f"feed subscriptions are of kind {' or '.join(FEED_KINDS)}, not {kind!r}")
            subs = [s for s in self.feeds.subscriptions() if not kind or s.kind == kind]
            return export.to_opml(subs, title=f"{self.settings.name}: feed subscriptions")
        if format == "bibtex":
            if kind and kind != "paper":
                raise ArgumentError(f"a BibTeX export lists papers; --kind {kind} has none")
            papers = self.export_items(kind="paper", tag=tag, issue=issue)
            keys = export.citation_keys(i for i in self.snapshot().items.values() if i.kind == "paper")
            return export.to_bibtex(papers, keys)
        items = self.export_items(kind=kind, tag=tag, issue=issue)
        return export.to_jsonl(items) if format == "json" else export.to_csv(items)

    def email(self, options: EmailOptions, *, progress: Progress | None = None,
              confirm: Callable[[int, str, int], bool] | None = None) -> EmailReport:
        """Render an issue for every subscriber and deliver it (or write it out); see `newsletter email`.

        A send to the list refuses a draft or an issue `check` finds problems in unless `options.force`.
        """
        from .mail import campaign

        def checker(number: int) -> builtins.list[str]:
            return [f"line {p.line}: {p.message}" for p in self.check(number, near_duplicates=False)]

        return campaign.run(self.settings, options, progress=progress, checker=checker, confirm=confirm)

    def check_links(self, number: int | None = None, *, progress: Progress | None = None) -> builtins.list[LinkResult]:
        """Check every link of issue `number` (None: of every published issue); see `newsletter links check`.

        Verdicts are kept in `.newsletter/links.json`; catalog items whose link is dead get `dead_since`
        and `dead_reason` (removed again once the link answers).
        """
        from .links import health

        return health.check(self, number, progress=progress)

    def archive_links(
        self, number: int | None = None, *, pacing: Pacing | None = None, force: bool = False,
        on_result: Callable[[ArchiveResult], None] | None = None,
    ) -> builtins.list[ArchiveResult]:
        """Ask the Wayback Machine to snapshot the links of issue `number` (None: every published issue)
        that have no recent snapshot; items get `archived_url` and `archived_at`."""
        from .links import health

        return health.archive(self, number, pacing=pacing, force=force, on_result=on_result)

    def publish_to(self, number: int, platform: str, *, mode: str = "send", at: Any = None) -> Remote:
        """Hand issue `number` to a mail platform (listmonk, buttondown, ghost): create it there, or update
        it when its id is already in the issue's front matter; `mode` is draft, schedule (with `at`, an
        aware datetime) or send. Credentials come from the environment."""
        from .platforms import handoff

        return handoff.publish_to(self, number, platform, mode=mode, at=at)

    def _resolve_all(
        self,
        pending: builtins.list[tuple[int, ingest.Prepared]],
        options: ingest.AddOptions,
        progress: Progress | None,
        done: int,
        total: int,
    ) -> builtins.list[Metadata | Exception]:
        if not pending:  # every input was already there: no HTTP client (and its TLS context) to build
            return []
        if not options.fetch:
            return [Metadata(kind=options.kind or p.info.kind) for _, p in pending]
        from .ingest import route as ingest
        from .web.fetch import run_all

        counter = [done]

        def on_done(_index: int, _result: object) -> None:
            counter[0] += 1
            if progress:
                progress(counter[0], total)

        async def one(fetcher: Any, prepared: ingest.Prepared) -> Metadata:
            return await ingest.resolve(fetcher, prepared, self.settings, options.kind)

        return list(run_all(one, [p for _, p in pending], settings=self.fetch_settings(), on_done=on_done))

    def fetch_settings(self) -> FetchSettings:
        """The project's fetch options as settings for the Fetcher."""
        from .web.fetch import FetchSettings

        opts = self.settings.fetch
        return FetchSettings(
            concurrency=opts.concurrency,
            per_host=opts.per_host,
            read_timeout=opts.timeout,
            retries=opts.retries,
            max_bytes=opts.max_bytes,
        )

    # -- changing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the project's writer lock: the one way anything in the package takes it.

        Reentrant (a nested block passes through). Hold it only around writing files: fetch,
        embed and render before entering.
        """
        with self.store.locked():
            yield

    def update(self, item: Item, *, expected_sha256: str | None = None) -> Item:
        """Save a changed item in place (same file); its id must already exist.

        With `expected_sha256` (the SHA-256 of the file's bytes when the caller read it, e.g. when
        an editor opened it), the file is checked under the lock first: if anything changed it since
        (a `tag`, a `git pull`, another editor), nothing is written and `ItemChanged` is raised, so
        their change is not silently reverted.
        """
        with self.writing():
            self.store.freshen()
            found = self.store.entry(item.id)
            if found is None:
                raise ItemNotFound(f"no item {item.id!r} in the catalog (removed meanwhile?)")
            if expected_sha256 is not None:
                path = self.settings.catalog_dir / found[1]
                try:
                    current = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError as exc:
                    raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from None
                if current != expected_sha256:
                    raise ItemChanged(
                        f"{path} changed on disk since it was read (another command, a git pull or "
                        "another editor); nothing was saved", path=str(path),
                    )
            saved = self.store.save(item, found[1])
            self.note_saved(item, saved)
        return item

    def modify(self, ref: str, change: Callable[[Item], Item | None]) -> Item:
        """Apply `change` to the item as it is on disk right now and save it; returns the item.

        `change` gets a copy it may edit and return (None: nothing to save). The file is re-read
        under the lock and written only if no other program replaced it meanwhile, so a `git pull`
        or an editor running alongside is never reverted. The cached snapshot follows the write.
        """
        with self.writing():
            item, path = self._lookup(ref)
            saved = self.store.rewrite(path, change)
            if saved is None:
                return item
            self.note_saved(saved, path)
            return saved

    def modify_many(self, ids: Sequence[str], change: Callable[[Item], Item | None]) -> builtins.list[Item]:
        """`modify` for many items under one hold of the lock; returns the items that changed."""
        changed: builtins.list[Item] = []
        with self.writing():
            snap = self.snapshot(refresh=True)
            for item_id in ids:
                if item_id not in snap.items:
                    continue
                saved = self.store.rewrite(snap.paths[item_id], change)
                if saved is not None:
                    snap.items[item_id] = saved
                    changed.append(saved)
        return changed

    def tag(self, ref: str, tags: Sequence[str], *, remove: bool = False) -> Item:
        """Add (or remove) tags on one item; tags are normalized ("Vector DB" -> "vector-db")."""
        wanted = [t for t in (normalize_tag(t) for t in tags) if t]
        if not wanted:
            raise NewsletterError("no usable tag given (tags are letters, digits, '-', '+', '#', '.')")

        def change(item: Item) -> Item:
            if remove:
                item.tags = [t for t in item.tags if t not in wanted]
            else:
                item.tags = item.tags + [t for t in wanted if t not in item.tags]
            # A tag given by hand is the curator's from now on, even if an import gave it first.
            mark_hand_tags(item, wanted)
            return item

        return self.modify(ref, change)

    def set_status(self, ref: str, status: str, *, issue: int | None = None) -> Item:
        """Change an item's status (inbox, shortlisted, published, skipped)."""
        if status not in STATUSES:
            raise NewsletterError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")

        def change(item: Item) -> Item:
            item.status = status
            item.issue = issue if status == "published" else None
            return item

        return self.modify(ref, change)

    def remove(self, ref: str) -> Item:
        """Delete an item's file. Items merged into it keep pointing at nothing, so refuse then."""
        with self.writing():
            item, path = self._lookup(ref)
            dependents = [i for i in self.store.merged_into(item.id) if i != item.id]
            if dependents:
                raise CatalogError(
                    f"{item.id} is the kept item of merged duplicate(s) {', '.join(dependents)}; remove those first"
                )
            self.store.delete(path)
            if self._snapshot is not None:
                self._snapshot.items.pop(item.id, None)
                self._snapshot.paths.pop(item.id, None)
        return item

    def _fresh(self, ref: str) -> Item:
        self.snapshot(refresh=True)
        return dataclasses.replace(self.get(ref))

    def save_edited(self, item_id: str, text: str, *, expected_sha256: str | None = None) -> Item:
        """Validate an edited item file text and save it; the id and path cannot change.

        `expected_sha256`: see `update` (raises `ItemChanged` if the file changed since it was read).
        """
        from .store.files import parse_item

        edited = parse_item(text, source=f"edited item {item_id}")
        if edited.id != item_id:
            raise CatalogError(f"the id changed from {item_id} to {edited.id}; ids are fixed, change it back")
        with self.writing():
            self.store.freshen()
            found = self.store.entry(item_id)
            if found is not None:
                edited = self._recanonicalized(found[0], edited)
            return self.update(edited, expected_sha256=expected_sha256)

    def _recanonicalized(self, before: Item, edited: Item) -> Item:
        """An edited item whose URL changed: canonical URL recomputed, the old URL kept as an alias.

        Refuses a URL another item already stands for: saving it would shadow that item for `add`
        and dedupe (two items claiming one URL).
        """
        from .web.urls import canonicalize

        if edited.url == before.url and edited.canonical_url == before.canonical_url:
            return edited
        source = edited.url if edited.url != before.url else edited.canonical_url
        try:
            edited.canonical_url = canonicalize(source)
        except ValueError as exc:
            raise CatalogError(f"the edited URL {source!r} is not usable: {exc}") from None
        for url in (edited.url, edited.canonical_url):
            owner = self.store.find_url(url)
            if owner is not None and owner != before.id:
                raise CatalogError(
                    f"{url} belongs to item {owner}; an item cannot take another's URL "
                    f"(use `newsletter merge {owner} {before.id}` if they are the same work)"
                )
        # The old address keeps resolving to this item (published issues and feeds link it).
        known = {edited.url, edited.canonical_url, *edited.aliases}
        edited.aliases = [*edited.aliases, *(u for u in (before.url, before.canonical_url) if u and u not in known)]
        edited.aliases = list(dict.fromkeys(edited.aliases))
        return edited

    # -- meaning: near-duplicates, related items, search ---------------------------------------

    @property
    def semantic(self) -> SemanticEngine:
        """The embedding engine over this catalog (created lazily; the model loads only to embed)."""
        if self._semantic is None:
            from .semantic import SemanticEngine

            self._semantic = SemanticEngine(
                self.settings.derived_dir / "semantic",
                model=self.settings.model,
                backend=self.settings.embed_backend,
            )
        return self._semantic

    def live_items(self) -> dict[str, Item]:
        """Items that stand for themselves (not merged into another)."""
        return {i: item for i, item in self.snapshot().items.items() if not item.duplicate_of}

    def sync_semantic(self, *, progress: Progress | None = None) -> Any:
        """Embed what has no vector yet and bring the index in step with the files.

        Never under the writer lock (a model load and a batch embed take seconds to minutes): the
        derived semantic folder has a lock of its own, so two processes never rewrite the index at
        once while curators' writes go on.
        """
        from .store.lock import write_lock

        self.store.freshen()
        with write_lock(self.settings.derived_dir / "semantic", name=SEMANTIC_LOCK):
            return self.semantic.sync_store(self.store, progress=progress)

    def sync_engine(self, engine: SemanticEngine, items: Sequence[Item], *, progress: Progress | None = None) -> Any:
        """Bring `engine` in step with `items` under the semantic lock (not the writer lock)."""
        from .store.lock import write_lock

        with write_lock(self.settings.derived_dir / "semantic", name=SEMANTIC_LOCK):
            return engine.sync(list(items), progress=progress)

    def reindex(self, *, progress: Progress | None = None) -> dict[str, Any]:
        """`newsletter index`: verify and bring every derived file up to date; returns the summary.

        A full stat sweep of the item files, an integrity check of the cache, every vector segment's
        checksum and the ONNX export; whatever is damaged is rebuilt, then the vectors, the index
        and the document frequencies are synced (embedding what has no vector yet). The semantic
        files are checked and synced under the semantic lock, never the writer lock.
        """
        import time

        from .store.lock import write_lock

        started = time.perf_counter()
        healed: builtins.list[str] = []
        if not self.store.verify_cache():
            healed.append("catalog cache")
        snap = self.snapshot(refresh=True)
        engine = self.semantic
        with write_lock(self.settings.derived_dir / "semantic", name=SEMANTIC_LOCK):
            if engine.store.verify():
                healed.append("vector segments")
            if not engine.check_query_model():
                healed.append("ONNX export")
            stats = engine.sync_store(self.store, progress=progress)
        seconds = time.perf_counter() - started
        return {
            "items": len(snap.items), "problems": len(snap.problems), "embedded": stats.embedded,
            "reused": stats.reused, "index_added": stats.index_added, "index_removed": stats.index_removed,
            "index_rebuilt": stats.rebuilt, "healed": healed, "seconds": round(seconds, 3),
            "texts_per_s": round(stats.embedded / stats.seconds, 1) if stats.embedded and stats.seconds else None,
        }

    def near_duplicates(
        self, items: Sequence[Item], *, progress: Progress | None = None
    ) -> dict[str, builtins.list[dict[str, Any]]]:
        """Probable duplicates of (newly saved) items, by item id, in one sync and one batched check.

        What `add`, `import` and `feeds pull` report after saving. A failure (no model, damaged
        derived state ...) is logged as one warning and gives no advice: the items are saved anyway.
        """
        if not items:
            return {}
        try:
            self.sync_semantic(progress=progress)
            found = self.similar_to_many(items)
        except (NewsletterError, OSError, ImportError, RuntimeError) as exc:
            log.warning("near-duplicate check skipped: %s", exc)
            return {}
        return {item.id: similar for item, similar in zip(items, found, strict=True) if similar}

    def similar_to(self, item: Item, *, threshold: float | None = None, k: int = 5) -> builtins.list[dict[str, Any]]:
        """Probable duplicates of `item` already in the catalog: [{id, score, title, issue}]."""
        return self.similar_to_many([item], threshold=threshold, k=k)[0]

    def similar_to_many(
        self, items: Sequence[Item], *, threshold: float | None = None, k: int = 5
    ) -> builtins.list[builtins.list[dict[str, Any]]]:
        """`similar_to` for many items (one list per item, in order), at batch cost.

        For `feeds pull` and `import`: the live items, the IDF and the index queries are computed
        once for the batch instead of once per item. Call `sync_semantic` first so no item is embedded
        one at a time.
        """
        live = self._live_by_query()
        found = self.semantic.similar_many(list(items), live, k=k, threshold=self._threshold(threshold))
        out = []
        for row in found:
            matches = []
            for other, score in row:
                match = live.get(other)
                if match is not None:
                    matches.append({"id": other, "score": score, "title": match.display_title(), "issue": match.issue})
            out.append(matches)
        return out

    def _live_by_query(self) -> _LiveItems:
        """Live items looked up one by one from the cache (or the snapshot when one is loaded)."""
        return _LiveItems(self)

    def _threshold(self, threshold: float | None) -> float | None:
        return threshold if threshold is not None else self.settings.dupe_threshold

    def duplicate_groups(
        self, *, threshold: float | None = None, explain: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Groups of near-duplicate items: [{ids, score, pairs: [{a, b, score}]}], strongest first.

        With `explain`, each pair also carries ``explain``: the signals that decided it, each with its
        value, weight and contribution to the score (`newsletter.semantic.dupes.explain`).
        `progress(done, total)` hears of the neighbour queries, then of the pairs scored.
        """
        self.sync_semantic()
        items = list(self.snapshot().items.values())
        groups = self.semantic.duplicate_groups(items, threshold=self._threshold(threshold), progress=progress)
        why: dict[tuple[str, str], dict[str, Any]] = {}
        if explain:
            from .semantic.why import explain_pairs

            why = explain_pairs(self.semantic, items, [(a, b) for g in groups for a, b, _ in g.pairs])
        out = [
            {
                "score": round(group.score, 4),
                "ids": list(group.ids),
                "pairs": [{"a": a, "b": b, "score": round(s, 4), **({"explain": why[(a, b)]} if (a, b) in why else {})}
                          for a, b, s in group.pairs],
            }
            for group in groups
        ]
        return sorted(out, key=lambda g: -float(g["score"]))

    def merge(self, keep_ref: str, dup_ref: str) -> tuple[Item, Item]:
        """Merge a duplicate into the item to keep.

        The kept item gains the union of tags, both notes and the duplicate's URLs as aliases (so
        the duplicate's URL resolves to it even if the duplicate's file is later removed). The
        duplicate stays on disk, marked ``duplicate_of`` and skipped, so the history is visible.
        """
        with self.writing():
            keep = self._fresh(keep_ref)
            dup = self._fresh(dup_ref)
            if keep.id == dup.id:
                raise NewsletterError("cannot merge an item into itself")
            if keep.duplicate_of:
                raise NewsletterError(f"{keep.id} is itself merged into {keep.duplicate_of}; keep that one instead")
            keep.tags = keep.tags + [t for t in dup.tags if t not in keep.tags]
            if dup.note and dup.note not in keep.note:
                keep.note = f"{keep.note}\n\n{dup.note}".strip()
            for url in (dup.canonical_url, dup.url, *dup.aliases):
                if url and url not in keep.aliases and url not in (keep.url, keep.canonical_url):
                    keep.aliases.append(url)
            if dup.status == "published" and keep.status != "published":
                keep.status, keep.issue = "published", dup.issue
            dup.duplicate_of = keep.id
            if dup.status != "published":
                dup.status = "skipped"
            # items previously merged into the duplicate now point at the kept item
            moved = [i for i in self.snapshot().items.values() if i.duplicate_of == dup.id]
            paths = self.snapshot().paths
            self.store.save(keep, paths[keep.id])
            self.store.save(dup, paths[dup.id])
            for other in moved:
                other = dataclasses.replace(other, duplicate_of=keep.id)
                self.store.save(other, paths[other.id])
            self.snapshot(refresh=True)
        return keep, dup

    def doctor(self, *, fix: bool = False) -> DoctorReport:
        """Catalog health: files that hold one id (both editors added the same URL).

        With `fix`, each such id becomes one file again: the one the catalog shows keeps its path
        and gains the others' tags, notes and (by precedence) status; the others are deleted.
        """
        from .store.files import read_item
        from .store.gitmerge import reconcile

        report = DoctorReport()
        duplicates = {k: list(v) for k, v in self.snapshot(refresh=True).shadowed.items()}
        if not duplicates:
            return report
        report.same_id = {k: [self.snapshot().paths[k], *v] for k, v in sorted(duplicates.items())}
        if not fix:
            return report
        with self.writing():
            snapshot = self.snapshot(refresh=True)
            for item_id, others in sorted(snapshot.shadowed.items()):
                keep = snapshot.paths[item_id]
                items = [read_item(self.settings.catalog_dir / path) for path in (keep, *others)]
                self.store.save(reconcile(items), keep)
                for path in others:
                    self.store.delete(path)
                report.fixed.append(item_id)
            self.snapshot(refresh=True)
        return report

    def related(self, ref: str, *, k: int = 10, kind: str | None = None) -> builtins.list[tuple[Item, float]]:
        """The k items nearest in meaning to one item, from stored vectors (no model load when synced)."""
        item = self.get(ref)
        live = self._live_by_query()
        merged = self.store.merged_ids()
        # Merged items are left out after the query: there are few, so asking for a few more is cheaper
        # than a filter set of every live id.
        allowed = None if len(merged) <= MERGED_POST_FILTER else set(self.semantic.index.entries) - merged
        want = k + (len(merged) if allowed is None else 0)
        try:
            found = self.semantic.related(item.id, k=want, kind=kind, allowed=allowed)
        except (ItemNotFound, KeyError):  # added by hand or git pull, or a lost vector: sync now
            self.sync_semantic()
            found = self.semantic.related(item.id, k=want, kind=kind, allowed=allowed)
        return _resolve(live, found, merged | {item.id}, k)

    def search(
        self, query: str, *, k: int = 10, kind: str | None = None, since: str | None = None
    ) -> builtins.list[tuple[Item, float]]:
        """Hybrid search: keyword matches (SQLite FTS5, BM25) fused with semantic neighbours (RRF)."""
        return self._search(query, k=k, kind=kind, since=since)[0]

    def _search(
        self, query: str, *, k: int, kind: str | None, since: str | None
    ) -> tuple[builtins.list[tuple[Item, float]], builtins.list[str]]:
        """`search`, and the keyword matches it fused (asked once: FTS ranking is most of its cost)."""
        if kind and kind not in KINDS:
            raise NewsletterError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        self.sync_semantic()  # incremental: what changed since the last command (usually nothing)
        merged = self.store.merged_ids()
        keyword = self.store.keyword_ids(query, limit=max(50, 3 * k))
        keyword_ids = [i for i in keyword if i not in merged]
        allowed = None if len(merged) <= MERGED_POST_FILTER else set(self.semantic.index.entries) - merged
        want = k + (len(merged) if allowed is None else 0)
        found = self.semantic.search(query, k=want, keyword_ids=keyword_ids, kind=kind, since=since, allowed=allowed)
        return _resolve(self._live_by_query(), found, merged, k), keyword

    def search_with_floor(
        self, query: str, *, k: int = 10, kind: str | None = None, since: str | None = None,
        floor: float | None = None,
    ) -> tuple[builtins.list[tuple[Item, Scored]], int]:
        """`search`, each result scored by its cosine with the query; weak ones dropped.

        A result stays when the keyword index matched it or its cosine is at least `floor`
        (default `relevance.DEFAULT_FLOOR`). Returns (results best first, how many were dropped).
        """
        from .semantic.relevance import DEFAULT_FLOOR, apply_floor, query_cosines

        found, keyword_ids = self._search(query, k=k, kind=kind, since=since)
        ids = [item.id for item, _ in found]
        keyword = set(keyword_ids)
        kept, dropped = apply_floor(ids, query_cosines(self.semantic, query, ids), keyword,
                                    DEFAULT_FLOOR if floor is None else floor)
        items = {item.id: item for item, _ in found}
        return [(items[s.id], s) for s in kept], dropped


@dataclasses.dataclass
class DoctorReport:
    """What `Catalog.doctor` found: id -> the files holding it (the shown one first); ids fixed."""

    same_id: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    fixed: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item_id in self.fixed for item_id in self.same_id)


class _LiveItems(Mapping[str, Item]):
    """Items by id, read from the cache when asked for; merged ones (duplicate_of set) are absent.

    Lookups by id stay per-row; iterating (only when no stored document frequencies exist) loads the
    whole snapshot once.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._seen: dict[str, Item | None] = {}
        self._everything: dict[str, Item] | None = None

    def _lookup(self, item_id: str) -> Item | None:
        if item_id not in self._seen:
            snap = self._catalog._snapshot
            if snap is not None:
                item = snap.items.get(item_id)
            else:
                found = self._catalog.store.entry(item_id)
                item = found[0] if found else None
            self._seen[item_id] = None if item is None or item.duplicate_of else item
        return self._seen[item_id]

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._lookup(item_id) is not None

    def __getitem__(self, item_id: str) -> Item:
        item = self._lookup(item_id)
        if item is None:
            raise KeyError(item_id)
        return item

    def _all(self) -> dict[str, Item]:
        if self._everything is None:  # built once: iterating and len() both need it
            self._everything = {i: it for i, it in self._catalog.snapshot().items.items() if not it.duplicate_of}
        return self._everything

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _not_found(ref: str) -> ItemNotFound:
    """No item: and when the ref looks like a too-short id prefix, say how long one must be."""
    if 0 < len(ref) < MIN_PREFIX and all(c in "0123456789abcdef" for c in ref.lower()):
        return ItemNotFound(
            f"no item {ref!r}: id prefixes need at least {MIN_PREFIX} characters; `newsletter list` shows the ids"
        )
    return ItemNotFound(f"no item {ref!r} in the catalog; `newsletter list` shows the ids")


def _ambiguous(ref: str, matches: Sequence[str]) -> ItemNotFound:
    """A prefix that several ids share: name them (the first ten), so the curator can pick one."""
    shown = ", ".join(sorted(matches)[:10]) + (", …" if len(matches) > 10 else "")
    return ItemNotFound(f"{ref!r} matches {len(matches)} items ({shown}); type more of the id")


def _resolve(
    live: _LiveItems, found: Sequence[tuple[str, float]], leave_out: set[str], k: int
) -> builtins.list[tuple[Item, float]]:
    """(item, score) for result ids, as the files say now; gone and merged items dropped; at most k."""
    out = []
    for item_id, score in found:
        if item_id in leave_out:
            continue
        item = live.get(item_id)
        if item is not None:
            out.append((item, score))
        if len(out) >= k:
            break
    return out
