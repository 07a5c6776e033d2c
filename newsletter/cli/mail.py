"""`newsletter email N` and `newsletter subscribers ...`: thin commands over `newsletter.mail`.

Registered on the main group by cli.py (`main.add_command(email)`, `main.add_command(subscribers)`).
Its shared helpers come from cli_common (cli.py imports this module, so it cannot import cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import emit_json, handles_errors, progress_bar


def _settings(ctx: Any) -> Any:
    from ..config import find_project, load_settings

    return load_settings(find_project(ctx.directory))


def _subscriber_list(ctx: Any) -> Any:
    from ..mail.subscribers import FILE_NAME, SubscriberList

    settings = _settings(ctx)
    return SubscriberList(settings.root / FILE_NAME, settings.derived_dir)


@click.command("email")
@click.argument("number", type=int)
@click.option("--out", type=click.Path(file_okay=False),
              help="Write one .eml per subscriber and preview.html here (a folder outside the site).")
@click.option("--mbox", type=click.Path(dir_okay=False),
              help="Write every message to this mbox file (a regular file or a new path, outside the site).")
@click.option("--smtp", metavar="HOST:PORT",
              help="Send through this SMTP server (one connection, STARTTLS when offered).")
@click.option("--subscribers", "subscribers_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Subscriber CSV (default: subscribers.csv in the project).")
@click.option("--resume", is_flag=True, help="Continue an interrupted send: deliver only what was not accepted.")
@click.option("--test-to", metavar="ADDR", help="Send one copy to ADDR only (no ledger, subscribers untouched).")
@click.option("--rate", type=click.FloatRange(min=0.01), default=None, help="At most N messages per second.")
@click.option("--dry-run", is_flag=True, help="Check everything and say what would happen; send nothing.")
@click.option("--starttls/--no-starttls", default=None, help="Require / never use STARTTLS (default: when offered).")
@click.option("--force", is_flag=True, help="Send even if `links check` found dead links in the issue.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@click.pass_obj
@handles_errors
def email(
    ctx: Any,
    number: int,
    out: str | None,
    mbox: str | None,
    smtp: str | None,
    subscribers_path: Path | None,
    resume: bool,
    test_to: str | None,
    rate: float | None,
    dry_run: bool,
    starttls: bool | None,
    force: bool,
    as_json: bool,
) -> None:
    """Render issue NUMBER as email and export it (--out, --mbox) or send it (--smtp).

    A real send keeps a ledger in .newsletter/sends/: if it is interrupted, run the same command
    with --resume to deliver exactly the messages that were not accepted. Sending to subscribers
    needs NEWSLETTER_SECRET (it signs the unsubscribe links); SMTP credentials come from
    NEWSLETTER_SMTP_USER and NEWSLETTER_SMTP_PASSWORD.
    """
    from ..mail import campaign, deliver

    if sum(x is not None for x in (out, mbox, smtp)) != 1:
        raise click.UsageError("choose exactly one destination: --out DIR, --mbox FILE or --smtp HOST:PORT")
    for option, value in (("--out", out), ("--mbox", mbox)):
        if value is not None and not value.strip():  # Path("") would silently mean the current folder
            raise click.BadParameter("the path is empty", param_hint=option)
    options = campaign.EmailOptions(
        issue=number, out=Path(out) if out else None, mbox=Path(mbox) if mbox else None, smtp=smtp,
        subscribers_path=subscribers_path, resume=resume, test_to=test_to, rate=rate, dry_run=dry_run,
        starttls=starttls, force=force,
    )
    settings = _settings(ctx)
    try:
        campaign.check_destination(settings, options)
    except deliver.OutputPathError as exc:
        raise click.BadParameter(str(exc).split(" ", 1)[1], param_hint="--out" if out else "--mbox") from None
    with progress_bar("sending" if smtp else "writing", enabled=not as_json) as progress:
        report = campaign.run(settings, options, progress=progress)
    for stream, line in campaign.describe(report):
        if stream == "err":
            click.echo(line, err=True)
        elif not as_json:
            click.echo(line)
    if as_json:
        emit_json(campaign.summary_json(report))
    if not report.ok:
        sys.exit(1)


@click.group("subscribers")
def subscribers() -> None:
    """The subscriber list (subscribers.csv: email, name, status, subscribed_at)."""


@subscribers.command("import")
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False))
@click.pass_obj
@handles_errors
def subscribers_import(ctx: Any, csv_path: str) -> None:
    """Add the new addresses of CSV (a header naming an `email` column is optional).

    Invalid and duplicate addresses are reported one line each and skipped; people who
    unsubscribed or bounced are never resubscribed by an import.
    """
    if not csv_path.strip():  # Path("") would silently mean the current folder
        raise click.BadParameter("the path is empty; give the CSV file to import", param_hint="CSV")
    report = _subscriber_list(ctx).import_csv(Path(csv_path))
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    click.echo(f"imported {len(report.added)} new subscriber(s), {report.unchanged} already on the list")


@subscribers.command("list")
@click.option("--status", type=click.Choice(("active", "unsubscribed", "bounced")), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the subscribers as JSON.")
@click.pass_obj
@handles_errors
def subscribers_list(ctx: Any, status: str | None, as_json: bool) -> None:
    """List subscribers (every status unless --status)."""
    loaded = _subscriber_list(ctx).load()
    for problem in loaded.problems:
        click.echo(f"warning: {problem}", err=True)
    rows = [s for s in loaded.subscribers if status is None or s.status == status]
    if as_json:
        emit_json([s.to_dict() for s in rows])
        return
    for sub in rows:
        click.echo(f"{sub.email:<40} {sub.status:<12} {sub.subscribed_at[:10]:<10}  {sub.name}".rstrip())


@subscribers.command("count")
@click.option("--json", "as_json", is_flag=True, help="Print counts per status as JSON.")
@click.pass_obj
@handles_errors
def subscribers_count(ctx: Any, as_json: bool) -> None:
    """Print how many active subscribers there are (the people an issue goes to)."""
    counts = _subscriber_list(ctx).counts()
    if as_json:
        emit_json(counts)
        return
    click.echo(str(counts["active"]))
    if sys.stderr.isatty():
        click.echo(f"{counts['unsubscribed']} unsubscribed, {counts['bounced']} bounced", err=True)


@subscribers.command("unsubscribe")
@click.argument("address", metavar="EMAIL")
@click.pass_obj
@handles_errors
def subscribers_unsubscribe(ctx: Any, address: str) -> None:
    """Mark EMAIL as unsubscribed (it is never mailed again; the row stays for the record)."""
    sub = _subscriber_list(ctx).set_status(address, "unsubscribed")
    click.echo(f"unsubscribed {sub.email}")
