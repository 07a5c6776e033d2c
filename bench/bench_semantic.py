"""Benchmarks of the semantic layer: `.venv/bin/python -m bench.bench_semantic [--quick]`.

Prints: embedding throughput and quality per backend vs plain `SentenceTransformer.encode`;
cold starts; store/index load, build and add times; related/search latency p50/p99 at 10k and 100k;
HNSW recall@10 vs exact; peak memory; dedupe P/R/F1 vs TF-IDF and plain cosine.
The machine is shared (2 cores): medians of repeated runs, ratios taken within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import evaluate as ev
from bench.common import print_table
from newsletter.semantic.embedders import (
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    _load_st_model,
    cpu_has_bf16,
    onnxruntime_available,
    openvino_available,
    ov_precision,
)
from newsletter.semantic.index import HNSW_EF, Entry, VectorIndex, top_k
from newsletter.semantic.ovembedder import OpenVinoEmbedder
from newsletter.semantic.store import EmbeddingStore
from newsletter.semantic.text import embedding_text, text_hash

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "tests" / "data" / "dupes" / "devset.yaml"
CATALOG_PAIRS = ROOT / "tests" / "data" / "dupes" / "catalog_pairs.yaml"

_TOOLS = ["vLLM", "FAISS", "hnswlib", "Qdrant", "LoRA", "QLoRA", "FlashAttention", "llama.cpp", "DPO", "GPTQ",
          "ColBERT", "Mamba", "Mixtral", "TGI", "DSPy", "LangChain", "Whisper", "SAM", "CLIP", "T5"]
_VERBS = ["speeds up", "rethinks", "scales", "simplifies", "benchmarks", "compresses", "explains", "extends"]
_OBJS = ["inference on CPUs", "retrieval for long documents", "fine-tuning on one GPU", "attention kernels",
         "vector search at billion scale", "preference optimization", "speech recognition", "code generation",
         "mixture-of-experts routing", "quantized serving", "multimodal pretraining", "agent tool use"]
_SENT = ["We evaluate on {n} benchmarks and report a {x}x improvement over the strongest baseline.",
         "The method needs no additional training data and keeps the original model frozen.",
         "Our analysis shows that memory bandwidth, not compute, bounds the throughput of {t}.",
         "Ablations show that each component contributes, with the largest gain from {o}.",
         "We release code, checkpoints and a reproducible evaluation harness.",
         "Compared with {t}, the approach reduces latency by {x}x at equal quality.",
         "A theoretical argument explains why the gain grows with sequence length.",
         "Experiments cover models from {n}00M to {n}0B parameters and three hardware targets.",
         "Human raters preferred its outputs in {n}0% of head-to-head comparisons."]


def make_texts(kind: str, n: int, seed: int = 7) -> list[str]:
    """Synthetic ML-news titles, title+summary items, or ~200-token abstracts."""
    rnd = random.Random(f"{seed}-{kind}")
    out = []
    for _ in range(n):
        t, v, o = rnd.choice(_TOOLS), rnd.choice(_VERBS), rnd.choice(_OBJS)
        title = f"{t} {v} {o}"
        sents = [s.format(n=rnd.randint(2, 9), x=rnd.randint(2, 9), t=rnd.choice(_TOOLS), o=rnd.choice(_OBJS))
                 for s in rnd.sample(_SENT, len(_SENT))]
        if kind == "title":
            out.append(title)
        elif kind == "summary":
            out.append(f"{title}. " + " ".join(sents[:2]))
        else:
            out.append(f"{title}. " + " ".join(sents + rnd.sample(sents, 3)))
    return out


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def knn_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean |NN_k(a) ∩ NN_k(b)| / k over all rows as queries (within the set)."""
    def nn(x: np.ndarray) -> np.ndarray:
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return top_k(s, k)
    na, nb = nn(a), nn(b)
    return float(np.mean([len(set(na[i]) & set(nb[i])) / k for i in range(len(a))]))


def bench_embedding(quick: bool, derived: Path) -> None:
    sizes = {"title": 256, "summary": 128, "abstract": 48}
    if not quick:
        sizes = {"title": 1024, "summary": 512, "abstract": 192}
    reps = 1 if quick else 3
    plain = _load_st_model(SentenceTransformerEmbedder("default", "fp32").model_dir, "st-fp32")
    backends: dict[str, object] = {"st-fp32 (ours)": SentenceTransformerEmbedder("default", "fp32")}
    if cpu_has_bf16():
        backends["st-bf16"] = SentenceTransformerEmbedder("default", "bf16")
    if onnxruntime_available():
        backends["ort-fp32"] = OnnxEmbedder("default", derived_dir=derived)
    if openvino_available():
        backends[f"ov-{ov_precision()} (auto)"] = OpenVinoEmbedder("default", derived_dir=derived)
    for emb in backends.values():
        emb.encode(["warm up"] * 4)  # type: ignore[attr-defined]
    plain.encode(["warm up"] * 4)
    rows = []
    for kind, n in sizes.items():
        texts = make_texts(kind, n)
        ref = None
        plain_rates: list[float] = []
        rates: dict[str, list[float]] = {name: [] for name in backends}
        outs: dict[str, np.ndarray] = {}
        for _ in range(reps):  # interleaved: each round measures every backend on the same texts
            t0 = time.perf_counter()
            ref = plain.encode(texts)  # plain SentenceTransformer.encode, fp32, default settings
            plain_rates.append(n / (time.perf_counter() - t0))
            for name, emb in backends.items():
                t0 = time.perf_counter()
                outs[name] = emb.encode(texts)  # type: ignore[attr-defined]
                rates[name].append(n / (time.perf_counter() - t0))
        assert ref is not None
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        rows.append([kind, "plain ST encode fp32", round(statistics.median(plain_rates), 1), 1.0, "1.000000", "1.000"])
        for name in backends:
            ratio = statistics.median(r / p for r, p in zip(rates[name], plain_rates, strict=True))
            cos = float(np.mean(np.sum(outs[name] * ref, axis=1)))
            rows.append([kind, name, round(statistics.median(rates[name]), 1), round(ratio, 2), f"{cos:.6f}",
                         f"{knn_overlap(ref, outs[name]):.3f}"])
    print_table("Embedding throughput (texts/s, median) and quality vs plain ST fp32",
                ["texts", "backend", "texts/s", "ratio", "mean cos", "top-10 overlap"], rows)


def bench_numpy_path(quick: bool, derived: Path) -> None:
    """The numpy path (queries, an `add`'s text) against every path that stores vectors, same texts."""
    from newsletter.semantic.numpybert import NumpyEmbedder

    n = 48 if quick else 120
    texts = [t for kind in ("title", "summary", "abstract") for t in make_texts(kind, n // 3)]
    numpy_path = NumpyEmbedder("default")  # no fallback: it embeds every text itself here
    numpy_path.encode(["warm up"])
    t0 = time.perf_counter()
    mine = numpy_path.encode(texts)
    rate = len(texts) / (time.perf_counter() - t0)
    others: dict[str, object] = {"st-fp32": SentenceTransformerEmbedder("default", "fp32")}
    if cpu_has_bf16():
        others["st-bf16"] = SentenceTransformerEmbedder("default", "bf16")
    if onnxruntime_available():
        others["ort-fp32"] = OnnxEmbedder("default", derived_dir=derived)
    rows = []
    for name, emb in others.items():
        ref = emb.encode(texts)  # type: ignore[attr-defined]
        cos = np.sum(mine * ref, axis=1)
        rows.append([name, len(texts), f"{float(np.mean(cos)):.7f}", f"{float(np.min(cos)):.7f}",
                     f"{knn_overlap(ref, mine):.3f}"])
    print_table(f"numpy fp32 path ({rate:.1f} texts/s on these; bar for one stored version: "
                "cos >= 0.9999, top-10 overlap >= 0.99)",
                ["vs stored path", "texts", "mean cos", "min cos", "top-10 overlap"], rows)


def bench_index_command(quick: bool) -> None:
    """`newsletter index` (a whole process) on n abstracts vs plain `SentenceTransformer.encode`, same texts."""
    from newsletter.catalog import Catalog
    from newsletter.models import Item
    from newsletter.project import init_project

    n = 1000 if quick else 10_000
    texts = make_texts("abstract", n, seed=11)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        root = init_project(Path(tmp) / "proj", name="Index Bench")
        items = [Item(id=f"{i:012x}", kind="paper", url=f"https://arxiv.example/abs/{i}",
                      canonical_url=f"https://arxiv.example/abs/{i}", title=text.split(".")[0][:120],
                      summary=text, added="2026-01-05T09:00:00Z") for i, text in enumerate(texts)]
        catalog = Catalog.open(root)
        with catalog.store.locked():
            catalog.store.save_many([(it, None) for it in items])
        catalog.close()
        cmd = [sys.executable, "-m", "newsletter", "-C", str(root), "index", "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        summary = json.loads(out.stdout)
        embed_texts = [embedding_text(it) for it in items]
    plain = _load_st_model(SentenceTransformerEmbedder("default", "fp32").model_dir, "st-fp32")
    plain.encode(["warm up"] * 4)
    t0 = time.perf_counter()
    plain.encode(embed_texts)  # default settings, the same texts the command embedded
    plain_rate = n / (time.perf_counter() - t0)
    rate = summary.get("texts_per_s") or 0.0
    print_table(f"`newsletter index` on {n:,} abstracts (whole process {wall:.1f} s; backend auto) vs plain "
                "ST encode fp32, same texts, same run (target >= 3x)",
                ["what", "texts/s", "ratio"],
                [["plain SentenceTransformer.encode", round(plain_rate, 1), 1.0],
                 [f"newsletter index (embedding, {summary.get('embedded')} texts)", rate, round(rate / plain_rate, 2)],
                 ["newsletter index (whole process incl. start, parse, index)", round(n / wall, 1),
                  round(n / wall / plain_rate, 2)]])


def _run(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def bench_cold_start(quick: bool, derived: Path) -> None:
    from newsletter.semantic import SemanticEngine

    items = ev.load_devset(DEVSET).items
    SemanticEngine(derived, query_backend="same").sync(items)  # default model, auto backend
    reps = 3 if quick else 5
    setup = ("from pathlib import Path; from newsletter.semantic import SemanticEngine; "
             f"e = SemanticEngine(Path({str(derived)!r}), query_backend='{{qb}}')")
    cases = {
        "python -c pass": "pass",
        "import newsletter.semantic": "import newsletter.semantic",
        "related (stored vectors)": setup.format(qb="same") + "; e.related('faiss-1', k=5)",
        "search, torch query path": setup.format(qb="same") + "; e.search('vector database in rust', k=5)",
    }
    if onnxruntime_available():
        OnnxEmbedder("default", derived_dir=derived).encode(["export"])
        cases["search, auto query path (numpy)"] = (
            setup.format(qb="auto") + "; e.search('vector database in rust', k=5)")
    rows = [[name, round(statistics.median(_run(code) for _ in range(reps)), 3)] for name, code in cases.items()]
    t0 = time.perf_counter()
    emb = SentenceTransformerEmbedder("default", "auto" if cpu_has_bf16() else "fp32")
    emb.encode(["first"])
    rows.append(["in-process: model load + first encode (torch already imported)", round(time.perf_counter() - t0, 3)])
    print_table("Cold start (whole `python -c` process unless noted, median s)", ["case", "seconds"], rows)


def clustered_vectors(base: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """n vectors around real embeddings: a random base row plus noise, normalized (not Gaussian)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(base), n)
    noise = rng.standard_normal((n, base.shape[1])).astype(np.float32)
    noise *= (rng.uniform(0.25, 0.45, (n, 1)) / np.sqrt(base.shape[1])).astype(np.float32)
    out = base[picks] + noise
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def bench_index(quick: bool, derived: Path) -> None:
    emb = SentenceTransformerEmbedder("default", "auto" if cpu_has_bf16() else "fp32")
    base = emb.encode(make_texts("summary", 1500 if quick else 4000, seed=11))
    sizes = [10_000] if quick else [10_000, 100_000]
    lat_rows, build_rows, recall_rows = [], [], []
    query_emb = OnnxEmbedder("default", derived_dir=derived) if onnxruntime_available() else emb
    for n in sizes:
        vectors = clustered_vectors(base, n + 2000)
        data, extra, held = vectors[:n], vectors[n:n + 1000], vectors[n + 1000:]
        root = derived / f"idx{n}"
        store = EmbeddingStore(root, "bench@vectors", data.shape[1])
        keys = [text_hash(f"v{i}") for i in range(n + 1000)]
        t0 = time.perf_counter()
        store.add(keys[:n], data)
        write_s = time.perf_counter() - t0
        desired = {f"i{i}": Entry(keys[i], "paper" if i % 4 == 0 else "link", "2024-01-01") for i in range(n)}
        t0 = time.perf_counter()
        reread = EmbeddingStore(root, "bench@vectors", data.shape[1])
        reread.load()
        load_s = time.perf_counter() - t0
        index = VectorIndex(root, store, exact_below=0)
        t0 = time.perf_counter()
        index.sync(desired)
        build_s = time.perf_counter() - t0
        store.add(keys[n:], extra)
        more = dict(desired)
        more.update({f"i{i}": Entry(keys[i], "link", None) for i in range(n, n + 1000)})
        t0 = time.perf_counter()
        index.sync(more)
        add_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = VectorIndex(root, store, exact_below=0)
        assert loaded.load()
        index_load_s = time.perf_counter() - t0
        build_rows.append([n, round(write_s, 3), round(load_s, 3), round(build_s, 2), round(add_s, 3),
                           round(index_load_s, 3)])
        # recall@10 vs exact, held-out queries
        everything = np.concatenate([data, extra])
        ids = [f"i{i}" for i in range(n + 1000)]
        truth = top_k(held @ everything.T, 10)
        got = loaded.query(held, 10)
        recall = np.mean([len({ids[j] for j in truth[r]} & {i for i, _ in got[r]}) / 10 for r in range(len(held))])
        recall_rows.append([n + 1000, HNSW_EF, round(float(recall), 4)])
        # latency: related (stored vector → neighbours) and search (embed query + neighbours + RRF)
        from newsletter.semantic.engine import SemanticEngine

        eng = SemanticEngine(root, embedder=_Fixed(store.model_id, data.shape[1]), exact_below=0)
        eng.index = loaded
        eng._query_embedder = query_emb  # type: ignore[assignment]
        probes = [f"i{i}" for i in range(0, n, max(n // 300, 1))][:300]
        ops = {
            "related k=10": lambda p, e=eng: e.related(p, k=10),
            "related k=10 kind=paper": lambda p, e=eng: e.related(p, k=10, kind="paper"),
            "search k=10 (query embed + RRF)": lambda p, e=eng: e.search(
                f"query about {p} and vector search", k=10, keyword_ids=[p, "i1", "i2"]),
        }
        for label, fn in ops.items():
            times = []
            for p in probes[:100] if "search" in label else probes:
                t0 = time.perf_counter()
                fn(p)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
            lat_rows.append([n + 1000, label, round(p50, 3), round(p99, 3)])
        exact_times = []
        for q in held[:200]:
            t0 = time.perf_counter()
            top_k((everything @ q)[None, :], 10)
            exact_times.append((time.perf_counter() - t0) * 1000)
        exact_times.sort()
        lat_rows.append([n + 1000, "exact numpy top-10 (reference)", round(exact_times[100], 3),
                         round(exact_times[197], 3)])
    print_table("Store and index (s)", ["items", "store write", "store load", "HNSW build", "add 1000", "index load"],
                build_rows)
    print_table("HNSW recall@10 vs exact (M=16, efC=200; clustered around real MiniLM vectors)",
                ["items", "ef", "recall@10"], recall_rows)
    print_table(f"Latency in-process (ms; query embedder: {type(query_emb).__name__})",
                ["items", "operation", "p50", "p99"], lat_rows)


class _Fixed:
    """A stand-in embedder for an engine over precomputed vectors (never asked to embed)."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id, self.dim, self.base_model = model_id, dim, "all-MiniLM-L6-v2"

    def encode(self, texts, *, progress=None):  # type: ignore[no-untyped-def]
        raise AssertionError("the bench engine never embeds documents")


def bench_dedupe() -> None:
    """Near-duplicate P/R/F1 on both labelled sets: shipped scorer vs TF-IDF and cosine baselines."""
    from newsletter.semantic import dupes

    sets = [ev.devset_pairs(ev.load_devset(DEVSET)), ev.load_catalog_pairs(CATALOG_PAIRS)]
    rows = []
    backends = ["fp32"] + (["bf16"] if cpu_has_bf16() else [])
    for backend in backends:
        embedder = SentenceTransformerEmbedder("default", backend)
        vectors = [embedder.encode([embedding_text(it) for it in ps.items]) for ps in sets]
        results = ev.evaluate_methods(sets, vectors)
        for mode, label in (("shipped", "whole set, shipped weights/threshold"),
                            ("cv", "held out (dev: per category; catalog: 5 folds)")):
            for name, per_set in results[mode].items():
                for ps, res in zip(sets, per_set, strict=True):
                    th = "" if res.threshold != res.threshold else round(res.threshold, 3)
                    rows.append([backend, ps.name, label, name, th, round(res.precision, 3), round(res.recall, 3),
                                 round(res.f1, 3)])
    sizes = ", ".join(f"{ps.name}: {int(ps.labels.sum())} same / {len(ps.pairs) - int(ps.labels.sum())} not"
                      for ps in sets)
    print_table(f"Near-duplicate quality on tests/data/dupes ({sizes}; threshold {dupes.DEFAULT_THRESHOLD}, "
                f"baseline thresholds: best F{ev.BETA} on both sets)",
                ["vectors", "set", "evaluation", "method", "threshold", "precision", "recall", "F1"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sets, 10k only (about 2 minutes)")
    parser.add_argument("--only", choices=["embedding", "numpy", "cold", "index", "index-command", "dedupe"],
                        action="append", help="run only these parts (repeatable)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    wanted = set(args.only or ["embedding", "numpy", "cold", "index", "index-command", "dedupe"])
    with tempfile.TemporaryDirectory(prefix="bench-semantic-") as tmp:
        derived = Path(tmp)
        if "embedding" in wanted:
            bench_embedding(args.quick, derived)
        if "numpy" in wanted:
            bench_numpy_path(args.quick, derived)
        if "cold" in wanted:
            bench_cold_start(args.quick, derived / "cold")
        if "index" in wanted:
            bench_index(args.quick, derived)
        if "index-command" in wanted:
            bench_index_command(args.quick)
        if "dedupe" in wanted:
            bench_dedupe()
    print_table("Memory", ["what", "MiB"], [["peak RSS of this benchmark process (ru_maxrss)", round(rss_mib(), 1)]])


if __name__ == "__main__":
    main()
