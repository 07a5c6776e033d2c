"""A versioned, content-addressed embedding store: (model id, text hash) → vector.

Layout under the derived folder (``<root>/vectors/``)::

    vectors/<model slug>/seg-<ns>-<pid>.vec   one or more segments, each self-contained

A segment holds a JSON header (model id, dim, count, CRC-32), then the keys (16 raw bytes each),
then the float32 vectors — keys and vectors live in ONE file, written to a temp file, fsynced and
renamed, so they can never disagree. A segment that fails its checks (truncated, garbage, other
model, other dim) is ignored and deleted: its vectors are simply recomputed, never misread.

Adding vectors writes a new small segment (cheap for a daily handful); past `MAX_SEGMENTS` they
are compacted into one. A crash mid-compaction leaves duplicates across segments, which are
harmless (same key → same vector). A new model is a new folder beside the old one, so switching
back costs nothing. Loading 100k vectors is one read + CRC per segment (~0.1 s, see bench).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"NLVEC01\n"
KEY_BYTES = 16  # a text hash is 32 hex digits = 16 bytes
MAX_SEGMENTS = 8
_STALE_TMP_SECONDS = 3600


def atomic_write(path: Path, write: Callable[[object], None]) -> None:
    """Write a file atomically: `write(handle)` into a temp file beside it, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to `path` atomically (see `atomic_write`)."""
    atomic_write(path, lambda handle: handle.write(data))  # type: ignore[attr-defined]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def model_slug(model_id: str) -> str:
    """A file-name-safe, collision-free folder name for a model id ("all-MiniLM-L6-v2@st-bf16-1a2b3c4d")."""
    safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", model_id)[:80]
    return f"{safe}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"


def encode_segment(model_id: str, keys: Sequence[str], vectors: np.ndarray) -> bytes:
    """The bytes of one segment file holding `keys` (hex text hashes) and their vectors."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    if vectors.ndim != 2 or vectors.shape[0] != len(keys):
        raise ValueError("one vector per key expected")
    key_blob = b"".join(bytes.fromhex(k) for k in keys)
    payload = key_blob + vectors.tobytes()
    header = json.dumps({
        "model_id": model_id, "dim": int(vectors.shape[1]), "count": len(keys),
        "crc32": zlib.crc32(payload),
    }).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + payload


def decode_segment(data: bytes, model_id: str, dim: int) -> tuple[list[str], np.ndarray]:
    """Parse and verify a segment; ValueError when anything is off (never a partial result)."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ValueError("not a vector segment")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4 + hlen
    try:
        header = json.loads(data[len(MAGIC) + 4:start])
        count, seg_dim = int(header["count"]), int(header["dim"])
        crc = int(header["crc32"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("bad segment header") from None
    if header.get("model_id") != model_id or seg_dim != dim:
        raise ValueError("segment of another model")
    if len(data) - start != count * (KEY_BYTES + 4 * dim):
        raise ValueError("segment truncated")
    payload = memoryview(data)[start:]
    if zlib.crc32(payload) != crc:
        raise ValueError("segment checksum mismatch")
    key_end = count * KEY_BYTES
    keys = [bytes(payload[i:i + KEY_BYTES]).hex() for i in range(0, key_end, KEY_BYTES)]
    vectors = np.frombuffer(payload[key_end:], dtype="<f4").reshape(count, dim)
    return keys, vectors


@dataclass
class _Segment:
    """One segment opened lazily: its sorted keys for lookups, its vectors memory-mapped."""

    path: Path
    keys: np.ndarray  # (count,) S16, in file order
    order: np.ndarray  # argsort of keys
    offset: int  # where the vectors start
    count: int
    _vectors: np.ndarray | None = None

    def vectors(self, dim: int) -> np.ndarray:
        if self._vectors is None:
            self._vectors = np.memmap(self.path, dtype="<f4", mode="r", offset=self.offset, shape=(self.count, dim))
        return self._vectors

    def rows(self, wanted: np.ndarray) -> np.ndarray:
        """Row of each wanted key in this segment, -1 where absent."""
        if not self.count:
            return np.full(len(wanted), -1)
        pos = np.searchsorted(self.keys, wanted, sorter=self.order)
        pos = np.minimum(pos, self.count - 1)
        rows = self.order[pos]
        return np.where(self.keys[rows] == wanted, rows, -1)


def open_segment(path: Path, model_id: str, dim: int) -> _Segment:
    """Read a segment's header and keys only (O(keys), not O(vectors)); ValueError when it is off.

    Checks what can be checked without reading the vectors: magic, model, dim and the exact file
    size the header implies (a truncated file fails here). The CRC over the payload is verified
    by full loads (`load`, compaction, `newsletter index`).
    """
    with open(path, "rb") as handle:
        head = handle.read(len(MAGIC) + 4)
        if not head.startswith(MAGIC) or len(head) < len(MAGIC) + 4:
            raise ValueError("not a vector segment")
        (hlen,) = struct.unpack_from("<I", head, len(MAGIC))
        try:
            header = json.loads(handle.read(hlen))
            count, seg_dim = int(header["count"]), int(header["dim"])
        except (ValueError, KeyError, TypeError):
            raise ValueError("bad segment header") from None
        if header.get("model_id") != model_id or seg_dim != dim:
            raise ValueError("segment of another model")
        start = len(MAGIC) + 4 + hlen
        if os.fstat(handle.fileno()).st_size - start != count * (KEY_BYTES + 4 * dim):
            raise ValueError("segment truncated")
        keys = np.frombuffer(handle.read(count * KEY_BYTES), dtype="S16")
    return _Segment(path, keys, np.argsort(keys, kind="stable"), start + count * KEY_BYTES, count)


def _key_array(keys: Sequence[str]) -> np.ndarray:
    return np.array([bytes.fromhex(k) for k in keys], dtype="S16")


class EmbeddingStore:
    """The vectors of one model version. `add` persists immediately.

    Reads are lazy: lookups open each segment's keys only and read the vectors asked for through a
    memory map, so a command that needs a handful of vectors does not read the whole store. `load`
    reads (and CRC-checks) everything, for compaction and full rebuilds.
    """

    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.root = Path(root)
        self.model_id = model_id
        self.dim = dim
        self.dir = self.root / "vectors" / model_slug(model_id)
        self._index: dict[str, int] | None = None
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._lazy: list[_Segment] | None = None
        self.dropped_segments = 0  # segments found corrupt and deleted (for tests and stats)

    # -- reading -------------------------------------------------------------------------------
    def _segments(self) -> list[Path]:
        return sorted(self.dir.glob("seg-*.vec")) if self.dir.is_dir() else []

    def _drop(self, seg: Path) -> None:
        self.dropped_segments += 1
        seg.unlink(missing_ok=True)

    def _open_lazy(self) -> list[_Segment]:
        if self._lazy is None:
            opened = []
            for seg in self._segments():
                try:
                    opened.append(open_segment(seg, self.model_id, self.dim))
                except (OSError, ValueError):
                    self._drop(seg)
            self._lazy = opened
        return self._lazy

    def open(self) -> None:
        """Open the segments' keys (dropping damaged ones) without reading vectors."""
        if self._index is None:
            self._open_lazy()

    def load(self) -> None:
        """Read every valid segment of this version (once), checksums verified; corrupt ones are deleted."""
        if self._index is not None:
            return
        index: dict[str, int] = {}
        blocks: list[np.ndarray] = []
        total = 0
        for seg in self._segments():
            try:
                keys, vectors = decode_segment(seg.read_bytes(), self.model_id, self.dim)
            except (OSError, ValueError):
                self._drop(seg)
                continue
            for row, key in enumerate(keys):
                index[key] = total + row  # a later duplicate wins; duplicates are identical
            blocks.append(vectors)
            total += len(keys)
        self._vectors = np.concatenate(blocks) if blocks else np.zeros((0, self.dim), dtype=np.float32)
        self._index = index
        self._lazy = None

    def _locate(self, keys: Sequence[str]) -> list[tuple[int, int]]:
        """(segment number, row) per key from the lazy segments; (-1, -1) where absent."""
        segments = self._open_lazy()
        found = [(-1, -1)] * len(keys)
        if not keys:
            return found
        wanted = _key_array(keys)
        todo = np.arange(len(keys))
        for number in range(len(segments) - 1, -1, -1):  # newest first; duplicates are identical
            if not len(todo):
                break
            rows = segments[number].rows(wanted[todo])
            hit = rows >= 0
            for pos, row in zip(todo[hit], rows[hit], strict=True):
                found[int(pos)] = (number, int(row))
            todo = todo[~hit]
        return found

    def __len__(self) -> int:
        if self._index is not None:
            return len(self._index)
        return len({k for seg in self._open_lazy() for k in seg.keys.tolist()})

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if self._index is not None:
            return key in self._index
        return self._locate([key])[0][0] >= 0

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys (deduplicated, in first-seen order) that have no vector yet."""
        unique = list(dict.fromkeys(keys))
        if self._index is not None:
            return [k for k in unique if k not in self._index]
        return [k for k, (seg, _) in zip(unique, self._locate(unique), strict=True) if seg < 0]

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """The vectors of `keys` as a (len(keys), dim) float32 array; KeyError if one is missing."""
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._index is not None:
            return self._vectors[[self._index[k] for k in keys]]
        places = self._locate(list(keys))
        segments = self._lazy or []
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        for pos, (seg, row) in enumerate(places):
            if seg < 0:
                raise KeyError(keys[pos])
            out[pos] = segments[seg].vectors(self.dim)[row]
        return out

    # -- writing -------------------------------------------------------------------------------
    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Persist new vectors as one segment (atomic), then compact the small ones when segments pile up."""
        if not len(keys):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        name = f"seg-{time.time_ns():020d}-{os.getpid()}.vec"
        atomic_write_bytes(self.dir / name, encode_segment(self.model_id, keys, vectors))
        if self._index is not None:
            base = len(self._vectors)
            self._vectors = np.concatenate([self._vectors, vectors])
            for row, key in enumerate(keys):
                self._index[key] = base + row
        self._lazy = None
        if len(self._segments()) > MAX_SEGMENTS:
            self.compact(small_only=True)

    def compact(self, *, small_only: bool = False) -> None:
        """Rewrite segments as one (atomic), then delete the old ones and stale temp files.

        ``small_only`` leaves the largest segment alone and merges the rest (tiered compaction): a
        daily add at 100k items rewrites a few small files, not the whole store.
        """
        old = self._segments()
        if small_only and len(old) > 1:
            largest = max(old, key=lambda p: p.stat().st_size)
            merge = [p for p in old if p != largest]
            keys_out: dict[str, np.ndarray] = {}
            for seg in merge:
                try:
                    keys, vectors = decode_segment(seg.read_bytes(), self.model_id, self.dim)
                except (OSError, ValueError):
                    self._drop(seg)
                    continue
                for row, key in enumerate(keys):
                    keys_out[key] = vectors[row]
            if keys_out:
                name = f"seg-{time.time_ns():020d}-{os.getpid()}.vec"
                atomic_write_bytes(self.dir / name, encode_segment(
                    self.model_id, list(keys_out), np.stack(list(keys_out.values()))))
            for seg in merge:
                seg.unlink(missing_ok=True)
            self._lazy = None
        else:
            self.load()
            assert self._index is not None
            keys = list(self._index)
            vectors = self._vectors[[self._index[k] for k in keys]] if keys else self._vectors
            name = f"seg-{time.time_ns():020d}-{os.getpid()}.vec"
            atomic_write_bytes(self.dir / name, encode_segment(self.model_id, keys, vectors))
            for seg in old:
                seg.unlink(missing_ok=True)
            self._vectors = np.ascontiguousarray(vectors)
            self._index = {k: i for i, k in enumerate(keys)}
        now = time.time()
        for tmp in self.dir.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                    tmp.unlink()
            except OSError:
                pass

    def verify(self) -> int:
        """Read every segment and check its checksum (dropping damaged ones); returns how many were dropped."""
        before = self.dropped_segments
        self._index, self._lazy = None, None
        self.load()
        return self.dropped_segments - before

    @staticmethod
    def versions(root: Path) -> list[str]:
        """Folder names of the model versions kept under `root` (for status output)."""
        base = Path(root) / "vectors"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
