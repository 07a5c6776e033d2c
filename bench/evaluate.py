"""Evaluation of near-duplicate scoring on labelled pairs (used by tests and bench, not by the CLI).

Two labelled sets live in tests/data/dupes/:

- ``devset.yaml``: a synthetic set of groups; items of one group (``work``) are the same work, items
  of different works in one category are hard negatives. Held-out folds: its categories.
- ``catalog_pairs.yaml``: every candidate pair the engine generates on the repository's real sample
  catalog, labelled by hand (the rule is at the top of the file). Held-out folds: 5 stratified folds,
  the positive pairs of one work kept in one fold.

The shipped model is fitted by bench/fit_dupes.py (on tests/data/dupes_dev/ and these sets) and
reported by bench/bench_dupes.py; the helpers here (features, logistic fit, thresholds, P/R/F1) serve
both, and `evaluate_methods` keeps the per-set held-out comparison with the TF-IDF and cosine
baselines: held-out figures refit weights AND threshold (best F0.5) without the fold being scored.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsletter.models import Item
from newsletter.semantic import dupes

BETA = 0.5  # F-beta used to choose thresholds: precision counts twice as much as recall
CATALOG_FOLDS = 5


@dataclass
class DevSet:
    """Items, their work/category, and labelled pairs (i, j, same)."""

    items: list[Item]
    groups: list[str]
    categories: list[str]
    pairs: list[tuple[int, int, int]]


@dataclass
class PairSet:
    """A labelled set ready for evaluation: items, pairs (i, j, same) and each pair's held-out fold."""

    name: str
    items: list[Item]
    pairs: list[tuple[int, int, int]]
    folds: list[str]

    @property
    def labels(self) -> np.ndarray:
        """The 0/1 label of every pair."""
        return np.array([s for _, _, s in self.pairs])


def _item(raw: dict, item_id: str) -> Item:
    url = raw["url"]
    return Item(
        id=item_id, kind=raw["kind"], url=url, canonical_url=url, title=raw.get("title", ""),
        summary=raw.get("summary", ""), authors=list(raw.get("authors") or []),
        published=raw.get("published"), tags=list(raw.get("tags") or []), extra=dict(raw.get("extra") or {}),
    )


def load_devset(path: Path) -> DevSet:
    """Read the YAML dev set and derive its labelled pairs (an item's ``work`` overrides its group)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    items: list[Item] = []
    groups: list[str] = []
    cats: list[str] = []
    for group in data:
        for ii, raw in enumerate(group["items"]):
            items.append(_item(raw, f"{group['group']}-{ii}"))
            groups.append(raw.get("work", group["group"]))
            cats.append(group["category"])
    pairs = []
    for i, j in itertools.combinations(range(len(items)), 2):
        if groups[i] == groups[j]:
            pairs.append((i, j, 1))
        elif cats[i] == cats[j]:
            pairs.append((i, j, 0))
    return DevSet(items, groups, cats, pairs)


def devset_pairs(dev: DevSet) -> PairSet:
    """The dev set as a PairSet whose folds are its categories."""
    return PairSet("devset", dev.items, dev.pairs, [dev.categories[i] for i, _, _ in dev.pairs])


def load_catalog_pairs(path: Path, *, folds: int = CATALOG_FOLDS, seed: int = 7) -> PairSet:
    """Read catalog_pairs.yaml; assign stratified folds, keeping each work's positive pairs together."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    items = [_item(raw, raw["id"]) for raw in data["items"]]
    index = {it.id: k for k, it in enumerate(items)}
    pairs = [(index[p["a"]], index[p["b"]], int(p["same"])) for p in data["pairs"]]
    # Positive pairs of one work (a connected component of positives) share a fold: no work is seen
    # in training while another of its pairs is being scored.
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, s in pairs:
        if s:
            parent[find(i)] = find(j)
    rng = random.Random(seed)
    works = sorted({find(i) for i, _, s in pairs if s})
    rng.shuffle(works)
    work_fold = {w: k % folds for k, w in enumerate(works)}
    negatives = [k for k, (_, _, s) in enumerate(pairs) if not s]
    rng.shuffle(negatives)
    neg_fold = {k: n % folds for n, k in enumerate(negatives)}
    fold_ids = [f"catalog-{work_fold[find(i)] if s else neg_fold[k]}" for k, (i, _, s) in enumerate(pairs)]
    return PairSet("catalog", items, pairs, fold_ids)


def feature_matrix(ps: PairSet | DevSet, vectors: np.ndarray) -> np.ndarray:
    """Features (dupes.FEATURES) of every pair; IDF over all the set's items, as a catalog would."""
    signals = [dupes.item_signals(it) for it in ps.items]
    idf = dupes.Idf.from_signals(signals)
    rows = [dupes.pair_features(signals[i], signals[j], float(vectors[i] @ vectors[j]), idf)
            for i, j, _ in ps.pairs]
    return np.array(rows).reshape(len(rows), len(dupes.FEATURES))


def prf(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Precision, recall, F1 of `scores >= threshold`."""
    return prf_pred(scores >= threshold, labels)


def prf_pred(pred: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F1 of boolean predictions."""
    tp = float(np.sum(pred & (labels == 1)))
    fp = float(np.sum(pred & (labels == 0)))
    fn = float(np.sum(~pred & (labels == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _fbeta(p: float, r: float, beta: float) -> float:
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def best_threshold(scores: np.ndarray, labels: np.ndarray, *, beta: float = 1.0) -> float:
    """The threshold of maximum F-beta (midpoint between neighbouring scores; ties → higher)."""
    values = np.unique(scores)
    if len(values) == 0:
        return 0.5
    cands = np.concatenate([[values[0] - 1e-6], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-6]])
    fs = [_fbeta(*prf(scores, labels, t)[:2], beta) for t in cands]
    best = max(fs)
    return float(max(t for t, f in zip(cands, fs, strict=True) if f == best))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 0.01, steps: int = 50,
                 sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularized logistic regression by Newton's method (IRLS).

    Ten features and a few thousand pairs: a library would add a dependency for nothing.
    The bias is not regularized.
    """
    xb = np.hstack([x, np.ones((len(x), 1))])
    pos = max(float(y.mean()), 1e-6)
    sample_w = np.where(y == 1, 0.5 / pos, 0.5 / max(1 - pos, 1e-6))
    if sample_weight is not None:
        sample_w = sample_w * sample_weight
    reg = np.full(xb.shape[1], l2 * len(y))
    reg[-1] = 0.0
    beta = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(xb @ beta, -50, 50)))
        grad = xb.T @ (sample_w * (p - y)) + reg * beta
        hess = (xb * (sample_w * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def gated_scores(x: np.ndarray, w: Sequence[float], b: float) -> np.ndarray:
    """dupes.combine over rows (logistic plus the same-feed rule) for given weights."""
    return np.array([dupes.combine(row, w, b) for row in x])


@dataclass
class Fit:
    """Fitted weights, bias and threshold."""

    weights: list[float]
    bias: float
    threshold: float


def fit(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> Fit:
    """Fit weights on the pairs of the given sets (each set weighs the same), then the
    threshold of best F0.5 on all their pairs. (The shipped model is fitted by bench/fit_dupes.py.)"""
    x = np.vstack(xs)
    y = np.concatenate(ys)
    set_w = np.concatenate([np.full(len(v), len(y) / (len(ys) * max(len(v), 1))) for v in ys])
    w, b = fit_logistic(x, y, l2=0.003, sample_weight=set_w)
    w = np.round(w, 2)
    b = round(b, 2)
    th = best_threshold(gated_scores(x, w, b), y, beta=BETA)
    return Fit([float(v) for v in w], float(b), round(th, 2))


@dataclass
class Result:
    """One method's quality on one set."""

    name: str
    threshold: float
    precision: float
    recall: float
    f1: float


def cross_validate(
    sets: Sequence[PairSet], xs: Sequence[np.ndarray],
    make: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], Callable[[np.ndarray], np.ndarray]],
) -> list[tuple[float, float, float]]:
    """Held-out P/R/F1 per set: for each fold of each set, fit on everything else (both sets), predict it.

    `make(x_trains, y_trains)` returns a predictor: rows -> bool array.
    """
    preds = [np.zeros(len(ps.pairs), dtype=bool) for ps in sets]
    for s, ps in enumerate(sets):
        folds = np.array(ps.folds)
        for fold in sorted(set(ps.folds)):
            test = folds == fold
            xtr = [x if t != s else x[~test] for t, x in enumerate(xs)]
            ytr = [q.labels if t != s else q.labels[~test] for t, q in enumerate(sets)]
            preds[s][test] = make(xtr, ytr)(xs[s][test])
    return [prf_pred(p, ps.labels) for p, ps in zip(preds, sets, strict=True)]


def _single(col: int) -> Callable[..., Callable[[np.ndarray], np.ndarray]]:
    def make(xtr: Sequence[np.ndarray], ytr: Sequence[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
        th = best_threshold(np.concatenate([x[:, col] for x in xtr]), np.concatenate(ytr), beta=BETA)
        return lambda xs: xs[:, col] >= th
    return make


def _combined(xtr: Sequence[np.ndarray], ytr: Sequence[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    f = fit(xtr, ytr)
    return lambda xs: gated_scores(xs, f.weights, f.bias) >= f.threshold


def evaluate_methods(
    sets: Sequence[PairSet], vectors: Sequence[np.ndarray],
) -> dict[str, dict[str, list[Result]]]:
    """P/R/F1 of the combined score vs TF-IDF cosine vs embedding cosine, per set.

    Returns {"shipped": {method: [Result per set]}, "cv": {...}}. "shipped" uses dupes.WEIGHTS and
    DEFAULT_THRESHOLD (and, for the single-signal baselines, the best-F0.5 threshold on both sets)
    on the whole sets: in-sample. "cv" refits weights and thresholds without the scored fold.
    """
    xs = [feature_matrix(ps, v) for ps, v in zip(sets, vectors, strict=True)]
    out: dict[str, dict[str, list[Result]]] = {"shipped": {}, "cv": {}}
    t = dupes.DEFAULT_THRESHOLD
    out["shipped"]["combined"] = [
        Result("combined", t, *prf(gated_scores(x, dupes.WEIGHTS, dupes.BIAS), ps.labels, t))
        for ps, x in zip(sets, xs, strict=True)
    ]
    for name, col in (("tfidf", dupes.FEATURES.index("tfidf")), ("cosine", dupes.FEATURES.index("cos"))):
        all_scores = np.concatenate([x[:, col] for x in xs])
        bt = best_threshold(all_scores, np.concatenate([ps.labels for ps in sets]), beta=BETA)
        out["shipped"][name] = [Result(name, bt, *prf(x[:, col], ps.labels, bt))
                                for ps, x in zip(sets, xs, strict=True)]
    for name, make in (("combined", _combined), ("tfidf", _single(dupes.FEATURES.index("tfidf"))),
                       ("cosine", _single(dupes.FEATURES.index("cos")))):
        out["cv"][name] = [Result(name, float("nan"), *r) for r in cross_validate(sets, xs, make)]
    return out


def fit_weights(sets: Sequence[PairSet], vectors: Sequence[np.ndarray]) -> Fit:
    """Weights, bias and threshold fitted on the union of the sets (how dupes.WEIGHTS were set)."""
    xs = [feature_matrix(ps, v) for ps, v in zip(sets, vectors, strict=True)]
    return fit(xs, [ps.labels for ps in sets])


def pair_cosines(dev: PairSet | DevSet, vectors: np.ndarray) -> np.ndarray:
    """Embedding cosine of each pair."""
    return np.array([float(vectors[i] @ vectors[j]) for i, j, _ in dev.pairs])
