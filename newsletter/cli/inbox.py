"""`newsletter inbox ...`: capture into the catalog's inbox (`inbox serve`: the browser's bookmarklet)."""

from __future__ import annotations

import logging
from typing import Any

import click

from .common import echo, fail, handles_errors

WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bound to every interface: any Host header is ours
DEFAULT_PORT = 8030


@click.group("inbox")
def inbox() -> None:
    """Capture links into the inbox from outside the terminal (the browser, mail)."""


@inbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True, help="Port.")
@click.pass_obj
@handles_errors
def serve(ctx: Any, host: str, port: int) -> None:
    """Run the capture inbox: a bookmarklet sends the page you are on to a form that adds it.

    Editor tokens come from NEWSLETTER_INBOX_TOKEN: one token, or several separated by commas,
    each optionally `name:token` (the name is kept as the item's `added_by`). Prints each editor's
    bookmarklet; the start page shows it as a link to drag to the bookmarks bar.
    """
    import uvicorn

    from ..capture.app import create_app
    from ..capture.tokens import TOKEN_ENV, bookmarklet, parse_tokens
    from ..catalog import Catalog
    from ..config import find_project, load_settings, secret

    value = secret(TOKEN_ENV)
    if value is None:
        fail(f"{TOKEN_ENV} is not set: each editor needs a token (e.g. "
             f"`export {TOKEN_ENV}=ann:$(openssl rand -hex 16)`)", 2)
    try:
        editors = parse_tokens(value)
    except ValueError as exc:
        fail(str(exc), 2)
    settings = load_settings(find_project(ctx.directory if ctx else None))
    wildcard = host in WILDCARD_HOSTS
    shown = "127.0.0.1" if wildcard else (f"[{host}]" if ":" in host else host)
    base_url = f"http://{shown}:{port}"
    allowed = None if wildcard else sorted({host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost")
                                           else {host})
    app = create_app(lambda: Catalog(settings), editors, base_url=base_url, name=settings.name,
                     allowed_hosts=allowed)
    if wildcard:
        echo(f"warning: listening on every interface ({host}): anyone on the network reaches the form "
             "(a token is still required; prefer 127.0.0.1 on a laptop)", err=True)
    for editor in editors:
        # The editor's own terminal: the bookmarklet is the one place the token has to be.
        echo(f"bookmarklet for {editor.name}: {bookmarklet(base_url, editor.token)}")
    echo(f"capture inbox for {settings.name} on {base_url}/ (sign in with your token for the "
         "drag-to-bookmarks link)", err=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # access_log=False: GET /add and /inbox carry the token in the query string.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", server_header=False)


def register(main: click.Group) -> None:
    """Add the `inbox` group to the root command (other capture paths add their commands to it)."""
    main.add_command(inbox)
