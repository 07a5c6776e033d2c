"""`newsletter server`: run the subscriber service under uvicorn (see newsletter/server and docs/deploy.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from .common import echo, fail, handles_errors


def _load_settings(directory: str | None) -> Any:
    from ..config import find_project, load_settings
    from ..errors import ProjectError
    from ..server.settings import ServerSettings, from_table

    try:
        project = load_settings(find_project(directory))
    except ProjectError:
        if directory:
            raise
        return ServerSettings(db=Path.cwd() / ServerSettings.db)  # no project: defaults, db in cwd
    table = project.raw.get("server", {})
    if not isinstance(table, dict):
        raise ProjectError(f"{project.root / 'newsletter.toml'}: [server] must be a table")
    return from_table(table, root=project.root, list_name=project.name, sender=project.sender_email)


@click.command("server")
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1; [server] host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8025; [server] port).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite database file (default .newsletter/subscribers.sqlite3).")
@click.option("--smtp", metavar="HOST:PORT", default=None, help="Where confirmation mail is sent.")
@click.option("--base-url", default=None, help="Public URL that links in mail point at.")
@click.pass_obj
@handles_errors
def server(ctx: Any, host: str | None, port: int | None, db_path: Path | None, smtp: str | None,
           base_url: str | None) -> None:
    """Run the subscriber service: signup, confirmation, one-click unsubscribe, the list API.

    Secrets come from the environment: NEWSLETTER_SECRET (and NEWSLETTER_OLD_SECRETS) sign links,
    NEWSLETTER_LIST_TOKEN is the API's bearer token.
    """
    import uvicorn

    from ..config import secret
    from ..mail.deliver import parse_hostport
    from ..server.app import create_app
    from ..server.settings import LIST_TOKEN_ENV, override
    from ..signing import MIN_SECRET_LENGTH, SECRET_ENV, Keyring

    settings = override(_load_settings(ctx.directory if ctx else None), host=host, port=port,
                        db=db_path.resolve() if db_path else None, smtp=smtp, base_url=base_url)
    if settings.smtp:
        parse_hostport(settings.smtp)  # a bad value fails now, not at the first signup
    try:
        keyring = Keyring.from_env()
    except ValueError:
        fail(f"{SECRET_ENV} is too short (use {MIN_SECRET_LENGTH}+ random characters)", 2)
    if keyring is None:
        fail(f"{SECRET_ENV} is not set: it signs confirm and unsubscribe links "
             f"(e.g. `export {SECRET_ENV}=$(openssl rand -hex 32)`)", 2)
    list_token = secret(LIST_TOKEN_ENV)
    if list_token is None:
        echo(f"warning: {LIST_TOKEN_ENV} is not set: the list API answers 401 to everyone", err=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, keyring, list_token)
    echo(f"serving {settings.db.name} on http://{settings.host}:{settings.port} "
               f"(links point at {settings.public_url})", err=True)
    # access_log=False: request paths carry tokens, which are credentials; our own log names
    # subscribers by pseudonymous id. proxy_headers: the client IP (rate limit) behind a local proxy.
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", log_level="info", server_header=False)


def register(main: click.Group) -> None:
    """Add `newsletter server` to the main command group."""
    main.add_command(server)
