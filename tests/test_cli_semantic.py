"""search / related / dupes / merge / add's near-duplicate check through the CLI, with the real model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's sample newsletter, embedded once for the whole module."""
    root = tmp_path_factory.mktemp("sample")
    for part in ("newsletter.toml", "catalog", "content"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        else:
            shutil.copy2(source, root / part)
    catalog = Catalog.open(root)
    catalog.sync_semantic()
    catalog.close()
    return root


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def titles(out: str) -> list[str]:
    return [match["item"]["title"] for match in json.loads(out)["matches"]]


def test_search_finds_exact_names(sample: Path) -> None:
    code, out, _ = run(sample, "search", "--json", "-k", "3", "hnswlib")
    assert code == 0
    assert titles(out)[0] == "nmslib/hnswlib"


def test_search_finds_paraphrases(sample: Path) -> None:
    # no title shares these words: "memory paging for the attention cache when serving language models"
    code, out, _ = run(sample, "search", "--json", "-k", "5", "paging the attention key value cache like an OS")
    assert code == 0
    assert any("PagedAttention" in t for t in titles(out))


def test_search_filters_by_kind_and_date(sample: Path) -> None:
    code, out, _ = run(sample, "search", "--json", "--kind", "paper", "--since", "2023-01-01", "fine-tuning")
    assert code == 0
    results = [m["item"] for m in json.loads(out)["matches"]]
    assert results and all(r["kind"] == "paper" and r["published"] >= "2023-01-01" for r in results)


def test_related_ranks_the_same_work_first(sample: Path) -> None:
    repo = Catalog.open(sample).get("https://github.com/vllm-project/vllm")
    code, out, _ = run(sample, "related", "--json", "-k", "3", repo.id)
    assert code == 0
    assert any("vLLM" in t or "PagedAttention" in t for t in titles(out)[:2])


def test_related_and_list_do_not_import_torch(sample: Path) -> None:
    item_id = Catalog.open(sample).get("https://github.com/nmslib/hnswlib").id
    probe = (
        "import sys\n"
        "from newsletter.cli import main\n"
        "for args in (['--help'], ['list'], ['show', '{id}'], ['related', '{id}']):\n"
        "    try:\n"
        "        main(['-C', sys.argv[1], *args], standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    ).replace("{id}", item_id)
    result = subprocess.run([sys.executable, "-c", probe, str(sample)], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in result.stdout


def test_dupes_groups_the_same_work(sample: Path) -> None:
    code, out, _ = run(sample, "dupes", "--json")
    assert code == 0
    groups = json.loads(out)["groups"]
    catalog = Catalog.open(sample)
    mteb = {catalog.get("https://arxiv.org/abs/2210.07316").id, catalog.get("https://github.com/embeddings-benchmark/mteb").id}
    assert any(mteb <= set(g["ids"]) for g in groups)
    for group in groups:
        assert len(group["pairs"]) >= len(group["ids"]) - 1
        assert all(p["score"] >= 0 for p in group["pairs"])


def test_add_reports_a_near_duplicate(sample: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    shutil.copytree(sample, project)
    code, out, _ = run(
        project, "add", "--json", "--no-fetch", "--kind", "tweet",
        "--title", "QLoRA: finetune a 65B model on a single 48GB GPU",
        "--summary", "Announcing QLoRA (Dettmers et al.): 4-bit NormalFloat quantization plus LoRA adapters, "
        "Guanaco models and the qlora repo.",
        "https://x.com/someone/status/1661000000000000000",
    )
    assert code == 0
    (result,) = json.loads(out)["results"]
    similar_titles = [s["title"] for s in result["similar"]]
    assert any("QLoRA" in t or "qlora" in t for t in similar_titles), similar_titles
    assert all(s["score"] >= 0.5 for s in result["similar"])


def test_merge_keeps_one_and_resolves_the_other_url(sample: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    shutil.copytree(sample, project)
    catalog = Catalog.open(project)
    keep = catalog.get("https://arxiv.org/abs/2210.07316")
    dup = catalog.get("https://github.com/embeddings-benchmark/mteb")
    code, out, err = run(project, "merge", keep.id, dup.id)
    assert code == 0, err
    fresh = Catalog.open(project)
    kept = fresh.get(keep.id)
    assert set(dup.tags) <= set(kept.tags)
    assert fresh.get(dup.id).duplicate_of == keep.id
    # adding the duplicate's URL again reports the kept item
    code, out, _ = run(project, "add", "--json", "--no-fetch", "--no-similar", "https://github.com/embeddings-benchmark/mteb/")
    assert json.loads(out)["results"][0]["item"]["id"] == keep.id
    # merged items leave related results
    code, out, _ = run(project, "related", "--json", "-k", "20", keep.id)
    assert dup.id not in [m["item"]["id"] for m in json.loads(out)["matches"]]


def test_search_shows_scores_and_drops_weak_results(sample: Path) -> None:
    code, out, _ = run(sample, "search", "--json", "-k", "5", "hnswlib")
    doc = json.loads(out)
    assert code == 0 and doc["matches"][0]["keyword"] is True
    assert all(-1 <= m["score"] <= 1 for m in doc["matches"])
    code, out, _ = run(sample, "search", "-k", "3", "hnswlib")
    first = out.splitlines()[0].split()
    assert float(first[1]) > 0 and first[2] == "kw"  # id, score, "kw": the words matched
    # A query about nothing the catalog holds: weak neighbours are dropped and the command says so.
    code, out, err = run(sample, "search", "--json", "-k", "10", "sourdough starter hydration for rye bread")
    doc = json.loads(out)
    assert code == 0 and doc["dropped"] > 0 and len(doc["matches"]) + doc["dropped"] <= 10
    assert all(m["score"] >= 0.2 or m["keyword"] for m in doc["matches"])
    code, out, err = run(sample, "search", "-k", "10", "sourdough starter hydration for rye bread")
    assert "left out" in err and "--min-score 0" in err
    code, out, _ = run(sample, "search", "--json", "-k", "10", "--min-score", "0",
                       "sourdough starter hydration for rye bread")
    assert len(json.loads(out)["matches"]) > len(doc["matches"])


def test_search_k_caps_the_results(sample: Path) -> None:
    code, out, _ = run(sample, "search", "--json", "-k", "2", "--min-score", "-1", "attention")
    assert code == 0 and len(json.loads(out)["matches"]) == 2
