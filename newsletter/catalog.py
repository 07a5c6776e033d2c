"""`Catalog`: the facade over every stage. The CLI calls one method per command; so can scripts.

    from newsletter.catalog import Catalog
    catalog = Catalog.open("path/to/project")
    results = catalog.add(["https://arxiv.org/abs/2106.09685"])
    for item in catalog.list(status="inbox"):
        print(item.title)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import identity
from .config import Settings, find_project, load_settings
from .errors import CatalogError, ItemNotFound, NewsletterError
from .models import KINDS, STATUSES, Item, Metadata, normalize_tag
from .store import Snapshot, Store

if TYPE_CHECKING:
    from . import ingest
    from .fetch import FetchSettings

Progress = Callable[[int, int], None]


@dataclasses.dataclass
class AddResult:
    """The outcome of one input of `add`: added, already there (`exists`), or failed."""

    input: str
    status: str
    item: Item | None = None
    error: str | None = None
    similar: list[dict[str, Any]] = dataclasses.field(default_factory=list)

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
        self._snapshot: Snapshot | None = None

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

    def items(self) -> list[Item]:
        """Every item, oldest addition first."""
        return sorted(self.snapshot().items.values(), key=lambda i: (i.added, i.id))

    def list(self, *, kind: str | None = None, status: str | None = None, tag: str | None = None) -> list[Item]:
        """Items filtered by kind, status and tag, newest addition first."""
        if kind and kind not in KINDS:
            raise NewsletterError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        if status and status not in STATUSES:
            raise NewsletterError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        wanted_tag = normalize_tag(tag) if tag else None
        found = [
            item
            for item in self.snapshot().items.values()
            if (not kind or item.kind == kind)
            and (not status or item.status == status)
            and (not wanted_tag or wanted_tag in item.tags)
        ]
        return sorted(found, key=lambda i: (i.added, i.id), reverse=True)

    def get(self, ref: str) -> Item:
        """An item by id, unique id prefix (4+ characters) or any URL it is known by."""
        snap = self.snapshot()
        ref = ref.strip()
        if ref in snap.items:
            return snap.items[ref]
        if "/" in ref or "." in ref:
            found = identity.find_existing(identity.identity_index(snap.items.values()), ref)
            if found and found in snap.items:
                return snap.items[found]
        if len(ref) >= 4:
            matches = [i for i in snap.items if i.startswith(ref.lower())]
            if len(matches) == 1:
                return snap.items[matches[0]]
            if len(matches) > 1:
                raise ItemNotFound(f"{ref!r} matches {len(matches)} items; type more of the id")
        raise ItemNotFound(f"no item {ref!r} in the catalog; `newsletter list` shows the ids")

    def path_of(self, item_id: str) -> Path:
        """The file that holds an item."""
        return self.settings.catalog_dir / self.snapshot().paths[item_id]

    # -- adding --------------------------------------------------------------------------------

    def add(
        self,
        inputs: Sequence[str],
        options: ingest.AddOptions | None = None,
        *,
        progress: Progress | None = None,
        on_result: Callable[[AddResult], None] | None = None,
    ) -> list[AddResult]:
        """Add URLs (or arXiv ids, DOIs) to the inbox; one result per input, in input order.

        Inputs already in the catalog (by any URL they are known by) come back as `exists`;
        failures come back as `failed` with a one-line reason and never stop the others.
        `on_result` is called for each saved item right after its file is durable, so a caller
        can report progress that stays true even if the process dies a moment later.
        """
        from . import ingest

        options = options or ingest.AddOptions()
        if options.kind and options.kind not in KINDS:
            raise NewsletterError(f"unknown kind {options.kind!r}; use one of {', '.join(KINDS)}")
        results: list[AddResult | None] = [None] * len(inputs)
        snap = self.snapshot(refresh=True)
        index = identity.identity_index(snap.items.values())
        pending: list[tuple[int, ingest.Prepared]] = []
        first_seen: dict[str, int] = {}
        for i, raw in enumerate(inputs):
            try:
                prepared = ingest.prepare(raw)
            except ValueError as exc:
                results[i] = AddResult(raw, "failed", error=f"not a URL, arXiv id or DOI ({exc})")
                continue
            existing = identity.find_existing(index, prepared.url, prepared.canonical_url)
            if existing and existing in snap.items:
                results[i] = AddResult(raw, "exists", item=snap.items[existing])
                continue
            key = prepared.canonical_url
            if key in first_seen:  # the same thing twice in one batch: fetch it once
                results[i] = AddResult(raw, "pending-duplicate", error=str(first_seen[key]))
                continue
            first_seen[key] = i
            pending.append((i, prepared))

        done = sum(r is not None for r in results)
        if progress:
            progress(done, len(inputs))
        metas = self._resolve_all(pending, options, progress, done, len(inputs))

        with self.store.locked():
            # Re-read under the lock: another process may have added some of these meanwhile.
            snap = self.snapshot(refresh=True)
            index = identity.identity_index(snap.items.values())
            for (i, prepared), meta in zip(pending, metas, strict=True):
                if isinstance(meta, Exception):
                    results[i] = AddResult(prepared.input, "failed", error=str(meta))
                    continue
                try:
                    item = ingest.build_item(prepared, meta, options)
                except ValueError as exc:
                    results[i] = AddResult(prepared.input, "failed", error=str(exc))
                    continue
                existing = identity.find_existing(index, item.canonical_url, *item.aliases, item.url)
                if existing and existing in snap.items:
                    results[i] = AddResult(prepared.input, "exists", item=snap.items[existing])
                    continue
                if item.id in snap.items:  # same id, different spelling of the URL
                    results[i] = AddResult(prepared.input, "exists", item=snap.items[item.id])
                    continue
                rel = self.store.save(item)
                snap.items[item.id], snap.paths[item.id] = item, rel
                for key in identity.identity_keys(item):
                    index.setdefault(key, item.id)
                results[i] = AddResult(prepared.input, "added", item=item)
                if on_result:
                    on_result(results[i])
        for i, result in enumerate(results):
            if result is not None and result.status == "pending-duplicate":
                first = results[int(result.error or 0)]
                if first is not None and first.item is not None:
                    results[i] = AddResult(result.input, "exists", item=first.item)
                else:
                    results[i] = AddResult(result.input, "failed", error=first.error if first else "failed")
        return [r for r in results if r is not None]

    def _resolve_all(
        self,
        pending: list[tuple[int, ingest.Prepared]],
        options: ingest.AddOptions,
        progress: Progress | None,
        done: int,
        total: int,
    ) -> list[Metadata | Exception]:
        if not options.fetch:
            return [Metadata(kind=options.kind or p.info.kind) for _, p in pending]
        from . import ingest
        from .fetch import run_all

        counter = [done]

        def on_done(_index: int, _result: object) -> None:
            counter[0] += 1
            if progress:
                progress(counter[0], total)

        async def one(fetcher: Any, prepared: ingest.Prepared) -> Metadata:
            return await ingest.resolve(fetcher, prepared, self.settings, options.kind)

        return run_all(one, [p for _, p in pending], settings=self.fetch_settings(), on_done=on_done)

    def fetch_settings(self) -> FetchSettings:
        """The project's fetch options as settings for the Fetcher."""
        from .fetch import FetchSettings

        opts = self.settings.fetch
        return FetchSettings(
            concurrency=opts.concurrency,
            per_host=opts.per_host,
            read_timeout=opts.timeout,
            retries=opts.retries,
            max_bytes=opts.max_bytes,
        )

    # -- changing ------------------------------------------------------------------------------

    def update(self, item: Item) -> Item:
        """Save a changed item in place (same file); its id must already exist."""
        with self.store.locked():
            snap = self.snapshot(refresh=True)
            if item.id not in snap.items:
                raise ItemNotFound(f"no item {item.id!r} in the catalog (removed meanwhile?)")
            self.store.save(item, snap.paths[item.id])
            snap.items[item.id] = item
        return item

    def tag(self, ref: str, tags: Sequence[str], *, remove: bool = False) -> Item:
        """Add (or remove) tags on one item; tags are normalized ("Vector DB" -> "vector-db")."""
        with self.store.locked():
            item = self._fresh(ref)
            wanted = [t for t in (normalize_tag(t) for t in tags) if t]
            if not wanted:
                raise NewsletterError("no usable tag given (tags are letters, digits, '-', '+', '#', '.')")
            if remove:
                item.tags = [t for t in item.tags if t not in wanted]
            else:
                item.tags = item.tags + [t for t in wanted if t not in item.tags]
            self.store.save(item, self.snapshot().paths[item.id])
        return item

    def set_status(self, ref: str, status: str, *, issue: int | None = None) -> Item:
        """Change an item's status (inbox, shortlisted, published, skipped)."""
        if status not in STATUSES:
            raise NewsletterError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        with self.store.locked():
            item = self._fresh(ref)
            item.status = status
            item.issue = issue if status == "published" else None
            self.store.save(item, self.snapshot().paths[item.id])
        return item

    def remove(self, ref: str) -> Item:
        """Delete an item's file. Items merged into it keep pointing at nothing, so refuse then."""
        with self.store.locked():
            item = self._fresh(ref)
            dependents = [i.id for i in self.snapshot().items.values() if i.duplicate_of == item.id]
            if dependents:
                raise CatalogError(
                    f"{item.id} is the kept item of merged duplicate(s) {', '.join(dependents)}; remove those first"
                )
            path = self.snapshot().paths[item.id]
            self.store.delete(path)
            del self.snapshot().items[item.id]
        return item

    def _fresh(self, ref: str) -> Item:
        self.snapshot(refresh=True)
        return dataclasses.replace(self.get(ref))

    def save_edited(self, item_id: str, text: str) -> Item:
        """Validate an edited item file text and save it; the id and path cannot change."""
        from .store.files import parse_item

        edited = parse_item(text, source=f"edited item {item_id}")
        if edited.id != item_id:
            raise CatalogError(f"the id changed from {item_id} to {edited.id}; ids are fixed, change it back")
        return self.update(edited)
