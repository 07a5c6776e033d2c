"""A generated newsletter project of N items, for the CLI benchmark (`bench_cli`).

    project = ensure_project(Path("/tmp/newsletter-bench-100k"), 100_000)

Items look like a real MLOps catalog: ML vocabulary in titles and summaries, kinds in realistic
shares (about 1/6 papers), URLs of the real hosts (arXiv, GitHub, YouTube ...) with ids derived
from the canonical URL the way `add` derives them, tags, and `added` dates spread over two years so
month folders fill like a real catalog. They are written as real files through the package's own
writer (`Store.save_many`), the derived cache is built by one load, and the vectors are STORED
WITHOUT the model: random unit float32 rows keyed by each item's real embedding-text hash, then the
index is synced through `SemanticEngine.sync` with an embedder that refuses to embed. So `related`
and `search` run on a synced catalog exactly as after `newsletter index`, minus meaningful vectors.

The project is kept in its folder (outside the repository) and reused when its stamp names the same
generator version and size; the benchmark's write commands (add, tag, rm, feeds pull, draft) change
it a little on every run, which does not matter for timing.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from newsletter.catalog import Catalog
from newsletter.ingest.route import prepare
from newsletter.models import Item
from newsletter.web import urls

GENERATOR_VERSION = "1"
STAMP = ".bench-generator.json"
ROOT = Path(__file__).resolve().parent.parent

# Shares of kinds in a curated MLOps catalog that follows a few arXiv listings (papers ~1/6).
KIND_SHARES = (("link", 0.36), ("paper", 0.17), ("repo", 0.17), ("video", 0.10), ("podcast", 0.08), ("tweet", 0.12))
TOPICS = (
    "LLM serving", "vector search", "feature stores", "model monitoring", "data drift", "RAG pipelines",
    "quantization", "distributed training", "GPU scheduling", "prompt evaluation", "fine-tuning",
    "embedding models", "ML observability", "experiment tracking", "model registries", "batch inference",
    "streaming features", "AutoML", "speculative decoding", "KV cache", "mixture of experts", "LoRA adapters",
    "data versioning", "labeling workflows", "synthetic data", "agent frameworks", "guardrails", "reranking",
    "hybrid search", "model compression", "ONNX Runtime", "Kubernetes for ML", "CI for models", "A/B testing",
    "online learning", "recommendation systems", "time-series forecasting", "causal inference",
)
TEMPLATES = (
    "{A} at scale: lessons from {n} production deployments",
    "How we cut {A} latency by {p}% with {B}",
    "A practical guide to {A}",
    "{A} vs {B}: a benchmark on commodity GPUs",
    "Why {A} fails in production (and what to do about it)",
    "Towards efficient {A} with {B}",
    "Scaling {A} to {n} million requests a day",
    "{A}: a survey",
    "Rethinking {A} for long-context models",
    "Open-source {A} toolkit with first-class {B} support",
    "What nobody tells you about {A}",
    "Benchmarking {A} under realistic workloads",
    "{A} without the pain: {B} in practice",
    "On the robustness of {A} to distribution shift",
)
SENTENCES = (
    "We present a method for {A} that reduces cost by {p}% while keeping quality within a point.",
    "The authors compare {A} and {B} across {n} workloads and report where each one breaks.",
    "A walkthrough of a {A} setup built on {B}, with code and dashboards.",
    "Covers the trade-offs between throughput, latency and memory in {A}.",
    "Experiments on {n} datasets show consistent gains over strong baselines.",
    "The post explains the failure modes the team hit with {A} and the fixes that stuck.",
    "Includes a reproducible evaluation harness and ablations of every component.",
    "A discussion of {A} for teams that run {B} on a small budget.",
    "The release adds {B} integration, better defaults and a migration guide.",
    "We find that simple baselines for {A} are surprisingly hard to beat.",
)
TAGS = (
    "llm", "serving", "rag", "vector-db", "monitoring", "drift", "training", "inference", "gpu", "evaluation",
    "fine-tuning", "embeddings", "observability", "mlops", "data", "agents", "quantization", "search",
    "kubernetes", "recsys", "forecasting", "tooling", "research", "open-source",
)
LANGUAGES = ("Python", "Rust", "Go", "C++", "TypeScript")
SHOWS = ("Latent Space", "Practical AI", "The TWIML AI Podcast", "MLOps.community", "Gradient Dissent")
CHANNELS = ("Yannic Kilcher", "AI Explained", "MLOps World", "PyData", "Two Minute Papers")
SPAN_DAYS = 730  # added dates spread over two years
INBOX_DAYS = 10  # items added in the last days are still in the inbox (what `draft` draws from)


def _kind(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for kind, share in KIND_SHARES:
        acc += share
        if x < acc:
            return kind
    return "link"


def _fill(rng: random.Random, text: str) -> str:
    a, b = rng.sample(TOPICS, 2)
    return text.format(A=a, B=b, n=rng.randint(3, 400), p=rng.randint(10, 90))


def _url_and_extra(rng: random.Random, kind: str, i: int, added: datetime) -> tuple[str, dict[str, object]]:
    slug = f"post-{i}-{rng.randrange(16**6):06x}"
    if kind == "paper":
        arxiv = f"{added:%y%m}.{i % 100000:05d}"
        return f"https://arxiv.org/abs/{arxiv}", {"arxiv_id": arxiv, "categories": ["cs.LG"]}
    if kind == "repo":
        topics = rng.sample(TAGS, 3)
        return (f"https://github.com/org{i % 5000}/repo-{i}",
                {"stars": rng.randint(5, 40000), "language": rng.choice(LANGUAGES), "topics": topics})
    if kind == "video":
        vid = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") for _ in range(11))
        return f"https://www.youtube.com/watch?v={vid}", {"channel": rng.choice(CHANNELS)}
    if kind == "podcast":
        return f"https://podcast{i % 40}.example.fm/episodes/{slug}", {"show": rng.choice(SHOWS)}
    if kind == "tweet":
        handle = f"user{i % 3000}"
        return f"https://x.com/{handle}/status/{10**18 + i}", {"handle": handle}
    return f"https://blog{i % 2000}.example.com/{added:%Y/%m}/{slug}", {}


def make_items(n: int, *, seed: int = 11, now: datetime | None = None) -> list[Item]:
    """n realistic items, oldest first; ids from the canonical URL like `add` makes them."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=SPAN_DAYS)
    items: list[Item] = []
    seen: set[str] = set()
    for i in range(n):
        added = start + timedelta(seconds=SPAN_DAYS * 86400 * (i + rng.random()) / n)
        kind = _kind(rng)
        url, extra = _url_and_extra(rng, kind, i, added)
        canonical = prepare(url).canonical_url
        item_id = urls.item_id(canonical)
        if item_id in seen:
            continue
        seen.add(item_id)
        title = _fill(rng, rng.choice(TEMPLATES))
        summary = " ".join(_fill(rng, s) for s in rng.sample(SENTENCES, rng.randint(2, 4)))
        if kind == "tweet":
            extra["text"] = summary[:240]
        recent = (now - added).days < INBOX_DAYS
        status = "inbox" if recent else rng.choices(("published", "skipped", "shortlisted"), (6, 10, 1))[0]
        published = (added - timedelta(days=rng.randint(0, 30))).date().isoformat()
        items.append(Item(
            id=item_id, kind=kind, url=url, canonical_url=canonical, title=title, summary=summary,
            authors=[f"Author {rng.randint(1, 5000)}" for _ in range(rng.randint(1, 3))],
            published=published, site=urlsplit(canonical).hostname or "",
            tags=rng.sample(TAGS, rng.randint(1, 4)), status=status,
            issue=(1 + (added - start).days // 7) if status == "published" else None,
            added=added.isoformat().replace("+00:00", "Z"),
            note="Worth a read for the ablations." if rng.random() < 0.1 else "",
            extra=extra,
        ))
    return items


class _NoModelEmbedder:
    """Stands in for the configured model (same model id, so the vectors land in its version); never embeds."""

    def __init__(self, model_id: str, base_model: str, dim: int) -> None:
        self.model_id, self.base_model, self.dim = model_id, base_model, dim

    def encode(self, texts: Sequence[str], *, progress: object = None) -> np.ndarray:
        raise RuntimeError(f"the bench generator must not embed ({len(texts)} texts asked)")


def store_random_vectors(catalog: Catalog, items: Sequence[Item], seed: int = 3) -> None:
    """Random unit vectors keyed by the items' real text hashes, then the index synced (no model)."""
    from newsletter.semantic import SemanticEngine
    from newsletter.semantic.text import embedding_text, text_hash

    real = catalog.semantic  # resolves the configured model id and dim without loading the model
    fake = _NoModelEmbedder(real.model_id, real.base_model, real.dim)
    engine = SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=fake)
    hashes = list(dict.fromkeys(text_hash(embedding_text(it)) for it in items))
    missing = engine.store.missing(hashes)
    rng = np.random.default_rng(seed)
    for start in range(0, len(missing), 50_000):
        part = missing[start:start + 50_000]
        vectors = rng.standard_normal((len(part), real.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        engine.store.add(part, vectors)
    engine.sync(list(items))


def build(root: Path, n: int) -> None:
    """Write a fresh project of n items at root (deleted first)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copy(ROOT / "newsletter.toml", root / "newsletter.toml")
    (root / "feeds.yaml").write_text("[]\n")
    (root / "content" / "issues").mkdir(parents=True)
    shutil.copy(ROOT / "content" / "index.md", root / "content" / "index.md")
    (root / "catalog").mkdir()
    items = make_items(n)
    catalog = Catalog.open(root)
    with catalog.store.locked():
        catalog.store.save_many([(it, None) for it in items])
    catalog.store.close()
    catalog = Catalog.open(root)
    loaded = list(catalog.snapshot(refresh=True).items.values())  # the derived cache, as a first command builds it
    store_random_vectors(catalog, loaded)
    catalog.close()
    (root / STAMP).write_text(json.dumps({"version": GENERATOR_VERSION, "items": n}))


def ensure_project(root: Path, n: int) -> float:
    """Reuse the project at root if its stamp matches (version, n); else build it. Seconds spent."""
    try:
        stamp = json.loads((root / STAMP).read_text())
        if stamp == {"version": GENERATOR_VERSION, "items": n}:
            return 0.0
    except (OSError, ValueError):
        pass
    started = time.perf_counter()
    build(root, n)
    return time.perf_counter() - started
