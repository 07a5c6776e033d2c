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


class EmbeddingStore:
    """The vectors of one model version. Loads lazily; `add` persists immediately."""

    def __init__(self, root: Path, model_id: str, dim: int) -> None:
        self.root = Path(root)
        self.model_id = model_id
        self.dim = dim
        self.dir = self.root / "vectors" / model_slug(model_id)
        self._index: dict[str, int] | None = None
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self.dropped_segments = 0  # segments found corrupt and deleted (for tests and stats)

    # -- reading -------------------------------------------------------------------------------
    def _segments(self) -> list[Path]:
        return sorted(self.dir.glob("seg-*.vec")) if self.dir.is_dir() else []

    def load(self) -> None:
        """Read every valid segment of this version (once); corrupt ones are deleted."""
        if self._index is not None:
            return
        index: dict[str, int] = {}
        blocks: list[np.ndarray] = []
        total = 0
        for seg in self._segments():
            try:
                keys, vectors = decode_segment(seg.read_bytes(), self.model_id, self.dim)
            except (OSError, ValueError):
                self.dropped_segments += 1
                seg.unlink(missing_ok=True)
                continue
            for row, key in enumerate(keys):
                index[key] = total + row  # a later duplicate wins; duplicates are identical
            blocks.append(vectors)
            total += len(keys)
        self._vectors = np.concatenate(blocks) if blocks else np.zeros((0, self.dim), dtype=np.float32)
        self._index = index

    def __len__(self) -> int:
        self.load()
        assert self._index is not None
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        self.load()
        assert self._index is not None
        return key in self._index

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys (deduplicated, in first-seen order) that have no vector yet."""
        self.load()
        assert self._index is not None
        seen: set[str] = set()
        out = []
        for key in keys:
            if key not in self._index and key not in seen:
                seen.add(key)
                out.append(key)
        return out

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """The vectors of `keys` as a (len(keys), dim) float32 array; KeyError if one is missing."""
        self.load()
        assert self._index is not None
        rows = [self._index[k] for k in keys]
        return self._vectors[rows] if rows else np.zeros((0, self.dim), dtype=np.float32)

    # -- writing -------------------------------------------------------------------------------
    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Persist new vectors as one segment (atomic), then compact when segments pile up."""
        self.load()
        assert self._index is not None
        if not len(keys):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        name = f"seg-{time.time_ns():020d}-{os.getpid()}.vec"
        atomic_write_bytes(self.dir / name, encode_segment(self.model_id, keys, vectors))
        base = len(self._vectors)
        self._vectors = np.concatenate([self._vectors, vectors])
        for row, key in enumerate(keys):
            self._index[key] = base + row
        if len(self._segments()) > MAX_SEGMENTS:
            self.compact()

    def compact(self) -> None:
        """Rewrite all segments as one (atomic), then delete the old ones and stale temp files."""
        self.load()
        assert self._index is not None
        old = self._segments()
        keys = list(self._index)
        vectors = self._vectors[[self._index[k] for k in keys]] if keys else self._vectors
        name = f"seg-{time.time_ns():020d}-{os.getpid()}.vec"
        atomic_write_bytes(self.dir / name, encode_segment(self.model_id, keys, vectors))
        for seg in old:
            seg.unlink(missing_ok=True)
        now = time.time()
        for tmp in self.dir.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                    tmp.unlink()
            except OSError:
                pass
        self._vectors = np.ascontiguousarray(vectors)
        self._index = {k: i for i, k in enumerate(keys)}

    @staticmethod
    def versions(root: Path) -> list[str]:
        """Folder names of the model versions kept under `root` (for status output)."""
        base = Path(root) / "vectors"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
