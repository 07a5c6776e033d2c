"""Fit the near-duplicate model and write newsletter/semantic/dupes_model.json (offline, never at run time).

    python -m bench.fit_dupes            # refit from the training data, print CV figures, write the JSON
    python -m bench.fit_dupes --check    # refit and compare with the committed JSON (no write)

Training data, all of it away from the unseen test split of tests/data/dupes_dev/:

- the dev set's ``train`` split, as written (names shown) and names-hidden (each item titled by the
  first sentence of its description), so the model cannot lean on names alone;
- tests/data/dupes/devset.yaml (synthetic groups of papers, repos, posts, tweets and talks) and
  tests/data/dupes/catalog_pairs.yaml (every candidate pair of the repository's sample catalog,
  labelled): the only data with arXiv ids, repos, authors and dates, which the list entries lack.

Each of the four sets weighs the same. L2 strength and threshold are chosen by grouped 5-fold
cross-validation on the training data (a work's pairs stay in one fold): the threshold is the one of
best mean out-of-fold F1 over the sets. The sample's figures in the bench are these out-of-fold ones (a model
fitted without the pair's fold), never in-sample ones; the dev test split is never seen at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import dupes_data as dd
from bench import evaluate as ev
from newsletter.semantic import dupes

FOLDS = 5
L2_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
ROOT = Path(__file__).resolve().parent.parent
OLD_DEVSET = ROOT / "tests" / "data" / "dupes" / "devset.yaml"
SAMPLE_PAIRS = ROOT / "tests" / "data" / "dupes" / "catalog_pairs.yaml"


_CACHE: dict[str, np.ndarray] = {}


@dataclass
class TrainSet:
    """Feature rows of one training set, labels and each row's CV fold."""

    name: str
    x: np.ndarray
    y: np.ndarray
    folds: np.ndarray


def embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 (offline, fp32), as the tests and the product load it.

    ``DUPES_VECTOR_CACHE=/path.npz`` keeps the vectors between runs (for iterating on features only).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from newsletter.semantic.embedders import SentenceTransformerEmbedder

    cache = os.environ.get("DUPES_VECTOR_CACHE")
    if cache and Path(cache).exists() and not _CACHE:
        with np.load(cache) as data:
            _CACHE.update(zip(json.loads(str(data["texts"])), data["vectors"], strict=True))
    return SentenceTransformerEmbedder("default", "fp32")


def save_cache() -> None:
    """Write the memoized vectors to ``DUPES_VECTOR_CACHE`` when it is set."""
    cache = os.environ.get("DUPES_VECTOR_CACHE")
    if cache and _CACHE:
        texts = list(_CACHE)
        np.savez(cache, texts=json.dumps(texts), vectors=np.array([_CACHE[t] for t in texts]))


def vectors_for(items: Sequence, emb) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Embeddings of items' embedding texts (memoized per process by text)."""
    from newsletter.semantic.text import embedding_text

    texts = [embedding_text(it) for it in items]
    missing = sorted({t for t in texts if t not in _CACHE})
    if missing:
        _CACHE.update(zip(missing, emb.encode(missing), strict=True))
    return np.array([_CACHE[t] for t in texts])


def _fold(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % FOLDS


def dev_fold_ids(split: dd.DevSplit) -> np.ndarray:
    """Fold of each pair: by work for positives, by the first work (sorted) for negatives."""
    return np.array([_fold(min(split.works[i], split.works[j])) for i, j, _ in split.pairs])


def training_sets(emb) -> list[TrainSet]:  # type: ignore[no-untyped-def]
    """Feature matrices of every training set (see the module docstring)."""
    rows, pairs = dd.load_rows(), dd.load_pairs()
    out = []
    for hidden in (False, True):
        split = dd.load_split("train", names_hidden=hidden, rows=rows, pairs=pairs)
        x = ev.feature_matrix(split, vectors_for(split.items, emb))
        out.append(TrainSet(split.name, x, np.array([s for _, _, s in split.pairs]), dev_fold_ids(split)))
    old = ev.load_devset(OLD_DEVSET)
    x = ev.feature_matrix(old, vectors_for(old.items, emb))
    folds = np.array([_fold(old.categories[i]) for i, _, _ in old.pairs])
    out.append(TrainSet("devset.yaml", x, np.array([s for _, _, s in old.pairs]), folds))
    sample = ev.load_catalog_pairs(SAMPLE_PAIRS, folds=FOLDS)
    x = ev.feature_matrix(sample, vectors_for(sample.items, emb))
    folds = np.array([int(f.rsplit("-", 1)[1]) for f in sample.folds])
    out.append(TrainSet("sample", x, sample.labels, folds))
    return out


def _weights(sets: Sequence[TrainSet], mask: Sequence[np.ndarray]) -> np.ndarray:
    """Per-row weights so that each training set weighs the same."""
    sizes = [int(m.sum()) for m in mask]
    total = sum(sizes)
    return np.concatenate([np.full(n, total / (len(sizes) * max(n, 1))) for n in sizes])


# Signals that can only say "the same work" (+1) or only "another work" (-1). A weight fitted against
# its sign (shared authors pushing towards "different", through their overlap with other signals) is
# fixed at 0 and the rest refitted, so that `dupes --explain` never shows evidence counting against.
SIGNS = {"cos": 1, "tfidf": 1, "key": 1, "key_both": 1, "code_of": 1, "title_sim": 1, "authors": 1, "near": 1,
         "id_match": 1, "evidence": 1, "key_miss": -1, "authors_apart": -1, "far": -1, "clash": -1,
         "num_clash": -1}


def fit_rows(sets: Sequence[TrainSet], masks: Sequence[np.ndarray], l2: float) -> tuple[np.ndarray, float]:
    """Logistic weights and bias on the masked rows of the sets, each signal's weight of its SIGNS sign."""
    x = np.vstack([s.x[m] for s, m in zip(sets, masks, strict=True)])
    y = np.concatenate([s.y[m] for s, m in zip(sets, masks, strict=True)])
    sample_weight = _weights(sets, masks)
    signs = np.array([SIGNS.get(f, 0) for f in dupes.FEATURES])
    free = np.ones(len(dupes.FEATURES), dtype=bool)
    while True:
        w_free, b = ev.fit_logistic(x[:, free], y, l2=l2, sample_weight=sample_weight)
        w = np.zeros(len(free))
        w[free] = w_free
        wrong = free & (w * signs < 0)
        if not wrong.any():
            return w, b
        free[np.argmax(np.where(wrong, np.abs(w), -1.0))] = False  # the worst offender first


def scores(x: np.ndarray, w: Sequence[float], b: float) -> np.ndarray:
    """The shipped scoring (logistic plus the same-feed rule) of feature rows."""
    return np.array([dupes.combine(row, w, b) for row in x])


def out_of_fold(sets: Sequence[TrainSet], l2: float) -> list[np.ndarray]:
    """Each training row scored by a model fitted without its fold (in every set at once)."""
    oof = [np.zeros(len(s.y)) for s in sets]
    for fold in range(FOLDS):
        w, b = fit_rows(sets, [s.folds != fold for s in sets], l2)
        for k, s in enumerate(sets):
            test = s.folds == fold
            oof[k][test] = scores(s.x[test], w, b)
    return oof


def best_mean_f1(scores_: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> tuple[float, float]:
    """The threshold of best mean F1 over the sets (each set counts the same, whatever its size)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    means = [float(np.mean([ev.prf(s, y, t)[2] for s, y in zip(scores_, labels, strict=True)])) for t in grid]
    k = int(np.argmax(means))
    return float(grid[k]), means[k]


@dataclass
class Fitted:
    """What gets written to dupes_model.json."""

    weights: dict[str, float]
    bias: float
    threshold: float
    meta: dict


def fit(sets: Sequence[TrainSet]) -> Fitted:
    """Choose L2 and the threshold by CV, then fit on all training rows."""
    best: tuple[float, float, float, list[np.ndarray]] | None = None
    for l2 in L2_GRID:
        oof = out_of_fold(sets, l2)
        th, f1 = best_mean_f1(oof, [s.y for s in sets])
        if best is None or f1 > best[1] + 1e-9:
            best = (l2, f1, th, oof)
    assert best is not None
    l2, _, threshold, oof = best
    w, b = fit_rows(sets, [np.ones(len(s.y), dtype=bool) for s in sets], l2)
    cv = {}
    for s, o in zip(sets, oof, strict=True):
        p, r, f = ev.prf(o, s.y, threshold)
        cv[s.name] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3),
                      "pairs": len(s.y), "positives": int(s.y.sum())}
    meta = {
        "fitted_by": "python -m bench.fit_dupes",
        "fitted_on": [s.name for s in sets],
        "embedding_model": "all-MiniLM-L6-v2 (sentence-transformers, fp32)",
        "l2": l2,
        "threshold_rule": f"best mean out-of-fold F1 over the training sets, grouped {FOLDS}-fold CV",
        "cv": cv,
        "date": dt.date.today().isoformat(),
    }
    return Fitted({f: round(float(v), 4) for f, v in zip(dupes.FEATURES, w, strict=True)}, round(b, 4),
                  round(threshold, 3), meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed model, do not write")
    args = parser.parse_args()
    sets = training_sets(embedder())
    save_cache()
    fitted = fit(sets)
    print(json.dumps(fitted.meta["cv"], indent=1))
    print("threshold", fitted.threshold, "l2", fitted.meta["l2"])
    for name, value in fitted.weights.items():
        print(f"  {name:10s} {value:+.3f}")
    print(f"  {'bias':10s} {fitted.bias:+.3f}")
    if args.check:
        shipped = dupes.load_model()
        diff = max(abs(fitted.weights[f] - w) for f, w in zip(shipped.features, shipped.weights, strict=True))
        print(f"max weight difference to the shipped model: {diff:.4f}")
        return
    dupes.MODEL_PATH.write_text(json.dumps({"weights": fitted.weights, "bias": fitted.bias,
                                            "threshold": fitted.threshold, "meta": fitted.meta}, indent=1) + "\n")
    print(f"wrote {dupes.MODEL_PATH}")


if __name__ == "__main__":
    main()
