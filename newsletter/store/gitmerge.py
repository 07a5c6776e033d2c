"""A git merge driver for item files: two editors edit one item, `git pull` keeps both edits.

git calls it as ``python -m newsletter.store.gitmerge %O %A %B %P`` (installed by
`newsletter git-setup`, see `newsletter.project.git_setup`): %O is the common ancestor, %A our
version (the result is written there), %B theirs, %P the path in the repository. It is a module
entry point, not a CLI command, so that a merge imports the item parser and nothing else (no click,
no catalog, no cache) and works whatever the project's settings say.

How one item merges (`merge_items`, a pure function; `merge_files` is the I/O edge):

- **tags** (and **aliases**, **imported_tags**): the union of both sides, minus any tag one side
  removed relative to the base.
- **reviews** (review decisions): the union of both sides' records, so both editors' "no" count.
- **note** (the Markdown body): a three-way text merge (`git merge-file`); a true conflict leaves
  conflict markers inside the note only, the front matter stays valid YAML, and the driver exits 1
  so git reports the conflict.
- **status**: when only one side changed it, that side's; when both did, by precedence
  published > shortlisted > inbox > skipped (``issue`` follows a published status).
- **every other field**: the side that changed it relative to the base; when both changed it to
  different values, ours. Items carry no modification timestamp, so "the later edit" cannot be
  known from the file: ours (the clone running the merge) wins a true tie.

A side that does not parse as an item file falls back to git's plain three-way text merge.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import CatalogError
from ..models import Item
from .files import atomic_write, dump_item, parse_item

STATUS_PRECEDENCE = ("skipped", "inbox", "shortlisted", "published")  # lowest first
_RANK = {status: i for i, status in enumerate(STATUS_PRECEDENCE)}
SET_FIELDS = ("tags", "aliases", "imported_tags")
RECORD_FIELDS = ("reviews",)  # lists of mappings, merged as sets of records
NOTE_SEPARATOR = "\n\n---\n\n"

# (base, ours, theirs) -> (merged text, has conflict)
TextMerge = Callable[[str, str, str], tuple[str, bool]]


@dataclasses.dataclass(frozen=True)
class ItemMerge:
    item: Item
    conflict: bool  # the note holds conflict markers


def merge_sets(base: Sequence[str] | None, ours: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """Union of both sides minus what either side removed from the base; ours' order first."""
    base_set = set(base or ())
    removed = (base_set - set(ours)) | (base_set - set(theirs))
    merged: list[str] = []
    for value in [*ours, *theirs]:
        if value not in removed and value not in merged:
            merged.append(value)
    return merged


def merge_records(base: Any, ours: Any, theirs: Any) -> list[Any]:
    """`merge_sets` over records (mappings): each compared by its canonical JSON text."""
    def texts(value: Any) -> list[str]:
        return [json.dumps(v, sort_keys=True, default=str) for v in value] if isinstance(value, list) else []

    return [json.loads(t) for t in merge_sets(None if base is None else texts(base), texts(ours), texts(theirs))]


def merge_status(base: str | None, ours: str, theirs: str) -> str:
    """One side's change wins over no change; two changes are settled by precedence."""
    if base in (ours, theirs) or ours == theirs:  # at most one side changed it
        return merge_value(base, ours, theirs)
    return ours if _RANK.get(ours, -1) >= _RANK.get(theirs, -1) else theirs


def merge_value(base: Any, ours: Any, theirs: Any) -> Any:
    """A field changed on one side takes that side's value; changed on both, ours."""
    if ours == theirs or theirs == base:
        return ours
    if ours == base:
        return theirs
    return ours


def merge_fields(base: dict[str, Any] | None, ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Merge two front matters (without the note) against their common ancestor (None: added on both)."""
    base = base or {}
    missing = object()
    merged: dict[str, Any] = {}
    for key in [*ours, *(k for k in theirs if k not in ours), *(k for k in base if k not in ours and k not in theirs)]:
        b, o, t = base.get(key, missing), ours.get(key, missing), theirs.get(key, missing)
        if key in SET_FIELDS:
            value: Any = merge_sets(
                None if b is missing else list(b or []),
                [] if o is missing else list(o or []),
                [] if t is missing else list(t or []),
            )
        elif key in RECORD_FIELDS:
            value = merge_records(None if b is missing else b, [] if o is missing else o, [] if t is missing else t)
        elif key == "status":
            value = merge_status(
                None if b is missing else b,
                "inbox" if o is missing else o,
                "inbox" if t is missing else t,
            )
        else:
            value = merge_value(b, o, t)
        if value is not missing:
            merged[key] = value
    # A published status carries its issue number: take it from the side that published.
    published = merged.get("status") == "published"
    if published and ours.get("status") != "published" and theirs.get("status") == "published":
        merged["issue"] = theirs.get("issue")
    return merged


def merge_notes(base: str | None, ours: str, theirs: str, text_merge: TextMerge) -> tuple[str, bool]:
    """Three-way merge of the note; with no base (both added the item), both notes, one after the other."""
    if ours == theirs or theirs == (base or ""):
        return ours, False
    if ours == (base or ""):
        return theirs, False
    if base is None:
        return (ours.strip() + NOTE_SEPARATOR + theirs.strip()).strip(), False
    return text_merge(_line(base), _line(ours), _line(theirs))


def merge_items(base: Item | None, ours: Item, theirs: Item, text_merge: TextMerge) -> ItemMerge:
    """The merged item (pure, given a pure `text_merge`); `conflict` when the note did not merge cleanly."""
    fields = merge_fields(
        None if base is None else base.to_dict(include_note=False),
        ours.to_dict(include_note=False),
        theirs.to_dict(include_note=False),
    )
    note, conflict = merge_notes(None if base is None else base.note, ours.note, theirs.note, text_merge)
    fields["note"] = note.strip()
    return ItemMerge(Item.from_dict(fields), conflict)


def reconcile(items: Sequence[Item]) -> Item:
    """One item from several files that hold one id (both editors added the same URL).

    The first item is the one the catalog shows (the earlier addition); the others add their tags
    and aliases (union), their notes (each kept, separated), fill its empty fields, and raise its
    status by precedence (a published one brings its issue).
    """
    first, *others = items
    data = first.to_dict(include_note=False)
    notes = [first.note.strip()] if first.note.strip() else []
    for other in others:
        theirs = other.to_dict(include_note=False)
        for key in SET_FIELDS:
            data[key] = merge_sets(None, list(data.get(key) or []), list(theirs.get(key) or []))
        for key, value in theirs.items():
            if key not in SET_FIELDS and key not in ("status", "issue") and data.get(key) in (None, "", [], {}):
                data[key] = value
        if _RANK.get(other.status, -1) > _RANK.get(str(data.get("status")), -1):
            data["status"] = other.status
            if other.status == "published":
                data["issue"] = other.issue
        note = other.note.strip()
        if note and note not in notes:
            notes.append(note)
    data["note"] = NOTE_SEPARATOR.join(notes)
    return Item.from_dict(data)


def _line(text: str) -> str:
    """Text ending in exactly one newline, so the last line merges like any other."""
    return text.strip("\n") + "\n" if text.strip() else ""


# --- I/O: git merge-file and the driver entry point -------------------------------------------

def git_merge_text(
    base: str, ours: str, theirs: str, *, labels: tuple[str, str, str] = ("ours", "base", "theirs")
) -> tuple[str, bool]:
    """`git merge-file -p` on temporary files: (merged text, True if it holds conflict markers)."""
    with tempfile.TemporaryDirectory(prefix="newsletter-merge-") as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        command = ["git", "merge-file", "-p"]
        for label in labels:
            command += ["-L", label]
        done = subprocess.run([*command, *paths], capture_output=True, check=False)
    if done.returncode < 0 or done.returncode > 127:
        raise CatalogError(f"git merge-file failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout.decode("utf-8"), done.returncode != 0


def merge_files(base_path: Path, ours_path: Path, theirs_path: Path, name: str = "") -> bool:
    """Merge three item files into `ours_path`; True when clean, False when the note conflicted."""
    texts = [p.read_bytes().decode("utf-8", "replace") for p in (base_path, ours_path, theirs_path)]
    base_text, ours_text, theirs_text = texts
    labels = (f"ours:{name}" if name else "ours", "base", f"theirs:{name}" if name else "theirs")
    try:
        base = parse_item(base_text, source=str(name or base_path)) if base_text.strip() else None
        ours = parse_item(ours_text, source=str(name or ours_path))
        theirs = parse_item(theirs_text, source=str(name or theirs_path))
        result = merge_items(base, ours, theirs, lambda b, o, t: git_merge_text(b, o, t, labels=labels))
        merged, conflict = dump_item(result.item), result.conflict
    except (CatalogError, ValueError, TypeError):
        # Not item files we can read (hand-broken YAML): git's own line merge of the whole file.
        merged, conflict = git_merge_text(base_text, ours_text, theirs_text, labels=labels)
    atomic_write(ours_path, merged)
    return not conflict


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m newsletter.store.gitmerge BASE OURS THEIRS [PATH]``: 0 clean, 1 note conflict, 2 error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4):
        print("usage: python -m newsletter.store.gitmerge BASE OURS THEIRS [PATH]", file=sys.stderr)
        return 2
    name = args[3] if len(args) == 4 else ""
    try:
        clean = merge_files(Path(args[0]), Path(args[1]), Path(args[2]), name)
    except (OSError, CatalogError) as exc:
        print(f"newsletter merge driver: {name or args[1]}: {exc}", file=sys.stderr)
        return 2
    if not clean:
        print(f"newsletter merge driver: conflict in the note of {name or args[1]}", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
