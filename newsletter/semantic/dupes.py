"""Near-duplicate decisions: is this pair the same work? (pure functions, no I/O)

"Same" means the same resource, or the same work in another form: a paper, its official repo, its
authors' launch post or announcement thread, a talk or episode about exactly that work by its
authors. Two works on one topic, two works by one author, and explainers by others are NOT the same
(labelling rule in tests/data/dupes/catalog_pairs.yaml).

Why not embedding cosine (or TF-IDF) alone: both measure topic. On the real sample catalog they rate
two Karpathy talks, two RLHF explainers or two podcast shows as high as a paper and its repo. Identity
lives in specific names and ids, so a pair must first show EVIDENCE — a shared strong id, a shared
distinctive name, or near-identical titles — and only then is it scored by a logistic combination of:

- ``cos``       embedding cosine (also what generates candidates, through the index)
- ``tfidf``     TF-IDF cosine over content words, IDF from the catalog
- ``key``       rarity of the best *identity name* of one item that the other item mentions.
                Identity names come from the title (CamelCase/ALLCAPS/digit names such as "QLoRA",
                "MTEB", "FlashAttention-2", the short head before a colon, acronyms of capitalized
                runs: "Hierarchical Navigable Small World" -> "hnsw") and a repo's name
                ("nmslib/hnswlib" -> "hnswlib", "hnsw"). Generic words ("GPT", "LLM", "Transformer")
                and plain capitalized words (people, "Agents") are never identity names. Rarity is the
                name's catalog IDF scaled to [0, 1], so a name many items carry ("LoRA") counts less.
                A shared name is ignored when one item's own name extends it and the other never
                says so ("QLoRA" vs a LoRA post; "FlashAttention-2" vs FlashAttention).
- ``key_both``  the same, for names in BOTH identities (a repo named like the paper's title head)
- ``code_of``   a paper and a repo named after a name the paper carries ("faiss", "vllm", "hnsw")
- ``authors``   share of the smaller author list that the other shares (surnames): weak alone —
                two Karpathy talks share him — but a launch post by the paper's authors is the rule
- ``near``      published within 30 days (a work's paper, post and thread come out together)
- ``far``       published more than ~13 months apart (an explainer years later)
- ``id_match``  both point at the same strong identifier (arXiv id, GitHub repo, URL, tweet links)
- ``clash``     two different items of one kind that names a single work (paper, repo, video, tweet,
                podcast episode) whose titles differ, or two different arXiv ids / repos
- ``title_sim`` word Jaccard of the titles (a re-post under the same title; also part of the gate)

Without evidence the score is capped at NO_EVIDENCE_CAP, below any sensible threshold. Weights are
fitted on tests/data/dupes/ (devset.yaml + catalog_pairs.yaml) by `bench/evaluate.py`,
which also reports held-out P/R/F1 against the TF-IDF and cosine baselines.
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

FEATURES = ("cos", "tfidf", "key", "key_both", "code_of", "authors", "near", "far", "id_match", "clash",
            "title_sim")
# Fitted by bench/evaluate.py fit_weights() on tests/data/dupes/ (both sets, all-MiniLM-L6-v2).
WEIGHTS = (1.82, 2.05, 0.36, 1.59, 1.33, 0.68, 1.37, -0.8, 1.92, -1.18, 0.77)
BIAS = -2.44
# Best F0.5 on both sets (precision first); held-out figures in evaluate / bench.
DEFAULT_THRESHOLD = 0.53
# A pair with no shared id, no shared distinctive name and unlike titles never scores above this.
NO_EVIDENCE_CAP = 0.05
# A shared identity name counts as evidence only when at least this rare (scaled IDF, see `key`).
KEY_FLOOR = 0.55
# Titles this similar (word Jaccard) are evidence on their own: the same piece re-posted.
SAME_TITLE = 0.9
# Grouping: a pair across two groups "supports" joining them when it scores >= this x threshold.
SUPPORT_RATIO = 0.75
# Candidates below this embedding cosine are never scored (no labelled duplicate is near it).
CANDIDATE_FLOOR = 0.25
FAR_DAYS = 400
NEAR_DAYS = 30
# Kinds whose distinct URLs are distinct works (a web page may be a cross-post of another).
_SINGLE_WORK_KINDS = frozenset({"paper", "repo", "video", "tweet", "podcast"})
# Names every other item carries in this field: never evidence of identity.
_GENERIC_NAMES = frozenset({
    "gpt", "gpts", "llm", "llms", "ai", "ml", "nlp", "api", "apis", "gpu", "gpus", "cpu", "cpus", "tpu",
    "transformer", "transformers", "chatgpt", "rag", "sota", "mlops", "genai", "faq", "url", "http",
    "https", "html", "pdf", "github", "arxiv", "youtube", "x", "twitter", "python", "pytorch", "cuda",
    "ios", "os", "bert", "bm25", "cot", "rl", "sft", "moe", "kv", "qa", "ui", "ux", "sql", "apache20", "rlhf",
})
# Sizes, speed-ups and hardware ("7B", "13x", "A100") say how big or fast, not which work.
_MEASURE_RE = re.compile(r"^(?:\d+(?:\.\d+)?[a-z]{0,2}|[a-z]\d{2,4})$")
_CONNECTORS = frozenset({"of", "for", "from", "and", "with", "the", "to", "in", "on", "via", "a"})

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
# Words (with inner hyphens/apostrophes) or any other non-space run, which ends an acronym run.
_TITLE_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’]*(?:-[A-Za-z0-9]+)*|[^\sA-Za-z]+")
# Affixes that make a repo name out of a work's name: "hnswlib", "pyserini", "llama.cpp".
_REPO_AFFIXES = ("lib", "py", "python", "js", "rs", "go")


@dataclass(frozen=True)
class Signals:
    """What the scorer needs to know about one item (computed once per item text)."""

    words: Counter[str] = field(default_factory=Counter)
    names: frozenset[str] = frozenset()
    title_names: frozenset[str] = frozenset()  # names in the title: what the item is *about*
    strong: frozenset[str] = frozenset()  # "arxiv:2106.09685", "repo:owner/name", "url:host/path"
    published: str | None = None
    kind: str = ""
    keys: frozenset[str] = frozenset()  # identity names: what this item IS (see module docstring)
    authors: frozenset[str] = frozenset()  # normalized surnames
    title_words: frozenset[str] = frozenset()
    literal_keys: frozenset[str] = frozenset()  # keys spelled out as such (not acronyms we derived)
    repo_names: frozenset[str] = frozenset()  # a repo's own name and stems ("hnswlib", "hnsw")


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
    video = _youtube_id(host, path, parts.query)
    if video:
        out.add(f"youtube:{video}")
        out.discard(f"url:{host}{path}".lower())  # "youtube.com/watch" alone names no video
    if host.endswith("arxiv.org"):
        match = _ARXIV_RE.search(path)
        if match:
            out.add(f"arxiv:{match.group(1)}")
    if host == "github.com":
        segs = [s for s in path.split("/") if s]
        if len(segs) >= 2:
            out.add(f"repo:{segs[0].lower()}/{segs[1].lower()}")
    return out


def _youtube_id(host: str, path: str, query: str) -> str:
    if host == "youtu.be":
        return path.strip("/")
    if host.endswith("youtube.com"):
        if path == "/watch":
            return next((v for k, _, v in (kv.partition("=") for kv in query.split("&")) if k == "v"), "")
        if path.startswith(("/shorts/", "/embed/", "/live/")):
            return path.split("/")[2] if len(path.split("/")) > 2 else ""
    return ""


def item_text(item: Item) -> str:
    """Title, summary and a tweet's own text: what the scorer reads."""
    extra = item.extra or {}
    parts = [item.title, item.summary]
    if item.kind == "tweet" and extra.get("text"):
        parts.append(str(extra["text"]))
    return "\n".join(p for p in parts if p)


def _about_line(item: Item) -> str:
    """The line that says what an item is: its title; for a tweet also the first sentence it says."""
    title = item.title or ""
    if item.kind == "tweet":
        first = re.split(r"(?<=[.!?])\s", item.summary or "", maxsplit=1)[0]
        # "@handle on X" says nothing: the first sentence does.
        title = first if title.startswith("@") or not title else f"{title}. {first}"
    return _URL_RE.sub(" ", title)


def _repo_keys(repo: str) -> set[str]:
    """Identity names of a GitHub repo "owner/name": the name, its parts, its stem without affixes."""
    _, _, name = repo.partition("/")
    out = {_norm_name(name)}
    parts = [p for p in re.split(r"[-_.]", name.lower()) if p]
    if len(parts) > 1:
        # "llm-awq" names AWQ; "flash-attention" does not name "attention".
        generic = [p for p in parts if p in _GENERIC_NAMES or p in _REPO_AFFIXES]
        if len(generic) == len(parts) - 1:
            out.update(p for p in parts if p not in generic)
        if len(parts) >= 3:
            out.add("".join(p[0] for p in parts))  # text-generation-inference -> tgi
    stem = _norm_name(name)
    for affix in _REPO_AFFIXES:
        if stem.endswith(affix) and len(stem) - len(affix) >= 3:
            out.add(stem[: -len(affix)])
        if stem.startswith(affix) and len(stem) - len(affix) >= 3:
            out.add(stem[len(affix):])
    return out


def _title_keys(line: str) -> tuple[set[str], set[str]]:
    """Identity names in a title: (shaped names and a short head before a colon, acronyms of Title Runs)."""
    out: set[str] = set()
    acronyms: set[str] = set()
    for a, b in _VERSIONED_RE.findall(line):
        out.add(_norm_name(a + b))
    for token in _WORD_RE.findall(line):
        core = token.strip(".-")
        parts = [p for p in core.split("-") if p]
        # Judge each part of a compound: "Sentence-BERT" is a name, "Parameter-Efficient" is not.
        if core.lower() not in _STOP and any(_shaped(p) for p in parts):
            out.add(_norm_name(core))
            out.update(_norm_name(p) for p in parts if len(parts) > 1 and any(c.isupper() for c in p[1:]))
    head, colon, _ = line.partition(":")
    head_words = head.split()
    if colon and len(head_words) == 1 and head_words[0][:1].isupper():
        out.add(_norm_name(head))  # "Toolformer: ...", "Medusa: ..."
    # Acronyms of runs of >= 3 capitalized words ("Massive Text Embedding Benchmark" -> "mteb");
    # hyphenated words give one letter per part ("Parameter-Efficient Fine-Tuning" -> "peft").
    run: list[str] = []
    for word in [*_TITLE_TOKEN_RE.findall(line), "."]:
        if word[:1].isupper():
            run.extend(p[0].lower() for p in word.split("-") if p)
        elif word.lower() in _CONNECTORS and run:
            continue
        else:
            if 3 <= len(run) <= 5:
                acronyms.add("".join(run))
            run = []
    return {k for k in out if _is_key(k)}, {k for k in acronyms if _is_key(k)}


def _shaped(part: str) -> bool:
    """Looks like a name on its own: digits with letters, inner capitals, ALLCAPS ("vLLM", "GPT4")."""
    return (any(c.isdigit() for c in part) and any(c.isalpha() for c in part)) or any(
        c.isupper() for c in part[1:])


def _is_key(name: str) -> bool:
    return len(name) >= 3 and name not in _GENERIC_NAMES and not _MEASURE_RE.match(name)


def _surnames(authors: Iterable[str]) -> frozenset[str]:
    out = set()
    for author in authors or ():
        parts = [_norm_name(p) for p in str(author).split()]
        parts = [p for p in parts if len(p) >= 3]
        if parts:
            out.add(parts[-1])
    return frozenset(out)


def _title_words(line: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD_RE.findall(line) if w.lower() not in _STOP and len(w) > 1)


def item_signals(item: Item) -> Signals:
    """Tokens, names, identity names and strong identifiers of an item (pure)."""
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
    about = _about_line(item)
    title_names = _names(about)
    literal, acronyms = _title_keys(about)
    keys = literal | acronyms
    repo_names: set[str] = set()
    own_repo = f"repo:{item.title.strip().lower()}" if item.kind == "repo" else ""
    for ident in strong:
        if ident.startswith("repo:"):
            owner, _, name = ident[5:].partition("/")
            names.update({_norm_name(owner), _norm_name(name)})
            if ident == own_repo or item.kind == "repo":
                repo_keys = {k for k in _repo_keys(ident[5:]) if _is_key(k)}
                keys |= repo_keys
                literal |= repo_keys
                repo_names |= repo_keys
                names.update(repo_keys)
    names |= keys  # an item mentions its own identity names
    names.discard("")
    return Signals(words, frozenset(names), frozenset(title_names) - {""}, frozenset(strong),
                   item.published, item.kind, frozenset(keys) - {""}, _surnames(item.authors),
                   _title_words(about), frozenset(literal), frozenset(repo_names))


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
            if "-" in token.strip("-"):  # "FlashAttention-2" also names "FlashAttention"
                names.update(_norm_name(p) for p in token.split("-") if any(c.isupper() for c in p[1:]))
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

    def rarity(self, name: str) -> float:
        """A name's IDF scaled to [0, 1] (1: no other item has it)."""
        return min(self(f"name:{name}") / self._unseen, 1.0)

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


def shared_keys(a: Signals, b: Signals) -> set[str]:
    """Identity names of either item that the other item mentions, unless shadowed.

    A shared name is shadowed when one item's identity is a more specific name containing it that
    the other item never mentions: "QLoRA" vs a LoRA post share "LoRA", but the paper is QLoRA;
    FlashAttention-2 vs FlashAttention share "FlashAttention", but v2 is another work.
    """
    shared = (a.keys & b.names) | (b.keys & a.names)

    def shadowed(name: str) -> bool:
        return any(_extends(k, name) and k not in y.names
                   for x, y in ((a, b), (b, a)) for k in x.literal_keys)

    return {n for n in shared if not shadowed(n)}


def _extends(longer: str, name: str) -> bool:
    """`longer` is a more specific name built on `name` ("qlora" on "lora", "llama2" on "llama"),
    not just `name` with a packaging affix or a generic word ("hnswlib", "llmawq")."""
    if name not in longer or longer == name:
        return False
    start = longer.index(name)
    extra = longer[:start] + longer[start + len(name):]
    return extra not in _REPO_AFFIXES and extra not in _GENERIC_NAMES


def code_of(a: Signals, b: Signals, shared: set[str]) -> float:
    """1 when one item is a paper and the other a repo named after a name the paper carries."""
    for x, y in ((a, b), (b, a)):
        if x.kind == "repo" and y.kind == "paper" and x.repo_names & shared:
            return 1.0
    return 0.0


def key_strength(a: Signals, b: Signals, idf: Idf) -> tuple[float, float, float]:
    """(best rarity of a shared identity name, best rarity of a name in both identities, code_of)."""
    shared = shared_keys(a, b)
    key = max((idf.rarity(n) for n in shared), default=0.0)
    both = max((idf.rarity(n) for n in shared & a.keys & b.keys), default=0.0)
    return key, both, code_of(a, b, shared)


def _days_apart(a: str | None, b: str | None) -> int | None:
    try:
        return abs((dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days) if a and b else None
    except ValueError:
        return None


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def pair_features(a: Signals, b: Signals, cosine: float, idf: Idf) -> np.ndarray:
    """The feature vector (see FEATURES) of a pair."""
    id_match = 1.0 if a.strong & b.strong else 0.0
    title_sim = _jaccard(a.title_words, b.title_words)
    clash = 0.0
    if not id_match:
        for prefix in ("arxiv:", "repo:"):
            sa = {s for s in a.strong if s.startswith(prefix)}
            sb = {s for s in b.strong if s.startswith(prefix)}
            if sa and sb:
                clash = 1.0
        if a.kind == b.kind and a.kind in _SINGLE_WORK_KINDS and title_sim < SAME_TITLE:
            clash = 1.0
    days = _days_apart(a.published, b.published)
    far = 1.0 if days is not None and days > FAR_DAYS else 0.0
    near = 1.0 if days is not None and days <= NEAR_DAYS else 0.0
    authors = 0.0
    if a.authors and b.authors:
        authors = len(a.authors & b.authors) / min(len(a.authors), len(b.authors))
    key, both, code = key_strength(a, b, idf)
    return np.array([cosine, tfidf_cosine(a, b, idf), key, both, code, authors, near, far, id_match, clash,
                     title_sim])


def has_evidence(features: np.ndarray) -> bool:
    """A shared strong id, a shared distinctive identity name, or near-identical titles."""
    f = dict(zip(FEATURES, features, strict=True))
    return bool(f["id_match"] > 0 or f["key"] >= KEY_FLOOR or f["title_sim"] >= SAME_TITLE)


def combine(features: np.ndarray, weights: Iterable[float] = WEIGHTS, bias: float = BIAS) -> float:
    """Same-work score in [0, 1]: logistic combination of features, capped without evidence."""
    z = float(np.dot(np.asarray(list(weights), dtype=float), features) + bias)
    score = 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
    return score if has_evidence(features) else min(score, NO_EVIDENCE_CAP)


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
    """Groups of near-duplicates: connected components over pairs >= threshold, linked cohesively.

    Single linkage chains: A~B and B~C put A and C in one group even when A and C are two works
    (a repo that holds the code of two papers; a tutorial that names a paper and its library). So
    edges are added strongest first, and an edge that would join two groups into one of 3+ items is
    only taken when most pairs across them (more than half of all cross pairs, unscored ones count
    against) score at least SUPPORT_RATIO x threshold. A pair left out of a group is still reported
    by `SemanticEngine.similar`. Groups are sorted by best score.
    """
    scores: dict[tuple[str, str], float] = {}
    for a, b, s in pairs:
        if a != b:
            key = (a, b) if a < b else (b, a)
            scores[key] = max(s, scores.get(key, 0.0))
    members: dict[str, set[str]] = {}

    def group_of(x: str) -> set[str]:
        return members.setdefault(x, {x})

    support_floor = SUPPORT_RATIO * threshold
    for (a, b), s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
        if s < threshold:
            break
        ga, gb = group_of(a), group_of(b)
        if ga is gb:
            continue
        if len(ga) + len(gb) >= 3:
            cross = [scores.get((x, y) if x < y else (y, x), 0.0) for x in ga for y in gb]
            if sum(c >= support_floor for c in cross) * 2 <= len(cross):
                continue
        merged = ga | gb
        for x in merged:
            members[x] = merged
    groups: list[DuplicateGroup] = []
    seen: set[int] = set()
    for group in members.values():
        if len(group) < 2 or id(group) in seen:
            continue
        seen.add(id(group))
        inside = [(a, b, s) for (a, b), s in scores.items() if s >= threshold and a in group and b in group]
        groups.append(DuplicateGroup(sorted(group), sorted(inside, key=lambda p: (-p[2], p[0], p[1]))))
    return sorted(groups, key=lambda g: (-g.score, g.ids))
