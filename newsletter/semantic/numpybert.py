"""The embedding model's forward pass in plain numpy, for a search query or one short text.

Why: embedding a query through onnxruntime means importing it and building a session from the
90 MB export (~0.15-0.3 s per command on this machine) before a ~5 ms run. The same BERT network
in numpy reads its weights straight from the model's `model.safetensors` by memory map (nothing
is copied or converted) and embeds a short query in ~25 ms, so `search` never pays a session
start. It is exact fp32 arithmetic like the ONNX export (cosine to it ≥ 0.9999999 per text,
measured on the sample; `make bench` prints it), but its plain matrix products are slower on long
inputs (one 256-token text: 180 vs 25 ms; twenty 107-token texts: 1.1 vs 0.15 s), so a batch of
more than `MAX_BATCH_TOKENS` goes to the fallback embedder, whose start then pays for itself.

Supported: sentence-transformers models of BERT architecture with absolute positions, GELU,
mean pooling and fp32 safetensors weights (all-MiniLM-L6-v2, the default). `supported` says so
from the config files alone; anything else uses the other embedders.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from newsletter.errors import ProjectError
from newsletter.models import Progress
from newsletter.semantic.embedders import Embedder, load_tokenizer, model_dim, normalize_rows, resolve_model

# Tokens in one batch: numpy costs ~0.7 ms a token here, onnxruntime ~0.2 s to start and ~0.1 ms a
# token, so numpy is quicker up to ~300 (measured). Any one text (at most 256 tokens) stays here.
MAX_BATCH_TOKENS = 256
_ERF = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def supported(model_dir: Path) -> bool:
    """True when the model in `model_dir` is a BERT this module can run (config files only)."""
    config = _read_json(model_dir / "config.json") or {}
    pooling = _read_json(model_dir / "1_Pooling" / "config.json") or {}
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_")}
    return (
        config.get("model_type") == "bert" and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and modes.get("pooling_mode_mean_tokens") is True and sum(bool(v) for v in modes.values()) == 1
        and (model_dir / "model.safetensors").is_file() and (model_dir / "tokenizer.json").is_file()
    )


def map_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The fp32 tensors of a safetensors file as read-only arrays over a memory map (no copy)."""
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta.get("dtype") != "F32":
            continue  # e.g. the int64 position_ids buffer some exports carry
        start, end = meta["data_offsets"]
        block = raw[8 + size + start:8 + size + end]
        tensors[name.removeprefix("bert.")] = block.view(np.float32).reshape(meta["shape"])
    return tensors


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26): numpy has none, and float32 holds ~1e-7 anyway."""
    a1, a2, a3, a4, a5, p = _ERF
    sign, x = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + p * x)
    return sign * (1.0 - ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t * np.exp(-x * x))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyEmbedder:
    """The default model's fp32 network in numpy; `encode` hands long inputs to `fallback`."""

    def __init__(self, model: str = "default", *, fallback: Embedder | None = None) -> None:
        self.name, self.model_dir = resolve_model(model)
        self.dim = model_dim(self.model_dir)
        self.base_model = self.name
        self.model_id = f"{self.name}@np-fp32"
        self.fallback = fallback
        config = _read_json(self.model_dir / "config.json") or {}
        self.heads = int(config.get("num_attention_heads", 12))
        self.layers = int(config.get("num_hidden_layers", 6))
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        st_config = _read_json(self.model_dir / "sentence_bert_config.json") or {}
        self.max_length = int(st_config.get("max_seq_length", 256))
        self._weights: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._weights is not None:
            return
        try:
            self._weights = map_safetensors(self.model_dir / "model.safetensors")
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            raise ProjectError(f"cannot read the model weights in {self.model_dir}: {exc}") from None
        self._tokenizer = load_tokenizer(self.model_dir, self.max_length)

    def encode(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Unit vectors of `texts`; a batch over `MAX_BATCH_TOKENS` is the fallback's to embed."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        encodings = self._tokenizer.encode_batch(list(texts))
        real_tokens = sum(sum(e.attention_mask) for e in encodings)
        if self.fallback is not None and len(texts) > 1 and real_tokens > MAX_BATCH_TOKENS:
            return self.fallback.encode(texts, progress=progress)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._forward(ids, mask, types)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        if progress:
            progress(len(texts), len(texts))
        return normalize_rows(pooled.astype(np.float32))

    def _forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """BERT's encoder: embeddings, then self-attention and GELU feed-forward blocks (post-norm)."""
        w = self._weights
        assert w is not None
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        heads = self.heads
        width = x.shape[-1] // heads
        # Padding keys get -inf-like scores: exp() makes their attention weight exactly 0.
        key_bias = ((1.0 - mask) * np.float32(-1e30))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(width))
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def split(v: np.ndarray) -> np.ndarray:
                return v.reshape(batch, length, heads, width).transpose(0, 2, 1, 3)

            q, k, v = (split(dense(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, heads * width)
            x = _layer_norm(dense(context, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            inner = dense(x, "intermediate.dense")
            inner = 0.5 * inner * (1.0 + _erf(inner * np.float32(0.7071067811865476)))
            x = _layer_norm(dense(inner, "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x
