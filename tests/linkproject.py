"""A small newsletter project for the link-health and platform tests: items and issues on loopback URLs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from newsletter.cli import main
from newsletter.models import Item
from newsletter.project import init_project
from newsletter.store import files
from newsletter.web import urls

DATA = Path(__file__).parent / "data" / "links"


def make_project(tmp_path: Path, extra_toml: str = "") -> Path:
    """A fresh project (from `newsletter init`) with polite-but-fast settings for loopback servers."""
    root = init_project(tmp_path / "news", name="Loopback Weekly")
    text = (root / "newsletter.toml").read_text(encoding="utf-8")
    text = text.replace('email = ""             # the From', 'email = "editor@example.org"  # the From')
    text = text.replace('site_url = ""', 'site_url = "https://news.example.org/"')
    text = text.replace("timeout = 15", "timeout = 5\nretries = 0")
    (root / "newsletter.toml").write_text(text + "\n" + extra_toml, encoding="utf-8")
    return root


def add_item(root: Path, url: str, title: str, **extra: object) -> Item:
    """Write one catalog item for `url` (published in issue 1) and return it."""
    canonical = urls.canonicalize(url)
    item = Item(id=urls.item_id(canonical), kind="link", url=url, canonical_url=canonical, title=title,
                status="published", issue=1, added="2026-11-30T09:00:00Z", extra=dict(extra))
    path = root / "catalog" / files.relative_path_for(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files.dump_item(item), encoding="utf-8")
    return item


def write_issue(root: Path, number: int, links: list[tuple[str, str]], *, status: str = "published",
                title: str = "Loopback links") -> Path:
    """An issue file whose entries are `links` ([(title, url)])."""
    body = "\n".join(f"- **[{text}]({url})** — a note." for text, url in links)
    path = root / "content" / "issues" / f"{number:03d}-issue.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nnumber: {number}\ntitle: \"{title}\"\ndate: 2026-11-30\nstatus: {status}\n---\n\n"
                    f"Intro.\n\n## Links\n{body}\n", encoding="utf-8")
    return path


def run(root: Path, *args: str) -> tuple[int, str, str]:
    """Run the real `newsletter` command on the project; (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, ["-C", str(root), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def page(name: str) -> bytes:
    """A fixture page from tests/data/links."""
    return (DATA / name).read_bytes()
