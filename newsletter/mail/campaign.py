"""`newsletter email N`: render issue N once, personalize it per subscriber, deliver it.

Exports (`--out DIR`, `--mbox FILE`) write files and can be repeated. A real send (`--smtp`) goes
through the ledger (see `ledger`): the second run of an issue refuses unless `--resume`, which
delivers exactly what was not accepted.

In-doubt policy. A message whose connection broke while the server was answering DATA (or whose
process was killed in the instant between the server's 250 and our ledger write) may or may not
have been delivered. `--resume` sends it again, with the same Message-ID, and names it in the
report. Reasons: only one message is in flight at a time, so an interruption leaves at most one
such address; a repeated message with an identical Message-ID is folded into one by most clients;
and a subscriber who silently never gets the issue is the worse failure (it cannot be noticed,
while a duplicate can). This is SMTP's own at-least-once rule (RFC 5321 §6.1). Messages that
provably were not accepted (the connection broke before the end of DATA, 4xx, 421) are simply
retried, so a server that drops out *between* messages never causes a duplicate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from ..config import DERIVED_DIR, Settings
from ..errors import NewsletterError
from ..models import Progress
from ..store.files import slugify
from . import deliver, dkimsign, ledger, listserver, message, render, subscribers, tokens

# (issue number, subject, recipient count) -> go ahead? Asked once, just before a real send.
Confirm = Callable[[int, str, int], bool]
# issue number -> one line per problem `newsletter check` finds (empty: ready to send).
Checker = Callable[[int], list[str]]


# What mailbox providers tolerate (Gmail's and Yahoo's 2024 bulk-sender rules, and common practice
# for hard bounces): above these, mail starts landing in spam or being refused.
BOUNCE_LINE = 0.1
COMPLAINT_LINE = 0.3
# Temporary refusals (4xx) in this many sends in a row make an address bounced.
SOFT_BOUNCE_SENDS = 3


class SendRefused(NewsletterError):
    """A send to the list that must not happen as asked (a draft, a failing check, not confirmed)."""


class AlreadySent(NewsletterError):
    """The issue was (partly) sent before and --resume was not given."""


@dataclasses.dataclass
class EmailOptions:
    """One `newsletter email` run. Exactly one of out / mbox / smtp."""

    issue: int
    out: Path | None = None
    mbox: Path | None = None
    smtp: str | None = None
    subscribers_path: Path | None = None
    resume: bool = False
    test_to: str | None = None
    rate: float | None = None
    dry_run: bool = False
    starttls: bool | None = None
    force: bool = False  # send a draft or an issue with `check` problems or dead links (`links check`) anyway
    retry_delays: tuple[float, ...] = (2.0, 10.0, 30.0)
    reconnect_delays: tuple[float, ...] = (1.0, 5.0, 15.0)

    @property
    def mode(self) -> str:
        chosen = [name for name in ("out", "mbox", "smtp") if getattr(self, name)]
        if len(chosen) != 1:
            raise NewsletterError("choose exactly one destination: --out DIR, --mbox FILE or --smtp HOST:PORT")
        return chosen[0]


@dataclasses.dataclass
class EmailReport:
    """What a run did, for the CLI to print."""

    issue: int
    subject: str
    mode: str
    destination: str
    recipients: int = 0
    delivered: list[str] = dataclasses.field(default_factory=list)
    already_sent: int = 0
    skipped_inactive: int = 0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    deferred: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    in_doubt: list[str] = dataclasses.field(default_factory=list)
    resent_in_doubt: list[str] = dataclasses.field(default_factory=list)
    previously_failed: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    aborted: str = ""
    bounced: int = 0
    list_send: bool = False
    dry_run: bool = False
    dev_tokens: bool = False
    preview: str = ""

    @property
    def ok(self) -> bool:
        return not (self.failed or self.deferred or self.in_doubt or self.aborted)


@dataclasses.dataclass(frozen=True)
class MailSettings:
    """The `[email]` table of newsletter.toml, with defaults derived from the rest of the settings."""

    list_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    sender_name: str
    sender_email: str
    list_server: str = ""
    dkim: dkimsign.DkimSigner | None = None
    bounce_address: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        table = settings.raw.get("email", {})
        if not isinstance(table, dict):
            raise NewsletterError("newsletter.toml: [email] must be a table")
        sender_email = _setting_address(str(table.get("sender_email") or settings.sender_email or ""),
                                        "[sender] email")
        host = urlsplit(settings.site_url).hostname or sender_email.rpartition("@")[2] or "localhost"
        list_id = str(table.get("list_id") or f"{slugify(settings.name, 40)}.{host}")
        try:
            message.check_list_id(list_id)
        except ValueError as exc:
            raise NewsletterError(f"newsletter.toml: [email] list_id: {exc}") from None
        list_server = listserver.ListSettings.from_settings(settings).server
        # With a list server, each link is the server's /unsubscribe/<token> (from its API).
        unsubscribe = str(table.get("unsubscribe_url") or (f"{list_server}/unsubscribe" if list_server else "")
                          or (urljoin(settings.site_url, "unsubscribe") if settings.site_url else ""))
        return cls(
            list_id=list_id,
            unsubscribe_url=_setting_url(unsubscribe, "[email] unsubscribe_url (or [newsletter] site_url)"),
            unsubscribe_mailto=_setting_address(str(table.get("unsubscribe_mailto", sender_email)),
                                                "[email] unsubscribe_mailto"),
            sender_name=settings.sender_name or settings.name,
            sender_email=sender_email,
            list_server=list_server,
            dkim=dkimsign.from_settings(table, root=settings.root),
            bounce_address=_setting_address(str(table.get("bounce_address", "")), "[email] bounce_address"),
        )


def _setting_address(value: str, where: str) -> str:
    """An address from newsletter.toml, validated like a subscriber's (it goes into MAIL FROM and From)."""
    if not value.strip():
        return ""
    try:
        if "<" in value or ">" in value:  # `Name <addr>` is for subscriber lists, not for this setting
            raise ValueError("give the bare address (the name is a setting of its own)")
        return subscribers.normalize_email(value)
    except ValueError as exc:
        raise NewsletterError(f"newsletter.toml: {where} {message.header_text(value)[:80]!r}: {exc}") from None


def _setting_url(value: str, where: str) -> str:
    """An http(s) URL from newsletter.toml that can go into a header unchanged (no spaces, <, >, `=?` ...)."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or message.header_url(value) != value:
        raise NewsletterError(
            f"newsletter.toml: {where} {message.header_text(value)[:80]!r} must be an http(s) URL without "
            "spaces, control characters, quotes, angle brackets or '=?' (percent-encode them)"
        )
    return value


@dataclasses.dataclass
class Prepared:
    """An issue rendered and ready to personalize."""

    rendered: render.RenderedEmail
    envelope: message.Envelope
    signer: tokens.Signer
    mail: MailSettings

    def message_bytes(self, sub: subscribers.Subscriber, *, unique_id: bool = False) -> tuple[bytes, str]:
        """One subscriber's message as wire bytes, and its Message-ID."""
        url = self.unsubscribe_url(sub)
        page, text = self.rendered.personalize(unsubscribe_url=url, recipient=sub.email)
        domain = self.envelope.sender_email.rpartition("@")[2] or "localhost"
        msg_id = message.message_id(self.envelope.issue, self.envelope.list_id, sub.email, domain, unique=unique_id)
        msg = message.build_message(
            self.envelope, to_email=sub.email, to_name=sub.name, text=text, html=page,
            unsubscribe_url=url, msg_id=msg_id,
        )
        data = message.to_bytes(msg)
        if self.mail.dkim is not None:
            data = self.mail.dkim.sign(data)
        return data, msg_id

    def return_path(self, sub: subscribers.Subscriber) -> str:
        """MAIL FROM for one message: VERP `bounces+<tag>@domain` when `[email] bounce_address` is set.

        The tag names the subscriber without the address (the server's pseudonymous id, or a hash
        of list and address for the local list), so a late bounce that lost its DSN fields still
        says whom it is about (`newsletter bounces pull`).
        """
        if not self.mail.bounce_address:
            return self.envelope.sender_email
        local, _, domain = self.mail.bounce_address.partition("@")
        return f"{local}+{verp_tag(sub, self.mail.list_id)}@{domain}"

    def unsubscribe_url(self, sub: subscribers.Subscriber) -> str:
        """The subscriber's one-click link: the list server's signed one, or the local signer's."""
        if self.mail.list_server:
            # A test copy or preview has no server token: its link says so instead of unsubscribing anyone.
            return sub.unsubscribe_url or f"{self.mail.list_server}/unsubscribe/test-copy"
        return self.signer.url(sub.email) if self.mail.unsubscribe_url else ""


def verp_tag(sub: subscribers.Subscriber, list_id: str) -> str:
    """The subscriber's tag in a VERP return path: the list server's id, else `h` + a hash."""
    if sub.subscriber_id:
        return sub.subscriber_id
    return "h" + hashlib.sha256(f"{list_id}\x00{sub.key}".encode()).hexdigest()[:20]


def prepare(settings: Settings, number: int, *, secret_value: str | None, images_built: bool = True) -> Prepared:
    """Read and render issue `number` with the project's templates.

    The issue's local images are loaded from the published site; with `images_built` an image the
    built site (site_dir) lacks is an error (each reader would get a broken picture).
    """
    from ..issues.files import find_issue
    from ..media.email import email_images

    issue = find_issue(settings.issues_dir, number)
    docs_dir, site_dir = site_folders(settings)[1:3]
    pictures = email_images(issue.path, issue.body, docs_dir=docs_dir, site_dir=site_dir if images_built else None,
                            site_url=settings.site_url)
    if pictures.missing and images_built:
        where = "set site_url in newsletter.toml and " if not settings.site_url else ""
        raise NewsletterError(
            f"issue {number} shows {len(pictures.missing)} image(s) the built site does not have "
            f"({', '.join(pictures.missing[:3])}); {where}run `newsletter build` and deploy the site first, "
            "or send with --force"
        )
    mail = MailSettings.from_settings(settings)
    if not mail.sender_email:
        raise NewsletterError("newsletter.toml has no sender address: set email under [sender]")
    web_url = urljoin(settings.site_url, f"issues/{issue.path.stem}/") if settings.site_url else ""
    info = {
        "name": settings.name, "description": settings.description, "site_url": settings.site_url,
        "language": settings.language, "sender_email": mail.sender_email, "subscribe_url": settings.subscribe_url,
    }
    rendered = render.render_issue(
        number=number, title=issue.title, date=issue.date, body=pictures.body, newsletter=info,
        templates_dir=settings.templates_dir, web_url=web_url,
    )
    envelope = message.Envelope(
        issue=number, subject=rendered.subject, sender_name=mail.sender_name, sender_email=mail.sender_email,
        list_name=settings.name, list_id=mail.list_id, unsubscribe_mailto=mail.unsubscribe_mailto,
    )
    signer = tokens.Signer(mail.list_id, mail.unsubscribe_url, secret_value)
    return Prepared(rendered, envelope, signer, mail)


def run(settings: Settings, options: EmailOptions, *, progress: Progress | None = None,
        checker: Checker | None = None, confirm: Confirm | None = None) -> EmailReport:
    """Render issue N and export or send it as `options` say; see the module docstring.

    A send to the list (`--smtp` without `--test-to`) is guarded: the issue must be published and
    `checker` (when given) must find nothing, unless `options.force`; then `confirm` (when given)
    is asked with the recipient count and must say yes. SendRefused otherwise, before anything is sent.
    """
    mode = options.mode
    check_destination(settings, options)
    progress = progress or (lambda done, total: None)
    real_send = mode in ("smtp", "mbox") and not options.test_to
    list_send = mode == "smtp" and not options.test_to
    mail_settings = MailSettings.from_settings(settings)
    # With a list server the links come signed from it: the CLI needs no NEWSLETTER_SECRET.
    secret_value = tokens.load_secret(required=real_send and not mail_settings.list_server)
    forced = _guard(settings, options, checker) if list_send else []
    prepared = prepare(settings, options.issue, secret_value=secret_value, images_built=not options.force)
    if not (options.force or options.test_to):  # a test copy to the editor is how one previews
        from ..links.annotate import refuse_dead_links

        refuse_dead_links(settings, options.issue)
    if real_send and not prepared.mail.unsubscribe_url:
        raise NewsletterError(
            "no unsubscribe link: set [newsletter] site_url or [email] unsubscribe_url in newsletter.toml"
        )
    destination = str(options.out or options.mbox or options.smtp)
    report = EmailReport(options.issue, prepared.rendered.subject, mode, destination, dry_run=options.dry_run,
                         dev_tokens=prepared.signer.is_dev and not prepared.mail.list_server)
    report.problems.extend(forced)
    report.list_send = list_send
    explicit = isinstance(settings.raw.get("email"), dict) and settings.raw["email"].get("unsubscribe_url")
    if real_send and not prepared.mail.list_server and not explicit:
        report.problems.append(
            f"the unsubscribe links point at {prepared.mail.unsubscribe_url}, which a static site cannot answer "
            "(a 404 for every reader); run `newsletter server` and set [list] server (docs/deploy.md)"
        )
    use_server = prepared.mail.list_server and not options.test_to
    client = listserver.ListClient.from_settings(settings) if use_server else None
    recipients = _recipients(settings, options, report, client)
    report.recipients = len(recipients)
    if list_send:
        if not options.dry_run and confirm is not None and not confirm(options.issue, report.subject, len(recipients)):
            raise SendRefused(f"issue {options.issue} not sent (not confirmed)")
        marker = _bounce_marker(settings, options, client, report)
        _send_with_ledger(settings, options, prepared, recipients, report, progress, marker)
        _soft_bounces(settings, options.issue, report, marker)
        return report
    if options.dry_run:
        return report
    if mode == "smtp":  # --test-to: one copy, no ledger
        sender = deliver.SmtpSender(deliver.smtp_config_from_env(options.smtp or "", options.starttls),
                                    retry_delays=options.retry_delays, reconnect_delays=options.reconnect_delays)
        try:
            for sub in recipients:
                data, _ = prepared.message_bytes(sub, unique_id=True)
                _record(report, sub, sender.send(prepared.return_path(sub), sub.email, data))
        finally:
            sender.close()
        return report

    def messages() -> Iterator[tuple[str, bytes]]:
        for index, sub in enumerate(recipients, 1):
            data, _ = prepared.message_bytes(sub, unique_id=bool(options.test_to))
            report.delivered.append(sub.email)
            progress(index, len(recipients))
            yield deliver.eml_name(index, sub.email), data

    if mode == "out":
        assert options.out is not None
        page, _ = prepared.rendered.personalize(
            unsubscribe_url=prepared.unsubscribe_url(subscribers.Subscriber("subscriber@example.com")),
            recipient="subscriber@example.com"
        )
        report.preview = str(deliver.write_file(options.out, "preview.html", page.encode("utf-8")))
        deliver.write_eml_files(options.out, messages())
    else:
        assert options.mbox is not None
        deliver.write_mbox(options.mbox, messages(), sender=prepared.envelope.sender_email)
    return report


def _guard(settings: Settings, options: EmailOptions, checker: Checker | None) -> list[str]:
    """Refuse a send to the list of a draft or of an issue `check` finds problems in, unless forced.

    Returns the warnings a forced send carries (printed, so the override is never silent).
    """
    from ..issues.files import find_issue

    issue = find_issue(settings.issues_dir, options.issue)
    reasons: list[str] = []
    if issue.status != "published":
        reasons.append(f"issue {options.issue} is not published (status {issue.status}; "
                       f"`newsletter publish {options.issue}` first)")
    missing = _missing_web_page(settings, issue.path.stem)
    if missing:
        reasons.append(missing)
    problems = checker(options.issue) if checker is not None else []
    if problems:
        reasons.append(f"`newsletter check {options.issue}` finds {len(problems)} problem(s), the first: "
                       f"{message.header_text(problems[0], 200)}")
    if reasons and not options.force:
        raise SendRefused("; ".join(reasons) + "; nothing was sent (--force sends anyway)")
    return [f"--force: sending although {reason}" for reason in reasons]


def _missing_web_page(settings: Settings, stem: str) -> str:
    """Why the mail's "view on the web" link would be a 404, judged by the site as built here ('' if fine).

    Without a local build (the site is built and deployed elsewhere) there is nothing to compare with.
    """
    if not settings.site_url:
        return ""
    site_dir = site_folders(settings)[-1]
    if not site_dir.is_dir() or (site_dir / "issues" / stem / "index.html").is_file():
        return ""
    web_url = urljoin(settings.site_url, f"issues/{stem}/")
    return (f"the mail links to {web_url}, a page the built site ({site_dir.name}/) does not have "
            "(`newsletter build` and deploy first)")


BounceMarker = Callable[[subscribers.Subscriber, str], None]


def _bounce_marker(settings: Settings, options: EmailOptions, client: listserver.ListClient | None,
                   report: EmailReport) -> BounceMarker:
    """Marks an address `bounced` on the list (server or CSV) when the SMTP server refused it for good.

    A failure to mark is a warning, never the end of the batch: the send ledger has the refusal too.
    """
    path = options.subscribers_path or settings.root / subscribers.FILE_NAME
    local = subscribers.SubscriberList(path, settings.derived_dir)

    def mark(sub: subscribers.Subscriber, detail: str) -> None:
        try:
            if client is not None:
                client.set_status(sub.email, "bounced", f"smtp {detail}"[:200])
            else:
                local.suppress(sub.email, "bounced")
            report.bounced += 1
        except NewsletterError as exc:
            report.problems.append(f"could not mark a refused address bounced: {exc}")

    return mark


def _soft_bounces(settings: Settings, issue: int, report: EmailReport, mark: BounceMarker) -> None:
    """An address still refused temporarily (4xx) after this send and the SOFT_BOUNCE_SENDS - 1 sends
    before it is marked bounced: a mailbox that is "full" for weeks is abandoned.

    The earlier sends are read from their ledgers (the most recent issues before this one that
    have one); an address that a `--resume` delivered meanwhile counts as delivered there.
    """
    if not report.deferred or report.dry_run:
        return
    folder = ledger.ledger_path(settings.derived_dir, issue).parent
    earlier: list[int] = []
    for path in folder.glob("issue-*.sqlite"):
        digits = path.stem.removeprefix("issue-")
        if digits.isdigit() and int(digits) < issue:
            earlier.append(int(digits))
    recent = sorted(earlier)[-(SOFT_BOUNCE_SENDS - 1):]
    if len(recent) < SOFT_BOUNCE_SENDS - 1:
        return
    deferred_everywhere = {subscribers.email_key(email) for email, _ in report.deferred}
    for number in recent:
        with ledger.Ledger(ledger.ledger_path(settings.derived_dir, number)) as book:
            entries = book.entries()
        deferred_everywhere &= {key for key, entry in entries.items() if entry.state == ledger.DEFERRED}
    for email, detail in report.deferred:
        if subscribers.email_key(email) in deferred_everywhere:
            mark(subscribers.Subscriber(email), f"4xx in {SOFT_BOUNCE_SENDS} sends in a row: {detail}")


def latest_send(settings: Settings) -> tuple[int, int] | None:
    """(issue, messages accepted) of the most recent send with a record in sends/, or None."""
    folder = ledger.record_path(settings.root, 0).parent
    numbers = sorted(int(p.stem.removeprefix("issue-")) for p in folder.glob("issue-*.json")
                     if p.stem.removeprefix("issue-").isdigit())
    for number in reversed(numbers):
        try:
            record = ledger.read_record(ledger.record_path(settings.root, number))
        except NewsletterError:
            continue
        sent = record.get("sent") if record else None
        if isinstance(sent, int) and sent > 0:
            return number, sent
    return None


def rate_line(kind: str, count: int, total: int, line: float) -> str:
    """`complaint rate 0.42% (1 of 240), ABOVE the 0.3% line` — how a count compares with a provider's limit."""
    rate = 100.0 * count / total
    return f"{kind} rate {rate:.2f}% ({count} of {total}), {'under' if rate < line else 'ABOVE'} the {line}% line"


def check_destination(settings: Settings, options: EmailOptions) -> None:
    """Refuse an --out / --mbox that is not a folder / regular file, or that lies inside the site.

    The messages carry each subscriber's address and signed unsubscribe link: written under the
    site's source folder (mkdocs.yml's docs_dir, content/) or its output (site_dir), `newsletter
    build` would publish them.
    """
    for option, path in (("--out", options.out), ("--mbox", options.mbox)):
        if path is None:
            continue
        if not str(path).strip():
            raise deliver.OutputPathError(f"{option}: the path is empty")
        if option == "--out":
            deliver.check_output_folder(path, option)
        else:
            deliver.check_output_file(path, option)
        real = Path(os.path.realpath(path))
        for folder in site_folders(settings):
            if real == folder or folder in real.parents:
                raise deliver.OutputPathError(
                    f"{option} {path} is inside {folder}, which `newsletter build` publishes, and the messages "
                    "carry subscriber addresses and signed unsubscribe links; write them outside the site "
                    "(best outside the project too, so they never reach git)"
                )


def site_folders(settings: Settings) -> list[Path]:
    """The folders the archive site is built from or into: docs_dir and site_dir of mkdocs.yml, content/."""
    config: dict[str, Any] = {}
    try:
        loaded = yaml.load((settings.root / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_MkdocsLoader)
        config = loaded if isinstance(loaded, dict) else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        pass  # no or broken mkdocs.yml: mkdocs' defaults below
    folders = [settings.content_dir]
    for key, default in (("docs_dir", "docs"), ("site_dir", "site")):
        value = config.get(key) or default
        if isinstance(value, str):
            folders.append(settings.root / value)
    return [Path(os.path.realpath(folder)) for folder in folders]


class _MkdocsLoader(yaml.SafeLoader):
    """A safe loader that reads mkdocs.yml's `!!python/name:` and `!ENV` tags as nothing."""


_MkdocsLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def _recipients(settings: Settings, options: EmailOptions, report: EmailReport,
                client: listserver.ListClient | None = None) -> list[subscribers.Subscriber]:
    if options.test_to:
        try:
            return [subscribers.Subscriber(subscribers.normalize_email(options.test_to), "", "active")]
        except ValueError as exc:
            raise NewsletterError(f"--test-to {options.test_to!r}: {exc}") from None
    if client is not None:
        return _server_recipients(client, options, report)
    path = options.subscribers_path or settings.root / subscribers.FILE_NAME
    report.problems.extend(subscribers.tracked_warning(path))
    if not path.is_file():
        raise NewsletterError(f"no subscriber list at {path}; `newsletter subscribers import CSV` creates it")
    loaded = subscribers.load_file(path)
    report.problems.extend(loaded.problems)
    active = [s for s in loaded.subscribers if s.active]
    report.skipped_inactive = len(loaded.subscribers) - len(active)
    if not active:
        raise NewsletterError(f"{path} has no active subscribers; nothing to send")
    return active


def _server_recipients(client: listserver.ListClient, options: EmailOptions,
                       report: EmailReport) -> list[subscribers.Subscriber]:
    """The active subscribers as the list server has them now, each with its signed one-click link.

    Any failure raises ListServerError before a message goes out (fail closed, never a stale CSV).
    """
    if options.subscribers_path is not None:
        raise listserver.ListServerError(
            "--subscribers conflicts with [list] server: the server is the list (a local file may still hold "
            "people who unsubscribed since); remove one of the two"
        )
    recipients: list[subscribers.Subscriber] = []
    for row in client.subscribers("active", with_links=True):
        try:
            address = subscribers.normalize_email(str(row.get("email", "")))
        except ValueError:
            report.problems.append("the list server has an invalid address (skipped); see its database")
            continue
        url = str(row.get("unsubscribe_url", ""))
        if not url.startswith(("https://", "http://")) or message.header_url(url) != url:
            raise listserver.ListServerError("the list server sent a subscriber without a usable unsubscribe "
                                             "link; nothing was sent (upgrade the server)")
        recipients.append(subscribers.Subscriber(address, subscribers.clean_name(str(row.get("name", ""))),
                                                 "active", str(row.get("created_at", "")), unsubscribe_url=url,
                                                 subscriber_id=str(row.get("id", ""))))
    if not recipients:
        raise NewsletterError("the list server has no active subscribers; nothing to send")
    return recipients


def _record(report: EmailReport, sub: subscribers.Subscriber, outcome: deliver.Outcome) -> None:
    if outcome.state == ledger.SENT:
        report.delivered.append(sub.email)
    elif outcome.state == ledger.FAILED:
        report.failed.append((sub.email, f"{outcome.code} {outcome.detail}".strip()))
    elif outcome.state == ledger.DEFERRED:
        report.deferred.append((sub.email, f"{outcome.code} {outcome.detail}".strip()))
    elif outcome.state == ledger.SENDING:
        report.in_doubt.append(sub.email)


def _send_with_ledger(
    settings: Settings,
    options: EmailOptions,
    prepared: Prepared,
    recipients: list[subscribers.Subscriber],
    report: EmailReport,
    progress: Progress,
    mark_bounced: BounceMarker | None = None,
) -> None:
    """A real send: one run per issue at a time (SendLock), checked against the tracked record."""
    path = ledger.ledger_path(settings.derived_dir, options.issue)
    record_file = ledger.record_path(settings.root, options.issue)
    with ledger.SendLock(path.with_suffix(".lock"), options.issue):
        # Everything below happens under the lock: a second run sees the first one's ledger complete.
        record = ledger.read_record(record_file)
        entries, send_id = _read_ledger(path)
        ledger.check_record(record, entries, send_id, issue=options.issue, ledger_file=path,
                            record_file=record_file)
        entries = entries or {}
        if entries and not options.resume:
            sent = sum(e.state == ledger.SENT for e in entries.values())
            remaining = sum(1 for s in recipients if s.key not in entries or entries[s.key].state != ledger.SENT)
            raise AlreadySent(
                f"issue {options.issue} was already sent to {sent} subscriber(s) (ledger {path}); "
                f"`--resume` delivers to the {remaining} who have not got it"
            )
        todo = _plan(recipients, entries, report)
        if options.dry_run:
            report.delivered = []
            report.notes.append(f"would send to {len(todo)} subscriber(s)")
            return
        if not todo:
            return
        sender = deliver.SmtpSender(
            deliver.smtp_config_from_env(options.smtp or "", options.starttls),
            retry_delays=options.retry_delays, reconnect_delays=options.reconnect_delays,
        )
        sender.connect()  # fail before touching the ledger if the server or the login is wrong
        with ledger.Ledger(path, sending=True) as book:
            send_id = book.get_meta("send_id")
            if send_id is None:
                send_id = ledger.new_send_id()
                book.set_meta("send_id", send_id)
            if book.get_meta("subject") is None:
                book.set_meta("subject", prepared.rendered.subject)
                book.set_meta("started", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            state = {"record": record}

            def keep_record() -> None:
                # Called once a message is recorded `sending`, before it goes out: from here on a
                # lost ledger must not go unnoticed (see ledger's docstring).
                state["record"] = _write_record(record_file, state["record"], book, options.issue, send_id)

            if record is not None or entries:
                keep_record()  # a ledger from before records existed, or a resumed send: up to date now
            try:
                _send_loop(sender, book, prepared, todo, report, options.rate, progress, keep_record, mark_bounced)
            finally:
                sender.close()
                if state["record"] is not None:
                    _write_record(record_file, state["record"], book, options.issue, send_id)


def _plan(
    recipients: list[subscribers.Subscriber], entries: dict[str, ledger.Entry], report: EmailReport
) -> list[subscribers.Subscriber]:
    """Who this run delivers to, given the ledger; the others are counted in the report."""
    todo: list[subscribers.Subscriber] = []
    for sub in recipients:
        entry = entries.get(sub.key)
        if entry is None or entry.state in (ledger.PENDING, ledger.DEFERRED):
            todo.append(sub)
        elif entry.state == ledger.SENDING:
            report.resent_in_doubt.append(sub.email)
            todo.append(sub)
        elif entry.state == ledger.SENT:
            report.already_sent += 1
        else:
            report.previously_failed.append(f"{subscribers.masked(sub.email)}: {entry.detail}")
    return todo


def _write_record(
    path: Path, record: dict[str, Any] | None, book: ledger.Ledger, issue: int, send_id: str
) -> dict[str, Any]:
    """The tracked send record with the ledger's current counts (no addresses: it goes into git)."""
    counts = book.counts()
    data = dict(record or {})
    data.update({
        "issue": issue,
        "send_id": send_id,
        "subject": book.get_meta("subject") or "",
        "started": book.get_meta("started") or "",
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ledger": f"{ledger.ledger_path(Path(DERIVED_DIR), issue)}",
        "sent": counts[ledger.SENT],
        "failed": counts[ledger.FAILED],
        "deferred": counts[ledger.DEFERRED],
        "pending": counts[ledger.PENDING],
        "in_doubt": counts[ledger.SENDING],
        "note": "written by `newsletter email --smtp`; commit it. While it exists the issue is never "
                "sent again from scratch: --resume needs the ledger named here",
    })
    ledger.write_record(path, data)
    return data


def _read_ledger(path: Path) -> tuple[dict[str, ledger.Entry] | None, str | None]:
    """The ledger's rows and send id; (None, None) when there is no ledger file."""
    if not path.exists():
        return None, None
    with ledger.Ledger(path) as book:
        return book.entries(), book.get_meta("send_id")


def _send_loop(
    sender: deliver.SmtpSender,
    book: ledger.Ledger,
    prepared: Prepared,
    todo: list[subscribers.Subscriber],
    report: EmailReport,
    rate: float | None,
    progress: Progress,
    first_sending: Callable[[], None] = lambda: None,
    mark_bounced: BounceMarker | None = None,
) -> None:
    """Send `todo` one by one; each outcome is committed as soon as the server has answered."""
    started = time.monotonic()
    current: subscribers.Subscriber | None = None  # its row is written, its outcome not yet known
    answered: deliver.Outcome | None = None  # the server's answer for `current`, not yet committed
    recorded: list[bool] = []  # the send record was written (before the first message could be accepted)
    rendered: dict[int, tuple[bytes, str]] = {}  # the next message, rendered while the server reads this one
    accepted: list[str] = []  # keys whose `sent` was committed by `on_accepted`

    def render(index: int) -> tuple[bytes, str]:
        return rendered.pop(index, None) or prepared.message_bytes(todo[index])

    try:
        for index, sub in enumerate(todo):
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            data, msg_id = render(index)
            book.begin(sub.key, sub.email, msg_id)
            current = sub

            def before_end(key: str = sub.key, following: int = index + 1) -> None:
                # The server is still reading the body: render the next message meanwhile, so that
                # when the dot goes out it has little left to do before its answer (a shorter
                # in-doubt window; see ledger's docstring). Then the durable mark, then the dot.
                if following < len(todo) and following not in rendered:
                    rendered[following] = prepared.message_bytes(todo[following])
                book.in_doubt(key)  # fsynced before the dot: an accepted message is never `pending`
                if not recorded:  # the record exists before anything can be accepted
                    first_sending()
                    recorded.append(True)

            def on_accepted(detail: str, key: str = sub.key) -> None:
                book.answered(key, ledger.SENT, detail)  # the one small commit that closes the window
                accepted.append(key)

            try:
                answered = sender.send(prepared.return_path(sub), sub.email, data, before_end=before_end,
                                       on_accepted=on_accepted)
            except deliver.ServerGone as exc:
                book.finish(sub.key, ledger.PENDING, str(exc))
                current = None
                report.aborted = (
                    f"{exc}; {len(report.delivered)} delivered in this run, "
                    f"{len(todo) - index} not yet; run the same command with --resume to deliver the rest"
                )
                return
            if answered.state != ledger.SENT:  # refused, deferred or in doubt: the window never opened or stays open
                book.answered(sub.key, answered.state, _detail(answered))
            outcome, current, answered = answered, None, None
            _record(report, sub, outcome)
            if mark_bounced is not None and outcome.state == ledger.FAILED and outcome.code >= 500:
                mark_bounced(sub, _detail(outcome))  # a permanent refusal: never mailed again
            progress(index + 1, len(todo))
    finally:
        if current is not None and accepted and accepted[-1] == current.key:
            pass  # interrupted right after `sent` was committed: nothing is in doubt
        elif current is not None and answered is not None:
            book.finish(current.key, answered.state, _detail(answered))  # interrupted right after the answer
        elif current is not None and not sender.maybe_accepted:
            # Interrupted (Ctrl-C) before the end of DATA: certainly not accepted.
            book.finish(current.key, ledger.PENDING, "interrupted before the message was sent")
        book.sync()


def _detail(outcome: deliver.Outcome) -> str:
    return f"{outcome.code} {outcome.detail}".strip() if outcome.code else outcome.detail


def _scrub(address: str, detail: str) -> str:
    """A server's answer without the address it often quotes back (``550 <a@b.org>: no such user``)."""
    return re.sub(re.escape(address), subscribers.masked(address), detail, flags=re.IGNORECASE) if address else detail


def describe(report: EmailReport) -> Iterator[tuple[str, str]]:
    """(stream, line) pairs summarising a run: 'out' lines for stdout, 'err' lines for stderr."""
    for problem in report.problems:
        yield "err", f"warning: {problem}"
    if report.dev_tokens:
        yield "err", ("note: NEWSLETTER_SECRET is not set: unsubscribe links carry a dev token (dev-…) "
                      "that never verifies; set it before sending to subscribers")
    mask = subscribers.masked  # reports never print whole subscriber addresses
    for email in report.resent_in_doubt:
        yield "err", (f"note: {mask(email)}: an earlier run was interrupted while the server answered; "
                      "sent again with the same Message-ID (check the server log if it matters)")
    for line in report.previously_failed:
        yield "err", f"note: not retried (refused permanently in an earlier run): {line}"
    for email, detail in report.failed:
        yield "err", f"error: {mask(email)}: refused permanently: {_scrub(email, detail)}"
    for email, detail in report.deferred:
        yield "err", (f"error: {mask(email)}: temporary failure after retries: {_scrub(email, detail)}; "
                      "`--resume` retries it")
    for email in report.in_doubt:
        yield "err", (f"error: {mask(email)}: connection lost while the server answered; it may or may not have "
                      "arrived (check the server log); `--resume` sends it again")
    if report.aborted:
        yield "err", f"error: {report.aborted}"
    yield from _summary(report)


def _summary(report: EmailReport) -> Iterator[tuple[str, str]]:
    what = f"issue {report.issue} \u201c{report.subject}\u201d"
    if report.dry_run:
        extra = f", {report.already_sent} already sent" if report.already_sent else ""
        todo = next((n for n in report.notes if n.startswith("would")), f"would write {report.recipients}")
        yield "out", f"dry run: {what}: {todo} via {report.mode} {report.destination}{extra}"
    elif report.mode == "out":
        yield "out", f"wrote {len(report.delivered)} message(s) and {report.preview} for {what}"
    elif report.mode == "mbox":
        yield "out", f"wrote {len(report.delivered)} message(s) of {what} to {report.destination}"
    else:
        extra = f" ({report.already_sent} had it already)" if report.already_sent else ""
        yield "out", f"sent {what} to {len(report.delivered)} subscriber(s) via {report.destination}{extra}"
    if report.skipped_inactive:
        yield "out", f"skipped {report.skipped_inactive} unsubscribed or bounced address(es)"
    if report.bounced:
        yield "out", f"marked {report.bounced} permanently refused address(es) bounced on the list"
    attempted = len(report.delivered) + len(report.failed)
    if report.list_send and not report.dry_run and attempted >= 1:
        yield "out", (f"{rate_line('bounce', len(report.failed), attempted, BOUNCE_LINE)}; keep complaints "
                      f"under {COMPLAINT_LINE}% (`newsletter bounces pull`)")


def summary_json(report: EmailReport) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    data = dataclasses.asdict(report)
    mask = subscribers.masked  # like the text report: recognisable, never whole addresses
    data["failed"] = [[mask(e), _scrub(e, d)] for e, d in report.failed]
    data["deferred"] = [[mask(e), _scrub(e, d)] for e, d in report.deferred]
    data["in_doubt"] = [mask(e) for e in report.in_doubt]
    data["resent_in_doubt"] = [mask(e) for e in report.resent_in_doubt]
    data["delivered"] = len(report.delivered)
    data["ok"] = report.ok
    return data
