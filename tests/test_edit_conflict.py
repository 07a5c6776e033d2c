"""`edit` never reverts a change made while the editor was open (issue 16, finding 11).

Reproduced first: a `tag` and a hand edit made while `$EDITOR` was open were both lost when it
saved. Now the file's SHA-256 from when the editor opened is checked under the lock; on a mismatch
nothing is written and the curator's text is kept as `<item>.md.edit`.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.catalog import Catalog
from newsletter.cli import main
from newsletter.errors import ItemChanged
from newsletter.project import init_project

ROOT = Path(__file__).resolve().parent.parent

# The "editor": first something else changes the item (a real `newsletter tag` in another process,
# or a hand edit of the item file), then the curator's change is written to the file being edited.
EDITOR = """\
import os, subprocess, sys
from pathlib import Path
mode, project, item_file, draft = sys.argv[1:5]
if mode == "tag":
    env = {**os.environ, "PYTHONPATH": %(root)r}
    subprocess.run([sys.executable, "-m", "newsletter", "-C", project, "tag", Path(item_file).stem[-12:], "concurrent"],
                   check=True, env=env, capture_output=True)
elif mode == "hand":
    item = Path(item_file)
    item.write_text(item.read_text(encoding="utf-8") + "\\nA note written in another editor.\\n", encoding="utf-8")
text = Path(draft).read_text(encoding="utf-8")
Path(draft).write_text(text.replace("title: Before", "title: After, by the curator"), encoding="utf-8")
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str, Path]:
    root = init_project(tmp_path / "proj", name="Edit Test")
    catalog = Catalog.open(root)
    (result,) = catalog.add(["https://example.org/edit-me"], _no_fetch("Before"))
    assert result.item is not None
    item_id = result.item.id
    return root, item_id, catalog.path_of(item_id)


def _no_fetch(title: str):  # type: ignore[no-untyped-def]
    from newsletter.ingest.route import AddOptions

    return AddOptions(title=title, fetch=False)


def edit_with(tmp_path: Path, mode: str, root: Path, item_file: Path, item_id: str,
              monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    script = tmp_path / "editor.py"
    script.write_text(EDITOR % {"root": str(ROOT)}, encoding="utf-8")
    editor = " ".join(shlex.quote(part) for part in (sys.executable, str(script), mode, str(root), str(item_file)))
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.delenv("VISUAL", raising=False)
    result = CliRunner().invoke(main, ["-C", str(root), "edit", item_id], catch_exceptions=False)
    return result.exit_code, result.stderr


@pytest.mark.parametrize("mode", ["tag", "hand"])
def test_a_change_made_while_the_editor_was_open_is_kept(
    project: tuple[Path, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    root, item_id, item_file = project
    code, err = edit_with(tmp_path, mode, root, item_file, item_id, monkeypatch)
    assert code == 1
    kept = item_file.with_name(item_file.name + ".edit")
    assert len(err.strip().splitlines()) == 1 and f"Your text is kept in {kept}" in err
    assert "nothing was saved" in err
    item = Catalog.open(root).get(item_id)
    assert item.title == "Before"  # the curator's text did not overwrite ...
    if mode == "tag":
        assert item.tags == ["concurrent"]  # ... the tag made meanwhile
    else:
        assert "A note written in another editor." in item.note  # ... nor the hand edit
    assert "title: After, by the curator" in kept.read_text(encoding="utf-8")
    assert len(Catalog.open(root).items()) == 1  # the kept text is not an item


def test_a_second_conflict_never_overwrites_the_first_kept_text(
    project: tuple[Path, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, item_id, item_file = project
    first = item_file.with_name(item_file.name + ".edit")
    first.write_text("an earlier kept edit", encoding="utf-8")
    code, err = edit_with(tmp_path, "hand", root, item_file, item_id, monkeypatch)
    assert code == 1 and f"{item_file.name}.edit.2" in err
    assert first.read_text(encoding="utf-8") == "an earlier kept edit"


def test_without_a_concurrent_change_the_edit_is_saved(
    project: tuple[Path, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, item_id, item_file = project
    code, err = edit_with(tmp_path, "none", root, item_file, item_id, monkeypatch)
    assert code == 0, err
    assert Catalog.open(root).get(item_id).title == "After, by the curator"
    assert not item_file.with_name(item_file.name + ".edit").exists()


def test_update_checks_the_expected_hash_under_the_lock(project: tuple[Path, str, Path]) -> None:
    root, item_id, item_file = project
    catalog = Catalog.open(root)
    opened = hashlib.sha256(item_file.read_bytes()).hexdigest()
    item = catalog.get(item_id)
    item.title = "Changed by the library"
    catalog.tag(item_id, ["meanwhile"])
    before = item_file.read_bytes()
    with pytest.raises(ItemChanged) as caught:
        catalog.update(item, expected_sha256=opened)
    assert caught.value.path == str(item_file)
    assert item_file.read_bytes() == before
    catalog.update(item, expected_sha256=hashlib.sha256(before).hexdigest())
    assert Catalog.open(root).get(item_id).title == "Changed by the library"
