"""`newsletter email N` and `newsletter subscribers ...`: thin commands over `newsletter.mail`.

Registered on the main group by cli.py (`main.add_command(email)`, `main.add_command(subscribers)`).
Its shared helpers come from cli_common (cli.py imports this module, so it cannot import cli.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ArgumentError
from .args import issue_number, positive_rate
from .common import echo, emit_json, handles_errors, progress_bar
from .terminal import one_line


def _settings(ctx: Any) -> Any:
    from ..config import find_project, load_settings

    return load_settings(find_project(ctx.directory))


def _subscriber_list(ctx: Any) -> Any:
    from ..mail.subscribers import FILE_NAME, SubscriberList

    settings = _settings(ctx)
    local = SubscriberList(settings.root / FILE_NAME, settings.derived_dir)
    for warning in local.warnings():
        echo(f"warning: {warning}", err=True)
    return local


def _list_client(ctx: Any) -> Any:
    """The list server's API client when `[list] server` is set, else None (the local CSV)."""
    from ..mail.listserver import ListClient

    return ListClient.from_settings(_settings(ctx))


def _ask(issue: int, subject: str, count: int) -> bool:
    # The count only: addresses never go to the terminal (screen sharing, scrollback, recordings).
    return click.confirm(f"Send issue {issue} to {count:,} subscriber(s)?", default=False, err=True)


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
@click.option("--force", is_flag=True, help="Send to the list even if the issue is a draft or `check` finds problems, "
              "and send or export it even if `links check` found dead links in it.")
@click.option("--yes", "-y", "assume_yes", is_flag=True,
              help="Do not ask before sending to the list (needed when not on a terminal).")
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
    assume_yes: bool,
    as_json: bool,
) -> None:
    """Render issue NUMBER as email and export it (--out, --mbox) or send it (--smtp).

    A real send keeps a ledger in .newsletter/sends/: if it is interrupted, run the same command
    with --resume to deliver exactly the messages that were not accepted. Sending to subscribers
    needs NEWSLETTER_SECRET (it signs the unsubscribe links); SMTP credentials come from
    NEWSLETTER_SMTP_USER and NEWSLETTER_SMTP_PASSWORD.

    A send to the list refuses an unpublished issue or one `newsletter check` finds problems in
    (--force overrides, and says so), then asks on a terminal with the recipient count; elsewhere
    it needs --yes. --test-to, --out, --mbox and --dry-run need neither.
    """
    from ..mail import campaign, deliver

    issue_number(number, "NUMBER")
    positive_rate(rate, "--rate")
    if sum(x is not None for x in (out, mbox, smtp)) != 1:
        raise ArgumentError("choose exactly one destination: --out DIR, --mbox FILE or --smtp HOST:PORT")
    for option, value in (("--out", out), ("--mbox", mbox)):
        if value is not None and not value.strip():  # Path("") would silently mean the current folder
            raise ArgumentError(f"{option}: the path is empty")
    options = campaign.EmailOptions(
        issue=number, out=Path(out) if out else None, mbox=Path(mbox) if mbox else None, smtp=smtp,
        subscribers_path=subscribers_path, resume=resume, test_to=test_to, rate=rate, dry_run=dry_run,
        starttls=starttls, force=force,
    )
    list_send = smtp is not None and not test_to and not dry_run
    if list_send and not assume_yes and not sys.stdin.isatty():
        raise click.UsageError("sending to the list needs --yes when not run on a terminal (nothing was sent)")
    settings = _settings(ctx)
    try:
        campaign.check_destination(settings, options)
    except deliver.OutputPathError as exc:  # inside the site, a device, a FIFO ...: a usage error
        raise ArgumentError(str(exc)) from None
    # The bar starts with the first message, so it never draws over the confirmation question.
    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def progress(done: int, total: int) -> None:
            if not bar:
                bar.append(stack.enter_context(progress_bar("sending" if smtp else "writing", enabled=not as_json)))
            bar[0](done, total)

        report = ctx.catalog.email(options, progress=progress, confirm=None if assume_yes or not list_send else _ask)
    for stream, line in campaign.describe(report):
        if stream == "err":
            echo(line, err=True)
        elif not as_json:
            echo(line)
    if as_json:
        emit_json(campaign.summary_json(report))
    if not report.ok:
        sys.exit(1)


@click.group("subscribers")
def subscribers() -> None:
    """The subscriber list (subscribers.csv: email, name, status, subscribed_at)."""


@subscribers.command("import")
@click.argument("csv_path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--from", "fmt", type=click.Choice(("auto", "csv", "mailchimp", "substack", "buttondown", "ghost",
                                                  "listmonk", "beehiiv", "kit")), default="auto", show_default=True,
              help="The export's platform (auto: recognised from the header; Mailchimp's zip as is).")
@click.pass_obj
@handles_errors
def subscribers_import(ctx: Any, csv_path: str, fmt: str) -> None:
    """Add the addresses of FILE: our CSV or another platform's export (see --from).

    Each bad row is one line with its number (exit code 1, the good rows are imported). Nobody who
    unsubscribed, bounced or complained is made active by an import; a suppression in the export is
    taken over for an address already on the list.
    """
    from ..mail.exports import read_export
    from ..mail.subscribers import SubscriberError

    if not csv_path.strip():  # Path("") would silently mean the current folder
        raise ArgumentError("FILE: the path is empty; give the file to import")
    path = Path(csv_path)
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "no such file" if not path.exists() else "not a regular file"
        raise SubscriberError(f"{path}: {kind}; give a CSV file to import")
    client = _list_client(ctx)
    local = None if client is not None else _subscriber_list(ctx)  # warns about a tracked list first
    loaded, found = read_export(path, fmt)
    if client is not None:
        for problem in loaded.problems:
            echo(f"error: {problem}", err=True)
        rows = [{"email": s.email, "name": s.name, "status": s.status} for s in loaded.subscribers]
        counts = client.import_rows(rows) if rows else {"added": 0, "updated": 0, "unchanged": 0}
        echo(f"imported {counts.get('added', 0)} new subscriber(s), {counts.get('updated', 0)} updated, "
                   f"{counts.get('unchanged', 0)} unchanged on the list server ({found})")
        if loaded.problems:
            sys.exit(1)
        return
    assert local is not None
    report = local.import_rows(loaded)
    for problem in report.problems[: report.failed_rows]:
        echo(f"error: {problem}", err=True)
    for problem in report.problems[report.failed_rows:]:
        echo(f"warning: {problem}", err=True)
    suppressed = f", {len(report.suppressed)} now suppressed" if report.suppressed else ""
    echo(f"imported {len(report.added)} new subscriber(s){suppressed}, {report.unchanged} already on the list"
               f"{f' ({found})' if found != 'csv' else ''}")
    if report.failed_rows:
        sys.exit(1)


@subscribers.command("list")
@click.option("--status", type=click.Choice(("unconfirmed", "active", "unsubscribed", "bounced", "complained")),
              default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the subscribers as JSON.")
@click.pass_obj
@handles_errors
def subscribers_list(ctx: Any, status: str | None, as_json: bool) -> None:
    """List subscribers (every status unless --status)."""
    client = _list_client(ctx)
    if client is not None:
        found = client.subscribers(status)
        if as_json:
            rows_json = [{"email": r.get("email", ""), "name": r.get("name", ""), "status": r.get("status", ""),
                          "subscribed_at": r.get("created_at", "")} for r in found]
            emit_json({"subscribers": rows_json, "count": len(rows_json)})
            return
        for row in found:
            echo(f"{row.get('email', ''):<40} {row.get('status', ''):<12} "
                 f"{str(row.get('created_at', ''))[:10]:<10}  {one_line(str(row.get('name', '')))}".rstrip())
        return
    loaded = _subscriber_list(ctx).load()
    for problem in loaded.problems:
        echo(f"warning: {problem}", err=True)
    rows = [s for s in loaded.subscribers if status is None or s.status == status]
    if as_json:
        emit_json({"subscribers": [s.to_dict() for s in rows], "count": len(rows)})
        return
    for sub in rows:
        echo(f"{sub.email:<40} {sub.status:<12} {sub.subscribed_at[:10]:<10}  {one_line(sub.name)}".rstrip())


@subscribers.command("count")
@click.option("--json", "as_json", is_flag=True, help="Print counts per status as JSON.")
@click.pass_obj
@handles_errors
def subscribers_count(ctx: Any, as_json: bool) -> None:
    """Print how many active subscribers there are (the people an issue goes to)."""
    client = _list_client(ctx)
    if client is not None:
        from ..server.db import STATUSES

        rows = client.subscribers()
        counts = {status: sum(r.get("status") == status for r in rows) for status in STATUSES}
        counts["total"] = len(rows)
    else:
        counts = _subscriber_list(ctx).counts()
    if as_json:
        emit_json(counts)
        return
    echo(str(counts["active"]))
    if sys.stderr.isatty():
        echo(f"{counts['unsubscribed']} unsubscribed, {counts['bounced']} bounced", err=True)


@subscribers.command("unsubscribe")
@click.argument("address", metavar="EMAIL")
@click.pass_obj
@handles_errors
def subscribers_unsubscribe(ctx: Any, address: str) -> None:
    """Mark EMAIL as unsubscribed (it is never mailed again; the row stays for the record)."""
    client = _list_client(ctx)
    if client is not None:
        client.unsubscribe(address)
        echo("unsubscribed (on the list server)")
        return
    sub = _subscriber_list(ctx).set_status(address, "unsubscribed")
    echo(f"unsubscribed {sub.email}")


@click.group("bounces")
def bounces() -> None:
    """Bounces, complaints and unsubscribe mail that came back (updates the list)."""


@bounces.command("pull")
@click.option("--mbox", "mbox_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An mbox file holding the bounce / feedback / unsubscribe mailbox.")
@click.option("--imap", "imap_host", metavar="HOST[:PORT]", default=None,
              help="Read the mailbox over IMAP (TLS on 993 unless another port is given; read-only).")
@click.option("--user", "imap_user", default=None, help="IMAP user (default: NEWSLETTER_IMAP_USER).")
@click.option("--folder", default="INBOX", show_default=True, help="IMAP folder to read.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
@handles_errors
def bounces_pull(ctx: Any, mbox_path: Path | None, imap_host: str | None, imap_user: str | None, folder: str,
                 as_json: bool) -> None:
    """Read delivery-status notifications (RFC 3464), spam-complaint reports (ARF, RFC 5965) and
    `mailto:` unsubscribe requests from an mbox, and mark those addresses bounced, complained or
    unsubscribed (on the list server when `[list] server` is set). Prints counts, never addresses.
    The IMAP password comes from NEWSLETTER_IMAP_PASSWORD.
    """
    from ..mail.bounces import fetch_imap, scan_mbox, scan_messages
    from ..mail.campaign import MailSettings, verp_tag
    from ..mail.listserver import ListServerError
    from .args import imap_login

    mail = MailSettings.from_settings(_settings(ctx))
    login = imap_login(mbox_path, imap_host, imap_user)
    verp_local = mail.bounce_address.partition("@")[0]
    if login is not None:
        assert imap_host is not None
        user, password = login
        scan = scan_messages(fetch_imap(imap_host, user=user, password=password, folder=folder), verp_local)
    else:
        assert mbox_path is not None
        scan = scan_mbox(mbox_path, verp_local)
    client = _list_client(ctx)
    local = None if client is not None else _subscriber_list(ctx)
    counts = {"bounced": 0, "complained": 0, "unsubscribed": 0}
    unknown = already = 0
    tags: dict[str, str] = {}
    if any(f.tag for f in scan.findings):  # VERP bounces: who is behind each tag
        if client is not None:
            tags = {str(r.get("id")): str(r.get("email")) for r in client.subscribers()}
        else:
            assert local is not None
            tags = {verp_tag(s, mail.list_id): s.email for s in local.load().subscribers}
    findings = []
    for finding in scan.findings:
        if finding.tag and not finding.email:
            if finding.tag not in tags:
                unknown += 1
                continue
            finding = dataclasses.replace(finding, email=tags[finding.tag])
        findings.append(finding)
    outcomes: list[bool | None] = []
    if client is not None:
        for finding in findings:
            try:
                outcomes.append(bool(client.set_status(finding.email, finding.status, finding.reason).get("changed")))
            except ListServerError as exc:
                if exc.status != 404:
                    raise
                outcomes.append(None)
    else:
        assert local is not None
        outcomes = local.suppress_many([(f.email, f.status) for f in findings])  # one write of the CSV
    for finding, changed in zip(findings, outcomes, strict=True):
        if changed is None:
            unknown += 1
        elif changed:
            counts[finding.status] += 1
        else:
            already += 1  # the same or a stronger status was there already
    summary = {"messages": scan.messages, **counts, "already_suppressed": already, "not_on_list": unknown,
               "temporary": scan.temporary, "ignored": scan.ignored}
    from ..mail.campaign import BOUNCE_LINE, COMPLAINT_LINE, latest_send, rate_line

    latest = latest_send(_settings(ctx))
    rates: list[str] = []
    if latest is not None:
        issue, sent = latest
        summary["latest_issue"], summary["latest_sent"] = issue, sent
        # Against the last send: the reports in a bounce mailbox are mostly about the latest issue.
        rates = [rate_line("complaint", counts["complained"], sent, COMPLAINT_LINE),
                 rate_line("bounce", counts["bounced"], sent, BOUNCE_LINE)]
    if as_json:
        emit_json(summary)
        return
    for line in rates:
        echo(f"{line} (new ones, against the {sent} messages of issue {issue})")
    echo(f"read {scan.messages} message(s): marked {counts['bounced']} bounced, {counts['complained']} "
               f"complained, {counts['unsubscribed']} unsubscribed; {already} already suppressed, {unknown} not on "
               f"the list, {scan.temporary} temporary failure(s), {scan.ignored} ignored")
