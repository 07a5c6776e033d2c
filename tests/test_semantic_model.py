"""Behaviour that depends on the real model (all-MiniLM-L6-v2, loaded once per session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsletter.semantic import SemanticEngine, dupes
from newsletter.semantic import evaluate as ev
from newsletter.semantic.embedders import OnnxEmbedder, SentenceTransformerEmbedder, onnxruntime_available
from newsletter.semantic.fusion import keyword_ranking
from newsletter.semantic.text import embedding_text

pytestmark = pytest.mark.model
DEVSET = Path(__file__).parent / "data" / "dupes" / "devset.yaml"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dev() -> ev.DevSet:
    return ev.load_devset(DEVSET)


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory, dev: ev.DevSet) -> SemanticEngine:
    """The production configuration (default model, backend auto) synced on the dev set items."""
    engine = SemanticEngine(tmp_path_factory.mktemp("semantic"), model="default", backend="auto", query_backend="same")
    engine.sync(dev.items)
    return engine


@pytest.fixture(scope="session")
def dev_vectors(synced: SemanticEngine, dev: ev.DevSet) -> np.ndarray:
    return synced.index.vectors([it.id for it in dev.items])


def by_id(dev: ev.DevSet) -> dict:
    return {it.id: it for it in dev.items}


def test_devset_is_big_enough(dev: ev.DevSet) -> None:
    labels = [s for _, _, s in dev.pairs]
    assert labels.count(1) >= 60 and labels.count(0) >= 60
    assert len({it.kind for it in dev.items}) >= 5


def test_combined_score_beats_tfidf_and_cosine_on_held_out_categories(dev: ev.DevSet, dev_vectors: np.ndarray) -> None:
    results = ev.evaluate_methods(dev, dev_vectors)
    cv = results["cv"]
    assert cv["combined"].f1 > cv["tfidf"].f1 and cv["combined"].f1 > cv["cosine"].f1
    assert cv["combined"].f1 >= 0.75
    shipped = results["shipped"]["combined"]
    assert shipped.precision >= 0.8 and shipped.recall >= 0.8


def test_similar_finds_the_same_work_across_kinds(synced: SemanticEngine, dev: ev.DevSet) -> None:
    items = by_id(dev)
    tweet = items["qlora-2"]  # the author's tweet
    got = {i for i, _ in synced.similar(tweet, items, k=5)}
    assert {"qlora-0", "qlora-1"} <= got  # the paper and the Hugging Face blog post
    assert not got & {"lora-0", "lora-1", "lora-2", "dora-0", "dora-1", "dora-2"}
    blog = items["vllm-1"]
    got = {i for i, _ in synced.similar(blog, items, k=5)}
    assert "vllm-0" in got and "vllm-2" in got
    assert not got & {"tgi-0", "tgi-1", "tgi-2"}


def test_different_tools_of_one_category_are_not_duplicates(synced: SemanticEngine, dev: ev.DevSet) -> None:
    items = by_id(dev)
    got = {i for i, _ in synced.similar(items["faiss-1"], items, k=10)}
    assert not got & {"qdrant-0", "qdrant-1", "qdrant-2", "hnswlib-0", "hnswlib-1", "hnswlib-2"}


def test_duplicate_groups_collect_each_work_and_keep_tools_apart(synced: SemanticEngine, dev: ev.DevSet) -> None:
    groups = synced.duplicate_groups(dev.items)
    group_of = dict(zip((it.id for it in dev.items), dev.groups, strict=True))
    pure = [g for g in groups if len({group_of[i] for i in g.ids}) == 1]
    # Single-linkage chains some same-topic works (the Llama family); most works stay whole and pure.
    assert len(pure) >= 8
    assert any(set(g.ids) == {"flashattention-0", "flashattention-1", "flashattention-2"} for g in pure)
    for g in groups:
        assert len({group_of[i] for i in g.ids} & {"faiss", "qdrant", "hnswlib"}) <= 1
        assert len({group_of[i] for i in g.ids} & {"vllm", "tgi"}) <= 1


def test_search_finds_exact_names_and_paraphrases(synced: SemanticEngine, dev: ev.DevSet) -> None:
    docs = {it.id: f"{it.title} {it.summary}" for it in dev.items}
    hits = synced.search("hnswlib", k=5, keyword_ids=keyword_ranking("hnswlib", docs))
    assert hits[0][0].startswith("hnswlib-")
    query = "serving language models faster by paging the key value cache like an operating system"
    hits = synced.search(query, k=3)  # no keyword help: the embedding alone finds the paraphrase
    assert any(i.startswith("vllm-") for i, _ in hits)
    papers = synced.search(query, k=3, kind="paper")
    assert papers and all(i.endswith("-0") or by_id(dev)[i].kind == "paper" for i, _ in papers)


def test_related_runs_without_importing_torch(synced: SemanticEngine) -> None:
    code = (
        "import sys; from pathlib import Path; from newsletter.semantic import SemanticEngine\n"
        f"e = SemanticEngine(Path({str(synced.root)!r}), model='default', backend='auto')\n"
        "r = e.related('faiss-1', k=3); assert r, r\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('torch', 'sentence_transformers', 'transformers'))\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_bf16_vectors_match_fp32(dev: ev.DevSet) -> None:
    texts = [embedding_text(it) for it in dev.items]
    fp32 = SentenceTransformerEmbedder("default", "fp32").encode(texts)
    bf16 = SentenceTransformerEmbedder("default", "bf16").encode(texts)
    assert fp32.dtype == np.float32 and np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert float(np.mean(np.sum(fp32 * bf16, axis=1))) >= 0.999


@pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime is optional")
def test_onnx_query_embedder_matches_torch_fp32(tmp_path: Path, dev: ev.DevSet) -> None:
    texts = [embedding_text(it) for it in dev.items[:24]]
    fp32 = SentenceTransformerEmbedder("default", "fp32").encode(texts)
    onnx = OnnxEmbedder("default", derived_dir=tmp_path).encode(texts)  # exports once
    assert float(np.min(np.sum(fp32 * onnx, axis=1))) >= 0.9999


def test_shipped_weights_are_the_fitted_ones(dev: ev.DevSet, dev_vectors: np.ndarray) -> None:
    """dupes.WEIGHTS come from evaluate.fit_weights on this set (guards against silent drift)."""
    weights, bias, _ = ev.fit_weights(dev, dev_vectors)
    assert np.allclose(weights, dupes.WEIGHTS, atol=0.5) and abs(bias - dupes.BIAS) < 0.5
