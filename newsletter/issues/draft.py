"""`newsletter draft`: choose, group, order and render the next issue (decisions are pure functions).

    rules = section_rules(settings.raw)                 # [[sections]] of newsletter.toml, or defaults
    plan = plan_draft(items, rules, dupe_groups=..., related_for=...)
    text = render(plan, IssueMeta(...), templates_dir)  # templates/issue.md.j2 overrides the packaged one

Everything that comes from the web (titles, summaries, site names, authors) goes into the Markdown
through `md_escape` / `md_link`, so a hostile title cannot inject links, HTML or structure. The
curator's notes are the curator's Markdown: kept as written, except raw HTML (< >) and control or
bidi characters, which never belong in an issue. `write_draft` at the bottom does the I/O around
these decisions: catalog, semantic engine, issue file and the draft's state.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import DraftEdited, ProjectError
from ..models import Item
from ..text import one_line as clean_text
from ..web.public import public_url
from . import naming
from .sections import CANDIDATE_STATUSES, SectionRule, assign_section, section_rules
from .selection import folded_count, rank_key

TITLE_MAX = 200
SUMMARY_MAX = 280
RELATED_THRESHOLD = 0.6  # MiniLM cosine (+ suggest.RARE_NAME_BONUS); see test_draft.py::test_backlinks_real_model
RELATED_MAX = 3

# -- Markdown safety -------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#+!|~])")


def md_escape(text: str, max_len: int = TITLE_MAX) -> str:
    """Untrusted text as inline Markdown that renders literally: one line, capped, every marker escaped."""
    return md_line_start(md_inline(clean_text(text, max_len)))


def md_inline(text: str) -> str:
    """Untrusted running text with every Markdown marker escaped, whitespace left as it is.

    `< > &` become entities rather than backslash escapes: Python-Markdown (mkdocs) does not treat
    `\\<` as an escape, so `\\<script>` would still open a tag there.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_line_start(text: str) -> str:
    """Escaped text that may begin a line: a leading "-", "=" or "1." would start a list or heading."""
    if text[:1] in ("-", "="):
        return "\\" + text
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", text)


def md_url(url: str) -> str:
    """An http(s) URL safe inside `(...)` of a Markdown link, or "" for anything else (javascript:, data:)."""
    url = clean_text(url).replace(" ", "%20")
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return quote(url, safe="/:?#[]@!$&'*+,;=%-._~")


def md_link(title: str, url: str, max_len: int = TITLE_MAX) -> str:
    """`[escaped title](safe url)`; just the escaped title when the URL is not http(s)."""
    target = md_url(url)
    text = md_escape(title or url, max_len) or md_escape(url, max_len)
    return f"[{text}]({target})" if target else text


def md_note(note: str) -> str:
    """The curator's note as Markdown: kept as written, minus raw HTML and control/bidi characters."""
    lines = [clean_text(line) for line in str(note or "").strip().splitlines()]
    text = "\n".join(lines).strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def yaml_str(text: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(clean_text(text, TITLE_MAX), ensure_ascii=False)


# -- the plan ------------------------------------------------------------------------------------


@dataclasses.dataclass
class DraftEntry:
    item: Item
    also: list[Item] = dataclasses.field(default_factory=list)
    previously: list[tuple[Item, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class PlannedSection:
    rule: SectionRule
    entries: list[DraftEntry]


@dataclasses.dataclass
class DraftPlan:
    sections: list[PlannedSection]
    left_out: list[str]  # one line each (`draft -v`, `--json`)
    tags: list[str]
    considered: list[str] = dataclasses.field(default_factory=list)  # every candidate, drafted or not
    reasons: list[str] = dataclasses.field(default_factory=list)  # a reason code per left_out line
    folded: int = 0  # candidates listed under another entry's "Also" (the same work)

    @property
    def entries(self) -> list[DraftEntry]:
        return [e for s in self.sections for e in s.entries]

    def item_ids(self) -> list[str]:
        return [i.id for e in self.entries for i in (e.item, *e.also)]


def _label(item: Item) -> str:
    return f"{item.id} {clean_text(item.display_title(), 80)}"


def plan_draft(
    items: Sequence[Item],
    rules: Sequence[SectionRule],
    *,
    dupe_pairs: Sequence[tuple[str, str]] = (),
    related_for: Callable[[str], Sequence[tuple[str, float]]] | None = None,
    related_threshold: float = RELATED_THRESHOLD,
    since: str | None = None,
    max_total: int | None = None,
    present: frozenset[str] = frozenset(),
    explain: bool = True,
) -> DraftPlan:
    """Choose what goes in the issue and where (pure: the semantic answers come in as data).

    Candidates are inbox and shortlisted items (added on or after `since`) not in `present` (already
    in the draft being updated). `dupe_pairs` are near-duplicate pairs: a candidate paired with a
    published (or already drafted) item is left out and reported; candidates paired with each other
    collapse to their best member, the others listed under it as "Also". Without `explain` the
    per-item `left_out` lines are not written (the counts in `reasons` are): 7k labels per round
    were most of a settling round's time at 100k items.
    """
    by_id = {it.id: it for it in items}
    left_out: list[str] = []
    reasons: list[str] = []
    candidates = {
        it.id: it for it in items
        if it.status in CANDIDATE_STATUSES and not it.duplicate_of and it.id not in present
        and (not since or (it.added[:10] or "9999") >= since)
    }
    considered = sorted(candidates)
    also: dict[str, list[Item]] = {}
    neighbours: dict[str, set[str]] = {}
    for a, b in dupe_pairs:
        if a in by_id and b in by_id:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
    # Only a *direct* pair makes a candidate a repeat: chains of "similar to similar" drift off topic.
    for item_id in sorted(candidates):
        known = [by_id[o] for o in neighbours.get(item_id, ()) if o in present or by_id[o].status == "published"]
        if not known:
            continue
        other = min(known, key=lambda o: (o.id not in present, o.issue or 0, o.id))
        where = "already in this draft" if other.id in present else f"already published in issue {other.issue}"
        if explain:
            left_out.append(f"left out {_label(candidates[item_id])}: near-duplicate of {_label(other)}, {where}")
        reasons.append("published")
        del candidates[item_id]
    seen: set[str] = set()
    for item_id in sorted(candidates):
        if item_id in seen:
            continue
        group, todo = [], [item_id]
        while todo:  # the connected component among the remaining candidates
            current = todo.pop()
            if current in seen or current not in candidates:
                continue
            seen.add(current)
            group.append(candidates[current])
            todo.extend(neighbours.get(current, ()))
        if len(group) > 1:
            keeper, *rest = sorted(group, key=rank_key)
            also[keeper.id] = rest
            for m in rest:
                del candidates[m.id]
    grouped: dict[str, list[Item]] = {r.title: [] for r in rules}
    for item in candidates.values():
        rule = assign_section(item, rules)
        if rule is None:
            if explain:
                left_out.append(f"left out {_label(item)}: no section takes a {item.kind}; set its `section:` field")
            reasons.append("no-section")
            continue
        grouped[rule.title].append(item)
    chosen: list[tuple[SectionRule, Item]] = []
    for rule in rules:
        members = sorted(grouped[rule.title], key=rank_key)
        for item in members[rule.max :]:
            if explain:
                left_out.append(f"left out {_label(item)}: section {rule.title!r} is full (max {rule.max})")
            reasons.append("full")
        chosen.extend((rule, item) for item in members[: rule.max])
    if max_total is not None and len(chosen) > max_total:
        ranked = sorted(chosen, key=lambda p: rank_key(p[1]))
        for _rule, item in ranked[max_total:]:
            if explain:
                left_out.append(f"left out {_label(item)}: the issue is full (--max {max_total})")
            reasons.append("issue-full")
        keep = {item.id for _rule, item in ranked[:max_total]}
        chosen = [p for p in chosen if p[1].id in keep]
    sections = []
    for rule in rules:
        entries = []
        for r, item in chosen:
            if r is not rule:
                continue
            previously: list[tuple[Item, float]] = []
            for other_id, score in (related_for(item.id) if related_for else ()):
                earlier = by_id.get(other_id)
                published = earlier is not None and earlier.status == "published" and bool(earlier.issue)
                if earlier is not None and published and score >= related_threshold:
                    previously.append((earlier, score))
            entries.append(DraftEntry(item, also.get(item.id, []), previously[:RELATED_MAX]))
        sections.append(PlannedSection(rule, entries))
    tag_counts = Counter(t for r, item in chosen for t in item.tags for _ in range(2 if r.style == "feature" else 1))
    tags = [t for t, _ in sorted(tag_counts.items(), key=lambda p: (-p[1], p[0]))[:4]]
    return DraftPlan(sections, left_out, tags, considered, reasons, folded_count(also))


# -- rendering ----------------------------------------------------------------------------------


@dataclasses.dataclass
class IssueMeta:
    number: int
    title: str
    date: str
    newsletter: str = ""
    signoff: str = "Until next week — the editors."


def short_authors(authors: Sequence[str]) -> str:
    """'Kwon et al.' / 'Khattab, Zaharia' / 'Dao' (family names, as the house style cites papers)."""
    names = [clean_text(a).split(" ")[-1] for a in authors if clean_text(a)]
    if not names:
        return ""
    return ", ".join(names) if len(names) <= 2 else f"{names[0]} et al."


def source_of(item: Item) -> str:
    """Who or where an entry comes from, as plain text (escaped later)."""
    extra = item.extra or {}
    if item.kind == "paper":
        return short_authors(item.authors)
    if item.kind == "podcast":
        return clean_text(extra.get("show") or item.site)
    if item.kind == "video":
        return clean_text(extra.get("channel") or (item.authors[0] if item.authors else "") or item.site)
    if item.kind == "tweet":
        handle = clean_text(extra.get("handle") or "").lstrip("@")
        return f"@{handle}" if handle else clean_text(item.site)
    if item.kind == "link":
        return ", ".join(clean_text(a) for a in item.authors[:2]) or clean_text(item.site)
    return ""


def byline(item: Item) -> str:
    """`Site · Author, Author` for feature stories."""
    site = clean_text(item.site) or (urlsplit(item.url).hostname or "")
    authors = ", ".join(clean_text(a) for a in item.authors[:10] if clean_text(a))
    return " · ".join(p for p in (site, authors) if p)


def entry_context(
    entry: DraftEntry, issue_titles: Mapping[int, str], images: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the template sees for one entry: every string already safe Markdown.

    `images` maps item id → the relative path of its local image; `image` is None without one.
    """
    item = entry.item
    src = (images or {}).get(item.id)
    image = {"src": quote(src, safe="/._-~"), "alt": md_escape(item.display_title())} if src else None
    text = md_note(item.note) if item.note.strip() else md_escape(item.summary, SUMMARY_MAX)
    previously = []
    for other, score in entry.previously:
        theme = re.sub(r"^Issue #\d+:\s*", "", issue_titles.get(other.issue or 0, ""))
        previously.append({
            "link": md_link(other.display_title(), public_url(other)),
            "issue": other.issue,
            "issue_title": md_escape(theme),
            "score": round(score, 2),
        })
    return {
        "id": item.id,
        "kind": item.kind,
        "link": md_link(item.display_title(), public_url(item)),
        "title": md_escape(item.display_title()),
        "url": md_url(public_url(item)),
        "source": md_escape(source_of(item), 120),
        "byline": md_escape(byline(item), 300),
        "text": text,
        "also": [md_link(o.display_title(), public_url(o)) for o in entry.also],
        "previously": previously,
        "image": image,
    }


_NOT_PLURAL = frozenset({"news", "series", "species", "analysis", "basis", "bus", "class", "focus", "lens", "thesis"})


def count_phrase(n: int, title: str) -> str:
    """'8 papers', and '1 paper' (not '1 papers'): section titles are plural phrases (pure)."""
    phrase = title.lower()
    if n != 1:
        return f"{n} {phrase}"

    def singular(word: str) -> str:
        if word in _NOT_PLURAL or len(word) < 4 or word.endswith(("ss", "us", "is")):
            return word
        if word.endswith("ies"):
            return word[:-3] + "y"
        return word[:-1] if word.endswith("s") else word

    return f"1 {' '.join(singular(w) for w in phrase.split(' '))}"


def jinja_env(templates_dir: Path | None) -> Any:
    """Templates from the project's templates/ first, then the ones shipped with the package."""
    import jinja2

    loaders: list[Any] = []
    if templates_dir is not None and templates_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("newsletter", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders), autoescape=False, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters.update(md_escape=md_escape, md_link=md_link, md_url=md_url, yaml_str=yaml_str)
    return env


def render(
    plan: DraftPlan, meta: IssueMeta, *, templates_dir: Path | None = None,
    issue_titles: Mapping[int, str] | None = None, template: str = "issue.md.j2",
    images: Mapping[str, str] | None = None,
) -> str:
    """The issue's Markdown from the plan and the template (the project's own, or the packaged one).

    `images` (item id → relative path of the local copy) gives entries their `image`; the packaged
    template shows it in feature sections only.
    """
    import jinja2

    titles = issue_titles or {}
    sections: list[dict[str, Any]] = [
        {"title": s.rule.title, "style": s.rule.style, "entries": [entry_context(e, titles, images) for e in s.entries]}
        for s in plan.sections
    ]
    counts = [count_phrase(len(s["entries"]), s["title"]) for s in sections if s["entries"]]
    try:
        text = jinja_env(templates_dir).get_template(template).render(
            issue={"number": meta.number, "title": meta.title, "date": meta.date, "tags": plan.tags},
            newsletter=meta.newsletter, sections=[s for s in sections if s["entries"]], all_sections=sections,
            summary=", ".join(counts), signoff=meta.signoff,
        )
    except jinja2.TemplateError as exc:
        raise ProjectError(f"template {template}: {exc}; fix templates/{template} or delete it") from None
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


# -- orchestration: catalog + semantic engine + issue file ---------------------------------------


@dataclasses.dataclass
class DraftOptions:
    issue: int | None = None
    title: str | None = None
    since: str | None = None
    max_total: int | None = None
    date: str | None = None  # YYYY-MM-DD; today when None
    update: bool = False
    images: bool = True  # local copies of feature items' images (`--no-images`, `[images] enabled`)


@dataclasses.dataclass
class DraftResult:
    path: Path
    action: str  # created | regenerated | updated | unchanged
    number: int
    added: list[str]  # ids of the items that are new in the file
    left_out: list[str]
    summary: str = ""  # one line: what was left out and why, in counts (`selection.left_out_summary`)
    image_errors: list[str] = dataclasses.field(default_factory=list)  # one line per image not fetched


def same_work(
    engine: Any, items: Sequence[Item], settings: Any, among: set[str] | None, ask: set[str] | None = None,
) -> list[tuple[str, str]]:
    """Pairs of items that are the same work, with the project's `[draft]` thresholds (draft and check);
    `ask`: look up only the pairs of these ids (see `selection.same_work_pairs`)."""
    from . import suggest
    from .selection import CROSS_KIND_COSINE, CROSS_KIND_THRESHOLD, same_work_pairs

    cfg = settings.raw.get("draft") if isinstance(settings.raw.get("draft"), dict) else {}
    return same_work_pairs(
        engine, items, threshold=settings.dupe_threshold, among=among,
        cosine_floor=float(cfg.get("dupe_cosine", suggest.DUPE_COSINE)),
        cross_threshold=float(cfg.get("cross_kind_threshold", CROSS_KIND_THRESHOLD)),
        cross_cosine=float(cfg.get("cross_kind_cosine", CROSS_KIND_COSINE)), ask=ask,
    )


SETTLE_ROUNDS = 6  # then every candidate's pairs are looked up at once


def settled_plan(
    items: Sequence[Item], rules: Sequence[SectionRule], *,
    find_pairs: Callable[[set[str] | None], Sequence[tuple[str, str]]], **options: Any,
) -> DraftPlan:
    """`plan_draft` with same-work pairs looked up only for the items that land in the issue.

    Why: looking up every candidate's pairs took a minute with 7k candidates in a 100k catalog,
    and the plan acts only on pairs of what it keeps (an entry is a repeat of a published item,
    or folds its twins under "Also"). So: plan without pairs, look up the pairs of the entries
    (and their "Also" items), plan again, and repeat while the plan holds items whose pairs are
    unknown (a dropped entry frees its place for the next candidate). `find_pairs(None)` looks up
    every candidate, the fallback when the plan keeps moving. `related_for` runs only on the last plan.
    """
    related_for = options.pop("related_for", None)
    asked: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for _ in range(SETTLE_ROUNDS):
        plan = plan_draft(items, rules, dupe_pairs=sorted(pairs), explain=False, **options)
        new = set(plan.item_ids()) - asked
        if not new:
            break
        asked |= new
        pairs.update(find_pairs(new))
    else:
        pairs = set(find_pairs(None))
    return plan_draft(items, rules, dupe_pairs=sorted(pairs), related_for=related_for, **options)


def feature_images(catalog: Any, plan: DraftPlan, options: DraftOptions) -> tuple[dict[str, str], list[str]]:
    """Local copies of the images of the plan's feature entries: (item id → path relative to the
    issues folder, one error line per image that could not be had). Runs before the lock is taken."""
    import os

    from ..media import library

    settings = catalog.settings
    if not options.images or not library.enabled(settings):
        return {}, []
    wanted = {e.item.id: e.item.image for s in plan.sections if s.rule.style == "feature"
              for e in s.entries if e.item.image}
    if not wanted:
        return {}, []
    report = library.fetch_images(settings, wanted.values(), fetch=catalog.fetch_settings())
    folder = os.path.relpath(library.images_dir(settings), settings.issues_dir).replace(os.sep, "/")
    paths = {item_id: f"{folder}/{report.images[url].name}" for item_id, url in wanted.items()
             if url in report.images}
    return paths, [report.errors[url] for url in dict.fromkeys(wanted.values()) if url in report.errors]


def semantic_engine(catalog: Any) -> Any:
    """The catalog's semantic engine (derived state under .newsletter/semantic/); tests swap this hook."""
    return catalog.semantic


def synced(catalog: Any, engine: Any, items: Sequence[Item]) -> Any:
    """Bring the engine in step (under the semantic lock, never the writer lock).

    The catalog's own engine syncs from the cache by query (O(changes), document frequencies
    included); another engine (a test's) is synced with every item (`items` may be a part).
    """
    if engine is catalog.semantic:
        catalog.sync_semantic()
    else:
        catalog.sync_engine(engine, catalog.items())
    return engine


def _full_title(number: int, title: str | None, current: Any = None) -> str:
    if not title and current is not None and current.title:
        return str(current.title)  # a regenerated draft keeps the title it was given
    return naming.full_title(number, title)


def _summary(plan: DraftPlan) -> str:
    from .selection import left_out_summary

    return left_out_summary(plan.reasons, folded=plan.folded)


def write_draft(catalog: Any, options: DraftOptions, *, engine: Any = None) -> DraftResult:
    """Write (or safely update) the next issue's draft; see DESIGN.md and `newsletter draft --help`.

    A draft the curator has edited is never overwritten: without `update` this raises DraftEdited;
    with it, new items are inserted into their sections and every existing line is kept.
    """
    import datetime as dt

    from ..store import identity
    from . import files as issues
    from . import suggest

    settings = catalog.settings
    rules = section_rules(settings.raw)
    extra_cfg = settings.raw.get("draft") if isinstance(settings.raw.get("draft"), dict) else {}
    threshold = float(extra_cfg.get("related_threshold", RELATED_THRESHOLD))
    signoff = str(extra_cfg.get("signoff", IssueMeta.signoff))
    date = options.date or dt.date.today().isoformat()
    known = issues.list_issues(settings.issues_dir)
    if options.issue is not None:
        number = options.issue
    elif known and known[-1].status == issues.STATUS_DRAFT:
        number = known[-1].number or 1
    else:
        number = max((i.number or 0 for i in known), default=0) + 1
    current = next((i for i in known if i.number == number), None)
    if current is not None and current.status == issues.STATUS_PUBLISHED:
        raise ProjectError(f"issue {number} is already published ({current.path.name}); draft the next one")
    state = issues.DraftState(settings.derived_dir)
    edited = current is not None and not state.unchanged(current.path.name, current.text)
    if current is not None and edited and options.title:
        # `draft --title` on a draft the curator has edited: set the title (and the file name), keep the rest
        with catalog.writing():
            naming.retitle(issues.read_issue(current.path), number, options.title, state)
        known = issues.list_issues(settings.issues_dir)
        current = next(i for i in known if i.number == number)
        if not options.update:
            return DraftResult(current.path, "retitled", number, [], [], "")
    if current is not None and edited and not options.update:
        raise DraftEdited(
            f"{current.path} was edited since `newsletter draft` wrote it; run `newsletter draft --update` "
            "to add new items to it (your text is kept), or move it away to start over"
        )

    # Skipped items take no part in a draft (never candidates, never "previously"): not even decoded.
    items = catalog.items(statuses=(*CANDIDATE_STATUSES, "published"))
    engine = synced(catalog, engine or semantic_engine(catalog), items)
    among = {it.id for it in items if it.status in CANDIDATE_STATUSES and not it.duplicate_of}
    published = {it.id for it in items if it.status == "published" and it.issue}

    related_for = suggest.backlink_scorer(engine, items, published)

    present: set[str] = set()
    if current is not None and options.update:
        index = identity.identity_index(items)
        for link in issues.extract_links(current.body):
            found = identity.find_existing(index, link.url)
            if found:
                present.add(found)
        # Items the tool put in (the curator may have deleted them) or saw and left out are not new.
        present |= set(state.items(current.path.name))
    plan = settled_plan(
        items, rules, find_pairs=lambda ask: same_work(engine, items, settings, among, ask),
        related_for=related_for, related_threshold=threshold,
        since=options.since, max_total=options.max_total, present=frozenset(present),
    )
    titles = {i.number: i.title for i in known if i.number is not None}
    if current is not None and options.update:
        if not plan.entries:
            return DraftResult(current.path, "unchanged", number, [], plan.left_out, _summary(plan))
        images, image_errors = feature_images(catalog, plan, options)
        meta = IssueMeta(number, current.title, current.date or date, settings.name, signoff)
        rendered = render(plan, meta, templates_dir=settings.templates_dir, issue_titles=titles, images=images)
        with catalog.writing():
            # Merge into the file as it is now, not as read before ranking: a `publish` or an edit that
            # landed meanwhile must survive (writing the earlier copy would revert it).
            fresh = issues.read_issue(current.path)
            if fresh.status == issues.STATUS_PUBLISHED:
                raise ProjectError(f"issue {number} was published meanwhile ({current.path.name}); draft the next one")
            text = issues.merge_entries(fresh.text, issues.section_blocks(rendered), [r.title for r in rules])
            issues.write_issue(current.path, text)
            state.record(current.path.name, text, sorted(present | set(plan.item_ids()) | set(plan.considered)))
            path = naming.follow_title(issues.read_issue(current.path), state)  # the title may have been edited
        return DraftResult(path, "updated", number, plan.item_ids(), plan.left_out, _summary(plan), image_errors)
    if not plan.entries:
        since = f" added since {options.since}" if options.since else ""
        raise ProjectError(f"nothing to draft: no inbox or shortlisted items{since} (`newsletter list --status inbox`)")
    title = _full_title(number, options.title, current)
    images, image_errors = feature_images(catalog, plan, options)
    meta = IssueMeta(number, title, date, settings.name, signoff)
    text = render(plan, meta, templates_dir=settings.templates_dir, issue_titles=titles, images=images)
    if current is not None:
        path, action = current.path, "regenerated"
    else:
        path, action = settings.issues_dir / naming.filename_for(number, title), "created"
    with catalog.writing():
        # Regenerate only the text read before ranking: an edit or a publish meanwhile is not ours to replace.
        now = path.read_text(encoding="utf-8") if path.exists() else None
        if now != (current.text if current is not None else None):
            raise DraftEdited(f"{path} changed while the draft was being made; run `newsletter draft --update`")
        issues.write_issue(path, text)
        state.record(path.name, text, sorted(set(plan.item_ids()) | set(plan.considered)))
        path = naming.follow_title(issues.read_issue(path), state)  # a regenerated draft may have a new title
    return DraftResult(path, action, number, plan.item_ids(), plan.left_out, _summary(plan), image_errors)
