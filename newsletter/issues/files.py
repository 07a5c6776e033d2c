"""Issue files: `content/issues/<NNN>-<slug>.md`, Markdown with front matter (number, title, date, status).

The Markdown is the truth for what an issue contains. This module reads and writes those files and
understands just enough Markdown for the commands around them: the links an issue makes (and which
of them are *entries*: a `### [Title](url)` heading or a `- **[Title](url)**` bullet, as opposed
to a link mentioned in passing), its `## ` sections, and where new entries go when a draft is
updated without touching a word the curator wrote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..errors import ProjectError
from ..store import files

ISSUE_NAME = re.compile(r"^(\d{3,})-.*\.md$")
STATUS_DRAFT = "draft"
STATUS_PUBLISHED = "published"

# [text](url) or [text](url "title"); text may hold escaped brackets and one level of nesting.
_LINK = re.compile(
    r"(?<!!)\[(?P<text>(?:\\.|[^\[\]\\]|\[(?:\\.|[^\[\]\\])*\])*)\]"
    r"\(\s*<?(?P<url>[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
_AUTOLINK = re.compile(r"(?<!\()<(?P<url>https?://[^\s<>]+)>")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(?P<url>[^\s<>]+)>?")
_ENTRY_PREFIX = re.compile(r"^(?:###\s+|[-*+]\s+\*\*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^##\s+(?P<title>.+?)\s*#*\s*$")


@dataclasses.dataclass
class Link:
    """One link in an issue's body."""

    url: str
    text: str
    line: int  # 1-based line number in the body
    section: str  # the `## ` section it sits in ("" before the first one)
    entry: bool  # the link that *is* an entry (heading or bold bullet), not a mention


@dataclasses.dataclass
class Section:
    """A `## ` section of the body: its title and its line range [start, end) (0-based, heading included)."""

    title: str
    start: int
    end: int


@dataclasses.dataclass
class IssueFile:
    """One issue as read from disk."""

    path: Path
    front: dict[str, Any]
    body: str
    text: str

    @property
    def number(self) -> int | None:
        value = self.front.get("number")
        return value if isinstance(value, int) else None

    @property
    def title(self) -> str:
        return str(self.front.get("title") or "").strip()

    @property
    def status(self) -> str:
        return str(self.front.get("status") or STATUS_DRAFT)

    @property
    def date(self) -> str:
        value = self.front.get("date")
        return value.isoformat() if isinstance(value, dt.date) else str(value or "")


def parse_issue(text: str, path: Path, *, strict: bool = True) -> IssueFile:
    """Split issue text into front matter and body; raises ProjectError naming the file.

    With `strict=False` nothing is raised: text without usable front matter comes back with an empty
    `front` and the whole text as its body, and a `number` that is not an integer is left as it is.
    """
    match = files.FRONT_MATTER.match(text.lstrip("\ufeff"))
    try:
        if not match:
            raise ProjectError(f"{path}: no front matter (an issue must start with '---')")
        try:
            front = yaml.load(match.group(1), Loader=files._Loader)
        except yaml.YAMLError as exc:
            raise ProjectError(f"{path}: invalid front matter: {str(exc).splitlines()[0]}") from None
        if not isinstance(front, dict):
            raise ProjectError(f"{path}: front matter must be a mapping (number, title, date, status)")
    except ProjectError:
        if strict:
            raise
        return IssueFile(path, {}, text, text)
    number = front.get("number")
    if number is not None and not isinstance(number, int):
        try:
            front["number"] = int(str(number))
        except ValueError:
            if strict:
                raise ProjectError(f"{path}: number must be an integer, got {number!r}") from None
    return IssueFile(path, front, match.group(2), text)


def read_issue(path: Path) -> IssueFile:
    """Read one issue file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot read ({exc})") from None
    return parse_issue(text, path)


def list_issues(issues_dir: Path) -> list[IssueFile]:
    """Every issue file (named NNN-slug.md), by number. Unreadable files raise ProjectError."""
    if not issues_dir.is_dir():
        return []
    found = []
    for path in sorted(issues_dir.iterdir()):
        match = ISSUE_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        issue = read_issue(path)
        if issue.number is None:
            issue.front["number"] = int(match.group(1))
        found.append(issue)
    return sorted(found, key=lambda i: (i.number or 0, i.path.name))


def read_issue_folder(folder: Path) -> tuple[list[IssueFile], list[str]]:
    """Every `*.md` file below `folder` (subfolders too, sorted by path), read with `strict=False`,
    and one line per file that cannot be read at all.

    For readers that must not stop at one bad file (the site hides or shows every page of the folder,
    whatever its name or front matter); `list_issues` is the strict reader the commands use.
    """
    found: list[IssueFile] = []
    problems: list[str] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.rglob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read issue file ({exc})")
            continue
        found.append(parse_issue(text, path, strict=False))
    return found, problems


def find_issue(issues_dir: Path, number: int) -> IssueFile:
    """The issue with this number; ProjectError when there is none (or more than one)."""
    matches = [i for i in list_issues(issues_dir) if i.number == number]
    if not matches:
        raise ProjectError(f"no issue {number} in {issues_dir}; `newsletter draft --issue {number}` writes one")
    if len(matches) > 1:
        names = ", ".join(m.path.name for m in matches)
        raise ProjectError(f"issue {number} is in more than one file ({names}); keep one")
    return matches[0]


def issue_filename(number: int, slug: str) -> str:
    """`005-evaluation-and-llm-ops.md`."""
    return f"{number:03d}-{files.slugify(slug)}.md"


# -- links and sections ---------------------------------------------------------------------------


def _code_mask(lines: list[str]) -> list[bool]:
    """True for lines inside fenced code blocks (links there are examples, not links)."""
    mask, inside = [], False
    for line in lines:
        if _FENCE.match(line):
            mask.append(True)
            inside = not inside
            continue
        mask.append(inside)
    return mask


def sections(body: str) -> list[Section]:
    """The `## ` sections of a body, in order."""
    lines = body.split("\n")
    mask = _code_mask(lines)
    heads = [(n, m.group("title")) for n, line in enumerate(lines) if not mask[n] and (m := _HEADING.match(line))]
    return [
        Section(title, start, heads[i + 1][0] if i + 1 < len(heads) else len(lines))
        for i, (start, title) in enumerate(heads)
    ]


def extract_links(body: str) -> list[Link]:
    """Every http(s) link of a body (inline and autolinks), outside code, in order."""
    lines = body.split("\n")
    mask = _code_mask(lines)
    section = ""
    out: list[Link] = []
    for n, line in enumerate(lines):
        if mask[n]:
            continue
        head = _HEADING.match(line)
        if head:
            section = head.group("title")
        stripped = re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), line)  # no links in code spans
        first = True
        for match in _LINK.finditer(stripped):
            url = match.group("url").strip()
            if not url.lower().startswith(("http://", "https://")):
                continue
            entry = first and bool(_ENTRY_PREFIX.match(stripped[: match.start()]))
            first = False
            out.append(Link(url, unescape(match.group("text")), n + 1, section, entry))
        for match in _AUTOLINK.finditer(stripped):
            out.append(Link(match.group("url"), match.group("url"), n + 1, section, False))
    return out


def map_links(body: str, change: Callable[[str, str], str | None]) -> str:
    """The body with each inline link's target replaced by `change(url, text)`, outside code.

    `change` returns the new URL, None to keep only the link's text (escaped as it was written), or ""
    to drop the link and its text. Images, autolinks and reference definitions are left as they are.
    """
    lines = body.split("\n")
    mask = _code_mask(lines)

    def one(match: re.Match[str]) -> str:
        url = change(match.group("url").strip(), unescape(match.group("text")))
        if url == "":
            return ""
        return match.group("text") if url is None else f"[{match.group('text')}]({url})"

    for n, line in enumerate(lines):
        if mask[n] or "](" not in line:
            continue
        # code spans keep their text: rewrite only the stretches between them
        parts = re.split(r"(`[^`]*`)", line)
        lines[n] = "".join(part if i % 2 else _LINK.sub(one, part) for i, part in enumerate(parts))
    return "\n".join(lines)


def link_urls(body: str) -> list[str]:
    """Every http(s) URL a body links to, in order, without repeats: its links (`extract_links`) and
    its reference definitions (`[label]: url`), outside code."""
    lines = body.split("\n")
    mask = _code_mask(lines)
    found = [(link.line, link.url) for link in extract_links(body)]
    for n, line in enumerate(lines):
        ref = None if mask[n] else _REF_DEF.match(line)
        if ref and ref.group("url").lower().startswith(("http://", "https://")):
            found.append((n + 1, ref.group("url")))
    return list(dict.fromkeys(url for _line, url in sorted(found, key=lambda f: f[0])))


def unescape(text: str) -> str:
    """Markdown text back to plain text: backslash escapes and the entities md_escape writes."""
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~&])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- front matter ---------------------------------------------------------------------------------


def set_front_fields(text: str, **fields: Any) -> str:
    """Change front-matter fields in place, line by line, leaving every other byte as it was.

    A curator's issue file is hand-edited: re-dumping the YAML would reorder keys and re-quote
    titles, so only the named `key: value` lines are replaced (or appended before the closing ---).
    """
    match = files.FRONT_MATTER.match(text)
    if not match:
        raise ProjectError("the issue has no front matter")
    front = match.group(1)
    for key, value in fields.items():
        line = f"{key}: {value}"
        pattern = re.compile(rf"^{re.escape(key)}[ \t]*:.*$", re.M)
        if pattern.search(front):
            front = pattern.sub(lambda _m, line=line: line, front, count=1)
        else:
            front += line + "\n"
    return text[: match.start(1)] + front + text[match.end(1) :]


# -- updating a draft without touching the curator's text ---------------------------------------


def insertion_point(lines: list[str], section: Section, *, last: bool) -> int:
    """The line index where new entries of `section` go: right after its last entry.

    In the last section the text after the final list (the sign-off) stays below new entries.
    """
    end = section.end
    if last:
        bullet_ends = [n + 1 for n in range(section.start + 1, section.end) if re.match(r"^[-*+]\s", lines[n])]
        if bullet_ends:
            end = bullet_ends[-1]
            while end < section.end and lines[end].startswith(("  ", "\t")):
                end += 1  # continuation lines of the last bullet
            return end
    while end > section.start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def merge_entries(text: str, new_blocks: dict[str, str], order: list[str]) -> str:
    """Add rendered entry blocks to an issue's text, each at the end of its section.

    `new_blocks` maps a section title to its Markdown (entries only, no heading); `order` is the
    configured section order, used to place a section the curator's text does not have yet
    (before the next configured section it does have, else after the last one). Existing lines
    are never changed: the result is the old text with lines inserted.
    """
    match = files.FRONT_MATTER.match(text)
    head, body = (text[: match.start(2)], match.group(2)) if match else ("", text)
    lines = body.split("\n")
    found = sections(body)
    by_title = {s.title.strip().lower(): s for s in found}
    inserts: list[tuple[int, list[str]]] = []
    for title, block in new_blocks.items():
        block_lines = block.strip("\n").split("\n")
        if not block.strip():
            continue
        section = by_title.get(title.strip().lower())
        if section is not None:
            at = insertion_point(lines, section, last=section is found[-1])
            is_list = re.match(r"^[-*+]\s", block_lines[0]) is not None
            before = lines[at - 1] if at > 0 else ""
            gap = [] if is_list and re.match(r"^[-*+]\s", before) else [""]
            inserts.append((at, gap + block_lines))
            continue
        later = order[order.index(title) + 1 :] if title in order else []
        target = next((by_title[t.strip().lower()] for t in later if t.strip().lower() in by_title), None)
        new_section = [f"## {title}", *block_lines, ""]
        if target is not None:
            inserts.append((target.start, new_section))
        elif found:
            at = insertion_point(lines, found[-1], last=True)
            inserts.append((at, ["", *new_section[:-1]]))
        else:
            inserts.append((len(lines), ["", *new_section]))
    # Apply bottom-up so earlier indices stay valid; equal indices keep their given order.
    for _seq, (at, block_lines) in sorted(enumerate(inserts), key=lambda p: (p[1][0], p[0]), reverse=True):
        lines[at:at] = block_lines
    return head + "\n".join(lines)


def section_blocks(rendered: str) -> dict[str, str]:
    """Section title -> its entries' Markdown (no heading, no sign-off), from a freshly rendered issue."""
    match = files.FRONT_MATTER.match(rendered)
    body = match.group(2) if match else rendered
    lines = body.split("\n")
    found = sections(body)
    blocks = {}
    for section in found:
        end = insertion_point(lines, section, last=section is found[-1])
        block = "\n".join(lines[section.start + 1 : end]).strip("\n")
        if block.strip():
            blocks[section.title] = block
    return blocks


def write_issue(path: Path, text: str) -> None:
    """Write an issue file atomically (a crash leaves the old text or the new, whole)."""
    files.atomic_write(path, text)


class DraftState:
    """What `draft` last wrote, per issue file: `.newsletter/drafts.json` (derived, git-ignored).

    The hash of the generated text tells "the curator edited this" from "this is still ours".
    It lives in the derived folder rather than in an HTML comment inside the issue because a
    comment would be part of the text it hashes, would travel into the site's and email's HTML,
    and would show up in the curators' git diffs and merge conflicts. If the folder is deleted,
    nothing is lost: a draft with no record counts as edited, so the tool only gets more careful.
    """

    def __init__(self, derived_dir: Path) -> None:
        self.path = derived_dir / "drafts.json"

    def _load(self) -> dict[str, Any]:
        import json

        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def unchanged(self, name: str, text: str) -> bool:
        """True when `text` is exactly what the tool last wrote to this issue file."""
        record = self._load().get(name)
        return isinstance(record, dict) and record.get("sha256") == _sha256(text)

    def items(self, name: str) -> list[str]:
        """Ids of the items the tool has put in this draft or left out of it: not new to an `--update`."""
        record = self._load().get(name)
        return [str(i) for i in record.get("items", [])] if isinstance(record, dict) else []

    def record(self, name: str, text: str, item_ids: list[str]) -> None:
        """Remember the text just written and the items it holds."""
        import json

        data = self._load()
        data[name] = {"sha256": _sha256(text), "items": item_ids}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def rename(self, old: str, new: str) -> None:
        """Move a file's record to its new name (the file followed its title)."""
        import json

        data = self._load()
        if old in data:
            data[new] = data.pop(old)
            files.atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")

    def forget(self, name: str) -> None:
        """Drop the record of a file (e.g. once its issue is published)."""
        import json

        data = self._load()
        if data.pop(name, None) is not None:
            files.atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()
