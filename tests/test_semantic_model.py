"""Behaviour that depends on the real model (all-MiniLM-L6-v2, loaded once per session)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import evaluate as ev
from newsletter.catalog import Catalog
from newsletter.semantic import SemanticEngine
from newsletter.semantic.embedders import OnnxEmbedder, SentenceTransformerEmbedder, onnxruntime_available
from newsletter.semantic.fusion import keyword_ranking
from newsletter.semantic.text import embedding_text

pytestmark = pytest.mark.model
DEVSET = Path(__file__).parent / "data" / "dupes" / "devset.yaml"
CATALOG_PAIRS = Path(__file__).parent / "data" / "dupes" / "catalog_pairs.yaml"
ROOT = Path(__file__).resolve().parent.parent

# The repository's sample catalog: works that show up in several forms (ids of catalog/ items).
MTEB = {"paper": "8c1064abf663", "repo": "abdb323cc773", "leaderboard": "0571ffd233ca"}
QLORA = {"paper": "acd08c2ed128", "repo": "cdbe6d1b8296", "tweet": "de89e0a770b5", "hf_post": "7bc797d3e83b"}
VLLM = {"paper": "6b334a0265af", "post": "137ccce67f32", "repo": "eb26d4b8ddcb"}
SAME_WORK_PAIRS = [
    (MTEB["paper"], MTEB["repo"]), (MTEB["paper"], MTEB["leaderboard"]), (MTEB["repo"], MTEB["leaderboard"]),
    (QLORA["paper"], QLORA["repo"]), (QLORA["paper"], QLORA["tweet"]), (QLORA["repo"], QLORA["tweet"]),
    (VLLM["paper"], VLLM["post"]), (VLLM["paper"], VLLM["repo"]), (VLLM["post"], VLLM["repo"]),
    ("269ec5492cde", "b4f238d6275c"),  # HNSW paper <> nmslib/hnswlib (its reference implementation)
    ("bca6cddacc68", "0574b4faad1f"),  # "Billion-scale similarity search with GPUs" <> faiss
    ("ac1bbfa63283", "1ea7dc08e079"),  # RAGAS paper <> explodinggradients/ragas
    ("8e4e36759566", "004bc0c0fc14"),  # FlashAttention-2 paper <> the episode with Tri Dao about it
    ("8e4e36759566", "ea1c002f6ee6"),  # FlashAttention-2 paper <> Dao-AILab/flash-attention
    ("5c28b9ec4e65", "ed1246f36a1a"),  # PEFT launch post <> huggingface/peft
    ("16912b7a1c32", "9291f6050f5f"),  # LoRA paper <> microsoft/LoRA
]
DIFFERENT_WORK_PAIRS = [
    ("65ebebbad933", "fc71bfce0379"),  # "Let's build GPT" <> "State of GPT" (two Karpathy talks)
    ("41c2a356b236", "d4d85641a917"),  # 3Blue1Brown chapter 5 <> chapter 6
    ("2181eeab8f52", "5829a3d69112"),  # Chip Huyen's RLHF post <> HF's "Illustrating RLHF"
    ("1a00ce02d36d", "c201ccf27acf"),  # "Building LLM applications for production" <> "... effective agents"
    ("5b4e3dc103c1", "bd0d0e2150d1"),  # The TWIML AI Podcast <> Practical AI (two shows)
    ("06e507b87194", "cc51a87fac59"),  # Continuous Delivery for ML <> Rules of ML
    ("16912b7a1c32", "4591cfcf62fe"),  # LoRA paper <> Raschka's LoRA explainer (by others)
    ("9476c1412513", "8e4e36759566"),  # FlashAttention <> FlashAttention-2 (a follow-up work)
    ("42f84fcfa87f", "8200829f1640"),  # two Karpathy posts on the "LLM OS" idea
    ("2b703e7c46e1", "747ca6dfd110"),  # OpenAI vs Anthropic prompt-engineering docs
    ("acd08c2ed128", "4591cfcf62fe"),  # QLoRA paper <> a LoRA explainer
]


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


@pytest.fixture(scope="session")
def catalog_pairs() -> ev.PairSet:
    return ev.load_catalog_pairs(CATALOG_PAIRS)


@pytest.fixture(scope="session")
def catalog_vectors(synced: SemanticEngine, catalog_pairs: ev.PairSet) -> np.ndarray:
    """Vectors of the labelled catalog items, from the production embedder."""
    return synced.embedder.encode([embedding_text(it) for it in catalog_pairs.items])


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A copy of the repository's sample newsletter project (settings, catalog, content), synced."""
    root = tmp_path_factory.mktemp("sample")
    # The torch bf16 version the labelled pairs were generated from (`auto` now picks OpenVINO, whose
    # vectors put a few other pairs at the candidate floor; the labels belong to one version).
    settings = (ROOT / "newsletter.toml").read_text()
    assert 'backend = "auto"' in settings
    (root / "newsletter.toml").write_text(settings.replace('backend = "auto"', 'backend = "bf16"'))
    for folder in ("catalog", "content"):
        shutil.copytree(ROOT / folder, root / folder)
    catalog = Catalog.open(root)
    # Embedded by the configured torch backend, as the labelled pairs were, whatever an earlier test
    # left in this session's machine cache: with the ONNX export there, the 123 texts (a small
    # batch) would take the ONNX path, whose vectors are interchangeable (cosine >= 0.9999) but not
    # identical, and a pair at the cosine floor of `duplicate_groups(threshold=0)` can cross it.
    saved = os.environ.get("NEWSLETTER_CACHE_DIR")
    os.environ["NEWSLETTER_CACHE_DIR"] = str(tmp_path_factory.mktemp("no-machine-cache"))
    try:
        catalog.sync_semantic()
    finally:
        if saved is None:
            os.environ.pop("NEWSLETTER_CACHE_DIR", None)
        else:
            os.environ["NEWSLETTER_CACHE_DIR"] = saved
    return catalog


@pytest.fixture(scope="session")
def sample_groups(sample: Catalog) -> list[dict]:
    return sample.duplicate_groups()


def grouped_pairs(groups: list[dict]) -> set[frozenset[str]]:
    """Every two items that share a group."""
    return {frozenset((a, b)) for g in groups for a in g["ids"] for b in g["ids"] if a != b}


def by_id(dev: ev.DevSet) -> dict:
    return {it.id: it for it in dev.items}


def test_labelled_sets_are_big_enough(dev: ev.DevSet, catalog_pairs: ev.PairSet) -> None:
    labels = [s for _, _, s in dev.pairs]
    assert labels.count(1) >= 60 and labels.count(0) >= 200
    assert len({it.kind for it in dev.items}) >= 5
    assert int(catalog_pairs.labels.sum()) >= 20 and len(catalog_pairs.pairs) >= 1500


def test_catalog_pairs_are_the_engines_candidates_on_the_sample(
    sample: Catalog, catalog_pairs: ev.PairSet,
) -> None:
    """The labelled set covers every pair the engine scores on the sample catalog (it is not stale)."""
    scored = {frozenset((p["a"], p["b"])) for g in sample.duplicate_groups(threshold=0.0) for p in g["pairs"]}
    ids = [it.id for it in catalog_pairs.items]
    labelled = {frozenset((ids[i], ids[j])) for i, j, _ in catalog_pairs.pairs}
    assert scored <= labelled


def test_combined_score_beats_tfidf_and_cosine_held_out_on_both_sets(
    dev: ev.DevSet, dev_vectors: np.ndarray, catalog_pairs: ev.PairSet, catalog_vectors: np.ndarray,
) -> None:
    results = ev.evaluate_methods([ev.devset_pairs(dev), catalog_pairs], [dev_vectors, catalog_vectors])
    cv = results["cv"]
    for k in (0, 1):  # devset (leave-one-category-out), catalog (5 folds)
        assert cv["combined"][k].f1 > cv["tfidf"][k].f1 and cv["combined"][k].f1 > cv["cosine"][k].f1
    dev_cv, cat_cv = cv["combined"]
    # The real catalog, held out by fold. The learned model (issue 14) trades a few false "looks like"
    # on the sample (precision 0.82 here, 0.9+ before) for generalizing to catalogs it was not tuned on:
    # bench/bench_dupes.py reports both.
    assert cat_cv.f1 >= 0.85 and cat_cv.precision >= 0.8 and cat_cv.recall >= 0.9
    assert dev_cv.precision >= 0.75
    shipped = results["shipped"]["combined"][1]
    assert shipped.precision >= 0.7 and shipped.recall >= 0.95


def test_sample_catalog_groups_are_small_and_find_each_known_work(sample_groups: list[dict]) -> None:
    together = grouped_pairs(sample_groups)
    for a, b in SAME_WORK_PAIRS:
        assert frozenset((a, b)) in together, (a, b)
    assert all(2 <= len(g["ids"]) <= 4 for g in sample_groups)
    assert any(set(g["ids"]) == {*QLORA.values()} for g in sample_groups)
    assert any(set(g["ids"]) == {*VLLM.values()} for g in sample_groups)


# Known misses of the learned model (issue 14; the old scorer kept all apart): the two RLHF explainers,
# the LoRA paper and Raschka's explainer, and the OpenAI and Anthropic prompt-engineering guides are
# close texts on one topic without a shared id; bench/bench_dupes.py reports the sample's precision.
KNOWN_MISSES = 3


def test_sample_catalog_keeps_different_works_apart(sample_groups: list[dict], sample: Catalog) -> None:
    together = grouped_pairs(sample_groups)
    grouped = [(a, b) for a, b in DIFFERENT_WORK_PAIRS if frozenset((a, b)) in together]
    assert len(grouped) <= KNOWN_MISSES, grouped
    items = sample.live_items()
    reported = [(a, b) for a, b in DIFFERENT_WORK_PAIRS if b in {s["id"] for s in sample.similar_to(items[a], k=10)}]
    assert len(reported) <= KNOWN_MISSES, reported


def test_similar_to_finds_every_form_of_a_work_on_the_sample(sample: Catalog) -> None:
    items = sample.live_items()
    got = {s["id"] for s in sample.similar_to(items[QLORA["tweet"]], k=10)}
    assert {QLORA["paper"], QLORA["repo"], QLORA["hf_post"]} <= got
    assert "4591cfcf62fe" not in got and "d374fe4e5951" not in got  # a LoRA explainer, another Dettmers tweet
    got = {s["id"] for s in sample.similar_to(items[VLLM["repo"]], k=10)}
    assert {VLLM["paper"], VLLM["post"]} <= got
    assert "e71c0e17e7f0" not in got and "85e819a81b3c" not in got  # TGI and SGLang: other engines
    got = {s["id"] for s in sample.similar_to(items["9476c1412513"], k=10)}  # FlashAttention (v1)
    assert "ea1c002f6ee6" in got and "8e4e36759566" not in got  # its repo, not the v2 paper


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
    # The impure ones join a work with an explainer or commentary by others (same names, same week).
    assert len(pure) >= 15 and len(pure) >= len(groups) - 5
    assert any(set(g.ids) == {"qlora-0", "qlora-1", "qlora-2"} for g in pure)
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


def heavy_imports_after(code: str, heavy: tuple[str, ...]) -> tuple[list[str], str]:
    """Run `code` in a fresh Python: (the `heavy` top-level packages it imported, its other output)."""
    probe = code + (f"\nimport sys as _sys\nprint('HEAVY', sorted(m for m in _sys.modules "
                    f"if m.split('.')[0] in {heavy!r}))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    before, _, line = out.stdout.rpartition("HEAVY ")
    return ast.literal_eval(line.strip()), before


def test_related_runs_without_importing_torch(synced: SemanticEngine) -> None:
    code = (
        "from pathlib import Path; from newsletter.semantic import SemanticEngine\n"
        f"e = SemanticEngine(Path({str(synced.root)!r}), model='default', backend='auto')\n"
        "r = e.related('faiss-1', k=3); assert r, r\n"
    )
    heavy, _ = heavy_imports_after(code, ("torch", "sentence_transformers", "transformers"))
    assert heavy == []


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


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's top-k neighbours (by cosine, itself excluded) that two embeddings agree on."""
    sa, sb = a @ a.T, b @ b.T
    np.fill_diagonal(sa, -2.0)
    np.fill_diagonal(sb, -2.0)
    top_a, top_b = np.argsort(-sa, axis=1)[:, :k], np.argsort(-sb, axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(top_a, top_b, strict=True)]))


def test_onnx_document_vectors_are_one_version_with_both_torch_backends(tmp_path: Path, dev: ev.DevSet) -> None:
    """Small batches are stored from the ONNX export: it must be interchangeable with torch fp32 and bf16."""
    texts = [embedding_text(it) for it in dev.items]
    onnx = OnnxEmbedder("default", derived_dir=tmp_path).encode(texts)
    for backend in ("fp32", "bf16"):
        torch_vectors = SentenceTransformerEmbedder("default", backend).encode(texts)
        assert float(np.mean(np.sum(onnx * torch_vectors, axis=1))) >= 0.9999, backend
        assert neighbour_overlap(onnx, torch_vectors) >= 0.99, backend


def test_add_with_the_near_duplicate_check_imports_no_torch(sample: Catalog, tmp_path: Path) -> None:
    """The sample is synced (so the ONNX export exists): `add` embeds its one new text without torch."""
    project = tmp_path / "copy"
    shutil.copytree(sample.settings.root, project)  # derived state included; the shared sample stays as it is
    code = (
        "from newsletter import AddOptions, Catalog\n"
        f"c = Catalog.open({str(project)!r})\n"
        "[r] = c.add(['https://mirror.example.net/qlora'], AddOptions(fetch=False, "
        "title='QLoRA: Efficient Finetuning of Quantized LLMs'), similar=True)\n"
        "print('SIMILAR', [m['id'] for m in r.similar])\n"
    )
    heavy, out = heavy_imports_after(code, ("torch", "sentence_transformers"))
    assert heavy == []
    assert QLORA["paper"] in out.split("SIMILAR", 1)[1].split("\n", 1)[0]


def test_similar_to_many_works_on_a_catalog_that_has_not_synced(sample: Catalog) -> None:
    """A fresh Catalog (no document frequencies loaded yet) answers the batch query like the synced one."""
    fresh = Catalog.open(sample.settings.root)
    items = fresh.live_items()
    ids = [QLORA["tweet"], VLLM["repo"]]
    batch = fresh.similar_to_many([items[i] for i in ids], k=10)
    assert len(batch) == 2
    for item_id, row in zip(ids, batch, strict=True):
        assert {s["id"] for s in row} == {s["id"] for s in sample.similar_to(items[item_id], k=10)}


@pytest.mark.skipif(not onnxruntime_available(), reason="onnxruntime is optional")
def test_a_new_project_takes_the_machines_onnx_export_without_torch(tmp_path: Path) -> None:
    from newsletter.semantic import onnxcache

    first = OnnxEmbedder("default", derived_dir=tmp_path / "one" / ".newsletter")
    vectors = first.encode(["speculative decoding latency"])  # exported here, or taken from this run's cache
    assert onnxcache.shared_path(first.name, first.model_dir).is_file()
    # A second project in a fresh process: its first query needs no export, so no torch at all.
    script = (
        "import sys, numpy as np\n"
        "from newsletter.semantic.embedders import OnnxEmbedder\n"
        f"e = OnnxEmbedder('default', derived_dir={str(tmp_path / 'two' / '.newsletter')!r}, export=False)\n"
        "v = e.encode(['speculative decoding latency'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "np.save(sys.argv[1], v)\n"
    )
    out = tmp_path / "two.npy"
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert float(np.sum(np.load(out) * vectors)) >= 0.999999
    second = OnnxEmbedder("default", derived_dir=tmp_path / "two" / ".newsletter", export=False)
    assert second.path.is_file() and second.path != onnxcache.shared_path(second.name, second.model_dir)
    # A damaged project copy heals from the machine's copy, still without exporting.
    second.path.write_bytes(b"\x08\x07\x12\x04trunc")
    healed = OnnxEmbedder("default", derived_dir=tmp_path / "two" / ".newsletter", export=False)
    assert float(np.sum(healed.encode(["speculative decoding latency"]) * vectors)) >= 0.999999
