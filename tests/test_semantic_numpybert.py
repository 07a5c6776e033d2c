"""The numpy forward pass: the same vectors as the torch model, and no heavy import on search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import evaluate as ev
from newsletter.errors import ProjectError
from newsletter.semantic import HashingEmbedder, SemanticEngine, numpybert
from newsletter.semantic.embedders import SentenceTransformerEmbedder, resolve_model
from newsletter.semantic.text import embedding_text
from tests.test_semantic_model import DEVSET, heavy_imports_after, neighbour_overlap

ODD_TEXTS = [
    "speculative decoding latency", "a", "Ünïcode façade — 日本語のテキスト 🤖 emoji and tabs\tand\nnewlines",
    "An open-source database for storing and searching embeddings; it uses RocksDB and HNSWLib. " * 20,
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return ODD_TEXTS + [embedding_text(it) for it in ev.load_devset(DEVSET).items]


def test_numpy_vectors_equal_the_torch_fp32_model(texts: list[str]) -> None:
    fp32 = SentenceTransformerEmbedder("default", "fp32").encode(texts)
    mine = numpybert.NumpyEmbedder("default").encode(texts)  # no fallback: numpy embeds all of them
    assert mine.dtype == np.float32 and mine.shape == fp32.shape
    assert float(np.min(np.sum(fp32 * mine, axis=1))) >= 0.99999
    single = np.vstack([numpybert.NumpyEmbedder("default").encode([t]) for t in ODD_TEXTS])  # no padding
    assert float(np.min(np.sum(fp32[:len(ODD_TEXTS)] * single, axis=1))) >= 0.99999


def test_numpy_vectors_are_one_version_with_the_bf16_store(texts: list[str]) -> None:
    """An `add` stores the numpy vector beside torch bf16 ones: the bar for one stored version."""
    bf16 = SentenceTransformerEmbedder("default", "bf16").encode(texts)
    mine = numpybert.NumpyEmbedder("default").encode(texts)
    assert float(np.mean(np.sum(bf16 * mine, axis=1))) >= 0.9999
    assert neighbour_overlap(bf16, mine) >= 0.99


def test_a_batch_too_big_for_numpy_goes_to_its_fallback() -> None:
    fallback = HashingEmbedder(384)
    embedder = numpybert.NumpyEmbedder("default", fallback=fallback)
    many = [f"text number {i} about vector search and serving models" for i in range(40)]
    assert np.array_equal(embedder.encode(many), fallback.encode(many))
    one = embedder.encode(["speculative decoding latency"])
    assert not np.array_equal(one, fallback.encode(["speculative decoding latency"]))


@pytest.mark.parametrize(("change", "expected"), [
    ({}, True), ({"model_type": "roberta"}, False), ({"hidden_act": "relu"}, False),
    ({"position_embedding_type": "relative_key"}, False), ({"pooling_mode_cls_token": True}, False),
])
def test_supported_reads_the_model_configuration(tmp_path: Path, change: dict[str, object], expected: bool) -> None:
    _, source = resolve_model("default")
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    config = {**json.loads((source / "config.json").read_text()), **change}
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    if "pooling_mode_cls_token" in change:
        pooling["pooling_mode_cls_token"] = True
        config.pop("pooling_mode_cls_token")
    (model / "config.json").write_text(json.dumps(config))
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    for name in ("model.safetensors", "tokenizer.json"):
        (model / name).write_bytes(b"")
    assert numpybert.supported(model) is expected
    assert numpybert.supported(source)


def test_search_on_a_synced_catalog_imports_neither_torch_nor_onnxruntime(tmp_path: Path) -> None:
    items = ev.load_devset(DEVSET).items[:40]
    root = tmp_path / "semantic"
    SemanticEngine(root, embedder=None, model="default", backend="auto").sync(items)
    code = (
        "from pathlib import Path; from newsletter.semantic import SemanticEngine\n"
        f"e = SemanticEngine(Path({str(root)!r}), model='default', backend='auto')\n"
        "hits = e.search('a vector database for embeddings', k=3); assert hits, hits\n"
        "print('EMBEDDER', type(e.query_embedder()).__name__)\n"
    )
    heavy, out = heavy_imports_after(code, ("torch", "onnxruntime", "transformers"))
    assert "EMBEDDER NumpyEmbedder" in out and heavy == []


def test_unreadable_weights_are_a_clear_error(tmp_path: Path) -> None:
    _, source = resolve_model("default")
    model = tmp_path / "model"
    shutil.copytree(source, model, ignore=shutil.ignore_patterns("model.safetensors"))
    (model / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ProjectError, match="cannot read the model weights"):
        numpybert.NumpyEmbedder(str(model)).encode(["x"])
