"""Near-duplicate decisions: is this pair the same resource? (pure functions, no I/O)

Why not embedding cosine alone: measured on this machine (and on tests/data/dupes/), MiniLM
cosine separates "same resource" from "same topic" worse than TF-IDF: embeddings carry topic,
while identity lives in names and exact terms (QLoRA vs LoRA, vLLM vs TGI, arXiv ids, repos).
So a pair is scored by a logistic combination of:

- ``cos``       embedding cosine (also what generates candidates, through the index)
- ``tfidf``     TF-IDF cosine over content words, IDF from the catalog
- ``names``     IDF-weighted overlap of name-like tokens (CamelCase, digits, ALLCAPS, capitalized
                words, repo names, hosts) — the "which thing is this" signal
- ``title_cover`` how much of each title's names the other item mentions
- ``id_match``  both point at the same strong identifier (arXiv id, GitHub repo, URL, tweet links)
- ``id_clash``  both carry strong identifiers of one type and none agree (two different arXiv ids)
- ``far``       published more than ~13 months apart

The weights are fitted on tests/data/dupes/ (see `newsletter.semantic.evaluate`; bench re-fits
them with leave-one-category-out cross-validation and reports P/R/F1 against the baselines).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from newsletter.models import Item

FEATURES = ("cos", "tfidf", "names", "title_cover", "id_match", "id_clash", "far")
# Fitted by evaluate.fit_weights() on tests/data/dupes/devset.yaml (all-MiniLM-L6-v2).
WEIGHTS = (5.22, 6.72, 2.89, 1.09, 2.26, -3.61, -1.07)
BIAS = -2.98
DEFAULT_THRESHOLD = 0.56
# Candidates below this embedding cosine are never scored (no dev-set duplicate is near it).
CANDIDATE_FLOOR = 0.25
FAR_DAYS = 400

_STOP_WORDS = """
a an the and or but if of in on at to for from by with without into onto over under about as is are
was were be been being it its this that these those we our us you your they their them he she his
her i my me not no nor so than then too very can could will would should may might must do does did
done have has had having new now just also more most less least many much such only own same other
another each every all any both few some how what which who whom why when where while here there up
down out off again further once via per using use used based show shows shown make makes made get
gets one two three first second today release released releases introduce introducing present
propose proposed paper model models https http www com org github arxiv abs html blog news x status
watch youtube episode podcast
"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9+#.\-]*[A-Za-z0-9+#]|[A-Za-z]|\d+(?:\.\d+)?[A-Za-z]+")
_URL_RE = re.compile(r"(?:https?://)?(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s)\]>\"']*)?", re.I)
_ARXIV_RE = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")
_SENT_START_RE = re.compile(r"(?:^|[.!?:\n]\s*)([A-Z][a-z]+)")
# "Llama 2", "GPT 4", "Mistral 7B": a name and its version are one name ("llama2").
_VERSIONED_RE = re.compile(r"\b([A-Z][A-Za-z]+)[ -](\d+(?:\.\d+)?[A-Za-z]?)\b")


@dataclass(frozen=True)
class Signals:
    """What the scorer needs to know about one item (computed once per item text)."""

    words: Counter[str] = field(default_factory=Counter)
    names: frozenset[str] = frozenset()
    title_names: frozenset[str] = frozenset()  # names in the title: what the item is *about*
    strong: frozenset[str] = frozenset()  # "arxiv:2106.09685", "repo:owner/name", "url:host/path"
    published: str | None = None
    kind: str = ""


def _norm_name(token: str) -> str:
    return re.sub(r"[^a-z0-9]", "", token.lower())


def _url_ids(url: str) -> set[str]:
    """Strong ids of one URL: the URL itself (sans scheme/www/query), arXiv id, GitHub repo."""
    out: set[str] = set()
    if not url:
        return out
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    host = (parts.hostname or "").removeprefix("www.")
    path = parts.path.rstrip("/")
    if not host:
        return out
    out.add(f"url:{host}{path}".lower())
    if host.endswith("arxiv.org"):
        match = _ARXIV_RE.search(path)
        if match:
            out.add(f"arxiv:{match.group(1)}")
    if host == "github.com":
        segs = [s for s in path.split("/") if s]
        if len(segs) >= 2:
            out.add(f"repo:{segs[0].lower()}/{segs[1].lower()}")
    return out


def item_text(item: Item) -> str:
    """Title, summary and a tweet's own text: what the scorer reads."""
    extra = item.extra or {}
    parts = [item.title, item.summary]
    if item.kind == "tweet" and extra.get("text"):
        parts.append(str(extra["text"]))
    return "\n".join(p for p in parts if p)


def item_signals(item: Item) -> Signals:
    """Tokens, names and strong identifiers of an item (pure)."""
    text = item_text(item)
    extra = item.extra or {}
    strong: set[str] = set()
    for url in [item.canonical_url or item.url, *(extra.get("links") or []), *_URL_RE.findall(text)]:
        strong |= _url_ids(str(url))
    for arxiv in [extra.get("arxiv_id"), *_ARXIV_RE.findall(text)]:
        if arxiv:
            strong.add(f"arxiv:{arxiv}")
    if item.kind == "repo" and "/" in (item.title or "") and " " not in item.title.strip():
        strong.add(f"repo:{item.title.strip().lower()}")
    text_wo_urls = _URL_RE.sub(" ", text)
    words: Counter[str] = Counter()
    for token in _WORD_RE.findall(text_wo_urls):
        lower = token.lower().strip(".-")
        if lower and lower not in _STOP and len(lower) > 1:
            words[lower] += 1
    names = _names(text_wo_urls)
    # A tweet's title is "@handle on X": its first sentence says what it is about instead.
    title = item.title if item.kind != "tweet" else re.split(r"(?<=[.!?])\s", item.summary or "", maxsplit=1)[0]
    title_names = _names(_URL_RE.sub(" ", title or ""))
    for ident in strong:
        if ident.startswith("repo:"):
            owner, _, name = ident[5:].partition("/")
            names.update({_norm_name(owner), _norm_name(name)})
    names.discard("")
    return Signals(words, frozenset(names), frozenset(title_names) - {""}, frozenset(strong),
                   item.published, item.kind)


def _names(text: str) -> set[str]:
    """Name-like tokens: digits+letters, inner capitals, ALLCAPS, capitalized mid-sentence words."""
    sentence_starts = set(_SENT_START_RE.findall(text))
    names = {_norm_name(a + b) for a, b in _VERSIONED_RE.findall(text)}
    for token in _WORD_RE.findall(text):
        is_name = (
            (any(c.isdigit() for c in token) and any(c.isalpha() for c in token))
            or any(c.isupper() for c in token[1:])
            or (token[:1].isupper() and token not in sentence_starts)
        )
        if is_name and token.lower().strip(".-") not in _STOP:
            names.add(_norm_name(token))
    names.discard("")
    return names


class Idf:
    """Inverse document frequencies over a catalog; unseen terms count as seen once."""

    def __init__(self, df: Mapping[str, int], n_docs: int) -> None:
        self.df, self.n = df, max(n_docs, 1)
        self._unseen = math.log((self.n + 1) / 1) + 1.0

    def __call__(self, term: str) -> float:
        """The smoothed IDF of a term."""
        count = self.df.get(term)
        return self._unseen if not count else math.log((self.n + 1) / (count + 1)) + 1.0

    @classmethod
    def from_signals(cls, signals: Iterable[Signals]) -> Idf:
        """Document frequencies of words and names over the given items."""
        df: Counter[str] = Counter()
        n = 0
        for sig in signals:
            n += 1
            df.update(set(sig.words))
            df.update({"name:" + name for name in sig.names})
        return cls(df, n)


def tfidf_cosine(a: Signals, b: Signals, idf: Idf) -> float:
    """Cosine of sublinear-TF × IDF word vectors."""
    if not a.words or not b.words:
        return 0.0

    def weights(words: Counter[str]) -> dict[str, float]:
        return {w: (1.0 + math.log(c)) * idf(w) for w, c in words.items()}

    wa, wb = weights(a.words), weights(b.words)
    dot = sum(v * wb[w] for w, v in wa.items() if w in wb)
    na = math.sqrt(sum(v * v for v in wa.values()))
    nb = math.sqrt(sum(v * v for v in wb.values()))
    return dot / (na * nb) if na and nb else 0.0


def name_overlap(a: Signals, b: Signals, idf: Idf) -> float:
    """IDF-weighted Jaccard of name sets (not overlap: a name-poor item would match everything)."""
    if not a.names or not b.names:
        return 0.0
    shared = sum(idf("name:" + n) for n in a.names & b.names)
    union = sum(idf("name:" + n) for n in a.names | b.names)
    return shared / union if union else 0.0


def title_cover(a: Signals, b: Signals, idf: Idf) -> float:
    """How much of each title's names the other item mentions (IDF-weighted, the weaker side).

    A blog post about QLoRA mentions "QLoRA"; a post about LoRA that the QLoRA paper cites does
    not have "QLoRA" anywhere, so the QLoRA title is not covered.
    """
    covers = []
    for x, y in ((a, b), (b, a)):
        if x.title_names:
            total = sum(idf("name:" + n) for n in x.title_names)
            covers.append(sum(idf("name:" + n) for n in x.title_names & y.names) / total)
    return min(covers) if covers else 0.0


def _days_apart(a: str | None, b: str | None) -> int | None:
    try:
        return abs((dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days) if a and b else None
    except ValueError:
        return None


def pair_features(a: Signals, b: Signals, cosine: float, idf: Idf) -> np.ndarray:
    """The feature vector (see FEATURES) of a pair."""
    id_match = 1.0 if a.strong & b.strong else 0.0
    clash = 0.0
    if not id_match:
        for prefix in ("arxiv:", "repo:"):
            sa = {s for s in a.strong if s.startswith(prefix)}
            sb = {s for s in b.strong if s.startswith(prefix)}
            if sa and sb:
                clash = 1.0
    days = _days_apart(a.published, b.published)
    far = 1.0 if days is not None and days > FAR_DAYS else 0.0
    return np.array([cosine, tfidf_cosine(a, b, idf), name_overlap(a, b, idf), title_cover(a, b, idf),
                     id_match, clash, far])


def combine(features: np.ndarray, weights: Iterable[float] = WEIGHTS, bias: float = BIAS) -> float:
    """Logistic combination of features: a same-resource score in [0, 1]."""
    z = float(np.dot(np.asarray(list(weights), dtype=float), features) + bias)
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def pair_score(a: Item, b: Item, cosine: float, idf: Idf) -> float:
    """Same-resource score of two items given their embedding cosine and the catalog's IDF."""
    return combine(pair_features(item_signals(a), item_signals(b), cosine, idf))


@dataclass
class DuplicateGroup:
    """Items that are (transitively) near-duplicates, with the pair scores that link them."""

    ids: list[str]
    pairs: list[tuple[str, str, float]]

    @property
    def score(self) -> float:
        """The strongest link in the group."""
        return max((s for _, _, s in self.pairs), default=0.0)


def connected_groups(pairs: Iterable[tuple[str, str, float]], threshold: float) -> list[DuplicateGroup]:
    """Connected components over pairs scoring ≥ threshold; groups sorted by best score."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    kept = [(a, b, s) for a, b, s in pairs if s >= threshold and a != b]
    for a, b, _ in kept:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, DuplicateGroup] = {}
    for a, b, s in kept:
        group = groups.setdefault(find(a), DuplicateGroup([], []))
        group.pairs.append((a, b, s) if a < b else (b, a, s))
    for group in groups.values():
        group.ids = sorted({x for a, b, _ in group.pairs for x in (a, b)})
        group.pairs = sorted(set(group.pairs), key=lambda p: (-p[2], p[0], p[1]))
    return sorted(groups.values(), key=lambda g: (-g.score, g.ids))
