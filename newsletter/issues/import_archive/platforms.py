"""Each platform's export → `PastIssue`s (pure parsing over a `Bundle`; one `Problem` per bad row or file).

- buttondown: the export folder or zip (or its `emails.csv`). An issue is a row of `emails.csv`
  (`id`, `subject`, `publish_date`, `slug`, `secondary_id`, `status`); its body is the row's `body`
  column or the export's `emails/<slug>.md` (front matter, as Buttondown writes it, allowed). Number:
  `secondary_id`, Buttondown's own issue number.
- substack: the export folder or zip (or its `posts.csv`). An issue is a published row of
  `posts.csv` (`post_id`, `post_date`, `is_published`, `type`, `title`, `subtitle`) and its
  `posts/<post_id>.html`. No numbers: they follow the project's issues in date order.
- curated: an issue JSON file (`number`, `title`, `summary`, `url`, `published_at`,
  `categories[].items[]` with `type`, `title`, `description`, `url`), a list of them,
  `{"issues": [...]}` / `{"data": [...]}`, or a folder of such files. Number: `number`.
- ghost: the JSON export, `db[0].data.posts`; a published post (`type` post) with its `html`, else
  its `lexical`, else its `mobiledoc` document. No numbers.
- markdown: a folder of `.md` files (or one): front matter `title`, `date`, `number` (or `issue`),
  or a YYYY-MM-DD date in the file name; a leading `# Title` line is the title when none is given.

Drafts (unpublished or scheduled rows, Ghost pages, Substack threads and pages) are skipped and
counted, not failures. Every issue carries a `key` (`buttondown:<id>`, `substack:<post_id>` …) that
is written into its file as `imported_from`: a second import finds it there and reports `exists`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ...errors import ProjectError
from ...models import parse_date
from ...text import csv_rows, one_line
from .. import files
from ..draft import md_inline, md_line_start, md_link
from .body import clean_markdown
from .bundle import ArchiveError, Bundle
from .ghost import Part, as_list, lexical_parts, mobiledoc_parts
from .html import html_to_markdown

TITLE_MAX = 300
SKIP_STATUSES = {"draft", "scheduled", "unpublished", "sending", "paused"}


@dataclasses.dataclass
class PastIssue:
    """One past issue as the platform had it; `body` is safe Markdown (links not yet filtered)."""

    key: str
    source: str  # where it came from, for messages: "emails.csv row 3", "posts/1.slug.html"
    title: str
    date: str  # YYYY-MM-DD
    number: int | None
    body: str
    url: str = ""  # its public address on the platform, when the export says
    own_hosts: frozenset[str] = frozenset()


@dataclasses.dataclass
class Problem:
    """A row or file that did not become an issue, and why (one line)."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclasses.dataclass
class Parsed:
    issues: list[PastIssue] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    skipped: int = 0  # drafts, pages, threads: not issues, not failures


def _number(value: Any) -> int | None:
    text = str(value or "").strip().lstrip("#")
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else None


def _title(value: Any) -> str:
    return one_line(str(value or ""), TITLE_MAX)


def _csv_records(bundle: Bundle, name: str) -> list[dict[str, str]]:
    rows = csv_rows(bundle.text(name))
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:] if any(cell.strip() for cell in row)]


def _front(text: str, source: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a Markdown file; ProjectError when its front matter is broken."""
    if not text.lstrip().startswith("---"):
        return {}, text
    issue = files.parse_issue(text, Path(source))
    return issue.front, issue.body


def _texts(bundle: Bundle, suffix: str, missing: str) -> Iterator[tuple[str, str]]:
    """(name, text) of each file of the export ending in `suffix`; ArchiveError(`missing`) for none."""
    names = bundle.with_suffix(suffix)
    if not names:
        raise ArchiveError(f"{bundle.path}: {missing}")
    for name in names:
        yield name, bundle.text(name)


_HTML_START = re.compile(
    r"\s*(?:<!--.*?-->\s*)*<(?:p|div|h[1-6]|ul|ol|table|section|article|figure|blockquote)\b", re.I | re.S
)


def _is_html(body: str) -> bool:
    """A Buttondown body written in its "fancy" (rich text) editor is HTML, not Markdown."""
    return bool(_HTML_START.match(body[:10_000])) or "buttondown-editor-mode: fancy" in body[:500]


def _host(url: str) -> frozenset[str]:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return frozenset()
    return frozenset({host.removeprefix("www.")}) if host else frozenset()


# -- Buttondown ---------------------------------------------------------------------------------


def buttondown(bundle: Bundle) -> Parsed:
    """`emails.csv` rows; bodies from a `body` column or the export's Markdown files."""
    name = bundle.primary if bundle.primary and bundle.primary.lower().endswith(".csv") else bundle.find("emails.csv")
    if name is None:
        raise ArchiveError(f"{bundle.path}: no emails.csv (a Buttondown export holds emails.csv and emails/*.md)")
    markdown = {PurePosixPath(n).stem.lower(): n for n in bundle.with_suffix_all(".md")}
    out = Parsed()
    for row_number, row in enumerate(_csv_records(bundle, name), start=1):
        source = f"{PurePosixPath(name).name} row {row_number}"
        if (row.get("status") or "").strip().lower() in SKIP_STATUSES:
            out.skipped += 1
            continue
        key = (row.get("id") or row.get("slug") or "").strip()
        front: dict[str, Any] = {}
        body = row.get("body") or ""
        if not body.strip():
            found = next(
                (markdown[k.lower()] for k in (row.get("slug"), row.get("id")) if k and k.lower() in markdown), None
            )
            if found is None:
                out.problems.append(Problem(source, "no body: neither a body column nor emails/<slug>.md"))
                continue
            try:
                front, body = _front(bundle.text(found), found)
            except ProjectError as exc:
                out.problems.append(Problem(source, str(exc)))
                continue
        date = parse_date(row.get("publish_date") or row.get("creation_date") or front.get("publish_date"))
        if not key:
            out.problems.append(Problem(source, "no id or slug"))
            continue
        if date is None:
            out.problems.append(Problem(source, "no usable publish_date"))
            continue
        out.issues.append(
            PastIssue(
                key=f"buttondown:{key}",
                source=source,
                title=_title(row.get("subject") or front.get("subject")),
                date=date,
                number=_number(row.get("secondary_id") or front.get("secondary_id")),
                body=html_to_markdown(body) if _is_html(body) else clean_markdown(body),
                url=(row.get("absolute_url") or "").strip(),
            )
        )
    return out


# -- Substack -----------------------------------------------------------------------------------


def substack(bundle: Bundle) -> Parsed:
    """Published rows of `posts.csv`, each with its `posts/<post_id>.html`."""
    name = bundle.primary if bundle.primary and bundle.primary.lower().endswith(".csv") else bundle.find("posts.csv")
    if name is None:
        raise ArchiveError(f"{bundle.path}: no posts.csv (a Substack export holds posts.csv and posts/*.html)")
    posts = {PurePosixPath(n).name[: -len(".html")].lower(): n for n in bundle.under("posts", ".html")}
    out = Parsed()
    for row_number, row in enumerate(_csv_records(bundle, name), start=1):
        source = f"{PurePosixPath(name).name} row {row_number}"
        post_id = (row.get("post_id") or "").strip()
        kind = (row.get("type") or "newsletter").strip().lower()
        if (row.get("is_published") or "").strip().lower() != "true" or kind in ("page", "thread"):
            out.skipped += 1
            continue
        date = parse_date(row.get("post_date") or row.get("email_sent_at"))
        html_name = posts.get(post_id.lower())
        if not post_id:
            out.problems.append(Problem(source, "no post_id"))
            continue
        if date is None:
            out.problems.append(Problem(source, "no usable post_date"))
            continue
        if html_name is None:
            out.problems.append(Problem(source, f"no posts/{post_id}.html in the export"))
            continue
        subtitle = one_line(row.get("subtitle") or "", 500)
        lead = f"*{md_inline(subtitle)}*\n\n" if subtitle else ""
        out.issues.append(
            PastIssue(
                key=f"substack:{post_id}",
                source=source,
                title=_title(row.get("title")),
                date=date,
                number=None,
                body=lead + html_to_markdown(bundle.text(html_name)),
            )
        )
    return out


# -- Curated ------------------------------------------------------------------------------------


def curated(bundle: Bundle) -> Parsed:
    """Issue JSON (one issue, a list, or `{"issues"|"data": [...]}`) from one file or a folder of them."""
    out = Parsed()
    for name, text in _texts(bundle, ".json", "no .json file (Curated's issue JSON, from its API)"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            out.problems.append(Problem(name, f"not JSON ({exc})"))
            continue
        found = data.get("issues") or data.get("data") if isinstance(data, dict) and "number" not in data else data
        for index, issue in enumerate(found if isinstance(found, list) else [found]):
            source = name if not isinstance(found, list) else f"{name} [{index}]"
            if not isinstance(issue, dict):
                out.problems.append(Problem(source, "not an issue object"))
                continue
            parsed = _curated_issue(issue, source)
            if isinstance(parsed, Problem):
                out.problems.append(parsed)
            elif parsed is None:
                out.skipped += 1
            else:
                out.issues.append(parsed)
    return out


def _curated_issue(issue: dict[str, Any], source: str) -> PastIssue | Problem | None:
    number = _number(issue.get("number"))
    date = parse_date(issue.get("published_at"))
    if number is None:
        return Problem(source, "no issue number")
    if date is None:
        return None if issue.get("published_at") in (None, "") else Problem(source, "no usable published_at")
    blocks: list[str] = []
    summary = one_line(str(issue.get("summary") or ""), 2000)
    if summary:
        blocks.append(md_line_start(md_inline(summary)))
    for category in as_list(issue.get("categories")):
        if not isinstance(category, dict):
            continue
        entries = []
        for item in as_list(category.get("items")):
            if not isinstance(item, dict):
                continue
            text = one_line(html_to_markdown(str(item.get("description") or "")).replace("\n", " "), 4000)
            title = _title(item.get("title"))
            if str(item.get("url") or "").strip():
                link = md_link(title or str(item["url"]), str(item["url"]), TITLE_MAX)
                entries.append(f"- **{link}**" + (f" — {text}" if text else ""))
            elif title or text:
                entries.append(f"- **{md_inline(title)}**" + (f" — {text}" if text else "") if title else f"- {text}")
        if entries:
            name = one_line(str(category.get("name") or ""), 120)
            blocks.append((f"## {md_inline(name)}\n\n" if name else "") + "\n".join(entries))
    url = str(issue.get("url") or "").strip()
    return PastIssue(
        key=f"curated:{number}",
        source=source,
        title=_title(issue.get("title")),
        date=date,
        number=number,
        body="\n\n".join(blocks) + "\n",
        url=url,
        own_hosts=_host(url),
    )


# -- Ghost --------------------------------------------------------------------------------------


def ghost(bundle: Bundle) -> Parsed:
    """Published posts of a Ghost JSON export: `db[0].data.posts`."""
    names = bundle.with_suffix(".json")
    if len(names) != 1:
        raise ArchiveError(f"{bundle.path}: give the Ghost export's .json file itself ({len(names)} .json files here)")
    try:
        data = json.loads(bundle.text(names[0]))
        posts = data["db"][0]["data"]["posts"]
    except ValueError as exc:
        raise ArchiveError(f"{names[0]}: not JSON ({exc})") from None
    except (KeyError, IndexError, TypeError):
        raise ArchiveError(f"{names[0]}: not a Ghost export (no db[0].data.posts)") from None
    if not isinstance(posts, list):
        raise ArchiveError(f"{names[0]}: not a Ghost export (db[0].data.posts is not a list)")
    out = Parsed()
    for index, post in enumerate(posts):
        source = f"posts[{index}]"
        if not isinstance(post, dict):
            out.problems.append(Problem(source, "not a post object"))
            continue
        source = f"posts[{index}] ({one_line(str(post.get('slug') or post.get('id') or ''), 80)})"
        if str(post.get("type") or "post") != "post" or str(post.get("status") or "") != "published":
            out.skipped += 1
            continue
        date = parse_date(post.get("published_at"))
        key = str(post.get("id") or post.get("uuid") or "").strip()
        if not key or date is None:
            out.problems.append(Problem(source, "no id" if not key else "no usable published_at"))
            continue
        out.issues.append(
            PastIssue(
                key=f"ghost:{key}",
                source=source,
                title=_title(post.get("title")),
                date=date,
                number=None,
                body=_ghost_body(post),
                url=str(post.get("url") or "").strip(),
            )
        )
    return out


def _ghost_body(post: dict[str, Any]) -> str:
    if str(post.get("html") or "").strip():
        return html_to_markdown(str(post["html"]))
    parts: list[Part] = lexical_parts(post.get("lexical")) or mobiledoc_parts(post.get("mobiledoc"))
    if not parts and str(post.get("plaintext") or "").strip():
        return clean_markdown(md_inline(str(post["plaintext"])))
    blocks = [html_to_markdown(text) if kind == "html" else clean_markdown(text) for kind, text in parts]
    return "\n".join(b.strip() + "\n" for b in blocks if b.strip())


# -- a folder of Markdown -----------------------------------------------------------------------

_NAME_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def markdown(bundle: Bundle) -> Parsed:
    """`.md` files: front matter `title`, `date`, `number` (or `issue`), or a date in the file name."""
    out = Parsed()
    for name, text in _texts(bundle, ".md", "no .md files"):
        try:
            front, body = _front(text, name)
        except ProjectError as exc:
            out.problems.append(Problem(name, str(exc).removeprefix(f"{name}: ")))
            continue
        if str(front.get("status") or "") == "draft":
            out.skipped += 1
            continue
        stem = PurePosixPath(name).stem
        found = _NAME_DATE.search(stem)
        date = parse_date(front.get("date")) or (parse_date(found.group(1)) if found else None)
        if date is None:
            out.problems.append(Problem(name, "no date: give `date:` in its front matter or YYYY-MM-DD in its name"))
            continue
        title = _title(front.get("title"))
        heading = re.match(r"\s*#\s+(.+?)\s*#*\s*\n", body)
        if not title and heading:
            title, body = _title(files.unescape(heading.group(1))), body[heading.end() :]
        if not title:
            title = _title(re.sub(r"[-_]+", " ", _NAME_DATE.sub("", stem)).strip())
        out.issues.append(
            PastIssue(
                key=f"markdown:{name}",
                source=name,
                title=title,
                date=date,
                number=_number(front.get("number") or front.get("issue")),
                body=clean_markdown(body),
            )
        )
    return out


PARSERS: dict[str, Callable[[Bundle], Parsed]] = {
    "buttondown": buttondown,
    "substack": substack,
    "curated": curated,
    "ghost": ghost,
    "markdown": markdown,
}
PLATFORMS = tuple(PARSERS)
