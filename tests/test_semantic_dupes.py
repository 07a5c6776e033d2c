"""The near-duplicate scorer: the failing cases of issue 14, the shipped model, `dupes --explain`.

Behaviour that decides groups runs with the real all-MiniLM-L6-v2 (loaded offline, as the other model
tests do); the pure parts (features, the same-feed rule, explanations) need no model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from bench import dupes_data as dd
from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.models import Item
from newsletter.project import init_project
from newsletter.semantic import SemanticEngine, dupes

CASES = Path(__file__).parent / "data" / "dupes_cases" / "cases.yaml"


def case_items(name: str) -> tuple[dict, list[Item]]:
    """A case's own items plus its context items from the dev set."""
    case = yaml.safe_load(CASES.read_text())[name]
    own = [Item(id=r["id"], kind=r["kind"], url=r["url"], canonical_url=r["url"], title=r["title"],
                summary=r["summary"], published=r.get("published"), extra=dict(r.get("extra") or {}))
           for r in case["items"]]
    rows = {r["id"]: r for r in dd.load_rows()}
    return case, own + [dd.to_item(rows[i]) for i in case.get("context", [])]


def together(groups: list[dupes.DuplicateGroup]) -> set[frozenset[str]]:
    return {frozenset((a, b)) for g in groups for a in g.ids for b in g.ids if a != b}


def features_of(a: Item, b: Item, items: list[Item], cosine: float) -> dict[str, float]:
    idf = dupes.Idf.from_signals(dupes.item_signals(it) for it in items)
    row = dupes.pair_features(dupes.item_signals(a), dupes.item_signals(b), cosine, idf)
    return dict(zip(dupes.FEATURES, row, strict=True))


# -- pure: model file, features, rule, explanation -----------------------------------------------

def test_shipped_model_matches_the_features_and_was_fitted_offline() -> None:
    model = dupes.load_model()
    assert model.features == dupes.FEATURES and len(model.weights) == len(dupes.FEATURES)
    assert 0.05 < model.threshold < 0.95 and model.threshold == dupes.DEFAULT_THRESHOLD
    assert model.meta["fitted_by"] == "python -m bench.fit_dupes"
    assert "dev-train" in model.meta["fitted_on"] and not any("test" in s for s in model.meta["fitted_on"])
    assert not hasattr(dupes, "KEY_FLOOR")


def test_no_signal_of_the_shipped_model_counts_against_what_it_means() -> None:
    # Shared authors once had a negative weight (collinear with `near` and `key`): --explain then
    # showed evidence of "same" pushing towards "different". fit_dupes holds each sign.
    from bench.fit_dupes import SIGNS

    weights = dict(zip(dupes.FEATURES, dupes.MODEL.weights, strict=True))
    assert {f for f, sign in SIGNS.items() if weights[f] * sign < 0} == set()
    assert weights["authors_apart"] < 0 < weights["key"]


def test_a_names_weight_depends_on_how_many_items_carry_it_not_on_catalog_size() -> None:
    few = dupes.Idf({"name:embeddinghub": 2, "name:lora": 9}, 8)
    many = dupes.Idf({"name:embeddinghub": 2, "name:lora": 9}, 100_000)
    assert few.spread("embeddinghub") == many.spread("embeddinghub") == 1.0
    assert few.spread("lora") == many.spread("lora") < 0.5
    assert few.spread("never-seen") == 1.0


def episode(number: int) -> Item:
    url = f"https://p.example/{number}"
    return Item(id=str(number), kind="podcast", url=url, canonical_url=url,
                title=f"Episode {number}: Data quality at scale",
                extra={"feed_url": "https://p.example/feed", "guid": f"g{number}"})


def test_episode_numbers_and_feeds_are_signals() -> None:
    one, two = episode(1), episode(2)
    f = features_of(one, two, [one, two], 0.99)
    assert f["num_clash"] == 1.0 and f["same_feed"] == 1.0 and f["title_sim"] == 1.0
    row = np.array([f[k] for k in dupes.FEATURES])
    assert dupes.combine(row) <= dupes.SAME_FEED_CAP
    assert dupes.explain(row)["rule"] is not None


def test_a_repost_in_one_feed_is_still_a_duplicate_when_its_content_says_so() -> None:
    text = "How teams catch bad data before it reaches their models, with checks that run on every batch."
    one, two = (Item(id=k, kind="link", url=f"https://blog.example/{k}", canonical_url=f"https://blog.example/{k}",
                     title="Data quality at scale", summary=text, extra={"feed_url": "https://blog.example/feed"})
                for k in ("a", "b"))
    f = features_of(one, two, [one, two], 0.99)
    row = np.array([f[k] for k in dupes.FEATURES])
    assert f["same_feed"] == 1.0 and dupes.content_says_same(row)
    assert dupes.combine(row) >= dupes.DEFAULT_THRESHOLD


def named(item_id: str, title: str, kind: str = "link", authors: tuple[str, ...] = (), summary: str = "") -> Item:
    url = f"https://n.example/{item_id}"
    return Item(id=item_id, kind=kind, url=url, canonical_url=url, title=title, summary=summary,
                authors=list(authors))


def test_an_explainer_by_other_people_is_told_apart_from_the_paper_but_a_repo_is_not() -> None:
    paper = named("p", "Efficient and robust approximate nearest neighbor search using HNSW graphs", "paper",
                  ("Yu. A. Malkov", "D. A. Yashunin"))
    explainer = named("e", "Hierarchical Navigable Small Worlds (HNSW)", "link", ("James Briggs",))
    repo = named("r", "nmslib/hnswlib", "repo", ("nmslib",))
    unknown = named("u", "HNSW explained")
    items = [paper, explainer, repo, unknown]
    assert features_of(paper, explainer, items, 0.7)["authors_apart"] == 1.0
    assert features_of(paper, repo, items, 0.7)["authors_apart"] == 0.0  # a repo's owner is no author
    assert features_of(paper, unknown, items, 0.7)["authors_apart"] == 0.0  # unknown authors say nothing
    assert dupes.MODEL.weights[dupes.FEATURES.index("authors_apart")] < 0


def test_a_name_with_its_vendor_descriptor_or_packaging_affix_is_the_same_name() -> None:
    pairs = [("Apache MXNet", "mxnet"), ("Prefect Core", "Prefect"), ("pyjanitor", "janitor"),
             ("InterpretML", "interpret"), ("scikit-mdr", "mdr")]
    for left, right in pairs:
        a, b = named("a", left), named("b", right)
        assert features_of(a, b, [a, b], 0.5)["key"] == 1.0, (left, right)
    # Each extends the name its own way: two products, and QLoRA is not LoRA.
    for left, right in [("Prefect Core", "Prefect Cloud"), ("QLoRA", "LoRA")]:
        a, b = named("a", left), named("b", right)
        assert features_of(a, b, [a, b], 0.5)["key"] == 0.0, (left, right)


def test_an_abbreviation_a_misspelling_or_an_ecosystem_prefix_of_a_name_is_the_same_name() -> None:
    # Real pairs of the dev set's lists ("skopt", "mlens"), a parenthesised alias, a list's typo.
    pairs = [("scikit-optimize", "skopt"), ("ML-Ensemble", "mlens"), ("scikit-optimize (skopt)", "skopt"),
             ("NLTK", "NTLK"), ("TensorFlow", "tflow"), ("pytorch-lightning", "lightning"),
             ("opencv-python", "OpenCV"), ("categorical-encoding", "category_encoders")]
    for left, right in pairs:
        a, b = named("a", left), named("b", right)
        row = features_of(a, b, [a, b], 0.4)
        assert row["key"] == 1.0 and row["evidence"] == 1.0 and row["key_miss"] == 0.0, (left, right)


def test_names_that_only_look_alike_are_not_aliases() -> None:
    # Too short to tell from chance, another work, a prefix that skips a word, two other tools.
    for left, right in [("TensorFlow", "tf"), ("QLoRA", "LoRA"), ("Llama 2", "Llama"),
                        ("PyTorch Geometric", "PyG"), ("LightGBM", "XGBoost"), ("Prefect Core", "Prefect Cloud")]:
        a, b = named("a", left), named("b", right)
        assert dupes.aliases(dupes.item_signals(a), dupes.item_signals(b)) == set(), (left, right)
    for left, right in [("Ray Tune", "Ray Train"), ("text-generation-inference", "text-embeddings-inference")]:
        a, b = named("a", left), named("b", right)
        assert dupes.aliases(dupes.item_signals(a), dupes.item_signals(b)) == set(), (left, right)
    assert not dupes.abbreviates("feature", ("feature", "engineering"))  # the word itself, cut short
    # A trailing ecosystem word names a port (tensorboardX), not the project it ports.
    a, b = named("a", "tensorboard-pytorch"), named("b", "TensorBoard")
    assert features_of(a, b, [a, b], 0.7)["key"] == 0.0
    assert not dupes.abbreviates("mlflow", ("ml", "flow"))  # the name itself, not another form of it
    assert not dupes.misspells("spacy", "space")  # a changed letter is not a swap


def test_explanation_adds_up_to_the_score() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        row = rng.random(len(dupes.FEATURES))
        row[dupes.FEATURES.index("same_feed")] = 0.0
        out = dupes.explain(row)
        logit = out["bias"] + sum(s["contribution"] for s in out["signals"])
        assert abs(logit - out["logit"]) < 0.01
        assert abs(out["score"] - 1 / (1 + np.exp(-out["logit"]))) < 1e-3
        assert [abs(s["contribution"]) for s in out["signals"]] == sorted(
            (abs(s["contribution"]) for s in out["signals"]), reverse=True)


def test_dev_set_pairs_are_the_items_pairs_and_split_by_work() -> None:
    rows = dd.load_rows()
    assert dd.load_pairs() == dd.make_pairs(rows)  # pairs.jsonl is not stale
    pairs = dd.load_pairs()
    work = {r["id"]: r["work"] for r in rows}
    assert sum(p.same for p in pairs) >= 120 and sum(1 - p.same for p in pairs) >= 300
    assert all(dd.split_of(work[p.a]) == dd.split_of(work[p.b]) == p.split for p in pairs)
    assert {p.type for p in pairs} >= {"same", "same_category", "same_author", "same_show"}
    assert all(r["provenance"] and len(r["text"]) <= 400 for r in rows)
    reserved = ("kelvins/awesome-mlops", "EthicalML/awesome-production-machine-learning",
                "visenger/awesome-mlops", "josephmisiti/awesome-machine-learning")
    assert not any(name in r["provenance"] for r in rows for name in reserved)


# -- with the real model -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("dupes-engines")
    made: list[int] = []

    def make() -> SemanticEngine:
        made.append(1)
        return SemanticEngine(root / f"e{len(made)}", model="default", backend="auto", query_backend="same")

    return make


@pytest.mark.model
def test_paraphrased_embeddinghub_descriptions_are_grouped(engine_factory) -> None:  # type: ignore[no-untyped-def]
    case, items = case_items("embeddinghub")
    groups = engine_factory().duplicate_groups(items)
    assert frozenset(case["same"][0]) in together(groups)
    assert all(len(g.ids) == 2 for g in groups if "eh-post" in g.ids)  # no other vector database joins


@pytest.mark.model
def test_a_paper_abstract_and_a_tweet_about_it_are_grouped(engine_factory) -> None:  # type: ignore[no-untyped-def]
    case, items = case_items("hals")
    groups = engine_factory().duplicate_groups(items)
    assert frozenset(case["same"][0]) in together(groups)


@pytest.mark.model
def test_episodes_of_one_show_are_not_grouped(engine_factory) -> None:  # type: ignore[no-untyped-def]
    case, items = case_items("episodes")
    engine = engine_factory()
    groups = engine.duplicate_groups(items)
    grouped = together(groups)
    apart = case["apart"]
    assert not any(frozenset((a, b)) in grouped for a in apart for b in apart if a != b)
    by_id = {it.id: it for it in items}
    assert not engine.similar(by_id["ep1"], by_id, k=5)  # nor reported as "looks like"


@pytest.mark.model
def test_a_small_catalog_does_not_block_distinctive_names(engine_factory) -> None:  # type: ignore[no-untyped-def]
    """Eight items or eight hundred: the shared name counts the same and the pair scores the same."""
    _, small = case_items("embeddinghub")
    assert len(small) == 8
    rows = dd.load_rows()
    big = small + [dd.to_item(r) for r in rows if r["category"] not in ("vector",)][:792]
    scores = []
    for items in (small, big):
        engine = engine_factory()
        pairs = engine.duplicate_pairs(items, among={"eh-post"}, threshold=0.0) if engine.sync(items) else []
        scores.append({frozenset((a, b)): s for a, b, s in pairs}[frozenset(("eh-post", "eh-repo"))])
        vectors = engine.index.vectors(["eh-post", "eh-repo"])
        by_id = {it.id: it for it in items}
        f = features_of(by_id["eh-post"], by_id["eh-repo"], items, float(vectors[0] @ vectors[1]))
        assert f["key"] == 1.0
    assert scores[0] >= dupes.DEFAULT_THRESHOLD and scores[1] >= dupes.DEFAULT_THRESHOLD
    assert abs(scores[0] - scores[1]) < 0.1  # only TF-IDF's word weights move with the catalog


@pytest.mark.model
def test_dupes_explain_shows_the_signals_per_pair(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p", name="Test")
    _, items = case_items("embeddinghub")
    runner = CliRunner()
    for it in items[:4]:
        args = ["-C", str(root), "add", "--no-fetch", "--kind", it.kind, "--title", it.title, "--summary",
                it.summary, it.url if it.url.startswith("http") else f"https://example.org/{it.id}"]
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["-C", str(root), "dupes", "--json", "--explain"], catch_exceptions=False)
    assert result.exit_code == 0
    groups = json.loads(result.stdout)["groups"]
    catalog = Catalog.open(root)
    post = catalog.get("https://blog.example.org/posts/embeddings-store").id
    repo = catalog.get("https://github.com/featureform/embeddinghub").id
    (group,) = [g for g in groups if post in g["ids"]]
    assert repo in group["ids"]
    (pair,) = group["pairs"]
    why = pair["explain"]
    assert abs(why["score"] - pair["score"]) < 1e-3
    names = {s["name"] for s in why["signals"]}
    assert {"cos", "key"} <= names and names <= set(dupes.FEATURES)
    assert all({"name", "value", "weight", "contribution"} <= set(s) for s in why["signals"])
    text = runner.invoke(main, ["-C", str(root), "dupes", "--explain"], catch_exceptions=False)
    assert f"{pair['a']} ~ {pair['b']}" in text.stdout and "key 1.00" in text.stdout and "bias" in text.stdout
    plain = runner.invoke(main, ["-C", str(root), "dupes", "--json"], catch_exceptions=False)
    assert all("explain" not in p for g in json.loads(plain.stdout)["groups"] for p in g["pairs"])
    shutil.rmtree(root / ".newsletter", ignore_errors=True)


@pytest.mark.model
def test_shipped_model_is_what_fit_dupes_fits() -> None:
    """dupes_model.json is the output of bench/fit_dupes.py on the committed data (guards against drift)."""
    from bench import fit_dupes as fd

    fitted = fd.fit(fd.training_sets(fd.embedder()))
    shipped = dupes.load_model()
    assert abs(fitted.threshold - shipped.threshold) <= 0.02
    for name, weight in zip(shipped.features, shipped.weights, strict=True):
        assert abs(fitted.weights[name] - weight) < 0.05, name
