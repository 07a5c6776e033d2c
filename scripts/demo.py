"""`make demo`: one week of the newsletter's job, on a copy of the bundled sample.

The repository itself is the sample project (The MLOps Gazette). The demo copies it to
demo-output/ so it never changes committed files, starts a web server on 127.0.0.1 that answers
like the real services (a blog, the arXiv API, the GitHub API, an arXiv listing feed: there is no
internet here), points the tool at it with the NEWSLETTER_* variables, and runs the real
`newsletter` command: add, feeds, dupes, search, related, draft, check, build, email.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.httpserver import LoopbackServer  # noqa: E402  (needs ROOT on sys.path)

OUT = ROOT / "demo-output"
PROJECT = OUT / "project"
WEB = Path(__file__).resolve().parent / "demo_web"
DATA = ROOT / "tests" / "data"
PROJECT_PARTS = ("newsletter.toml", "mkdocs.yml", "feeds.yaml", "content", "catalog", "templates")
# The sample's fake list is tracked only under an example name; the demo copy uses it as its list.
EXAMPLE_LIST = ("subscribers.example.csv", "subscribers.csv")
DRAFT_DATE = "2025-03-07"


def run(env: dict[str, str], *args: str, show: int = 40) -> str:
    """Run the CLI on the demo copy and print what a terminal would show (first `show` lines)."""
    cmd = [sys.executable, "-m", "newsletter", "-C", str(PROJECT), *args]
    print(f"\n$ newsletter {' '.join(args)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(cmd, text=True, capture_output=True, env=env, check=False)
    lines = (result.stdout + result.stderr).rstrip().splitlines()
    for line in lines[:show]:
        print(f"  {line}")
    if len(lines) > show:
        print(f"  ... ({len(lines) - show} more lines)")
    print(f"  [exit {result.returncode}, {time.perf_counter() - started:.1f} s]", flush=True)
    if result.returncode not in (0, 1):
        sys.exit(f"demo step failed: newsletter {' '.join(args)}")
    return result.stdout


def copy_project() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    PROJECT.mkdir(parents=True)
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, PROJECT / part)
        elif source.exists():
            shutil.copy2(source, PROJECT / part)
    shutil.copy2(ROOT / EXAMPLE_LIST[0], PROJECT / EXAMPLE_LIST[1])


def serve_the_web(server: LoopbackServer) -> None:
    """Responses shaped like the real services', for this week's new finds."""
    server.add("/writing/llm-patterns/", body=(DATA / "site" / "blog_post.html").read_bytes())
    server.add("/arxiv/api/query", body=(WEB / "arxiv_dora.xml").read_bytes(), content_type="application/atom+xml")
    server.add(
        "/github/repos/stanford-futuredata/colbert",
        body=(WEB / "github_colbert.json").read_bytes(),
        content_type="application/json",
    )
    server.add("/rss/cs.LG", body=(WEB / "arxiv_cs_lg.rss").read_bytes(), content_type="application/rss+xml")


def main() -> None:
    copy_project()
    with LoopbackServer() as server:
        serve_the_web(server)
        env = {
            **os.environ,
            "NEWSLETTER_ARXIV_API": server.url("/arxiv/api/query"),
            "NEWSLETTER_GITHUB_API": server.url("/github"),
            # a throwaway secret for the demo's unsubscribe tokens; real ones live in your environment
            "NEWSLETTER_SECRET": "demo-only-secret",
            "NO_MKDOCS_2_WARNING": "1",
        }
        run(env, "list", "--status", "shortlisted", show=12)
        # A blog post we already featured (under another URL), a new paper, and a repo that is the
        # same work as a paper in the catalog: dedupe says so at add time.
        run(env, "add", server.url("/writing/llm-patterns/?utm_source=twitter"), "arXiv:2402.09353",
            "https://github.com/stanford-futuredata/ColBERT")
        run(env, "add", "https://arxiv.org/pdf/2106.09685v2.pdf")  # LoRA again, as a PDF link
        run(env, "feeds", "add", server.url("/rss/cs.LG"))
        run(env, "feeds", "pull", server.url("/rss/cs.LG"))
        run(env, "feeds", "pull", server.url("/rss/cs.LG"))  # again: nothing new, nothing twice
        run(env, "dupes", show=30)
        run(env, "search", "-k", "5", "approximate nearest neighbour index")
        run(env, "related", "-k", "5", "https://github.com/vllm-project/vllm")
        draft_path = run(env, "draft", "--date", DRAFT_DATE).strip().splitlines()
        run(env, "check", "5")
        run(env, "build", "-d", str(OUT / "site"))
        run(env, "email", "4", "--out", str(OUT / "email"))

    draft = Path(draft_path[-1]) if draft_path else None
    print("\nWhere to look:")
    if draft and draft.exists():
        print(f"  the new draft (issue 5):  {draft}")
    print(f"  the archive site:         {OUT / 'site' / 'index.html'}  (or: newsletter -C {PROJECT} serve)")
    print(f"  issue 4 as email:         {OUT / 'email'}  (preview.html + one .eml per subscriber)")
    print(f"  the demo project:         {PROJECT}")


if __name__ == "__main__":
    main()
