"""Evaluation of near-duplicate scoring on a labelled set (used by tests and bench, not by the CLI).

The dev set (tests/data/dupes/devset.yaml) is a list of groups; items of one group are the same
resource, items of different groups in one category are hard negatives. Thresholds and weights are
chosen by maximum F1 and checked by leave-one-category-out cross-validation, so every reported
figure comes from categories the fit never saw.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsletter.models import Item
from newsletter.semantic import dupes


@dataclass
class DevSet:
    """Items, their group/category, and labelled pairs (i, j, same)."""

    items: list[Item]
    groups: list[str]
    categories: list[str]
    pairs: list[tuple[int, int, int]]


def load_devset(path: Path) -> DevSet:
    """Read the YAML dev set and derive its labelled pairs."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    items: list[Item] = []
    groups: list[str] = []
    cats: list[str] = []
    for group in data:
        for ii, raw in enumerate(group["items"]):
            url = raw["url"]
            items.append(Item(
                id=f"{group['group']}-{ii}", kind=raw["kind"], url=url, canonical_url=url,
                title=raw.get("title", ""), summary=raw.get("summary", ""),
                published=raw.get("published"), extra=dict(raw.get("extra") or {}),
            ))
            groups.append(group["group"])
            cats.append(group["category"])
    pairs = []
    for i, j in itertools.combinations(range(len(items)), 2):
        if groups[i] == groups[j]:
            pairs.append((i, j, 1))
        elif cats[i] == cats[j]:
            pairs.append((i, j, 0))
    return DevSet(items, groups, cats, pairs)


def feature_matrix(dev: DevSet, vectors: np.ndarray) -> np.ndarray:
    """Features (dupes.FEATURES) of every dev pair; IDF over all dev items, as a catalog would."""
    signals = [dupes.item_signals(it) for it in dev.items]
    idf = dupes.Idf.from_signals(signals)
    rows = [dupes.pair_features(signals[i], signals[j], float(vectors[i] @ vectors[j]), idf)
            for i, j, _ in dev.pairs]
    return np.array(rows)


def prf(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Precision, recall, F1 of `scores >= threshold`."""
    pred = scores >= threshold
    tp = float(np.sum(pred & (labels == 1)))
    fp = float(np.sum(pred & (labels == 0)))
    fn = float(np.sum(~pred & (labels == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold of maximum F1 (midpoint between neighbouring scores, ties → higher)."""
    values = np.unique(scores)
    cands = np.concatenate([[values[0] - 1e-6], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-6]])
    f1s = [prf(scores, labels, t)[2] for t in cands]
    best = max(f1s)
    return float(max(t for t, f in zip(cands, f1s, strict=True) if f == best - 0.0)) if f1s else 0.5


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 0.001, steps: int = 50) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularized logistic regression by Newton's method (IRLS).

    Six features and a few hundred pairs: a library would add a dependency for nothing.
    The bias is not regularized.
    """
    xb = np.hstack([x, np.ones((len(x), 1))])
    pos = max(float(y.mean()), 1e-6)
    sample_w = np.where(y == 1, 0.5 / pos, 0.5 / max(1 - pos, 1e-6))
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


def _scores(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x @ w + b, -50, 50)))


@dataclass
class Result:
    """One method's quality on the dev set."""

    name: str
    threshold: float
    precision: float
    recall: float
    f1: float


def cross_validate(
    dev: DevSet, x: np.ndarray,
    scorer: Callable[[np.ndarray, np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]],
) -> tuple[float, float, float]:
    """Leave-one-category-out P/R/F1: fit (weights and threshold) on the other categories, test on one.

    `scorer(x_train, y_train, ...)` returns (score function, threshold) wrapped: see `evaluate_methods`.
    """
    labels = np.array([s for _, _, s in dev.pairs])
    pair_cat = np.array([dev.categories[i] for i, _, _ in dev.pairs])
    tp = fp = fn = 0.0
    for cat in sorted(set(pair_cat)):
        test = pair_cat == cat
        fn_score = scorer(x[~test], labels[~test], x[test])
        pred = fn_score(x[test])
        tp += float(np.sum(pred & (labels[test] == 1)))
        fp += float(np.sum(pred & (labels[test] == 0)))
        fn += float(np.sum(~pred & (labels[test] == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate_methods(dev: DevSet, vectors: np.ndarray) -> dict[str, dict[str, Result]]:
    """P/R/F1 of the combined score vs TF-IDF cosine vs embedding cosine.

    Returns {"shipped": ..., "cv": ...}: "shipped" uses dupes.WEIGHTS/DEFAULT_THRESHOLD (and the
    max-F1 threshold for the single-signal baselines) on the whole set — optimistic for the baselines;
    "cv" refits everything per held-out category.
    """
    x = feature_matrix(dev, vectors)
    y = np.array([s for _, _, s in dev.pairs])
    out: dict[str, dict[str, Result]] = {"shipped": {}, "cv": {}}
    shipped = np.array([dupes.combine(row) for row in x])
    t = dupes.DEFAULT_THRESHOLD
    out["shipped"]["combined"] = Result("combined", t, *prf(shipped, y, t))
    for name, col in (("tfidf", 1), ("cosine", 0)):
        bt = best_threshold(x[:, col], y)
        out["shipped"][name] = Result(name, bt, *prf(x[:, col], y, bt))

    def single(col: int) -> Callable[..., Callable[[np.ndarray], np.ndarray]]:
        def make(xtr: np.ndarray, ytr: np.ndarray, _xte: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            th = best_threshold(xtr[:, col], ytr)
            return lambda xs: xs[:, col] >= th
        return make

    def combined(xtr: np.ndarray, ytr: np.ndarray, _xte: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        w, b = fit_logistic(xtr, ytr)
        th = best_threshold(_scores(xtr, w, b), ytr)
        return lambda xs: _scores(xs, w, b) >= th

    out["cv"]["combined"] = Result("combined", float("nan"), *cross_validate(dev, x, combined))
    out["cv"]["tfidf"] = Result("tfidf", float("nan"), *cross_validate(dev, x, single(1)))
    out["cv"]["cosine"] = Result("cosine", float("nan"), *cross_validate(dev, x, single(0)))
    return out


def fit_weights(dev: DevSet, vectors: np.ndarray) -> tuple[list[float], float, float]:
    """Weights, bias and max-F1 threshold fitted on the whole dev set (how dupes.WEIGHTS were set)."""
    x = feature_matrix(dev, vectors)
    y = np.array([s for _, _, s in dev.pairs])
    w, b = fit_logistic(x, y)
    return [round(float(v), 2) for v in w], round(b, 2), best_threshold(_scores(x, w, b), y)


def pair_cosines(dev: DevSet, vectors: np.ndarray, pairs: Sequence[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Embedding cosine of each dev pair."""
    return np.array([float(vectors[i] @ vectors[j]) for i, j, _ in (pairs or dev.pairs)])
