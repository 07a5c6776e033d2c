"""Page metadata accuracy: our parser against an OpenGraph-only baseline, per field, on labelled pages.

    .venv/bin/python -m bench.bench_metadata [--quick] [--misses]

The pages are tests/data/metadata/{tuning,heldout}/*.html with their expected fields in
tuning.yaml / heldout.yaml. The rules were fitted on the tuning pages only; the held-out pages were
labelled before and never read while tuning, so their row is the honest estimate. The baseline reads
only ``og:title``, ``og:site_name``, ``article:published_time`` and ``article:author`` (when a name).
A field counts as right when it equals the label (case and spacing aside; authors as a set).

When htmldate (the date specialist DESIGN.md names) is importable, its ``find_date`` (original date,
no extensive search) gets a column for the published field; it is not a dependency — see
docs/metadata.md for why and for the numbers measured.
"""

from __future__ import annotations

import argparse
import html.parser
import sys
from collections.abc import Callable
from typing import Any

import yaml

from bench.common import ROOT, print_table
from newsletter.sources.page import parse_page
from newsletter.sources.text import coerce_date

DATA = ROOT / "tests" / "data" / "metadata"
FIELDS = ("title", "published", "authors", "site")
Fields = dict[str, Any]


def load(name: str) -> list[dict[str, Any]]:
    """The labelled entries of one set ("tuning" or "heldout"), each with its page text under "html"."""
    entries = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    for entry in entries:
        entry["html"] = (DATA / name / entry["file"]).read_text(encoding="utf-8")
    return entries


def ours(entry: dict[str, Any]) -> Fields:
    meta = parse_page(entry["html"], entry["url"])
    return {"title": meta.title, "published": meta.published, "authors": meta.authors, "site": meta.site}


class _OpenGraph(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = dict(attrs)
            key, value = (a.get("property") or a.get("name") or "").lower(), a.get("content")
            if key and value and key not in self.values:
                self.values[key] = value


def opengraph_only(entry: dict[str, Any]) -> Fields:
    """What a reader of OpenGraph tags alone would report (the fixtures are benign: html.parser is fine)."""
    parser = _OpenGraph()
    parser.feed(entry["html"])
    og = parser.values
    author = og.get("article:author", "")
    return {"title": og.get("og:title", ""), "published": coerce_date(og.get("article:published_time")),
            "authors": [author] if author and "//" not in author else [], "site": og.get("og:site_name", "")}


def htmldate_published(entry: dict[str, Any]) -> Fields | None:
    """htmldate's publication date for the page, or None when htmldate is not installed."""
    try:
        from htmldate import find_date  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    date = find_date(entry["html"], url=entry["url"], original_date=True, extensive_search=False)
    return {"title": None, "published": date, "authors": None, "site": None}


def same(field: str, got: Any, want: Any) -> bool:
    """Field equality as the bench and the fixture tests count it."""
    if field == "authors":
        return {" ".join(a.split()).casefold() for a in got or []} == \
            {" ".join(a.split()).casefold() for a in want or []}
    if field == "published":
        return (got or None) == (str(want) if want else None)
    return " ".join(str(got or "").split()).casefold() == " ".join(str(want or "").split()).casefold()


def accuracy(entries: list[dict[str, Any]], extract: Callable[[dict[str, Any]], Fields],
             misses: list[str] | None = None) -> dict[str, float]:
    right = dict.fromkeys(FIELDS, 0)
    for entry in entries:
        got = extract(entry)
        for field in FIELDS:
            if same(field, got[field], entry.get(field)):
                right[field] += 1
            elif misses is not None:
                misses.append(f"{entry['file']}: {field} got {got[field]!r}, want {entry.get(field)!r}")
    return {field: 100.0 * right[field] / len(entries) for field in FIELDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="accepted for `python -m bench --quick`")
    parser.add_argument("--misses", action="store_true", help="list every field we get wrong")
    args = parser.parse_args()
    sets = {name: load(name) for name in ("heldout", "tuning")}
    sets["both"] = sets["heldout"] + sets["tuning"]
    rows = []
    missed: list[str] = []
    for name, entries in sets.items():
        mine = accuracy(entries, ours, missed if args.misses and name != "both" else None)
        base = accuracy(entries, opengraph_only)
        specialist = (accuracy(entries, htmldate_published)  # type: ignore[arg-type]
                      if htmldate_published(entries[0]) is not None else None)
        for field in FIELDS:
            other = round(specialist[field], 1) if specialist and field == "published" else "n/a"
            rows.append([f"{name} ({len(entries)} pages)", field, round(mine[field], 1), round(base[field], 1),
                         other])
    print_table("Page metadata: % of labelled fields right",
                ["set", "field", "ours %", "OpenGraph only %", "htmldate %"], rows)
    for line in missed:
        print(" -", line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
