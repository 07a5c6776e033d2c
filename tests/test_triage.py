"""A curator's week at the command line (issue 13): triage, list, tags in any script, safe edits.

Each test reproduces one point of the issue through the real command on a real project folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli.app import main
from newsletter.project import init_project
from tests.test_cli import EDITOR_SCRIPT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "proj", name="Test Weekly")


def run(project: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["-C", str(project), *args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def add(project: Path, url: str, title: str, *extra: str) -> str:
    code, _, err = run(project, "add", "--no-fetch", "--no-similar", "--title", title, *extra, url)
    assert code == 0, err
    return Catalog.open(project).get(url).id


def set_field(project: Path, item_id: str, **fields: str) -> None:
    catalog = Catalog.open(project)
    item = catalog.get(item_id)
    for key, value in fields.items():
        setattr(item, key, value)
    catalog.update(item)


# -- point 2: list --since --until --limit --sort, tags in the table -------------------------------


def test_list_shows_tags_and_filters_by_date_limit_and_sort(project: Path) -> None:
    a = add(project, "https://example.org/a", "Bravo", "--tag", "rag")
    b = add(project, "https://example.org/b", "Alpha")
    c = add(project, "https://example.org/c", "Charlie")
    set_field(project, a, added="2026-01-05T10:00:00+00:00", published="2020-03-01")
    set_field(project, b, added="2026-01-12T10:00:00+00:00", published="2024-06-01")
    set_field(project, c, added="2026-01-20T10:00:00+00:00")
    code, out, _ = run(project, "list")
    assert code == 0 and "rag" in out.splitlines()[-1]  # a is the oldest addition: listed last
    code, out, _ = run(project, "list", "--json", "--since", "2026-01-10", "--until", "2026-01-15")
    assert [i["id"] for i in json.loads(out)["items"]] == [b]
    code, out, _ = run(project, "list", "--json", "--limit", "2")
    assert [i["id"] for i in json.loads(out)["items"]] == [c, b]
    code, out, _ = run(project, "list", "--json", "--sort", "title")
    assert [i["id"] for i in json.loads(out)["items"]] == [b, a, c]
    code, out, _ = run(project, "list", "--json", "--sort", "published")  # newest first, undated last
    assert [i["id"] for i in json.loads(out)["items"]] == [b, a, c]
    code, _, err = run(project, "list", "--since", "last week")
    assert code == 2 and "--since" in err


# -- point 2: tag, rm, unskip with many ids ---------------------------------------------------------


def test_tag_rm_and_unskip_take_many_ids(project: Path) -> None:
    a = add(project, "https://example.org/a", "A")
    b = add(project, "https://example.org/b", "B")
    c = add(project, "https://example.org/c", "C")
    code, _, err = run(project, "tag", a, b, "--", "evals")
    assert code == 0, err
    catalog = Catalog.open(project)
    assert catalog.get(a).tags == ["evals"] and catalog.get(b).tags == ["evals"]
    code, _, err = run(project, "tag", a, b, "--remove", "--", "evals")
    assert code == 0, err
    assert Catalog.open(project).get(a).tags == []
    assert run(project, "skip", a, b)[0] == 0
    code, _, err = run(project, "unskip", a, b)
    assert code == 0, err
    assert {Catalog.open(project).get(i).status for i in (a, b)} == {"inbox"}
    code, _out, err = run(project, "rm", a, c)
    assert code == 0, err
    assert [i.id for i in Catalog.open(project).items()] == [b]


def test_tag_with_one_id_and_many_tags_still_works(project: Path) -> None:
    a = add(project, "https://example.org/a", "A")
    code, _, err = run(project, "tag", a, "RAG", "evals")
    assert code == 0, err
    assert Catalog.open(project).get(a).tags == ["rag", "evals"]


# -- point 6: tags keep their letters ---------------------------------------------------------------


def test_tags_keep_their_letters_in_every_script(project: Path) -> None:
    a = add(project, "https://example.org/a", "A")
    code, _, err = run(project, "tag", a, "données", "机器学习", "Naïve Bayes", "ＡＩ")
    assert code == 0, err
    assert Catalog.open(project).get(a).tags == ["données", "机器学习", "naïve-bayes", "ai"]
    code, out, _ = run(project, "list", "--json", "--tag", "DONNÉES")
    assert [i["id"] for i in json.loads(out)["items"]] == [a]


def test_file_names_and_tag_pages_are_transliterated_separately() -> None:
    from newsletter.site.pages import tag_slug
    from newsletter.store.files import slugify

    assert slugify("Données ouvertes") == "donnees-ouvertes"
    assert tag_slug("données").startswith("donnees-")
    assert tag_slug("机器学习").startswith("tag-") and tag_slug("机器学习") != tag_slug("深度学习")


# -- point 8: edit, batch options, id prefixes, rm of a published item ------------------------------


def test_edit_recanonicalizes_a_changed_url(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = add(project, "https://example.org/old", "A")
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR_SCRIPT.format(old="https://example.org/old", new="https://example.org/new?utm_source=x"))
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    code, _, err = run(project, "edit", a)
    assert code == 0, err
    item = Catalog.open(project).get(a)
    assert item.canonical_url == "https://example.org/new"
    assert Catalog.open(project).get("https://example.org/new").id == a


def test_edit_refuses_the_url_of_another_item(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = add(project, "https://example.org/a", "A")
    b = add(project, "https://example.org/b", "B")
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR_SCRIPT.format(old="url: https://example.org/a", new="url: https://example.org/b"))
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    code, _, err = run(project, "edit", a)
    assert code == 1
    assert b in err
    catalog = Catalog.open(project)
    assert catalog.get("https://example.org/b").id == b and catalog.get(a).url == "https://example.org/a"


@pytest.mark.parametrize("option", ["--title", "--summary", "--note"])
def test_one_title_for_several_inputs_is_a_usage_error(project: Path, option: str) -> None:
    code, _, err = run(project, "add", "--no-fetch", option, "T", "https://example.org/1", "https://example.org/2")
    assert code == 2 and option in err
    assert Catalog.open(project).items() == []


def test_short_and_ambiguous_id_prefixes_say_what_to_type(project: Path) -> None:
    from newsletter.web.urls import canonicalize, item_id

    # Ids are hashes of the canonical URL: find two URLs whose ids share their first 4 characters.
    seen: dict[str, str] = {}
    for n in range(100_000):
        url = f"https://example.org/{n}"
        prefix = item_id(canonicalize(url))[:4]
        if prefix in seen:
            pair = [seen[prefix], url]
            break
        seen[prefix] = url
    ids = [add(project, url, url) for url in pair]
    code, _, err = run(project, "show", ids[0][:3])
    assert code == 1 and "at least 4 characters" in err
    code, _, err = run(project, "show", ids[0][:4])
    assert code == 1 and ids[0] in err and ids[1] in err


def test_rm_of_a_published_item_needs_force(project: Path) -> None:
    a = add(project, "https://example.org/a", "A")
    Catalog.open(project).set_status(a, "published", issue=3)
    code, _, err = run(project, "rm", a, stdin="n\n")
    assert code == 1 and "issue 3" in err
    assert Catalog.open(project).get(a).id == a
    code, _, err = run(project, "rm", "--force", a)
    assert code == 0, err
    assert Catalog.open(project).items() == []
