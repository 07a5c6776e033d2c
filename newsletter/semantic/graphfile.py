"""A read-only, memory-mapped view of a saved hnswlib graph: its vectors, without loading the graph.

Why: `hnswlib.Index.load_index` copies the whole file into memory and allocates every element's
link lists — 0.13 s at 100k items, most of a `related` command. A single query does not need the
graph at all: an exact scan of the stored vectors straight from the page cache costs ~5 ms at 100k
(measured, this machine) and is exact where the graph is approximate. The graph is still loaded for
what needs it (adding items, thousands of queries at once).

The file layout read here is hnswlib's `saveIndex` format: a 96-byte header (six size_t fields —
level-0 offset, capacity, element count, bytes per element, label offset, data offset — then
`maxlevel`, the entry point, `maxM`, `maxM0`, `M`, `mult` and `ef_construction`), then the level-0
block: one fixed-size record per element holding its links, its vector (dim float32) and its label
(uint64). Strided views over that block give the vectors and labels without a copy.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import numpy as np

HEADER_BYTES = 96


class GraphFileError(ValueError):
    """The file is not a graph of this dim and size (the caller rebuilds it)."""


SCAN_ROWS = 8192  # records per scan step (~14 MB at 384 dims): the pages a scan holds at once


def label_rows(path: Path, dim: int, count: int) -> np.ndarray:
    """Row of each label in a saved graph (labels 0..count-1), read in steps; GraphFileError if not."""
    view = GraphFile(path, dim, count, rows=np.arange(count, dtype=np.int32))  # rows unknown yet
    row_of = np.full(count, -1, dtype=np.int64)
    for start in range(0, count, SCAN_ROWS):
        labels = view.labels[start:start + SCAN_ROWS].astype(np.int64)
        if len(labels) and (int(labels.max()) >= count or int(labels.min()) < 0):
            raise GraphFileError("graph labels out of range")
        row_of[labels] = np.arange(start, start + len(labels))
        view.release(start, start + len(labels))
    if (row_of < 0).any():
        raise GraphFileError("graph labels repeat")
    return row_of.astype(np.int32)


class GraphFile:
    """Vectors of one saved graph by label; `rows[label]` is the label's record (see `label_rows`).

    Rows are in insertion order, which hnswlib's threads interleave, so the index stores the map
    with its labels (computed once per saved graph) instead of reading every record's label here:
    that read alone would bring the whole file into this process's memory.
    """

    def __init__(self, path: Path, dim: int, count: int, *, rows: np.ndarray) -> None:
        self.path = Path(path)
        # Kept open: the graph is loaded later from this very file even if a writer renames a new
        # one over it meanwhile (see `path_for_loading`).
        self._handle = handle = open(path, "rb")  # noqa: SIM115 (lives as long as the view)
        try:
            head = handle.read(48)
            if len(head) < 48:
                raise GraphFileError("graph file shorter than its header")
            _, _, stored_count, per_element, label_offset, data_offset = struct.unpack("<6Q", head)
            if label_offset - data_offset != 4 * dim or stored_count != count:
                raise GraphFileError("graph of another dim or size")
            end = HEADER_BYTES + count * per_element
            size = handle.seek(0, 2)
            if size < end or label_offset + 8 > per_element:
                raise GraphFileError("graph file truncated")
            if len(rows) != count:
                raise GraphFileError("row map of another size")
            self._map = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) if count else None
        except BaseException:
            handle.close()
            raise
        self.dim, self.count, self._record = dim, count, per_element
        self._row_of = np.asarray(rows, dtype=np.int64)
        if self._map is None:
            self.matrix = np.zeros((0, dim), dtype=np.float32)
            self.labels = np.zeros(0, dtype=np.uint64)
            return
        # Strided views, no copy; BLAS reads the rows directly (lda = the record size).
        self.matrix = np.ndarray((count, dim), dtype=np.float32, buffer=self._map,
                                 offset=HEADER_BYTES + data_offset, strides=(per_element, 4))
        self.labels = np.ndarray((count,), dtype=np.uint64, buffer=self._map,
                                 offset=HEADER_BYTES + label_offset, strides=(per_element,))

    def path_for_loading(self) -> str:
        """A path that opens the mapped file itself (Linux: through the open descriptor)."""
        through_fd = f"/proc/self/fd/{self._handle.fileno()}"
        return through_fd if os.path.exists(through_fd) else str(self.path)

    def release(self, first: int, stop: int) -> None:
        """Drop records [first, stop) from this process's memory (the page cache keeps them)."""
        if self._map is None:
            return
        page = mmap.PAGESIZE
        start = (HEADER_BYTES + first * self._record) // page * page
        end = min(HEADER_BYTES + stop * self._record, len(self._map))
        if end > start:
            self._map.madvise(mmap.MADV_DONTNEED, start, end - start)

    def vectors(self, labels: list[int]) -> np.ndarray:
        """Copies of the vectors of some labels (all < count)."""
        return np.array(self.matrix[self._row_of[labels]], dtype=np.float32)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Inner products of each query row with every stored vector, by label: shape (queries, count).

        In steps of `SCAN_ROWS` records, each released after use, so a scan of a 1.7 GB graph (1M
        items) holds ~14 MB of it at a time instead of all of it.
        """
        queries = np.asarray(queries, dtype=np.float32)
        by_row = np.empty((len(queries), self.count), dtype=np.float32)
        for start in range(0, self.count, SCAN_ROWS):
            stop = min(start + SCAN_ROWS, self.count)
            by_row[:, start:stop] = queries @ self.matrix[start:stop].T
            self.release(start, stop)
        return by_row[:, self._row_of]
