"""The one ingest pipeline (dedupe, fetch with no lock, re-check and save under it) and bulk import of files.

    report = import_file(catalog, Path("bookmarks.html"), ImportOptions(fetch=False))

Decisions:
- OPML outlines with an ``xmlUrl`` become feed subscriptions (through `newsletter.feeds`); every other
  row becomes an item.
- ``fetch=False``: the file's title, summary, tags and ``added`` time are used as they are; nothing
  touches the network. ``fetch=True``: each row goes through the same resolve step as `add` (pages,
  arXiv, oEmbed, GitHub ...), and **what the file says wins** where it says something (title, summary,
  like ``add --title``): it is what the curator saw or wrote. Tags are the union of the file's, the
  source's and ``--tag``.
- The file's ``added`` timestamp is kept when it has one, so an item lands in the month folder of
  when it was bookmarked and a re-import is byte-for-byte a no-op.
- Idempotent and resumable: rows already in the catalog (any spelling of their URL) are counted as
  duplicates and left untouched; items are saved in durable chunks, so an interrupted import re-run
  picks up where it stopped. A URL repeated within the file is one item (its tags are merged).
- Speed: with ``fetch=False`` the catalog is loaded once and every save happens under ONE lock;
  `Store.save_many` (through `save_items`) fsyncs each file but each folder only once per chunk, and
  updates the derived cache in one transaction per chunk. An item is reported saved only after its
  folder's fsync.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NewsletterError
from ..models import Item, Metadata, Progress
from ..store import SAVE_CHUNK, identity
from ..text import unicode_encoding
from ..web import urls

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..feeds import SubscribeResult
    from . import route as ingest
    from .importers import ImportRow

FETCH_CHUNK = 100  # rows fetched before their items are saved, when fetching
Subscriber = Callable[[list[tuple[str, str | None, str]], bool], list["SubscribeResult"]]  # (url, kind, title), fetch
ALIAS_EXTRAS = ("episode_url", "audio_url")  # URLs an item also answers to (a podcast episode page, its audio)


@dataclasses.dataclass
class ImportOptions:
    """What the curator asked of one import."""

    format: str | None = None
    fetch: bool = True
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ImportFailure:
    """A line of the file that did not make it, and why."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}: {self.reason}"


@dataclasses.dataclass
class ImportReport:
    """Counts and details of one import. ``existing`` = already in the catalog, ``repeated`` = earlier in the file."""

    file: str
    format: str
    rows: int = 0
    new: list[Item] = dataclasses.field(default_factory=list)
    existing: int = 0
    repeated: int = 0
    failed: list[ImportFailure] = dataclasses.field(default_factory=list)
    skipped: int = 0  # browser-internal entries (place:, javascript:, about:, chrome:): not failures
    feeds: list[SubscribeResult] = dataclasses.field(default_factory=list)
    # new item id -> probable duplicates already in the catalog [{id, score, title, issue}]
    similar: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.existing + self.repeated

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "new": len(self.new),
            "duplicates": self.duplicates,
            "existing": self.existing,
            "repeated": self.repeated,
            "failed": len(self.failed),
            "skipped": self.skipped,
            "failures": [dataclasses.asdict(f) for f in sorted(self.failed, key=lambda f: f.line)],
            "feeds": {
                "added": sum(r.status == "added" for r in self.feeds),
                "existing": sum(r.status == "exists" for r in self.feeds),
                "failed": sum(r.status == "failed" for r in self.feeds),
                "results": [r.to_json() for r in self.feeds],
            },
            "items": [
                {"id": i.id, "kind": i.kind, "title": i.title, "url": i.url, "similar": self.similar.get(i.id, [])}
                for i in self.new
            ],
        }


@dataclasses.dataclass
class _Plan:
    """A row that will become a new item (unless the fetch says otherwise)."""

    row: ImportRow
    prepared: ingest.Prepared
    tags: list[str]
    folder_tags: list[str]


MAX_IMPORT_BYTES = 50_000_000  # a browser's export of 100,000 bookmarks is ~30 MB


def read_import_file(path: Path) -> str:
    """The file's text: its BOM's (or UTF-16's) encoding, else UTF-8, else windows-1252 (old exports).

    At most MAX_IMPORT_BYTES are read (`import /dev/zero` ends with one line, not a MemoryError).
    A UTF-8 file with a few bad bytes keeps its good non-ASCII text: only the bad bytes become U+FFFD;
    a file with no valid UTF-8 sequence at all is taken as windows-1252.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise NewsletterError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise NewsletterError(
            f"{path}: larger than {MAX_IMPORT_BYTES // 1_000_000} MB; nothing imported. Split it into smaller files"
        )
    return decode_import_bytes(data)


def decode_import_bytes(data: bytes) -> str:
    """An import file's bytes as text: see `read_import_file` (BOM, UTF-16, UTF-8, windows-1252)."""
    encoding = unicode_encoding(data)
    if encoding is not None:
        return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
    if re.search("[^\x00-\x7f\ufffd]", text):
        return text  # UTF-8 with some bad bytes
    return data.decode("cp1252", errors="replace")


def import_file(
    catalog: Catalog,
    path: Path,
    options: ImportOptions | None = None,
    *,
    progress: Progress | None = None,
    on_saved: Callable[[Item], None] | None = None,
    subscribe: Subscriber | None = None,
) -> ImportReport:
    """Import one file into the catalog (and its feeds into the subscriptions); see the module docstring.

    ``subscribe`` turns the file's feed rows into subscriptions (`Catalog.import_file` passes the feeds
    stage's, which comes after ingest in the pipeline); without it feed rows are reported as failures.
    """
    from .importers import FORMATS, detect_format, parse_import
    from .tools import TOOLS, detect_tool, parse_tool

    options = options or ImportOptions()
    text = read_import_file(path)
    fmt = options.format or detect_tool(text[:4096]) or detect_format(path.name, text[:4096])
    if fmt not in FORMATS and fmt not in TOOLS:
        raise NewsletterError(f"unknown import format {fmt!r}; use one of {', '.join((*FORMATS, *TOOLS))}")
    rows, problems = parse_tool(text, fmt) if fmt in TOOLS else parse_import(text, fmt)
    report = ImportReport(file=str(path), format=fmt, rows=len(rows) + len(problems))
    report.failed.extend(ImportFailure(p.line, p.text, p.reason) for p in problems if not p.skipped)
    report.skipped = sum(p.skipped for p in problems)
    feed_rows = [r for r in rows if r.is_feed]
    item_rows = [r for r in rows if not r.is_feed]
    if feed_rows and subscribe is None:
        missing = "feed not subscribed: no feed subscriber given"
        report.failed.extend(ImportFailure(r.line, r.url, missing) for r in feed_rows)
    elif feed_rows and subscribe is not None:
        results = subscribe([(r.url, None, r.title) for r in feed_rows], options.fetch)
        report.feeds = results
        for row, result in zip(feed_rows, results, strict=True):
            if result.status == "failed":
                report.failed.append(ImportFailure(row.line, row.url, f"feed not subscribed: {result.error}"))
    counter = RowProgress(len(feed_rows), len(rows), progress)

    def saved(item: Item) -> None:
        report.new.append(item)
        counter.step()
        if on_saved:
            on_saved(item)

    if options.fetch:
        _import_fetching(catalog, item_rows, options, report, counter, saved)
    else:
        with catalog.writing():
            index = CatalogIndex(catalog)
            plans = _plan(item_rows, index, options, report, counter)
            items = []
            for plan in plans:
                try:
                    items.append(_row_item(plan, Metadata(kind=plan.prepared.info.kind)))
                except ValueError as exc:
                    report.failed.append(ImportFailure(plan.row.line, plan.row.url, str(exc)))
                    counter.step()
            save_items(catalog, items, on_saved=saved)
    return report


class RowProgress:
    """Progress over the rows of an import (feeds count as done once subscribed)."""

    def __init__(self, done: int, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = done, total, progress
        self._last = -1
        self.report()

    def step(self, n: int = 1) -> None:
        self.done += n
        # Redrawing a bar 10,000 times costs more than the import; ~200 updates are plenty.
        if self.done == self.total or self.done - self._last >= max(1, self.total // 200):
            self.report()

    def report(self) -> None:
        self._last = self.done
        if self.progress:
            self.progress(self.done, self.total)


class CatalogIndex:
    """Exact dedupe for one batch: the catalog by query (its derived cache), plus what the batch adds.

    The one dedupe of the ingest pipeline (`add`, `import`, `feeds pull`): `find` before fetching,
    `duplicate_of` under the lock after `refresh`, `note` for what the batch is about to save. The
    catalog side is SQL lookups of the URLs' identity keys, so a batch costs O(batch), not a load
    of the whole catalog.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        catalog.store.freshen()
        self.snap = _ItemsByQuery(catalog)
        self.known: set[str] = set()  # ids this batch is about to save
        self.keys: dict[str, str] = {}  # identity key -> id, for this batch's items

    def refresh(self) -> None:
        """See what other processes saved meanwhile (call under the lock)."""
        self.catalog.store.freshen()

    def find(self, *candidates: str) -> str | None:
        """The id of the item any of these URLs already stands for (in the catalog or this batch)."""
        return self.catalog.store.find_url(*candidates) or identity.find_existing(self.keys, *candidates)

    def duplicate_of(self, item: Item) -> str | None:
        """The id of the catalog (or batch) item that `item` would duplicate, by any URL it carries."""
        extra_urls = [str(item.extra.get(k) or "") for k in ALIAS_EXTRAS]
        found = self.find(item.canonical_url, *item.aliases, item.url, *extra_urls)
        if found:
            return found
        # same id: another spelling of the URL
        return item.id if item.id in self.known or self.catalog.store.has_id(item.id) else None

    def note(self, item: Item) -> None:
        """Count a batch item as present, so a later input with the same URL is a duplicate of it."""
        self.known.add(item.id)
        for key in identity.identity_keys(item):
            self.keys.setdefault(key, item.id)


class _ItemsByQuery:
    """`index.snap.items[id]` without a snapshot: each item read from the cache when asked for."""

    def __init__(self, catalog: Catalog) -> None:
        self.items = self
        self._catalog = catalog

    def get(self, item_id: str, default: Item | None = None) -> Item | None:
        found = self._catalog.store.entry(item_id)
        return found[0] if found else default

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self.get(item_id) is not None

    def __getitem__(self, item_id: str) -> Item:
        found = self.get(item_id)
        if found is None:
            raise KeyError(item_id)
        return found


def _plan(
    rows: Sequence[ImportRow], index: CatalogIndex, options: ImportOptions, report: ImportReport, counter: RowProgress
) -> list[_Plan]:
    """Drop rows already in the catalog or repeated in the file; the rest become plans (pure apart from `index`)."""
    from . import route as ingest

    plans: list[_Plan] = []
    first: dict[str, _Plan] = {}
    for row in rows:
        try:
            prepared = ingest.prepare(row.url)
        except ValueError as exc:
            report.failed.append(ImportFailure(row.line, row.url, str(exc)))
            counter.step()
            continue
        if index.find(prepared.url, prepared.canonical_url):
            report.existing += 1
            counter.step()
            continue
        key = urls.identity_key(prepared.canonical_url)  # http:// and https:// are one resource
        earlier = first.get(key)
        if earlier is not None:
            report.repeated += 1
            earlier.tags.extend(t for t in row.tags if t not in earlier.tags)
            earlier.folder_tags.extend(t for t in row.folder_tags if t not in earlier.folder_tags)
            counter.step()
            continue
        plan = _Plan(row, prepared, [*row.tags, *(t for t in options.tags if t not in row.tags)],
                     [t for t in row.folder_tags if t not in options.tags])  # `--tag` is the curator's
        first[key] = plan
        plans.append(plan)
    return plans


def _row_item(plan: _Plan, meta: Metadata) -> Item:
    """The new item for a row: the file's title/summary/added win over what a fetch found."""
    from . import route as ingest

    row = plan.row
    options = ingest.AddOptions(tags=plan.tags, title=row.title, summary=row.summary, note=row.note,
                                imported_tags=plan.folder_tags)
    item = ingest.build_item(plan.prepared, meta, options)
    if row.added:
        item.added = row.added
    return item


def _import_fetching(
    catalog: Catalog,
    rows: Sequence[ImportRow],
    options: ImportOptions,
    report: ImportReport,
    counter: RowProgress,
    saved: Callable[[Item], None],
) -> None:
    """Fetch rows in chunks (no lock held while on the network), then save each chunk under the lock."""
    from ..web.fetch import run_all
    from . import route as ingest

    index = CatalogIndex(catalog)
    plans = _plan(rows, index, options, report, counter)
    settings = catalog.fetch_settings()

    async def resolve(fetcher: Any, plan: _Plan) -> Metadata:
        return await ingest.resolve(fetcher, plan.prepared, catalog.settings)

    for start in range(0, len(plans), FETCH_CHUNK):
        chunk = plans[start : start + FETCH_CHUNK]
        metas = run_all(resolve, chunk, settings=settings)
        with catalog.writing():
            index.refresh()
            items: list[Item] = []
            for plan, meta in zip(chunk, metas, strict=True):
                if isinstance(meta, Exception):
                    report.failed.append(ImportFailure(plan.row.line, plan.row.url, str(meta)))
                    counter.step()
                    continue
                try:
                    item = _row_item(plan, meta)
                except ValueError as exc:
                    report.failed.append(ImportFailure(plan.row.line, plan.row.url, str(exc)))
                    counter.step()
                    continue
                # The page may declare a canonical URL that another row or an existing item already has.
                if index.duplicate_of(item):
                    report.existing += 1
                    counter.step()
                    continue
                index.note(item)
                items.append(item)
            save_items(catalog, items, on_saved=saved)


# --------------------------------------------------------------------------- batched durable saves


def save_items(
    catalog: Catalog, items: Sequence[Item], *, on_saved: Callable[[Item], None] | None = None, chunk: int = SAVE_CHUNK
) -> None:
    """Save new items, after deduping them against the catalog under the same hold of the writer lock.

    The durable batch write is `Store.save_many` (crash-safe like `Store.save`, fsyncs batched per chunk);
    this keeps the catalog's loaded snapshot in step with it. ``on_saved`` runs for an item only after its
    chunk is durable (crash-safe reporting).
    """
    if not items:
        return
    with catalog.writing():

        def saved(item: Item, path: str) -> None:
            catalog.note_saved(item, path)
            if on_saved:
                on_saved(item)

        catalog.store.save_many([(item, None) for item in items], on_saved=saved, chunk=chunk)
