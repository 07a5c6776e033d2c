"""Nearest-neighbour search over the catalog's vectors: exact numpy below a size, hnswlib above.

Persisted under ``<root>/index/``::

    <model slug>.json                 the stamp (small, O(1) to check): format, model id, dim, mode,
                                      HNSW parameters, the graph's name/size/mtime/inode/count, the
                                      labels file's name/size/CRC, and the catalog-cache change
                                      number the index was last synced to
    <model slug>-<ns>.labels          label → item id, item → (text hash, kind, published), and the
                                      labels not yet in the graph (marshal)
    <model slug>-<ns>.hnsw            the hnswlib graph (HNSW mode only)

Every write is atomic, and new files get NEW names: the graph and labels are written first, then
the stamp that names them, then the old files are deleted. So at any instant the stamp names whole
files. On load the graph's stat must match the stamp (a truncated, replaced or rewritten file does
not), the labels' CRC must match, the model id and dim must match the caller's and the graph's
header its size — otherwise the index is rebuilt from the embedding store, never misread.

Small changes do not rewrite the graph: new items wait in a pending list answered exactly (their
vectors come from the store) until `PENDING_MAX` of them are added to the graph in one go; removed
items are dead labels, re-marked deleted on every load. An `add` at 100k items writes the labels
file (a few MB), not the 160 MB graph.

Exact mode keeps no graph: vectors come from the store. Below ~5k items a brute-force query costs
well under a millisecond (perf doc: 0.1 ms at 10k), so the graph isn't worth its build and files.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

from newsletter.semantic.graphfile import GraphFile, GraphFileError, label_rows
from newsletter.semantic.store import EmbeddingStore, atomic_write_bytes, model_slug

FORMAT = 3
PENDING_MAX = 2000  # items answered exactly beside the graph before they are added to it (~1 ms per query)
EXACT_BELOW = 5000  # live items; below this, exact search (see module docstring)
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF = 100  # recall@10 ≥ 0.98 at 100k on real MiniLM vectors (perf doc 0.995; bench re-measures)
# Query rows x graph items one process answers by exact scans of the mapped graph file before it
# loads the graph instead: a scan costs ~5-10 ms per query at 100k, a load 0.13 s (graphfile module),
# so `related` and `search` scan, and `draft`'s few dozen queries load the graph after the first ~15.
FLAT_SCAN_BUDGET = 1_500_000
REBUILD_DELETED_FRACTION = 0.25  # mark_deleted slots still cost search time; rebuild past this


class Entry(NamedTuple):
    """What the index knows of one item: the text hash of its vector, its kind and date."""

    hash: str
    kind: str = ""
    published: str | None = None


_DEAD = Entry("", "", None)


def fingerprint(entries: Mapping[str, Entry]) -> str:
    """A digest of which item holds which text hash (order-independent)."""
    digest = hashlib.sha256()
    for item_id in sorted(entries):
        digest.update(f"{item_id}\t{entries[item_id].hash}\n".encode())
    return digest.hexdigest()[:32]


def _crc_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest values of each row, best first."""
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


class VectorIndex:
    """The searchable view of one model version; `sync` keeps it equal to the catalog."""

    def __init__(
        self, root: Path, store: EmbeddingStore, *, exact_below: int = EXACT_BELOW,
        m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION, ef: int = HNSW_EF,
    ) -> None:
        self.root = Path(root)
        self.store = store
        self.model_id, self.dim = store.model_id, store.dim
        self.exact_below, self.m, self.ef_construction, self.ef = exact_below, m, ef_construction, ef
        self.dir = self.root / "index"
        self.stamp_path = self.dir / f"{model_slug(self.model_id)}.json"
        self.mode = "exact"
        self.labels: list[str | None] = []  # label → item id (None: deleted)
        self.by_id: dict[str, int] = {}
        self._hnsw: Any = None  # the hnswlib graph, loaded only when needed (`_graph_index`)
        self._view: GraphFile | None = None  # HNSW mode: the saved graph's vectors, memory-mapped
        self._graph_rows: np.ndarray | None = None  # HNSW mode: the saved graph's record of each label
        self._graph_crc: int | None = None  # HNSW mode: the saved graph's CRC-32 (a copy is recognised by it)
        self._scanned = 0  # query rows x items this process scanned in `_view` (see FLAT_SCAN_BUDGET)
        self._graph_file: str | None = None
        self._matrix: np.ndarray | None = None  # exact mode: vectors in label order
        self.loaded = False
        self.rebuilds = 0
        self.rejected: str | None = None  # why the persisted index was not used (tests, stats)
        self._by_kind: dict[str, set[str]] | None = None
        self._entries: dict[str, Entry] | None = {}
        self._columns: tuple[list[str], list[str], list[str]] | None = ([], [], [])
        self._raw_columns: tuple[str, str, str] | None = None  # as loaded, until `_split_columns`
        self._labels_file: str | None = None
        self._graph_count, self._graph_dirty = 0, False
        self.pending: list[str] = []  # HNSW mode: ids with a label but not yet in the graph
        self.synced: Any = None
        self._reset()

    # -- persistence ----------------------------------------------------------------------------
    def load(self) -> bool:
        """Load the persisted index if it is whole and matches; False (and empty) otherwise."""
        self.loaded = True
        self.rejected = None
        self._reset()
        try:
            stamp = json.loads(self.stamp_path.read_text())
        except FileNotFoundError:
            self.rejected = "missing"
            return False
        except (OSError, ValueError):
            self.rejected = "unreadable stamp"
            return False
        try:
            ok = self._load_stamp(stamp)
        except (KeyError, TypeError, ValueError, RuntimeError, OSError, IndexError, EOFError, MemoryError,
                AttributeError) as exc:
            self.rejected = f"invalid: {exc}"
            ok = False
        if not ok:
            self._reset()
        return ok

    def _load_stamp(self, stamp: dict[str, Any]) -> bool:
        if stamp.get("format") != FORMAT or stamp.get("model_id") != self.model_id or stamp.get("dim") != self.dim:
            self.rejected = "stamp of another model, dim or format"
            return False
        meta = stamp["labels"]
        data = (self.dir / meta["name"]).read_bytes()
        if len(data) != meta["size"] or zlib.crc32(data) != meta["crc32"]:
            self.rejected = "labels file does not match its stamp"
            return False
        body = marshal.loads(data)
        # Columns, one string each: 100k labels split in milliseconds (a dict of tuples took 0.2 s).
        labels: list[str | None] = [i or None for i in body["labels"].split("\n")] if body["labels"] else []
        raw = (body["hash"], body["kind"], body["published"])
        # Split on first use (`related` and `search` never need these): count the rows now.
        if labels and any(column.count("\n") + 1 != len(labels) for column in raw):
            self.rejected = "labels file columns disagree"
            return False
        pending: list[str] = body["pending"].split("\n") if body["pending"] else []
        mode = stamp["mode"]
        graph_count = 0
        if mode == "hnsw":
            graph = stamp["graph"]
            path = self.dir / graph["name"]
            st = path.stat()
            if [st.st_size, st.st_mtime_ns, st.st_ino] != [graph["size"], graph["mtime_ns"], graph["ino"]] and not (
                # A copied project (cp -r, a backup) has new inodes and times: its graph is kept
                # when its checksum says it is the one written (the next save stamps it anew).
                st.st_size == graph["size"] and "crc32" in graph and _crc_file(path) == graph["crc32"]
            ):
                self.rejected = "graph file does not match its stamp"
                return False
            self._graph_crc = graph.get("crc32")
            graph_count = int(graph["count"])
            if not str(graph["name"]).startswith(f"{model_slug(self.model_id)}-"):
                # Graphs are named by the model whose vectors they hold (checked, as the store is
                # not read: a crafted or copied stamp must not serve another model's graph).
                self.rejected = "graph of another model"
                return False
            if graph_count > len(labels):
                self.rejected = "graph of another dim or size"
                return False
            try:
                stored_rows = body.get("rows")
                # Files from before the row map was stored: read it from the graph once.
                rows = (np.frombuffer(stored_rows, dtype="<i4") if stored_rows is not None
                        else label_rows(path, self.dim, graph_count))
                view = GraphFile(path, self.dim, graph_count, rows=rows)
            except GraphFileError as exc:
                self.rejected = str(exc)
                return False
            self._graph_rows = rows
            # The graph itself is loaded only when something needs it (`_graph_index`).
            self._view, self._graph_file = view, graph["name"]
            self.m = int(stamp.get("m", self.m))
        elif mode != "exact":
            return False
        self.mode, self.labels, self._by_kind = mode, labels, None
        self._columns = None
        self._raw_columns = raw if labels else None
        self._entries = None
        by_label: dict[str | None, int] = dict(zip(labels, range(len(labels)), strict=True))  # C speed
        by_label.pop(None, None)
        self.by_id = cast(dict[str, int], by_label)
        if len(self.by_id) != len(labels) - labels.count(None):
            self.rejected = "an id holds two labels"
            return False
        self._graph_count = graph_count
        self.pending = [i for i in pending if i in self.by_id]
        self.synced = stamp.get("synced")
        self._labels_file = meta["name"]
        return True

    def _graph_index(self) -> Any:
        """The hnswlib graph, loaded on first need (adding items, bulk queries); deleted labels marked."""
        if self._hnsw is None:
            import hnswlib

            assert self._graph_file is not None, "HNSW mode without a graph file"
            index = hnswlib.Index(space="ip", dim=self.dim)
            # The file the view maps (still readable if a writer has replaced it since) else by name.
            path = self._view.path_for_loading() if self._view is not None else str(self.dir / self._graph_file)
            index.load_index(path, max_elements=max(self._graph_count, 1))
            if index.get_current_count() != self._graph_count:
                raise ValueError("the graph file changed under the index")
            for label in range(self._graph_count):
                if self.labels[label] is None:
                    index.mark_deleted(label)
            index.set_ef(self.ef)
            self._hnsw = index
        return self._hnsw

    def _flat_view(self, rows: int) -> GraphFile | None:
        """The mapped graph file when an exact scan of it answers `rows` queries cheaper than the graph."""
        view = self._current_view()
        if view is None or self._scanned + rows * view.count > FLAT_SCAN_BUDGET:
            return None
        return view

    def _current_view(self) -> GraphFile | None:
        """The mapped graph file while it holds exactly the graph's items (not after adding some)."""
        view = self._view
        if view is None or self._graph_dirty or view.count != self._graph_count:
            return None
        return view

    def save(self) -> None:
        """Write the graph (when it changed) and the labels (new file names), then the stamp; drop old files."""
        self.dir.mkdir(parents=True, exist_ok=True)
        old_graph, old_labels = self._graph_file, self._labels_file
        slug = model_slug(self.model_id)
        graph_meta = None
        if self.mode == "hnsw":
            if self._graph_dirty or self._graph_file is None:
                name = f"{slug}-{time.time_ns()}.hnsw"
                path = self.dir / name
                tmp = self.dir / f".{name}.{os.getpid()}.tmp"
                try:
                    self._hnsw.save_index(str(tmp))
                    with open(tmp, "rb") as handle:
                        os.fsync(handle.fileno())
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
                self._graph_file = name
                self._graph_dirty = False
                self._view = None  # maps the old file; the graph in memory answers from now on
                # Which record holds which label, read once per written graph (see graphfile).
                self._graph_rows = label_rows(path, self.dim, self._graph_count)
                self._graph_crc = _crc_file(path)
            st = (self.dir / self._graph_file).stat()
            graph_meta = {"name": self._graph_file, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                          "ino": st.st_ino, "count": self._graph_count}
            if self._graph_crc is not None:
                graph_meta["crc32"] = self._graph_crc
        else:
            self._graph_file = None
        entries = self.entries
        rows = [entries[i] if i is not None else _DEAD for i in self.labels]
        body = marshal.dumps({
            "labels": "\n".join(i or "" for i in self.labels),
            "hash": "\n".join(e.hash for e in rows),
            "kind": "\n".join(e.kind for e in rows),
            "published": "\n".join(e.published or "" for e in rows),
            "pending": "\n".join(self.pending),
            **({"rows": np.asarray(self._graph_rows, dtype="<i4").tobytes()}
               if self.mode == "hnsw" and self._graph_rows is not None else {}),
        })
        labels_name = f"{slug}-{time.time_ns()}.labels"
        atomic_write_bytes(self.dir / labels_name, body)
        self._labels_file = labels_name
        stamp = {
            "format": FORMAT, "model_id": self.model_id, "dim": self.dim, "mode": self.mode,
            "m": self.m, "ef_construction": self.ef_construction, "graph": graph_meta,
            "labels": {"name": labels_name, "size": len(body), "crc32": zlib.crc32(body)},
            "synced": self.synced,
        }
        atomic_write_bytes(self.stamp_path, json.dumps(stamp, separators=(",", ":")).encode())
        for old, new in ((old_graph, self._graph_file), (old_labels, labels_name)):
            if old and old != new:
                (self.dir / old).unlink(missing_ok=True)
        self._sweep()

    def save_stamp(self) -> None:
        """Rewrite only the small stamp (the `synced` mark changed, nothing else did)."""
        try:
            stamp = json.loads(self.stamp_path.read_text())
        except (OSError, ValueError):
            self.save()
            return
        if stamp.get("synced") != self.synced:
            stamp["synced"] = self.synced
            atomic_write_bytes(self.stamp_path, json.dumps(stamp, separators=(",", ":")).encode())

    def _sweep(self) -> None:
        """Delete graphs no stamp names and temp files left by crashed writers of this model."""
        prefix = model_slug(self.model_id)
        for path in [*self.dir.glob(f"{prefix}-*.hnsw"), *self.dir.glob(f"{prefix}-*.labels")]:
            if path.name not in (self._graph_file, self._labels_file):
                path.unlink(missing_ok=True)
        now = time.time()
        for path in self.dir.glob(f".{prefix}*.tmp"):
            try:
                if now - path.stat().st_mtime > 60:
                    path.unlink()
            except OSError:
                pass

    @property
    def entries(self) -> dict[str, Entry]:
        """item id -> Entry, built on first use from the loaded columns (`related` never needs it)."""
        if self._entries is None:
            hashes, kinds, dates = self._split_columns()
            self._entries = {i: Entry(hashes[lab], kinds[lab], dates[lab] or None)
                             for lab, i in enumerate(self.labels) if i is not None}
        return self._entries

    @entries.setter
    def entries(self, value: dict[str, Entry]) -> None:
        self._entries = value

    def _hash_of(self, item_id: str) -> str:
        """One item's text hash without building `entries` when it is not built yet."""
        if self._entries is not None:
            return self._entries[item_id].hash
        return self._split_columns()[0][self.by_id[item_id]]

    def _split_columns(self) -> tuple[list[str], list[str], list[str]]:
        if self._columns is None:
            raw = self._raw_columns
            self._columns = ([], [], []) if raw is None else (
                raw[0].split("\n"), raw[1].split("\n"), raw[2].split("\n"))
            self._raw_columns = None
        return self._columns

    def _reset(self) -> None:
        self.mode, self.labels, self.by_id = "exact", [], {}
        self._entries = {}
        self._columns, self._raw_columns = ([], [], []), None
        self._hnsw, self._matrix, self._by_kind = None, None, None
        self._view, self._graph_rows, self._graph_crc = None, None, None
        self._graph_file, self._labels_file = None, None
        self._graph_count, self._graph_dirty = 0, False
        self.pending = []
        self.synced = None

    # -- updating -------------------------------------------------------------------------------
    def sync(self, desired: Mapping[str, Entry]) -> dict[str, int]:
        """Make the index hold exactly `desired` (all hashes must be in the store); save if changed."""
        if not self.loaded:
            self.load()
        stats = {"added": 0, "removed": 0, "rebuilt": 0}
        want_hnsw = len(desired) >= self.exact_below or (
            self.mode == "hnsw" and len(desired) >= self.exact_below // 2
        )
        changed_meta = any(
            self.entries.get(i) is not None and self.entries[i] != e and self.entries[i].hash == e.hash
            for i, e in desired.items()
        )
        stale = [i for i, e in self.entries.items() if i not in desired or desired[i].hash != e.hash]
        new = [i for i, e in desired.items() if i not in self.entries or self.entries[i].hash != e.hash]
        if want_hnsw != (self.mode == "hnsw") or (self.rejected is not None and desired):
            return self._rebuild(desired, stats)
        if not stale and not new and not changed_meta:
            return stats
        if self.mode == "hnsw":
            deleted = sum(1 for lab in self.labels if lab is None) + len(stale)
            if deleted > REBUILD_DELETED_FRACTION * max(len(self.labels) + len(new), 1):
                return self._rebuild(desired, stats)
            gone = set()
            for item_id in stale:
                label = self.by_id.pop(item_id)
                if label < self._graph_count and self._hnsw is not None:
                    self._hnsw.mark_deleted(label)  # in memory; re-marked from the labels on every load
                gone.add(item_id)
                self.labels[label] = None
            if gone:
                self.pending = [i for i in self.pending if i not in gone]
            start = len(self.labels)
            for offset, item_id in enumerate(new):
                self.labels.append(item_id)
                self.by_id[item_id] = start + offset
            self.pending.extend(new)
            if len(self.pending) > min(PENDING_MAX, self._graph_count):
                self._flush_pending(desired)
        else:
            # Exact mode: labels stay dense; the matrix is re-gathered lazily from the store.
            ordered = sorted(desired)
            self.labels, self.by_id = list(ordered), {item_id: label for label, item_id in enumerate(ordered)}
            self._matrix = None
        stats["added"], stats["removed"] = len(new), len(stale)
        self.entries, self._by_kind = dict(desired), None
        self.save()
        return stats

    def _flush_pending(self, desired: Mapping[str, Entry]) -> None:
        """Add the pending items to the graph (labels past the graph's count, in order)."""
        first = self._graph_count
        todo = self.labels[first:]
        vectors = self.store.get([desired[i].hash if i is not None else self.entries_hash_any() for i in todo])
        need = len(self.labels)
        graph = self._graph_index()
        if need > graph.get_max_elements():
            graph.resize_index(max(need, int(graph.get_max_elements() * 1.5)))
        graph.add_items(vectors, np.arange(first, need))
        for label in range(first, need):
            if self.labels[label] is None:
                graph.mark_deleted(label)
        self._graph_count, self._graph_dirty, self.pending = need, True, []

    def entries_hash_any(self) -> str:
        """Any stored hash (a dead pending label still needs some vector to occupy its slot)."""
        return next(iter(self.entries.values())).hash

    def _rebuild(self, desired: Mapping[str, Entry], stats: dict[str, int]) -> dict[str, int]:
        self.rebuilds += 1
        self.rejected = None
        stats["rebuilt"] = 1
        stats["added"] = len(desired)
        synced = self.synced
        self._reset()
        self.synced = synced
        self.entries, self._by_kind = dict(desired), None
        ordered = sorted(desired)
        self.labels, self.by_id = list(ordered), {item_id: label for label, item_id in enumerate(ordered)}
        if len(desired) >= self.exact_below:
            import hnswlib

            vectors = self.store.get([desired[i].hash for i in ordered])
            index = hnswlib.Index(space="ip", dim=self.dim)
            index.init_index(max_elements=max(len(self.labels), 16), ef_construction=self.ef_construction,
                             M=self.m, random_seed=42)
            index.set_num_threads(os.cpu_count() or 1)
            if len(self.labels):
                index.add_items(vectors, np.arange(len(self.labels)))
            index.set_ef(self.ef)
            self.mode, self._hnsw = "hnsw", index
            self._graph_count, self._graph_dirty = len(self.labels), True
        self.save()
        return stats

    # -- reading --------------------------------------------------------------------------------
    def ids_of_kind(self, kind: str) -> set[str]:
        """Ids of the items of one kind (cached until the entries change)."""
        if self._by_kind is None:
            by_kind: dict[str, set[str]] = {}
            for item_id, entry in self.entries.items():
                by_kind.setdefault(entry.kind, set()).add(item_id)
            self._by_kind = by_kind
        return self._by_kind.get(kind, set())

    def __len__(self) -> int:
        return len(self.by_id)

    def _exact_matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self.store.get([self.entries[i].hash for i in self.labels])  # type: ignore[index]
        return self._matrix

    def vectors(self, item_ids: Sequence[str]) -> np.ndarray:
        """Stored vectors of items the index holds (KeyError for others)."""
        labels = [self.by_id[i] for i in item_ids]
        if not labels:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.mode == "hnsw":
            out = np.empty((len(labels), self.dim), dtype=np.float32)
            in_graph = [pos for pos, lab in enumerate(labels) if lab < self._graph_count]
            if in_graph:
                wanted = [labels[pos] for pos in in_graph]
                view = self._current_view()
                out[in_graph] = (view.vectors(wanted) if view is not None
                                 else np.asarray(self._graph_index().get_items(wanted), dtype=np.float32))
            waiting = [pos for pos, lab in enumerate(labels) if lab >= self._graph_count]
            if waiting:
                out[waiting] = self.store.get([self._hash_of(item_ids[pos]) for pos in waiting])
            return out
        return self._exact_matrix()[labels]

    def query(
        self, vectors: np.ndarray, k: int, *, allowed: set[str] | None = None,
        exclude: Sequence[str | None] = (),
    ) -> list[list[tuple[str, float]]]:
        """The k nearest items (id, cosine) of each query row; `exclude[i]` is left out of row i."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if not len(self.by_id) or k <= 0:
            return [[] for _ in range(len(vectors))]
        exclude = list(exclude) + [None] * (len(vectors) - len(exclude))
        want = k + 1  # room for the excluded item itself
        if allowed is not None and (self.mode == "exact" or len(allowed) <= max(self.exact_below, 1)):
            labels = [self.by_id[i] for i in allowed if i in self.by_id]
            return self._query_subset(vectors, labels, k, exclude)
        if self.mode == "exact":
            matrix = self._exact_matrix()
            scores = vectors @ matrix.T
            picks = top_k(scores, want)
            rows = [[(self.labels[j], float(scores[r, j])) for j in picks[r]] for r in range(len(vectors))]
        elif (view := self._flat_view(len(vectors))) is not None:
            rows = self._query_flat(view, vectors, want, allowed)
        else:
            # A filter is applied by over-fetching (hnswlib's per-candidate Python callback costs
            # ~40 ms at 100k), widening the search for rows that come up short.
            count = min(self._fetch_depth(want, allowed), len(self.by_id))
            rows = [[] for _ in range(len(vectors))]
            todo = list(range(len(vectors)))
            while todo:
                graph = self._graph_index()
                graph.set_ef(max(self.ef, count))
                try:
                    found, dists = graph.knn_query(
                        vectors[todo], k=count, num_threads=1 if len(todo) == 1 else -1
                    )
                except RuntimeError:
                    # hnswlib raises when it cannot find `count` live matches: answer exactly instead.
                    pool = [self.by_id[i] for i in (allowed if allowed is not None else self.by_id) if i in self.by_id]
                    exact = self._query_subset(vectors[todo], pool, k, [exclude[r] for r in todo])
                    for r, row in zip(todo, exact, strict=True):
                        rows[r] = row
                    break
                short = []
                for pos, r in enumerate(todo):
                    pairs = zip(found[pos], dists[pos], strict=True)
                    hits = [(self.labels[int(lab)], float(1.0 - d)) for lab, d in pairs]
                    row = [(i, s) for i, s in hits
                           if i is not None and i != exclude[r] and (allowed is None or i in allowed)]
                    rows[r] = row
                    if len(row) < k and count < len(self.by_id):
                        short.append(r)
                todo, count = short, min(count * 4, len(self.by_id))
        if self.mode == "hnsw" and self.pending:
            waiting = [i for i in self.pending if allowed is None or i in allowed]
            if waiting:
                extra = self._query_subset(vectors, sorted(self.by_id[i] for i in waiting), k, exclude)
                rows = [sorted(dict([*row, *more]).items(), key=lambda p: -p[1])
                        for row, more in zip(rows, extra, strict=True)]
        return [[(i, s) for i, s in row if i is not None and i != exclude[r]][:k] for r, row in enumerate(rows)]

    def _fetch_depth(self, want: int, allowed: set[str] | None) -> int:
        """How many neighbours to fetch so that `want` of them are likely in `allowed` (a first try)."""
        if allowed is None:
            return want
        fraction = max(min(len(allowed) / max(len(self.by_id), 1), 1.0), 1e-9)
        return int(want / fraction * 1.5) + 8

    def _query_flat(
        self, view: GraphFile, vectors: np.ndarray, want: int, allowed: set[str] | None,
    ) -> list[list[tuple[str | None, float]]]:
        """Exact top `want` of each row over the graph's live (and allowed) labels, by a scan of the file.

        An allowed set (here always thousands of ids: smaller ones are answered by `_query_subset`)
        is applied by taking the exact best few hundred and filtering, deeper when that falls short:
        still exact, and cheaper than a mask of every allowed label on each of `draft`'s queries.
        """
        self._scanned += len(vectors) * view.count
        scores = view.scores(vectors)
        in_graph = self.labels[:view.count]
        if None in in_graph:
            dead = np.fromiter((i is None for i in in_graph), dtype=bool, count=view.count)
            scores[:, dead] = -np.inf
        first_depth = min(self._fetch_depth(want, allowed), view.count)
        rows: list[list[tuple[str | None, float]]] = []
        for r in range(len(vectors)):
            depth = first_depth
            while True:
                picks = top_k(scores[r:r + 1], depth)[0]
                row = [(self.labels[j], float(scores[r, j])) for j in picks if scores[r, j] > -np.inf]
                if allowed is not None:
                    row = [(i, sc) for i, sc in row if i in allowed]
                if len(row) >= want or depth >= view.count:
                    break
                depth = min(depth * 4, view.count)
            rows.append(row[:want])
        return rows

    def _query_subset(
        self, vectors: np.ndarray, labels: list[int], k: int, exclude: list[str | None]
    ) -> list[list[tuple[str, float]]]:
        labels = sorted(labels)
        if not labels:
            return [[] for _ in range(len(vectors))]
        ids = [self.labels[lab] for lab in labels]
        matrix = self.vectors(ids)  # type: ignore[arg-type]
        scores = vectors @ matrix.T
        picks = top_k(scores, k + 1)
        return [[(ids[j], float(scores[r, j])) for j in picks[r] if ids[j] != exclude[r]][:k]
                for r in range(len(vectors))]
