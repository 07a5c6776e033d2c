"""`newsletter build` and `newsletter serve`: the archive site, through mkdocs and the site plugin.

Both run the catalog checks first (unreadable item files are errors, issue/item mismatches are
warnings), then hand over to mkdocs with the project's mkdocs.yml. `mkdocs build` / `mkdocs serve`
work too; these commands add the checks, quieter logging and `--drafts`. Registered on the main
group by cli.py; this module imports cli.py only inside command bodies (no import cycle).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from .common import echo, fail, handles_errors
from .terminal import safe

MKDOCS_FILE = "mkdocs.yml"


def _settings(ctx: Any) -> Any:
    from ..config import find_project, load_settings

    return load_settings(find_project(ctx.directory))


def _prepare(settings: Any, verbose: bool) -> tuple[Path, int]:
    """Run the checks (print them), set up mkdocs logging; (mkdocs.yml path, number of errors)."""
    from ..errors import ProjectError
    from ..site.checks import project_checks

    config_file = settings.root / MKDOCS_FILE
    if not config_file.is_file():
        raise ProjectError(f"{config_file} not found; copy one from `newsletter init` or write one")
    # Material prints a banner about MkDocs 2 on every build; this project pins mkdocs<2.
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    errors, warnings = project_checks(settings)
    for line in errors:
        echo(f"error: {line}", err=True)
    for line in warnings:
        echo(f"warning: {line}", err=True)
    _log_to_stderr(verbose)
    return config_file, len(errors)


class _SafeFormatter(logging.Formatter):
    """mkdocs' messages quote page titles and file names from the project: terminal-safe them too."""

    def format(self, record: logging.LogRecord) -> str:
        return safe(super().format(record))


def _log_to_stderr(verbose: bool) -> None:
    logger = logging.getLogger("mkdocs")
    if not any(getattr(h, "_newsletter", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_SafeFormatter("%(levelname)-7s -  %(message)s"))
        handler._newsletter = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def _site_dir(settings: Any, value: str) -> Path:
    """The folder `build -d` may write: creatable, and not one mkdocs' clean-up would destroy.

    mkdocs empties the site folder before writing it, so `-d` must not be the project, a folder
    holding it, one of its source folders, or a non-empty folder that is not an earlier build.
    """
    from ..errors import ArgumentError

    if not value.strip():
        raise ArgumentError("-d: the path is empty")
    target = Path(os.path.realpath(value))
    root = Path(os.path.realpath(settings.root))
    sources = [Path(os.path.realpath(p)) for p in (settings.content_dir, settings.catalog_dir, root / "templates")]
    if target == root or target in root.parents:
        raise ArgumentError(f"-d {value}: that folder holds the project; the build would empty it")
    if any(target == folder or folder in target.parents for folder in sources):
        raise ArgumentError(f"-d {value} is inside the project's sources; write the site elsewhere (site/)")
    if target == Path.home():
        raise ArgumentError(f"-d {value} is your home folder; the build would empty it")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArgumentError(f"-d {value}: cannot create the site folder there ({exc.strerror or exc})") from None
    if not target.is_dir():
        raise ArgumentError(f"-d {value} is not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        raise ArgumentError(f"-d {value}: the folder is not writable")
    visible = [entry for entry in target.iterdir() if not entry.name.startswith(".")]
    if visible and not (target / "index.html").exists():
        raise ArgumentError(
            f"-d {value} is a folder with other files in it; the build would empty it (use a new or a site folder)"
        )
    return target


@click.command("build")
@click.option("-d", "--site-dir", type=click.Path(file_okay=False), default=None,
              help="Write the site here (default: mkdocs.yml's site_dir, usually site/).")
@click.option("--drafts", is_flag=True, help="Include issues that are not published yet (never for deploys).")
@click.option("--strict", is_flag=True, help="Fail on mkdocs warnings too (broken links in issues ...).")
@click.option("-v", "--verbose", is_flag=True, help="Show mkdocs' progress messages.")
@click.pass_obj
@handles_errors
def build(ctx: Any, site_dir: str | None, drafts: bool, strict: bool, verbose: bool) -> None:
    """Build the archive website (issues, catalog, tags, feeds) into site/."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    from ..site.config import DRAFTS_ENV

    settings = _settings(ctx)
    from ..mail.subscribers import FILE_NAME, tracked_warning

    for warning in tracked_warning(settings.root / FILE_NAME):  # the list is people's data, not site data
        echo(f"warning: {warning}", err=True)
    overrides: dict[str, Any] = {"strict": True} if strict else {}
    if site_dir is not None:
        overrides["site_dir"] = str(_site_dir(settings, site_dir))
    config_file, errors = _prepare(settings, verbose)
    previous = os.environ.get(DRAFTS_ENV)
    if drafts:
        os.environ[DRAFTS_ENV] = "1"
    try:
        cfg = load_config(str(config_file), **overrides)
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            mkdocs_build(cfg)
        finally:
            cfg.plugins.on_shutdown()
    except MkDocsException as exc:

        fail(f"site build failed: {exc}")
    finally:
        if drafts:
            if previous is None:
                os.environ.pop(DRAFTS_ENV, None)
            else:
                os.environ[DRAFTS_ENV] = previous
    echo(f"built the site in {cfg.site_dir}")
    if errors:
        echo(f"error: {errors} catalog file(s) could not be read; the site lacks them (see above)", err=True)
        sys.exit(1)


@click.command("serve")
@click.option("--drafts", is_flag=True, help="Show issues that are not published yet (marked as drafts).")
@click.option("-a", "--dev-addr", default="127.0.0.1:8000", show_default=True, metavar="IP:PORT",
              help="Address to serve on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a browser.")
@click.option("-v", "--verbose", is_flag=True, help="Show mkdocs' progress messages.")
@click.pass_obj
@handles_errors
def serve(ctx: Any, drafts: bool, dev_addr: str, open_browser: bool, verbose: bool) -> None:
    """Preview the archive website, rebuilding it when issues, pages or catalog files change."""
    from mkdocs.commands.serve import serve as mkdocs_serve
    from mkdocs.exceptions import MkDocsException

    from ..site.config import DRAFTS_ENV

    settings = _settings(ctx)
    config_file, _ = _prepare(settings, True)
    if not verbose:
        logging.getLogger("mkdocs").setLevel(logging.INFO)  # serve's "Serving on http://..." is INFO
    if drafts:
        os.environ[DRAFTS_ENV] = "1"
    try:
        mkdocs_serve(str(config_file), dev_addr=dev_addr, open_in_browser=open_browser)
    except MkDocsException as exc:

        fail(f"site preview failed: {exc}")


def register_commands(main: click.Group) -> None:
    """Add `build` and `serve` to the `newsletter` command group."""
    main.add_command(build)
    main.add_command(serve)
