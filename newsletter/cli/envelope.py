"""The `--json` contract: every document's header and the one envelope of batch commands.

Every `--json` document is one JSON object:

    {"schema": 1, "command": "feeds pull", ...the command's fields...}

Batch commands (`add`, `import`, `feeds pull`, `feeds add`, and commands taking many ids such as
`shortlist`/`skip`) all use `batch()`:

    {"schema": 1, "command": "add", "ok": false,
     "results": [{"input": "...", "result": "added", "item": {...the full item...}, ...}],
     "errors":  [{"input": "...", "error": "one line"}],
     "totals":  {"inputs": 2, "added": 1, "existing": 0, "failed": 1}}

Within schema 1 fields are only ever added, never renamed, removed or given another meaning
(docs/json.md is the reference). Pure functions: no click, no I/O, so tests and the docs can use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the models load with the first command that needs them, not for `--help`
    from ..models import Item

SCHEMA = 1


def document(command: str, **fields: Any) -> dict[str, Any]:
    """A `--json` document: the versioned header, then the command's own fields."""
    return {"schema": SCHEMA, "command": command, **fields}


def item_json(item: Item, *, note: bool = True) -> dict[str, Any]:
    """The item object every command prints: the same fields as its file's front matter (+ `note`)."""
    return item.to_dict(include_note=note)


def entry(input: str, result: str, item: Item | None = None, **extra: Any) -> dict[str, Any]:
    """One successful outcome of a batch: what was asked, what happened, the full item (or null)."""
    return {"input": input, "result": result, "item": item_json(item) if item is not None else None, **extra}


def failure(input: str, error: str, **extra: Any) -> dict[str, Any]:
    """One failed input of a batch: the input as given and a one-line reason."""
    return {"input": input, "error": error, **extra}


def batch(
    command: str,
    results: Sequence[Mapping[str, Any]],
    errors: Sequence[Mapping[str, Any]],
    totals: Mapping[str, int],
    **extra: Any,
) -> dict[str, Any]:
    """The batch envelope. `totals` holds the command's counts; `failed` is always len(errors).

    `ok` is true exactly when nothing failed, which is also when the command exits 0.
    """
    return document(
        command,
        ok=not errors,
        results=[dict(r) for r in results],
        errors=[dict(e) for e in errors],
        totals={**totals, "failed": len(errors)},
        **extra,
    )


def error_document(command: str, message: str) -> dict[str, Any]:
    """What `--json` prints when the whole command failed (bad project, unknown id ...)."""
    return document(command, ok=False, error=message)


def dumps(data: Any) -> str:
    """The document as text: UTF-8 JSON with terminal-unsafe characters escaped; indented for a
    person at a terminal, one compact line for a pipe (json's C encoder handles only the compact
    form: indenting 17k items took 1.8 s of a 4.7 s `list --json` at 100k)."""
    import json  # only commands that print JSON pay for it
    import sys

    from ..text import escape_unsafe_json

    indent = 2 if sys.stdout.isatty() else None
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=str)
    return escape_unsafe_json(text)
