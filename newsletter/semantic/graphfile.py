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


class GraphFile:
    """Vectors of one saved graph by label; the labels must be 0..count-1 (as the index adds them)."""

    def __init__(self, path: Path, dim: int, count: int) -> None:
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
            self._map = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) if count else None
        except BaseException:
            handle.close()
            raise
        self.dim, self.count = dim, count
        if self._map is None:
            self.matrix = np.zeros((0, dim), dtype=np.float32)
            self._row_of = np.zeros(0, dtype=np.int64)
            return
        rows = np.ndarray((count, dim), dtype=np.float32, buffer=self._map,
                          offset=HEADER_BYTES + data_offset, strides=(per_element, 4))
        labels = np.ndarray((count,), dtype=np.uint64, buffer=self._map,
                            offset=HEADER_BYTES + label_offset, strides=(per_element,))
        # Rows are in insertion order, which threads interleave: map each label to its row.
        row_of = np.full(count, -1, dtype=np.int64)
        if count and int(labels.max()) >= count:
            raise GraphFileError("graph labels out of range")
        row_of[labels.astype(np.int64)] = np.arange(count)
        if (row_of < 0).any():
            raise GraphFileError("graph labels repeat")
        self.matrix = rows  # BLAS reads the strided rows directly (lda = the record size)
        self._row_of = row_of

    def path_for_loading(self) -> str:
        """A path that opens the mapped file itself (Linux: through the open descriptor)."""
        through_fd = f"/proc/self/fd/{self._handle.fileno()}"
        return through_fd if os.path.exists(through_fd) else str(self.path)

    def vectors(self, labels: list[int]) -> np.ndarray:
        """Copies of the vectors of some labels (all < count)."""
        return np.array(self.matrix[self._row_of[labels]], dtype=np.float32)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Inner products of each query row with every stored vector, by label: shape (queries, count)."""
        by_row = np.asarray(queries, dtype=np.float32) @ self.matrix.T
        return by_row[:, self._row_of]
