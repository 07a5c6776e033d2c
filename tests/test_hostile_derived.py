"""Damaged derived files heal: detected, rebuilt, the curator told once in one line, never a traceback."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsletter.catalog import Catalog
from newsletter.errors import ProjectError
from newsletter.project import init_project
from newsletter.semantic import HashingEmbedder, SemanticEngine
from tests.test_staleness import make_item

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = init_project(tmp_path / "proj", name="Heal Weekly")
    catalog = Catalog.open(root)
    with catalog.writing():
        catalog.store.save_many([(make_item(n), None) for n in range(1, 41)])
    catalog.snapshot(refresh=True)
    catalog.close()
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "newsletter", "-C", str(root), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False)


@pytest.mark.parametrize("damage", ["random_pages", "truncated", "header"])
def test_a_damaged_catalog_cache_is_rebuilt_and_said_once(project: Path, damage: str) -> None:
    db = project / ".newsletter" / "catalog.sqlite"
    data = bytearray(db.read_bytes())
    rng = random.Random(7)
    if damage == "random_pages":
        for start in range(4096, len(data), 4096):  # every page but the first: b-trees, FTS, blobs
            data[start + 8:start + 200] = bytes(rng.randrange(256) for _ in range(192))
    elif damage == "truncated":
        data = data[: len(data) // 3]
    else:
        data[:100] = bytes(rng.randrange(256) for _ in range(100))
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    first = cli(project, "show", f"{7:012x}")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert "Post number 7" in first.stdout
    told = [line for line in first.stderr.splitlines() if "rebuilt" in line]
    assert len(told) <= 1
    second = cli(project, "tag", f"{7:012x}", "healed")
    assert second.returncode == 0 and "rebuilt" not in second.stderr and "Traceback" not in second.stderr
    assert "healed" in cli(project, "show", f"{7:012x}").stdout


def test_index_command_finds_damage_a_query_missed_and_reports_it(project: Path) -> None:
    db = project / ".newsletter" / "catalog.sqlite"
    data = bytearray(db.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4000] = b"\xff" * 4000
    db.write_bytes(bytes(data))
    catalog = Catalog.open(project)
    catalog._semantic = SemanticEngine(catalog.settings.derived_dir / "semantic", embedder=HashingEmbedder())
    summary = catalog.reindex()
    assert summary["items"] == 40 and summary["embedded"] == 40
    again = Catalog.open(project)
    again._semantic = SemanticEngine(again.settings.derived_dir / "semantic", embedder=HashingEmbedder())
    summary = again.reindex()
    assert summary["healed"] == [] and summary["embedded"] == 0 and summary["reused"] == 40


def test_a_truncated_vector_segment_is_dropped_and_recomputed_without_a_key_error(project: Path) -> None:
    def engine() -> SemanticEngine:
        return SemanticEngine(project / ".newsletter" / "semantic", embedder=HashingEmbedder(), exact_below=0)

    catalog = Catalog.open(project)
    catalog._semantic = engine()
    catalog.sync_semantic()
    truth = catalog.related(f"{3:012x}", k=5)
    (seg,) = (project / ".newsletter" / "semantic" / "vectors").rglob("seg-*.vec")
    seg.write_bytes(seg.read_bytes()[:-50])
    fresh = Catalog.open(project)
    fresh._semantic = engine()
    stats = fresh.sync_semantic()
    assert stats.embedded == 40 and fresh.semantic.store.dropped_segments == 1
    assert [s for _, s in fresh.related(f"{3:012x}", k=5)] == [s for _, s in truth]


def test_a_truncated_onnx_export_is_removed_with_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    from newsletter.semantic.embedders import OnnxEmbedder

    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path / "empty-machine-cache"))  # no whole copy anywhere
    onnx = OnnxEmbedder(derived_dir=tmp_path, export=False)
    onnx.path.parent.mkdir(parents=True)
    onnx.path.write_bytes(b"\x08\x07\x12\x04trunc")  # the first bytes of a protobuf, then nothing
    with pytest.raises(ProjectError, match="damaged"):
        onnx.encode(["a query"])
    assert not onnx.path.exists()  # the next command that can export makes a whole one


def test_a_damaged_index_graph_is_rebuilt_from_the_store(project: Path) -> None:
    catalog = Catalog.open(project)
    catalog._semantic = SemanticEngine(project / ".newsletter" / "semantic", embedder=HashingEmbedder(), exact_below=0)
    catalog.sync_semantic()
    truth = catalog.related(f"{9:012x}", k=5)
    index_dir = project / ".newsletter" / "semantic" / "index"
    stamp = json.loads(next(index_dir.glob("*.json")).read_text())
    graph = index_dir / stamp["graph"]["name"]
    graph.write_bytes(np.random.default_rng(1).bytes(graph.stat().st_size))  # same size, new bytes
    fresh = Catalog.open(project)
    fresh._semantic = SemanticEngine(project / ".newsletter" / "semantic", embedder=HashingEmbedder(), exact_below=0)
    stats = fresh.sync_semantic()
    assert stats.rebuilt and stats.embedded == 0
    # Equal scores (the hashing texts tie) may come back in another order; the answer is the same.
    assert [s for _, s in fresh.related(f"{9:012x}", k=5)] == [s for _, s in truth]


def test_index_command_prints_a_summary_line_and_json(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from newsletter.cli.app import main

    def hashing_engine(self: Catalog) -> SemanticEngine:
        if self._semantic is None:
            self._semantic = SemanticEngine(self.settings.derived_dir / "semantic", embedder=HashingEmbedder())
        return self._semantic

    monkeypatch.setattr(Catalog, "semantic", property(hashing_engine))
    first = CliRunner().invoke(main, ["-C", str(project), "index"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "40 items: 40 embedded, 0 reused" in first.stdout
    second = CliRunner().invoke(main, ["-C", str(project), "index", "--json"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout)
    assert summary["command"] == "index" and "schema" in summary
    assert summary["items"] == 40 and summary["embedded"] == 0 and summary["reused"] == 40
    assert summary["healed"] == [] and summary["texts_per_s"] is None
