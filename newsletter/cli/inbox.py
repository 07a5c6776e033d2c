"""`newsletter inbox ...`: capture into the catalog's inbox (`inbox serve`: the browser's bookmarklet)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from . import envelope
from .common import Context, echo, emit_batch, fail, handles_errors, pass_ctx
from .terminal import one_line

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


@inbox.command("pull")
@click.option("--imap", "imap_host", metavar="HOST[:PORT]", default=None,
              help="Read unread mail over IMAP (TLS on 993 unless another port is given).")
@click.option("--user", "imap_user", default=None, help="IMAP user (default: NEWSLETTER_IMAP_USER).")
@click.option("--folder", default="INBOX", show_default=True, help="IMAP folder to read.")
@click.option("--mbox", "mbox_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Read a local mbox file instead (nothing is marked).")
@click.option("--no-fetch", is_flag=True, help="Do not fetch the pages; store each URL as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_ctx
@handles_errors
def pull(ctx: Context, imap_host: str | None, imap_user: str | None, folder: str, mbox_path: Path | None,
         no_fetch: bool, as_json: bool) -> None:
    """Add every link of forwarded mail to the inbox (one item per link; the note says who sent it).

    The IMAP password comes from NEWSLETTER_IMAP_PASSWORD. Only unread messages are read, and a
    message is marked read once its links are saved (added or already there); a message with a
    link that failed stays unread for the next pull.
    """
    from ..capture.mailbox import ImapInbox, links_of, parse_message, read_mbox
    from ..ingest.route import AddOptions
    from .args import imap_login

    login = imap_login(mbox_path, imap_host, imap_user)
    box: ImapInbox | None = None
    if login is not None:
        assert imap_host is not None
        user, password = login
        box = ImapInbox(imap_host, user=user, password=password, folder=folder)
        messages: Iterator[tuple[str, bytes]] = box.unseen()
    else:
        assert mbox_path is not None
        messages = read_mbox(mbox_path)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    counts = {"messages": 0, "links": 0, "added": 0, "existing": 0, "marked_read": 0}
    try:
        for key, data in messages:
            counts["messages"] += 1
            found = links_of(parse_message(data))
            if not found.links:
                if not as_json:
                    echo(f"no links in message {key}: {one_line(found.subject)}", err=True)
                if box is not None:
                    box.mark_seen(key)
                    counts["marked_read"] += 1
                continue
            options = AddOptions(note=found.note, added_by=f"mail: {found.sender}"[:80], fetch=not no_fetch)
            outcome = ctx.catalog.add(found.links, options)
            counts["links"] += len(outcome)
            for r in outcome:
                if r.status == "failed":
                    echo(f"error: {one_line(r.input)}: {one_line(r.error or 'failed')}", err=True)
                    errors.append(envelope.failure(r.input, r.error or "failed", message=key))
                    continue
                counts["added" if r.status == "added" else "existing"] += 1
                results.append(envelope.entry(r.input, r.status, r.item, message=key, subject=found.subject))
                if not as_json:
                    word = "added " if r.status == "added" else "exists"
                    echo(f"{word} {r.item.id}  {one_line(r.item.display_title())}")
            if box is not None and all(r.status != "failed" for r in outcome):
                box.mark_seen(key)  # only now: every item of this message is durable
                counts["marked_read"] += 1
    finally:
        if box is not None:
            box.close()
    if as_json:
        emit_batch(results, errors, counts)
    else:
        echo(f"{counts['messages']} messages, {counts['added']} added, {counts['existing']} already there, "
             f"{len(errors)} failed", err=True)
    if errors:
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add the `inbox` group to the root command (other capture paths add their commands to it)."""
    main.add_command(inbox)
