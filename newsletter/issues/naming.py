"""An issue's title is the curator's, and its file name (the public URL's slug) follows it until it ships.

- The default title is neutral, "Issue #5": a title built from tags ("Issue #1: Awesome-mlops, evals
  and llm-ops") reads as the curator's choice and ends up as a public URL nobody picked.
- `draft --title T` sets the title ("Issue #5: T"), on a new draft or on one already edited.
- While an issue is a draft, its file name follows its title (`005-retrieval-week.md`), whether the
  title came from `--title` or from editing the front matter: each `draft` and `publish` renames the
  file to match. Once published, the name never changes again: the URL is out in emails and feeds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ProjectError
from ..text import one_line as clean_text
from . import files as issues

TITLE_MAX = 200


def default_title(number: int) -> str:
    """The neutral title of a new draft: `Issue #5`."""
    return f"Issue #{number}"


def full_title(number: int, title: str | None) -> str:
    """The curator's title as stored: "Issue #5: T" (kept as is when it already starts with "Issue #")."""
    if not title or not clean_text(title):
        return default_title(number)
    text = clean_text(title, TITLE_MAX)
    return text if text.lower().startswith("issue #") else f"Issue #{number}: {text}"


def filename_for(number: int, title: str) -> str:
    """`005-retrieval-week.md` for "Issue #5: Retrieval week"; `005-issue-5.md` for the neutral title."""
    theme = re.sub(r"^\s*issue\s*#\s*\d+\s*:?\s*", "", title, flags=re.I).strip()
    return issues.issue_filename(number, theme or title or f"issue {number}")


def follow_title(issue: issues.IssueFile, state: issues.DraftState) -> Path:
    """Rename a draft's file to match its title (call under the writer lock); returns the path it has now.

    A published issue keeps its name. The draft's record moves with the file, so an unedited draft
    stays "ours" after the rename. Refuses (ProjectError) when another file already has the name.
    """
    if issue.status == issues.STATUS_PUBLISHED or issue.number is None:
        return issue.path
    wanted = issue.path.with_name(filename_for(issue.number, issue.title or default_title(issue.number)))
    if wanted == issue.path:
        return issue.path
    if wanted.exists():
        raise ProjectError(f"cannot rename {issue.path.name} to {wanted.name} for its title: that file exists")
    os.replace(issue.path, wanted)  # same folder: atomic, the text is never half there
    state.rename(issue.path.name, wanted.name)
    return wanted


def retitle(issue: issues.IssueFile, number: int, title: str, state: issues.DraftState) -> Path:
    """Set a draft's title in its front matter (every other byte kept) and rename its file to follow.

    An unedited draft stays unedited in the tool's eyes (its record follows the new text).
    """
    if issue.status == issues.STATUS_PUBLISHED:
        raise ProjectError(f"issue {number} is published ({issue.path.name}); its title and URL are final")
    was_ours = state.unchanged(issue.path.name, issue.text)
    text = issues.set_front_fields(issue.text, title=_yaml_str(full_title(number, title)))
    issues.write_issue(issue.path, text)
    if was_ours:
        state.record(issue.path.name, text, state.items(issue.path.name))
    return follow_title(issues.read_issue(issue.path), state)


def _yaml_str(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
