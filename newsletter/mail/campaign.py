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
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from ..config import DERIVED_DIR, Settings
from ..errors import NewsletterError
from ..store.files import slugify
from . import deliver, ledger, message, render, subscribers, tokens

Progress = Callable[[int, int], None]


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
    force: bool = False  # send even if the last `links check` found dead links in the issue
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
        unsubscribe = str(table.get("unsubscribe_url") or (urljoin(settings.site_url, "unsubscribe")
                                                           if settings.site_url else ""))
        return cls(
            list_id=list_id,
            unsubscribe_url=_setting_url(unsubscribe, "[email] unsubscribe_url (or [newsletter] site_url)"),
            unsubscribe_mailto=_setting_address(str(table.get("unsubscribe_mailto", sender_email)),
                                                "[email] unsubscribe_mailto"),
            sender_name=settings.sender_name or settings.name,
            sender_email=sender_email,
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
        url = self.signer.url(sub.email) if self.mail.unsubscribe_url else ""
        page, text = self.rendered.personalize(unsubscribe_url=url, recipient=sub.email)
        domain = self.envelope.sender_email.rpartition("@")[2] or "localhost"
        msg_id = message.message_id(self.envelope.issue, self.envelope.list_id, sub.email, domain, unique=unique_id)
        msg = message.build_message(
            self.envelope, to_email=sub.email, to_name=sub.name, text=text, html=page,
            unsubscribe_url=url, msg_id=msg_id,
        )
        return message.to_bytes(msg), msg_id


def prepare(settings: Settings, number: int, *, secret_value: str | None) -> Prepared:
    """Read and render issue `number` with the project's templates."""
    from ..issues.files import find_issue

    issue = find_issue(settings.issues_dir, number)
    mail = MailSettings.from_settings(settings)
    if not mail.sender_email:
        raise NewsletterError("newsletter.toml has no sender address: set email under [sender]")
    web_url = urljoin(settings.site_url, f"issues/{issue.path.stem}/") if settings.site_url else ""
    info = {
        "name": settings.name, "description": settings.description, "site_url": settings.site_url,
        "language": settings.language, "sender_email": mail.sender_email, "subscribe_url": settings.subscribe_url,
    }
    rendered = render.render_issue(
        number=number, title=issue.title, date=issue.date, body=issue.body, newsletter=info,
        templates_dir=settings.templates_dir, web_url=web_url,
    )
    envelope = message.Envelope(
        issue=number, subject=rendered.subject, sender_name=mail.sender_name, sender_email=mail.sender_email,
        list_name=settings.name, list_id=mail.list_id, unsubscribe_mailto=mail.unsubscribe_mailto,
    )
    signer = tokens.Signer(mail.list_id, mail.unsubscribe_url, secret_value)
    return Prepared(rendered, envelope, signer, mail)


def run(settings: Settings, options: EmailOptions, *, progress: Progress | None = None) -> EmailReport:
    """Render issue N and export or send it as `options` say; see the module docstring."""
    mode = options.mode
    check_destination(settings, options)
    progress = progress or (lambda done, total: None)
    real_send = mode in ("smtp", "mbox") and not options.test_to
    secret_value = tokens.load_secret(required=real_send)
    prepared = prepare(settings, options.issue, secret_value=secret_value)
    if not (options.force or options.test_to):  # a test copy to the editor is how one previews
        from ..links.annotate import refuse_dead_links

        refuse_dead_links(settings, options.issue)
    if real_send and not prepared.mail.unsubscribe_url:
        raise NewsletterError(
            "no unsubscribe link: set [newsletter] site_url or [email] unsubscribe_url in newsletter.toml"
        )
    destination = str(options.out or options.mbox or options.smtp)
    report = EmailReport(options.issue, prepared.rendered.subject, mode, destination, dry_run=options.dry_run,
                         dev_tokens=prepared.signer.is_dev)
    recipients = _recipients(settings, options, report)
    report.recipients = len(recipients)
    if mode == "smtp" and not options.test_to:
        _send_with_ledger(settings, options, prepared, recipients, report, progress)
        return report
    if options.dry_run:
        return report
    if mode == "smtp":  # --test-to: one copy, no ledger
        sender = deliver.SmtpSender(deliver.smtp_config_from_env(options.smtp or "", options.starttls),
                                    retry_delays=options.retry_delays, reconnect_delays=options.reconnect_delays)
        try:
            for sub in recipients:
                data, _ = prepared.message_bytes(sub, unique_id=True)
                _record(report, sub, sender.send(prepared.envelope.sender_email, sub.email, data))
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
            unsubscribe_url=prepared.signer.url("subscriber@example.com"), recipient="subscriber@example.com"
        )
        report.preview = str(deliver.write_file(options.out, "preview.html", page.encode("utf-8")))
        deliver.write_eml_files(options.out, messages())
    else:
        assert options.mbox is not None
        deliver.write_mbox(options.mbox, messages(), sender=prepared.envelope.sender_email)
    return report


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


def _recipients(settings: Settings, options: EmailOptions, report: EmailReport) -> list[subscribers.Subscriber]:
    if options.test_to:
        try:
            return [subscribers.Subscriber(subscribers.normalize_email(options.test_to), "", "active")]
        except ValueError as exc:
            raise NewsletterError(f"--test-to {options.test_to!r}: {exc}") from None
    path = options.subscribers_path or settings.root / subscribers.FILE_NAME
    if not path.is_file():
        raise NewsletterError(f"no subscriber list at {path}; `newsletter subscribers import CSV` creates it")
    loaded = subscribers.load_file(path)
    report.problems.extend(loaded.problems)
    active = [s for s in loaded.subscribers if s.active]
    report.skipped_inactive = len(loaded.subscribers) - len(active)
    if not active:
        raise NewsletterError(f"{path} has no active subscribers; nothing to send")
    return active


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
        with ledger.Ledger(path) as book:
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
                _send_loop(sender, book, prepared, todo, report, options.rate, progress, keep_record)
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
            report.previously_failed.append(f"{sub.email}: {entry.detail}")
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
) -> None:
    """Send `todo` one by one; each outcome is committed as soon as the server has answered."""
    started = time.monotonic()
    current: subscribers.Subscriber | None = None  # recorded `sending`, outcome not yet known
    answered: deliver.Outcome | None = None  # the server's answer for `current`, not yet committed
    from_addr = prepared.envelope.sender_email
    try:
        for index, sub in enumerate(todo):
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            data, msg_id = prepared.message_bytes(sub)
            book.begin(sub.key, sub.email, msg_id)
            current = sub
            if index == 0:
                first_sending()
            try:
                answered = sender.send(from_addr, sub.email, data)
            except deliver.ServerGone as exc:
                book.finish(sub.key, ledger.PENDING, str(exc))
                current = None
                report.aborted = (
                    f"{exc}; {len(report.delivered)} delivered in this run, "
                    f"{len(todo) - index} not yet; run the same command with --resume to deliver the rest"
                )
                return
            # The one small commit that closes the in-doubt window: before anything else happens.
            book.answered(sub.key, answered.state, _detail(answered))
            outcome, current, answered = answered, None, None
            _record(report, sub, outcome)
            progress(index + 1, len(todo))
    finally:
        if current is not None and answered is not None:
            book.finish(current.key, answered.state, _detail(answered))  # interrupted right after the answer
        elif current is not None and not sender.maybe_accepted:
            # Interrupted (Ctrl-C) before the end of DATA: certainly not accepted.
            book.finish(current.key, ledger.PENDING, "interrupted before the message was sent")
        book.sync()


def _detail(outcome: deliver.Outcome) -> str:
    return f"{outcome.code} {outcome.detail}".strip() if outcome.code else outcome.detail


def describe(report: EmailReport) -> Iterator[tuple[str, str]]:
    """(stream, line) pairs summarising a run: 'out' lines for stdout, 'err' lines for stderr."""
    for problem in report.problems:
        yield "err", f"warning: {problem}"
    if report.dev_tokens:
        yield "err", ("note: NEWSLETTER_SECRET is not set: unsubscribe links carry a dev token (dev-…) "
                      "that never verifies; set it before sending to subscribers")
    for email in report.resent_in_doubt:
        yield "err", (f"note: {email}: an earlier run was interrupted while the server answered; "
                      "sent again with the same Message-ID (check the server log if it matters)")
    for line in report.previously_failed:
        yield "err", f"note: not retried (refused permanently in an earlier run): {line}"
    for email, detail in report.failed:
        yield "err", f"error: {email}: refused permanently: {detail}"
    for email, detail in report.deferred:
        yield "err", f"error: {email}: temporary failure after retries: {detail}; `--resume` retries it"
    for email in report.in_doubt:
        yield "err", (f"error: {email}: connection lost while the server answered; it may or may not have "
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


def summary_json(report: EmailReport) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    data = dataclasses.asdict(report)
    data["delivered"] = len(report.delivered)
    data["ok"] = report.ok
    return data
