"""Near-duplicate quality and cost, in one run (``make bench`` / ``python -m bench dupes``).

Prints P/R/F1 of the shipped model (newsletter/semantic/dupes_model.json, fitted by
``python -m bench.fit_dupes``) and of two baselines — TF-IDF cosine alone and MiniLM cosine alone,
each with the threshold of best F1 on the same training data the model was fitted on — on:

- the dev set's unseen test split (tests/data/dupes_dev/, split by work), as written and names-hidden;
  plus precision on its hard pairs only (positives and same-category / same-author / same-show /
  same-text negatives) and recall on the positives whose two titles differ;
- the repository's sample catalog (tests/data/dupes/catalog_pairs.yaml): every candidate pair the
  engine scores there and the groups `connected_groups` builds from them. The sample is one of the
  training sets, so these rows are in-sample; the row "sample (pairs, 5-fold CV)" is the out-of-fold
  figure recorded by bench/fit_dupes.py (each pair scored by a model fitted without its fold);

then the time to score one candidate pair (features + model) against an IDF of a 100k-item catalog.
Embeddings are the real all-MiniLM-L6-v2 (fp32, offline).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from bench import dupes_data as dd
from bench import evaluate as ev
from bench import fit_dupes as fd
from bench.common import ROOT, print_table
from newsletter.semantic import dupes

CATALOG_PAIRS = ROOT / "tests" / "data" / "dupes" / "catalog_pairs.yaml"
HARD = {"same", "same_category", "same_author", "same_show", "same_text"}


def _norm(title: str) -> str:
    return "".join(c for c in title.lower() if c.isalnum())


def baseline_thresholds(train: Sequence[fd.TrainSet]) -> dict[str, float]:
    """Best-F1 thresholds of the single-signal baselines on the model's training data."""
    x = np.vstack([s.x for s in train])
    y = np.concatenate([s.y for s in train])
    return {name: ev.best_threshold(x[:, dupes.FEATURES.index(col)], y, beta=1.0)
            for name, col in (("tfidf only", "tfidf"), ("cosine only", "cos"))}


def method_scores(x: np.ndarray, name: str) -> np.ndarray:
    """Scores of one method on feature rows."""
    if name == "model":
        return fd.scores(x, dupes.WEIGHTS, dupes.BIAS)
    return x[:, dupes.FEATURES.index("tfidf" if name == "tfidf only" else "cos")]


def group_prf(ids: Sequence[str], pairs: Sequence[tuple[int, int, int]], scores: np.ndarray,
              threshold: float) -> tuple[float, float, float]:
    """P/R/F1 of "in one group" (connected_groups over the scored pairs) against the pair labels."""
    scored = [(ids[i], ids[j], float(s)) for (i, j, _), s in zip(pairs, scores, strict=True)]
    groups = dupes.connected_groups(scored, threshold)
    group_of = {m: k for k, g in enumerate(groups) for m in g.ids}
    pred = np.array([ids[i] in group_of and group_of.get(ids[i]) == group_of.get(ids[j]) for i, j, _ in pairs])
    return ev.prf_pred(pred, np.array([s for _, _, s in pairs]))


def time_per_pair(split: dd.DevSplit, vectors: np.ndarray, n_catalog: int) -> float:
    """Microseconds to score one candidate pair (pair_features + combine) with a big catalog's IDF."""
    from bench.catalog_gen import make_items

    idf = dupes.Idf.from_signals(dupes.item_signals(it) for it in [*make_items(n_catalog), *split.items])
    sigs = [dupes.item_signals(it) for it in split.items]
    pairs = list(split.pairs) * max(1, 20_000 // max(len(split.pairs), 1))
    start = time.perf_counter()
    for i, j, _ in pairs:
        dupes.combine(dupes.pair_features(sigs[i], sigs[j], float(vectors[i] @ vectors[j]), idf))
    return (time.perf_counter() - start) / len(pairs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 10k-item IDF for the timing instead of 100k")
    args = parser.parse_args()
    emb = fd.embedder()
    train = fd.training_sets(emb)
    thresholds = {"model": dupes.DEFAULT_THRESHOLD, **baseline_thresholds(train)}
    rows_data, pairs_data = dd.load_rows(), dd.load_pairs()
    quality = []
    detail = []
    test_full = None
    for hidden in (False, True):
        split = dd.load_split("test", names_hidden=hidden, rows=rows_data, pairs=pairs_data)
        vectors = fd.vectors_for(split.items, emb)
        if not hidden:
            test_full = (split, vectors)
        x = ev.feature_matrix(split, vectors)
        y = np.array([s for _, _, s in split.pairs])
        hard = np.array([t in HARD for t in split.types])
        full_titles = dd.load_split("test", rows=rows_data, pairs=pairs_data).items
        differ = np.array([s == 1 and _norm(full_titles[i].title) != _norm(full_titles[j].title)
                           for i, j, s in split.pairs])
        for name, th in thresholds.items():
            s = method_scores(x, name)
            p, r, f = ev.prf(s, y, th)
            hp = ev.prf(s[hard], y[hard], th)[0]
            dr = ev.prf(s[differ], y[differ], th)[1] if differ.any() else float("nan")
            quality.append([split.name, name, round(th, 3), round(p, 3), round(r, 3), round(f, 3)])
            detail.append([split.name, name, round(hp, 3), round(dr, 3), int(differ.sum())])
    sample = ev.load_catalog_pairs(CATALOG_PAIRS)
    sample_vectors = fd.vectors_for(sample.items, emb)
    xs = ev.feature_matrix(sample, sample_vectors)
    ids = [it.id for it in sample.items]
    for name, th in thresholds.items():
        s = method_scores(xs, name)
        pair_prf = ev.prf(s, sample.labels, th)
        quality.append(["sample (pairs, in-sample)", name, round(th, 3), *[round(v, 3) for v in pair_prf]])
        quality.append(["sample (groups, in-sample)", name, round(th, 3),
                        *[round(v, 3) for v in group_prf(ids, sample.pairs, s, th)]])
    cv = dupes.MODEL.meta.get("cv", {}).get("sample")
    if cv:
        quality.append(["sample (pairs, 5-fold CV)", "model", round(thresholds["model"], 3), cv["precision"],
                        cv["recall"], cv["f1"]])
    n_pos = int(sum(p.same for p in pairs_data if p.split == "test"))
    n_neg = int(sum(1 - p.same for p in pairs_data if p.split == "test"))
    print_table(f"Near-duplicate quality (dev test split: {n_pos} same / {n_neg} not, never trained on; "
                f"sample (trained on): {int(sample.labels.sum())} same / "
                f"{len(sample.pairs) - int(sample.labels.sum())} not)",
                ["set", "method", "threshold", "precision", "recall", "F1"], quality)
    print_table("Hard cases on the dev test split (precision over positives + hard negatives only; "
                "recall on positives whose titles differ)",
                ["set", "method", "precision (hard)", "recall (names differ)", "pairs with names differ"], detail)
    assert test_full is not None
    n_catalog = 10_000 if args.quick else 100_000
    us = time_per_pair(test_full[0], test_full[1], n_catalog)
    print_table("Cost", ["what", "value"], [[f"µs per candidate pair (features + model, IDF of {n_catalog:,} items)",
                                             round(us, 1)]])


if __name__ == "__main__":
    main()
