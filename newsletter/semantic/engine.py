"""`SemanticEngine`: the one object the catalog facade talks to for embeddings, dupes and search.

Derived state lives under one folder (e.g. ``<project>/.newsletter/semantic/``); deleting it loses
nothing, the next `sync` rebuilds it. The model is loaded only when a text has no vector yet (or a
search query must be embedded): `related`, and `similar`/`duplicate_groups` on a synced catalog,
run on stored vectors without importing torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from newsletter.errors import ItemNotFound, ProjectError
from newsletter.models import Item
from newsletter.semantic import docfreq, dupes, fusion, numpybert
from newsletter.semantic.embedders import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    model_dim,
    onnxruntime_available,
    resolve_backend,
    resolve_model,
)
from newsletter.semantic.index import EXACT_BELOW, HNSW_EF, Entry, VectorIndex
from newsletter.semantic.ovembedder import make_embedder
from newsletter.semantic.store import EmbeddingStore
from newsletter.semantic.text import embedding_text, text_hash

if TYPE_CHECKING:
    from newsletter.store import Store

DUPE_CANDIDATES = 20  # index neighbours scored per item; positives sit well inside the top 20
# Backends whose small batches go through `query_embedder` (numpy or the ONNX export), shown to be
# one stored version with it (`make bench`, test_semantic_model): torch, and OpenVINO (whose
# compile, ~0.6 s, a handful of texts does not pay back).
TORCH_FREE_SMALL_BATCHES = ("st-fp32", "st-bf16", "ov-bf16", "ov-fp32")
SMALL_BATCH = 256  # texts embedded without torch when the ONNX export exists (see document_encoder)
PAIR_CHUNK = 2048  # items per neighbour query and pairs per progress report in duplicate_pairs
QUERY_CHUNK = 1024  # query rows per index call in similar_many (1024 x 5000 exact scores = 20 MB)


@dataclass
class SyncStats:
    """What a `sync` did."""

    model_id: str
    items: int
    embedded: int  # texts sent to the model
    reused: int  # items whose vector was already stored
    index_added: int
    index_removed: int
    rebuilt: bool
    seconds: float


class SemanticEngine:
    """Embeddings, index, near-duplicates, related items and hybrid search over one catalog."""

    def __init__(
        self, derived_dir: Path, *, model: str = "default", backend: str = "auto",
        embedder: Embedder | None = None, query_backend: str = "auto",
        exact_below: int = EXACT_BELOW, ef: int = HNSW_EF,
    ) -> None:
        self.root = Path(derived_dir)
        self._embedder = embedder
        self._query_embedder: Embedder | None = embedder
        self.query_backend = query_backend
        if embedder is not None:
            self.model_id, self.dim, self.base_model = embedder.model_id, embedder.dim, embedder.base_model
            self._model, self._backend = "", ""
        else:
            # Everything needed to find the stored version, without loading (or importing) the model.
            name, folder = resolve_model(model)
            self._model, self._backend = model, resolve_backend(backend)
            self.model_id, self.dim, self.base_model = f"{name}@{self._backend}", model_dim(folder), name
        self.store = EmbeddingStore(self.root, self.model_id, self.dim)
        self.index = VectorIndex(self.root, self.store, exact_below=exact_below, ef=ef)
        self._signals: dict[str, tuple[tuple[object, ...], dupes.Signals]] = {}
        self.docfreq: docfreq.DocFreq | None = None  # set by `sync_store`: IDF by query
        self._dropped_seen = 0  # the store's dropped-segment count the last sync answered (full diff on change)

    # -- embedding -----------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The document embedder (created on first use; the model loads on its first encode)."""
        if self._embedder is None:
            self._embedder = make_embedder(self._model, self._backend, derived_dir=self.root)
        return self._embedder

    def query_embedder(self) -> Embedder:
        """The embedder for search queries and a few texts: numpy's exact fp32 pass when the model allows.

        Its fallback (batches too big for it) is the torch-free ONNX export when it is ready, else
        the configured embedder.
        """
        if self._query_embedder is None:
            fallback: Embedder | None = None
            if self.query_backend == "auto" and self._backend != "ort-fp32" and onnxruntime_available():
                onnx = OnnxEmbedder(self._model, derived_dir=self.root, export=False)
                if onnx.ready() and onnx.base_model == self.base_model:
                    fallback = onnx
            fallback = fallback or self.embedder
            if self.query_backend == "auto" and numpybert.supported(resolve_model(self._model)[1]):
                self._query_embedder = numpybert.NumpyEmbedder(self._model, fallback=fallback)
            else:
                self._query_embedder = fallback
        return self._query_embedder

    def document_encoder(self, count: int) -> Embedder:
        """What embeds `count` catalog texts now: the configured embedder, or a torch-free path.

        A handful of texts (an `add`, a pull of a few entries) are embedded by `query_embedder`
        (numpy for a few short texts, else the ONNX export when it exists), so the command never
        imports torch (~5 s) nor compiles OpenVINO (~0.6 s). Both are the same fp32 network: against
        torch fp32 the cosine is ≥ 0.9999999 per text; against the bf16 backends (OpenVINO, what
        `auto` picks, and torch bf16) ≥ 0.9999 with top-10 neighbour overlap ≥ 0.99, the bar for one
        stored version (`make bench` and test_semantic_ovembedder check it). Big batches keep the
        configured backend, whose throughput pays for its load.
        """
        if self._embedder is None and count <= SMALL_BATCH and self._backend in TORCH_FREE_SMALL_BATCHES:
            query = self.query_embedder()
            if isinstance(query, (OnnxEmbedder, numpybert.NumpyEmbedder)):
                return query  # numpy hands a batch too big for it to its fallback (ONNX, else this one)
        return self.embedder

    def prepare_query_model(self) -> bool:
        """Export the ONNX query model once (needs torch; ~2-5 s). False when it cannot be used."""
        if self._embedder is not None and not isinstance(self._embedder, SentenceTransformerEmbedder):
            return False
        if self._backend == "ort-fp32" or not onnxruntime_available() or not self._model:
            return False
        onnx = OnnxEmbedder(self._model, derived_dir=self.root)
        if not onnx.ready():
            onnx._load()
        return True

    def check_query_model(self) -> bool:
        """Load the ONNX export when there is one; False when it was damaged (and removed)."""
        if self._backend == "ort-fp32" or not onnxruntime_available() or not self._model:
            return True
        onnx = OnnxEmbedder(self._model, derived_dir=self.root, export=False)
        if not onnx.ready():
            return True
        try:
            onnx._load()
        except ProjectError:
            return False
        return True

    def _vectors_for(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Vectors of texts, from the store or embedded now (and then stored)."""
        hashes = [text_hash(t) for t in texts]
        missing = self.store.missing(hashes)
        if missing:
            by_hash = dict(zip(hashes, texts, strict=True))
            vectors = self.document_encoder(len(missing)).encode([by_hash[h] for h in missing], progress=progress)
            self.store.add(missing, vectors)
        return self.store.get(hashes)

    # -- keeping in step with the catalog --------------------------------------------------------
    def sync(self, items: Sequence[Item], *, progress: Callable[[int, int], None] | None = None) -> SyncStats:
        """Make the store and index match `items` (the whole current catalog).

        Only texts without a stored vector are embedded; the index is updated incrementally or
        rebuilt when it is missing, damaged or of another model. Cheap when nothing changed.
        """
        start = time.perf_counter()
        texts = {it.id: embedding_text(it) for it in items}
        hashes = {i: text_hash(t) for i, t in texts.items()}
        desired = {it.id: Entry(hashes[it.id], it.kind, it.published) for it in items}
        if not self.index.loaded:
            self.index.load()
        embedded, reused = 0, len(items)
        if self.index.entries != desired:
            missing = self.store.missing(hashes.values())
            missing_set = set(missing)
            reused = sum(1 for h in hashes.values() if h not in missing_set)
            if missing:
                by_hash = {h: texts[i] for i, h in hashes.items()}
                vectors = self.document_encoder(len(missing)).encode([by_hash[h] for h in missing], progress=progress)
                self.store.add(missing, vectors)
                embedded = len(missing)
                if self.query_backend == "auto" and isinstance(self._embedder, SentenceTransformerEmbedder):
                    self.prepare_query_model()  # torch is loaded now anyway: export is cheap here
        # The index now follows `items`, not a cache state: `sync_store` must diff in full next time.
        previous, self.index.synced = self.index.synced, None
        stats = self.index.sync(desired)
        if not (stats["added"] or stats["removed"] or stats["rebuilt"]):
            self.index.synced = previous
        return SyncStats(
            self.model_id, len(items), embedded, reused,
            stats["added"], stats["removed"], bool(stats["rebuilt"]), time.perf_counter() - start,
        )

    def sync_store(self, store: Store, *, progress: Callable[[int, int], None] | None = None) -> SyncStats:
        """Make the vectors, the index and the document frequencies match the catalog cache, by query.

        The index stamp remembers the cache's (epoch, seq) it matches, so a sync reads only the rows
        that changed since (`CatalogCache.changed_ids`): O(changes), with the text hashes stored per
        row (no embedding text recomputed). A cache of another epoch (rebuilt, deleted) or an index
        rebuilt for any reason means one full diff over the cache's rows, still without parsing a file.
        """
        start = time.perf_counter()
        self._load()
        epoch, seq = store.epoch_seq()
        synced = self.index.synced
        changed = None
        self.store.open()  # a damaged segment is dropped now
        if self.store.dropped_segments != self._dropped_seen:
            self._dropped_seen = self.store.dropped_segments
            synced = None  # vectors were lost: check every item's vector, re-embed what is gone
        if isinstance(synced, list) and len(synced) == 2 and self.index.rejected is None:
            changed = store.changed_ids(str(synced[0]), int(synced[1]))
        if changed is not None and not changed:
            # Nothing changed since the last sync (the common case before `search`/`related`):
            # no O(catalog) diff, only the stamp and the document frequencies brought to the mark.
            self.index.synced = [epoch, seq]
            self.index.save_stamp()
            self._sync_docfreq(store, changed, epoch, seq)
            count = len(self.index.by_id)
            return SyncStats(self.model_id, count, 0, count, 0, 0, False, time.perf_counter() - start)
        if changed is None:
            rows = store.index_rows(None)
            desired = {i: Entry(r.text_hash, r.kind, r.published) for i, r in rows.items()}
            check = list(desired)
        else:
            rows = store.index_rows(changed) if changed else {}
            desired = dict(self.index.entries)
            for item_id in changed:
                row = rows.get(item_id)
                if row is None:
                    desired.pop(item_id, None)
                else:
                    desired[item_id] = Entry(row.text_hash, row.kind, row.published)
            check = [i for i in changed if i in desired]
        missing = self.store.missing(desired[i].hash for i in check)
        if missing:
            from newsletter.semantic.text import embedding_text as text_of

            by_hash = store.items_for_hashes(missing)
            missing = [h for h in missing if h in by_hash]
            vectors = self.document_encoder(len(missing)).encode([text_of(by_hash[h]) for h in missing],
                                                                 progress=progress)
            self.store.add(missing, vectors)
            if self.query_backend == "auto" and isinstance(self._embedder, SentenceTransformerEmbedder):
                self.prepare_query_model()
        unembedded = set(missing)
        desired = {i: e for i, e in desired.items() if e.hash not in unembedded or e.hash in self.store}
        self.index.synced = [epoch, seq]
        stats = self.index.sync(desired)
        if not (stats["added"] or stats["removed"] or stats["rebuilt"]):
            self.index.save_stamp()
        self._sync_docfreq(store, changed, epoch, seq)
        return SyncStats(self.model_id, len(desired), len(missing), len(desired) - len(missing),
                         stats["added"], stats["removed"], bool(stats["rebuilt"]), time.perf_counter() - start)

    def _sync_docfreq(self, store: Store, changed: set[str] | None, epoch: str, seq: int) -> None:
        """Bring the document frequencies to the same cache state (incrementally when possible)."""
        if self.docfreq is None:
            self.docfreq = docfreq.open_docfreq(self.root / "docfreq.sqlite")
        df = self.docfreq
        mark = f"{epoch}:{seq}"
        previous = df.synced()
        delta: set[str] | None = None
        if previous and ":" in previous:
            old_epoch, _, old_seq = previous.partition(":")
            delta = store.changed_ids(old_epoch, int(old_seq)) if old_seq.isdigit() else None
        if delta is None or len(delta) > max(docfreq.REBUILD_ABOVE, df.counted() // 5):
            # The whole catalog, streamed from the cache (its state at `mark`): not `load`, whose
            # snapshot and the signals cache would hold every item at once (10+ GB at 1M items).
            # So is a change of a fifth of it or more (a fresh clone, a copied project, a big
            # `git pull`): `update` would hold every changed item and replace its rows one by one.
            df.rebuild(store.winning_items(), dupes.item_signals, mark)
            return
        if not delta:
            return
        items = {i: (found[0] if (found := store.entry(i)) else None) for i in delta}
        df.update(items, self._item_signals, mark)

    def _in_docfreq(self, item: Item) -> bool:
        """Whether `item` (as it is now) is already counted in the document frequencies."""
        return item.id in self.index.by_id and not item.duplicate_of  # by_id: no 100k-entry dict built

    def remove(self, item_ids: Iterable[str]) -> None:
        """Drop items from the index (their vectors stay in the store: an undo costs nothing)."""
        self._load()
        gone = set(item_ids)
        self.index.sync({i: e for i, e in self.index.entries.items() if i not in gone})

    def _load(self) -> None:
        if not self.index.loaded:
            self.index.load()

    # -- near-duplicates -------------------------------------------------------------------------
    def _item_signals(self, item: Item) -> dupes.Signals:
        extra = item.extra or {}
        key = (item.title, item.summary, item.url, item.canonical_url, item.published, item.kind,
               str(extra.get("links")), str(extra.get("text")), str(extra.get("arxiv_id")))
        cached = self._signals.get(item.id)
        if cached is None or cached[0] != key:
            cached = (key, dupes.item_signals(item))
            self._signals[item.id] = cached
        return cached[1]

    def _idf(self, items: Iterable[Item]) -> dupes.Idf:
        return dupes.Idf.from_signals(self._item_signals(it) for it in items)

    def similar(
        self, item: Item, items_by_id: Mapping[str, Item], *, k: int = 5, threshold: float | None = None,
    ) -> list[tuple[str, float]]:
        """Catalog items that are probably the same resource as `item` (which may be new), best first.

        Candidates are the index neighbours of the item's vector (embedded now if new); each is
        scored by `dupes.combine` over the pair's features; those ≥ threshold (default dupes.DEFAULT_THRESHOLD) stay.
        """
        return self.similar_many([item], items_by_id, k=k, threshold=threshold)[0]

    def similar_many(
        self, items: Sequence[Item], items_by_id: Mapping[str, Item], *, k: int = 5, threshold: float | None = None,
    ) -> list[list[tuple[str, float]]]:
        """`similar` for many items at once: one result list per item, in order.

        Same answers as calling `similar` per item (an item is never its own match), but the IDF is
        computed once, the vectors are read in one batch and the index is queried in one call:
        `similar` costs O(catalog) per item for the IDF alone, which made a 10k-row import quadratic.
        """
        if not items:
            return []
        self._load()
        threshold = dupes.DEFAULT_THRESHOLD if threshold is None else threshold
        vectors = self._vectors_for([embedding_text(it) for it in items])
        ids = [it.id for it in items]
        rows: list[list[tuple[str, float]]] = []
        for start in range(0, len(items), QUERY_CHUNK):  # bounded memory: the exact mode scores a full matrix
            end = start + QUERY_CHUNK
            rows.extend(self.index.query(vectors[start:end], DUPE_CANDIDATES, exclude=ids[start:end]))
        if self.docfreq is not None:
            # By query: the document frequencies of just the terms involved (see docfreq.py).
            candidates = {o for row in rows for o, c in row if c >= dupes.CANDIDATE_FLOOR}
            others = [o for o in (items_by_id.get(i) for i in candidates) if o is not None]
            terms = set().union(*(docfreq.item_terms(self._item_signals(it)) for it in [*items, *others]))
            idf = self.docfreq.idf(terms, [self._item_signals(it) for it in items if not self._in_docfreq(it)])
        else:
            idf = self._idf([*items_by_id.values(), *(it for it in items if it.id not in items_by_id)])
        found: list[list[tuple[str, float]]] = []
        for item, row in zip(items, rows, strict=True):
            mine = self._item_signals(item)
            out = []
            for other_id, cosine in row:
                other = items_by_id.get(other_id)
                if other is None or other_id == item.id or cosine < dupes.CANDIDATE_FLOOR or other.duplicate_of:
                    continue
                score = dupes.combine(dupes.pair_features(mine, self._item_signals(other), cosine, idf))
                if score >= threshold:
                    out.append((other_id, round(score, 4)))
            found.append(sorted(out, key=lambda p: (-p[1], p[0]))[:k])
        return found

    def duplicate_pairs(
        self, items: Sequence[Item], *, among: set[str] | None = None, threshold: float | None = None,
        min_cosine: float | None = None, progress: Callable[[int, int], None] | None = None,
    ) -> list[tuple[str, str, float]]:
        """Near-duplicate pairs `(a, b, score)` (a < b, score ≥ threshold), best first.

        Only pairs that involve an id of `among` (every item when None): each such item's index
        neighbours among the live items (``duplicate_of`` unset) with cosine ≥ `min_cosine`
        (default dupes.CANDIDATE_FLOOR) are scored by `dupes.pair_features` signals, the IDF from
        the stored document frequencies once `sync_store` has run (else over the items involved).
        Asking for a few ids costs a fraction of a second at any catalog size; the whole catalog
        ~1 ms per item. The engine must be synced with `items`. `progress(done, total)` hears of the
        neighbour queries (total: the items), then of the pair scoring (total: the pairs).
        """
        threshold = dupes.DEFAULT_THRESHOLD if threshold is None else threshold
        floor = dupes.CANDIDATE_FLOOR if min_cosine is None else min_cosine
        report = progress or (lambda done, total: None)
        self._load()
        live = {it.id: it for it in items if not it.duplicate_of and it.id in self.index.by_id}
        ids = list(live) if among is None else sorted(i for i in among if i in live)
        if not ids or len(live) < 2:
            return []
        allowed = set(live)
        # The cosine floor first: only the items of the pairs above it need their signals.
        close: dict[tuple[str, str], float] = {}
        for start in range(0, len(ids), PAIR_CHUNK):
            chunk = ids[start:start + PAIR_CHUNK]
            rows = self.index.query(self.index.vectors(chunk), DUPE_CANDIDATES, allowed=allowed, exclude=chunk)
            for a, row in zip(chunk, rows, strict=True):
                for b, cosine in row:
                    if cosine >= floor:
                        close.setdefault((a, b) if a < b else (b, a), cosine)
            report(start + len(chunk), len(ids))
        if self.docfreq is not None:
            # By query, as in `similar_many`: the catalog's document frequencies of these pairs' terms.
            scored = {i for pair in close for i in pair}
            terms = set().union(*(docfreq.item_terms(self._item_signals(live[i])) for i in scored))
            extra = [self._item_signals(live[i]) for i in scored if not self._in_docfreq(live[i])]
            idf = self.docfreq.idf(terms, extra)
        else:
            idf = self._idf(live[i] for i in set(ids) | {i for pair in close for i in pair})
        found = []
        for done, ((a, b), cosine) in enumerate(close.items(), 1):
            score = round(dupes.combine(dupes.pair_features(
                self._item_signals(live[a]), self._item_signals(live[b]), cosine, idf)), 4)
            if score >= threshold:
                found.append((a, b, score))
            if done % PAIR_CHUNK == 0 or done == len(close):
                report(done, len(close))
        return sorted(found, key=lambda p: (-p[2], p[0], p[1]))

    def duplicate_groups(
        self, items: Sequence[Item], *, threshold: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dupes.DuplicateGroup]:
        """Groups of near-duplicates in the catalog (connected components of pairs ≥ threshold).

        Items already merged (``duplicate_of`` set) are left out. Syncs first (a no-op when synced).
        """
        threshold = dupes.DEFAULT_THRESHOLD if threshold is None else threshold
        self.sync(items)
        # Every scored pair, not only those >= threshold: grouping weighs the weaker cross pairs too.
        return dupes.connected_groups(self.duplicate_pairs(items, threshold=0.0, progress=progress), threshold)

    # -- related and search ------------------------------------------------------------------------
    def _allowed(self, kind: str | None, since: str | None, allowed: set[str] | None) -> set[str] | None:
        if kind is None and since is None:
            return allowed
        out = self.index.ids_of_kind(kind) if kind is not None else set(self.index.entries)
        if since is not None:
            entries = self.index.entries
            out = {i for i in out if (entries[i].published or "") >= since}
        return out if allowed is None else out & allowed

    def related(
        self, item_id: str, *, k: int = 10, kind: str | None = None, allowed: set[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The k items nearest to a synced item by stored vectors (never loads the model)."""
        self._load()
        if item_id not in self.index.by_id:
            raise ItemNotFound(f"item {item_id} has no embedding yet: run the command that syncs the catalog")
        vector = self.index.vectors([item_id])
        (row,) = self.index.query(vector, k, allowed=self._allowed(kind, None, allowed), exclude=[item_id])
        return [(i, round(s, 4)) for i, s in row]

    def search(
        self, query: str, *, k: int = 10, keyword_ids: Sequence[str] = (), kind: str | None = None,
        since: str | None = None, allowed: set[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Hybrid search: the query's semantic neighbours fused with `keyword_ids` (BM25 order) by RRF.

        Scores are fused RRF scores (higher is better; only the order is meaningful).
        """
        self._load()
        pool = self._allowed(kind, since, allowed)
        depth = max(3 * k, 30)
        semantic: list[str] = []
        if query.strip() and len(self.index):
            try:
                vector = self.query_embedder().encode([query])
            except ProjectError:  # the ONNX export was damaged (and removed): the configured model answers
                self._query_embedder = self.embedder
                vector = self._query_embedder.encode([query])
            (row,) = self.index.query(vector, depth, allowed=pool)
            semantic = [i for i, _ in row]
        keyword = fusion.filter_ranking(keyword_ids, pool)[:depth]
        fused = fusion.reciprocal_rank_fusion([keyword, semantic])
        return [(i, round(s, 6)) for i, s in fused[:k]]
