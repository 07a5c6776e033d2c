"""OpenVINO batch embedding: the bar against fp32, one stored version with the small-batch path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import evaluate as ev
from newsletter.semantic import numpybert
from newsletter.semantic.embedders import SentenceTransformerEmbedder, onnx_path, resolve_backend
from newsletter.semantic.ovembedder import OpenVinoEmbedder, make_embedder
from newsletter.semantic.text import embedding_text
from tests.test_semantic_model import DEVSET, neighbour_overlap


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [embedding_text(it) for it in ev.load_devset(DEVSET).items]


@pytest.fixture(scope="module")
def openvino_vectors(texts: list[str], tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return OpenVinoEmbedder("default", derived_dir=tmp_path_factory.mktemp("ov")).encode(texts)


def test_openvino_meets_the_batch_bar_against_fp32(texts: list[str], openvino_vectors: np.ndarray) -> None:
    """Issue 11's bar for batch embedding: mean cosine ≥ 0.999, top-10 neighbour overlap ≥ 0.97."""
    fp32 = SentenceTransformerEmbedder("default", "fp32").encode(texts)
    assert openvino_vectors.shape == fp32.shape and openvino_vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(openvino_vectors, axis=1), 1.0, atol=1e-5)
    assert float(np.mean(np.sum(fp32 * openvino_vectors, axis=1))) >= 0.999
    assert neighbour_overlap(fp32, openvino_vectors) >= 0.97


def test_openvino_and_the_small_batch_path_are_one_stored_version(
    texts: list[str], openvino_vectors: np.ndarray,
) -> None:
    """An `add` stores numpy's fp32 vector beside OpenVINO's: the bar for one version (0.9999, 0.99)."""
    small = numpybert.NumpyEmbedder("default").encode(texts)
    assert float(np.mean(np.sum(small * openvino_vectors, axis=1))) >= 0.9999
    assert neighbour_overlap(small, openvino_vectors) >= 0.99


def test_order_of_texts_does_not_change_their_vectors(tmp_path: Path, texts: list[str]) -> None:
    embedder = OpenVinoEmbedder("default", derived_dir=tmp_path)
    forward = embedder.encode(texts[:40])
    backward = embedder.encode(texts[:40][::-1])[::-1]
    assert np.allclose(forward, backward, atol=1e-6)
    assert embedder.encode([]).shape == (0, embedder.dim)


def test_backend_settings_name_the_precision_of_the_cpu() -> None:
    assert resolve_backend("auto", {"avx512_bf16"}) == "ov-bf16"
    assert resolve_backend("auto", {"avx2"}) == "ov-fp32"
    assert resolve_backend("openvino", {"avx2"}) == "ov-fp32"
    assert resolve_backend("bf16", {"amx_bf16"}) == "st-bf16"
    embedder = OpenVinoEmbedder("default", derived_dir=Path("/nonexistent"), flags={"avx2"})
    assert embedder.model_id.endswith("@ov-fp32")


def test_a_damaged_export_is_replaced_not_a_traceback(tmp_path: Path) -> None:
    derived = tmp_path / "derived"
    first = make_embedder("default", "openvino", derived_dir=derived)
    expected = first.encode(["vector search at scale"])
    path = onnx_path(derived, first.name)
    path.write_bytes(b"\x08\x01garbage, not a protobuf")
    again = make_embedder("default", "openvino", derived_dir=derived)
    assert np.allclose(again.encode(["vector search at scale"]), expected, atol=1e-6)
