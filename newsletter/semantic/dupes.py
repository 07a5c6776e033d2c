"""Near-duplicate decisions: is this pair the same work? (pure functions, no I/O)

"Same" means the same resource, or the same work in another form: a paper, its official repo, its
authors' launch post or announcement thread, a talk or episode about exactly that work by its
authors; or one tool described in two catalogs in different words. Two works on one topic, two works
by one author, two episodes of one show and explainers by others are NOT the same.

A pair is scored by a small logistic model over the signals below (`FEATURES`). Its weights, bias and
default threshold are fitted offline by ``python -m bench.fit_dupes`` on the training split of
tests/data/dupes_dev/ (independently written descriptions of the same tools from public lists, with
hard negatives) plus the synthetic tests/data/dupes/devset.yaml, the threshold chosen by grouped
cross-validation on that training data; they are shipped in ``dupes_model.json`` next to this module
and only read here (nothing is fitted at run time). ``bench/bench_dupes.py`` reports the unseen test
split, its names-hidden variant, the repository sample and the TF-IDF / cosine baselines.

Signals (all in [0, 1]):

- ``cos``         embedding cosine (also what generates candidates, through the index)
- ``cos_hi``      how far the cosine is above 0.6 (lets the model trust very close texts more)
- ``tfidf``       TF-IDF cosine over content words, IDF from the catalog
- ``key``         the most distinctive *identity name* of one item that the other item mentions.
                  Identity names come from the title (CamelCase/ALLCAPS/digit names such as "QLoRA",
                  "FlashAttention-2", the short head before a colon, acronyms of capitalized runs,
                  a title that is just a name: "Airflow", "Prefect Core") and a repo's name. Its
                  weight is 1 while at most SPREAD_FREE items carry the name and falls with every
                  further item that does (``Idf.spread``) — it depends on how many items share the
                  name, never on how big the catalog is. A name is ignored when one item's own name extends it and
                  the other never says so ("QLoRA" vs a LoRA post).
- ``key_both``    the same, for names in BOTH identities (a repo named like the paper's title head)
- ``key_miss``    both items have identity names and neither mentions any of the other's
- ``code_of``     a paper and a repo named after a name the paper carries ("faiss", "vllm")
- ``title_sim``   word Jaccard of the titles
- ``authors``     share of the smaller author list that the other shares (surnames / owners)
- ``authors_apart`` both items name their authors, they share none, and neither is a repo (whose
                  "author" is an owning organisation, not the paper's people): two pages on one topic
                  by different people are two works (an explainer of a paper is not the paper)
- ``near``/``far`` published within 30 days (times the best of key, authors, id_match: being published
                  together says nothing about two posts that share nothing else) / more than ~13 months apart
- ``id_match``    both point at the same strong identifier (arXiv id, GitHub repo, URL, tweet links)
- ``clash``       two different arXiv ids or repos, or two items of one single-work kind whose titles differ
- ``num_clash``   the titles carry different numbers ("Episode 1" / "Episode 2", "Llama 2" / "Llama 3")
- ``same_kind``   both items are of one kind
- ``same_feed``   both came from one feed as distinct entries (distinct GUIDs, or distinct URLs);
                  then ``authors`` is 0 (a show's hosts are on every episode)
- ``evidence``    a shared strong id, code_of, a shared name with ``key`` >= 0.5, or near-identical titles
- ``cos_noev``, ``tfidf_noev``, ``title_noev``  cos, tfidf and title_sim again, for pairs without
                  evidence: closeness alone must
                  carry such a pair, and two posts on one topic are as close as two descriptions of
                  one tool, so the model weighs closeness differently with and without evidence

One rule sits on top of the model: two distinct entries of one feed (episodes of a show, posts of a
blog) are never each other's duplicates unless their content says so — near-identical titles without
different numbers and near-identical text (a re-post) — so their score is capped at SAME_FEED_CAP.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from newsletter.models import Item

FEATURES = ("cos", "cos_hi", "tfidf", "key", "key_both", "key_miss", "code_of", "title_sim", "authors",
            "authors_apart", "near", "far", "id_match", "clash", "num_clash", "same_kind", "same_feed", "evidence",
            "cos_noev", "tfidf_noev", "title_noev")
MODEL_PATH = Path(__file__).with_name("dupes_model.json")
# Titles this similar (word Jaccard) and texts this similar (TF-IDF) say "the same piece, re-posted".
SAME_TITLE = 0.9
SAME_TEXT = 0.8
# Distinct entries of one feed whose content does not say they are one piece never score above this.
SAME_FEED_CAP = 0.05
# Grouping: a pair across two groups "supports" joining them when it scores >= this x threshold.
SUPPORT_RATIO = 0.75
# Candidates below this embedding cosine are never scored (no labelled duplicate is near it).
CANDIDATE_FLOOR = 0.25
FAR_DAYS = 400
NEAR_DAYS = 30
COS_HI_FROM = 0.6
# A name carried by up to this many items is fully distinctive (the forms of one work share it).
SPREAD_FREE = 5


@dataclass(frozen=True)
class Model:
    """The fitted pairwise model: one weight per feature, a bias and the default threshold."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> Model:
    """The shipped model (``dupes_model.json``); its feature list must be this module's FEATURES."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    weights = {str(k): float(v) for k, v in data["weights"].items()}
    if set(weights) != set(FEATURES):
        raise ValueError(f"{path} was fitted for features {sorted(weights)}, not {sorted(FEATURES)}")
    return Model(FEATURES, tuple(weights[f] for f in FEATURES), float(data["bias"]), float(data["threshold"]),
                 dict(data.get("meta") or {}))


MODEL = load_model()
WEIGHTS = MODEL.weights
BIAS = MODEL.bias
DEFAULT_THRESHOLD = MODEL.threshold
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
# A package's name with its ecosystem's affix names the same thing: "pyjanitor" is janitor,
# "InterpretML" is interpret, "scikit-mdr" is mdr (never shorter than 3 letters).
_NAME_AFFIXES = (*_REPO_AFFIXES, "ml", "scikit", "sklearn")


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
    feed: str = ""  # the feed an item was pulled from (``extra.feed_url``), normalized
    entry: str = ""  # which entry of that feed: its GUID, else its URL
    numbers: frozenset[str] = frozenset()  # numbers in the title ("episode 1", "chapter 5", "v2")
    name_parts: frozenset[tuple[str, ...]] = frozenset()  # a title name's words ("scikit", "optimize")


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
    return out | _affix_stems(_norm_name(name))


def _affix_stems(stem: str) -> set[str]:
    """A name without one packaging affix ("hnswlib" -> "hnsw", "pyserini" -> "serini")."""
    out = set()
    for affix in _NAME_AFFIXES:
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


# Words that title a topic or a document, not a thing ("Agents", "Prompt Engineering", "Overview").
_GENERIC_TITLE_TEXT = """
agent agents prompt prompts prompting engineering eval evals evaluation evaluations overview introduction
intro guide tutorial tutorials notes note benchmark benchmarks dataset datasets attention embeddings
embedding retrieval search serving inference training finetuning fine-tuning alignment reasoning memory
tools tool pipeline pipelines workflow workflows data models learning deep machine ai llm llms home docs
documentation readme blog news podcast episode chapter part lecture talk keynote slides paper papers
"""
_GENERIC_TITLE_WORDS = frozenset(_GENERIC_TITLE_TEXT.split())
_NUMBER_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)*)(?![\w.])|(?<=[A-Za-z])-?(\d+(?:\.\d+)*)\b")
_NAME_TITLE_RE = re.compile(r"^[A-Za-z][\w.+#-]*(?:\s+[A-Za-z][\w.+#-]*)?(?:\s*\([^)]*\))?$")


def _name_title_keys(line: str) -> set[str]:
    """A title that is nothing but a name ("Airflow", "Prefect Core", "scikit-learn") is an identity.

    Catalog entries of tools are titled by the tool's name, so the whole title names what the item is;
    a two-word title also names its first word ("Prefect Core" is Prefect) unless that word is generic.
    """
    line = line.strip()
    if not line or not _NAME_TITLE_RE.match(line):
        return set()
    head, aside = _name_and_aside(line)
    words = head.split()
    if any(w.lower() in _STOP or w.lower() in _GENERIC_TITLE_WORDS for w in words):
        return set()
    if len(words) == 2 and not all(w[:1].isupper() or _shaped(w) for w in words):
        return set()  # "Prompt engineering" is a topic; "Prefect Core", "Ray Tune" are names
    out = {_norm_name(head)}
    if len(words) == 2 and len(words[0]) >= 4:
        out.add(_norm_name(words[0]))
    if aside and " " not in aside.strip():
        out.add(_norm_name(aside))  # "scikit-optimize (skopt)", "Data Version Control (DVC)"
    if len(words) == 1:
        out |= _ecosystem_stripped(words[0])
    return {k for k in out if _is_key(k)}


def _ecosystem_stripped(word: str) -> set[str]:
    """A package name without its ecosystem's prefix or packaging suffix: "pytorch-lightning" is
    Lightning, "opencv-python" is OpenCV; "tensorboard-pytorch" is not TensorBoard (a port of it
    to PyTorch: a trailing ecosystem word names another project)."""
    parts = [p for p in re.split(r"[-_]", word.lower()) if p]
    while len(parts) > 1 and (parts[0] in _GENERIC_NAMES or parts[0] in _NAME_AFFIXES):
        parts = parts[1:]
    while len(parts) > 1 and parts[-1] in _REPO_AFFIXES:
        parts = parts[:-1]
    return {parts[0]} if len(parts) == 1 and parts[0] != _norm_name(word) else set()


def _name_and_aside(line: str) -> tuple[str, str]:
    """A name title's name and what it says in parentheses after it ("scikit-optimize", "skopt")."""
    match = re.search(r"\s*\(([^)]*)\)$", line)
    return (line[: match.start()], match.group(1)) if match else (line, "")


_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z][a-z])")  # PyTorch, TensorFlow; not QLoRA, LightGBM


def _name_parts(line: str) -> frozenset[tuple[str, ...]]:
    """The words of a title that is a name (one `_name_title_keys` found keys in), for abbreviations
    of it: "ML-Ensemble" -> (ml, ensemble), "Weights & Biases" -> (weights, and, biases), "PyTorch
    Geometric" -> (py, torch, geometric)."""
    head = _name_and_aside(line.strip())[0].replace("&", " and ")
    parts = tuple(p.lower() for p in re.split(r"[\s\-_.]+", _CAMEL_RE.sub(" ", head)) if p)
    return frozenset({parts}) if len(parts) >= 2 else frozenset()


def _title_numbers(line: str) -> frozenset[str]:
    """Numbers a title carries on their own or glued to a name ("Episode 12", "S02E03", "Llama-2")."""
    out = set()
    for match in _NUMBER_RE.finditer(line):
        number = match.group(1) or match.group(2)
        if number:
            out.add(number.lstrip("0") or "0")
    return frozenset(out)


def _feed_entry(item: Item) -> tuple[str, str]:
    """(feed, entry) of an item pulled from a feed: the feed URL and the entry's GUID or URL."""
    extra = item.extra or {}
    feed = str(extra.get("feed_url") or "").strip().lower().rstrip("/")
    if not feed or feed == (item.canonical_url or item.url or "").strip().lower().rstrip("/"):
        return "", ""  # an item that IS a feed (a show added by its URL) is no entry of it
    entry = str(extra.get("guid") or "").strip() or (item.canonical_url or item.url or "").strip().lower()
    return feed, entry


_DIGIT_RE = re.compile(r"\d")
_ALPHA_RE = re.compile(r"[^\W\d_]")


def _inner_capital(token: str) -> bool:
    """A capital letter after the first character ("vLLM", "FlashAttention"); C-speed, not per char."""
    rest = token[1:]
    return rest != rest.lower()


def _shaped(part: str) -> bool:
    """Looks like a name on its own: digits with letters, inner capitals, ALLCAPS ("vLLM", "GPT4")."""
    return bool(_DIGIT_RE.search(part) and _ALPHA_RE.search(part)) or _inner_capital(part)


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
    title_keys = _name_title_keys(about) if item.kind != "tweet" else set()
    literal |= title_keys
    keys = literal | acronyms | {s for k in literal for s in _affix_stems(k) if _is_key(s)}
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
    feed, entry = _feed_entry(item)
    return Signals(words, frozenset(names), frozenset(title_names) - {""}, frozenset(strong),
                   item.published, item.kind, frozenset(keys) - {""}, _surnames(item.authors),
                   _title_words(about), frozenset(literal) - {""}, frozenset(repo_names), feed, entry,
                   _title_numbers(_URL_RE.sub(" ", item.title or "")),
                   _name_parts(about) if title_keys else frozenset())


def _names(text: str) -> set[str]:
    """Name-like tokens: digits+letters, inner capitals, ALLCAPS, capitalized mid-sentence words."""
    sentence_starts = set(_SENT_START_RE.findall(text))
    names = {_norm_name(a + b) for a, b in _VERSIONED_RE.findall(text)}
    for token in _WORD_RE.findall(text):
        is_name = _shaped(token) or (token[:1].isupper() and token not in sentence_starts)
        if is_name and token.lower().strip(".-") not in _STOP:
            names.add(_norm_name(token))
            if "-" in token.strip("-"):  # "FlashAttention-2" also names "FlashAttention"
                names.update(_norm_name(p) for p in token.split("-") if _inner_capital(p))
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

    def spread(self, name: str) -> float:
        """How distinctive a name is, whatever the catalog's size: 1 while at most SPREAD_FREE items
        carry it (one work's paper, repo, post, thread and talk all do), then falling with every
        further item that does: 1 / (1 + ln(count - SPREAD_FREE + 1))."""
        count = self.df.get(f"name:{name}", 0)
        return 1.0 / (1.0 + math.log(count - SPREAD_FREE + 1)) if count > SPREAD_FREE else 1.0

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

    A name that is the name plus another word of the title ("Apache MXNet", "Prefect Core", "MTEB
    Leaderboard") does not shadow it when the other item's identity is the bare name ("mxnet",
    "Prefect", "MTEB"): that is one thing named with or without a vendor or a descriptor. It still
    does when the other item extends the name its own way ("Prefect Core" vs "Prefect Cloud").
    """
    shared = (a.keys & b.names) | (b.keys & a.names)

    def shadows(k: str, name: str, x: Signals, y: Signals) -> bool:
        if not _extends(k, name) or k in y.names:
            return False
        word = k.replace(name, "", 1)
        if word in x.title_words and name in x.title_words:
            return any(_extends(other, name) for other in y.literal_keys)
        return True

    def shadowed(name: str) -> bool:
        return any(shadows(k, name, x, y) for x, y in ((a, b), (b, a)) for k in x.literal_keys)

    return {n for n in shared if not shadowed(n)}


def _extends(longer: str, name: str) -> bool:
    """`longer` is a more specific name built on `name` ("qlora" on "lora", "llama2" on "llama"),
    not just `name` with a packaging affix or a generic word ("hnswlib", "llmawq")."""
    if name not in longer or longer == name:
        return False
    start = longer.index(name)
    extra = longer[:start] + longer[start + len(name):]
    return extra not in _NAME_AFFIXES and extra not in _GENERIC_NAMES


# How a word of a name is shortened in another name of the same thing ("skopt" is scikit-optimize).
_PART_FORMS = {"scikit": ("scikit", "sk")}
# An abbreviation or a misspelling shorter than this is too likely to match another name by chance.
ALIAS_MIN = 4
# An abbreviation keeps each word whole or at most this many of its first letters ("opt", "ens").
ABBREVIATED_PART = 4


@lru_cache(maxsize=65536)  # each item is in about 40 candidate pairs: its names recur
def abbreviates(short: str, parts: tuple[str, ...]) -> bool:
    """`short` is made of a prefix of every word of a name, in order ("mlens" of ML-Ensemble, "wandb"
    of Weights & Biases, "skopt" of scikit-optimize); connectors may be left out."""
    if len(short) < ALIAS_MIN or len(parts) < 2 or short[0] not in _initials(parts) or short == "".join(parts):
        return False

    @cache
    def fits(pos: int, idx: int) -> bool:
        if idx == len(parts):
            return pos == len(short)
        if parts[idx] in _CONNECTORS and fits(pos, idx + 1):
            return True
        for form in _PART_FORMS.get(parts[idx], (parts[idx],)):
            for length in range(min(len(form), len(short) - pos), 0, -1):
                if length < len(form) and length > ABBREVIATED_PART:
                    continue  # "featur" + "e" is the word itself, not an abbreviation of "feature engineering"
                if short[pos:pos + length] == form[:length] and fits(pos + length, idx + 1):
                    return True
        return False

    return fits(0, 0)


@lru_cache(maxsize=4096)
def _initials(parts: tuple[str, ...]) -> frozenset[str]:
    """The letters an abbreviation of a name can start with (connectors may be left out)."""
    out: set[str] = set()
    for part in parts:
        out.update(form[0] for form in _PART_FORMS.get(part, (part,)))
        if part not in _CONNECTORS:
            break
    return frozenset(out)


def misspells(x: str, y: str) -> bool:
    """Two names one swap of neighbouring letters apart ("NLTK" / "NTLK"): a typo in a list."""
    if len(x) != len(y) or len(x) < ALIAS_MIN or x == y:
        return False
    diff = [i for i in range(len(x)) if x[i] != y[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]]


# Two inflections of one word share at least this long a start ("categor-y/-ical", "encod-ers/-ing").
INFLECTION_STEM = 5


def inflects(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
    """Two names of as many words, word by word the same or inflections of one stem: "category_encoders"
    / "categorical-encoding". Only names of two or more words: a one-word name and its extension are
    another work ("llama" / "llama2", "tensorboard" / "tensorboardx")."""
    if len(x) != len(y) or len(x) < 2 or x == y:
        return False
    return all(u == v or u[:INFLECTION_STEM] == v[:INFLECTION_STEM] for u, v in zip(x, y, strict=True))


def aliases(a: Signals, b: Signals) -> set[str]:
    """Identity names of one item that another form of the other's name stands for: an abbreviation
    of its name's words, the same words inflected, or a one-swap misspelling of one of its names."""
    out: set[str] = set()
    for words in a.name_parts:
        if any(inflects(words, other) for other in b.name_parts):
            out.add("".join(words))
    if not (a.name_parts or b.name_parts) and not any(len(x) == len(y) for x in a.literal_keys for y in b.literal_keys):
        return out
    for x, y in ((a, b), (b, a)):
        for name in x.literal_keys:
            if any(abbreviates(name, parts) for parts in y.name_parts) or any(
                    misspells(name, other) for other in y.literal_keys):
                out.add(name)
    return out


def code_of(a: Signals, b: Signals, shared: set[str]) -> float:
    """1 when one item is a paper and the other a repo named after a name the paper carries."""
    for x, y in ((a, b), (b, a)):
        if x.kind == "repo" and y.kind == "paper" and x.repo_names & shared:
            return 1.0
    return 0.0


def key_strength(a: Signals, b: Signals, idf: Idf) -> tuple[float, float, float, float]:
    """(best spread of a shared identity name, the same for names in both identities, code_of,
    key_miss: both have identity names and neither mentions one of the other's)."""
    alias = aliases(a, b)
    shared = shared_keys(a, b) | alias
    key = max((idf.spread(n) for n in shared), default=0.0)
    both = max((idf.spread(n) for n in shared & a.keys & b.keys), default=0.0)
    miss = 0.0
    if a.literal_keys and b.literal_keys and not (a.keys & b.names) and not (b.keys & a.names) and not alias:
        miss = 1.0
    return key, both, code_of(a, b, shared), miss


def _days_apart(a: str | None, b: str | None) -> int | None:
    try:
        return abs((dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days) if a and b else None
    except ValueError:
        return None


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def pair_features(a: Signals, b: Signals, cosine: float, idf: Idf) -> np.ndarray:
    """The feature vector (see FEATURES, in that order) of a pair."""
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
    same_feed = 1.0 if a.feed and a.feed == b.feed and a.entry != b.entry else 0.0
    authors = 0.0
    if a.authors and b.authors and not same_feed:  # a show's hosts are on every episode: no evidence
        authors = len(a.authors & b.authors) / min(len(a.authors), len(b.authors))
    # Known, disjoint authors say "someone else's work" (unknown authors say nothing: list entries).
    apart = 0.0
    if a.authors and b.authors and not a.authors & b.authors and "repo" not in (a.kind, b.kind):
        apart = 1.0
    key, both, code, miss = key_strength(a, b, idf)
    num_clash = 1.0 if a.numbers and b.numbers and a.numbers != b.numbers else 0.0
    # Evidence of identity, not of topic: a shared id, a distinctive shared name, near-identical titles.
    evidence = 1.0 if id_match or code or key >= 0.5 or title_sim >= SAME_TITLE else 0.0
    # Published together only means something for items that already share a name, authors or an id.
    near = near * max(key, authors, id_match)
    tfidf = tfidf_cosine(a, b, idf)
    cos = max(min(float(cosine), 1.0), 0.0)
    cos_hi = max(cos - COS_HI_FROM, 0.0) / (1.0 - COS_HI_FROM)
    return np.array([cos, cos_hi, tfidf, key, both, miss, code, title_sim, authors, apart,
                     near, far, id_match, clash, num_clash, 1.0 if a.kind == b.kind else 0.0, same_feed,
                     evidence, cos * (1.0 - evidence), tfidf * (1.0 - evidence), title_sim * (1.0 - evidence)])


def content_says_same(features: np.ndarray) -> bool:
    """Near-identical titles (without different numbers) and near-identical text: one piece re-posted."""
    f = dict(zip(FEATURES, features, strict=True))
    return bool(f["title_sim"] >= SAME_TITLE and not f["num_clash"] and f["tfidf"] >= SAME_TEXT)


def _logit(features: np.ndarray, weights: Iterable[float], bias: float) -> float:
    return float(np.dot(np.asarray(list(weights), dtype=float), features) + bias)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def combine(features: np.ndarray, weights: Iterable[float] | None = None, bias: float | None = None) -> float:
    """Same-work score in [0, 1]: the logistic model over the features, with the same-feed rule."""
    score = _sigmoid(_logit(features, MODEL.weights if weights is None else weights,
                            MODEL.bias if bias is None else bias))
    f = dict(zip(FEATURES, features, strict=True))
    if f["same_feed"] and not content_says_same(features):
        score = min(score, SAME_FEED_CAP)
    return score


def explain(features: np.ndarray, model: Model | None = None) -> dict[str, Any]:
    """Why a pair scored what it did: each signal's value, weight and contribution to the logit.

    ``{"score", "bias", "logit", "signals": [{"name", "value", "weight", "contribution"}], "rule"}``,
    signals sorted by the size of their contribution (those with none left out); ``rule`` names the
    same-feed cap when it decided the score (else null).
    """
    model = model or MODEL
    rows: list[dict[str, Any]] = []
    for name, value, weight in zip(model.features, features, model.weights, strict=True):
        contribution = float(value) * weight
        if abs(contribution) >= 5e-4:
            rows.append({"name": name, "value": round(float(value), 4), "weight": round(weight, 4),
                         "contribution": round(contribution, 4)})
    rows.sort(key=lambda r: -abs(r["contribution"]))
    logit = _logit(features, model.weights, model.bias)
    score = combine(features, model.weights, model.bias)
    capped = score < _sigmoid(logit) - 1e-12
    rule = f"same feed, distinct entries: capped at {SAME_FEED_CAP:.2f}" if capped else None
    return {"score": round(score, 4), "bias": round(model.bias, 4), "logit": round(logit, 4),
            "signals": rows, "rule": rule}


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
