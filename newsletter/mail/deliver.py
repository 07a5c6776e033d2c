"""Where messages go: a folder of .eml files, an mbox file, or an SMTP server.

`SmtpSender` keeps one connection for the whole run (STARTTLS when offered, login from the
environment), reconnects when the server drops it, retries temporary refusals (4xx) with backoff
and tells apart the three outcomes the ledger needs: accepted, refused (temporarily or for good),
and *in doubt* — the connection broke after the whole message was sent but before the server's
answer arrived, so only the server's log knows whether it was accepted.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
import re
import smtplib
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..errors import NewsletterError
from ..store.files import fsync_dir
from . import ledger

USER_ENV = "NEWSLETTER_SMTP_USER"
PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"


class DeliveryError(NewsletterError):
    """Messages cannot be delivered at all (bad destination, login refused, no TLS ...)."""


class ServerGone(DeliveryError):
    """The SMTP server stopped answering and reconnecting did not help; the run stops here."""


# -- files ----------------------------------------------------------------------------------------


class OutputPathError(DeliveryError):
    """An --out / --mbox path that must not be written (a device, FIFO, symlink, the site ...)."""


_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"), (stat.S_ISLNK, "symbolic link"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def check_output_file(path: Path, option: str = "--mbox") -> None:
    """Refuse to replace anything but a regular file: a device, FIFO, socket, folder or symlink stays.

    `os.replace` onto a device node (as root) or a symlink would swap the node or the link itself
    for our file; a FIFO would be replaced too. A missing path is fine (it is created).
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputPathError(f"{option} {path}: cannot check it: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise OutputPathError(
            f"{option} {path} is a {_kind(mode)}, not a regular file; it is never replaced: "
            "give the path of a regular file or a new one"
        )


def check_output_folder(folder: Path, option: str = "--out") -> None:
    """Refuse an --out that exists and is not a folder (a symlink to a folder counts as a folder)."""
    try:
        mode = os.stat(folder).st_mode  # follows a symlink: a link to a folder is written into
    except FileNotFoundError:
        if os.path.lexists(folder):
            raise OutputPathError(f"{option} {folder} is a dangling symbolic link; give a folder") from None
        return
    except OSError as exc:
        raise OutputPathError(f"{option} {folder}: cannot check it: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(mode):
        raise OutputPathError(f"{option} {folder} is a {_kind(mode)}, not a folder; give a folder or a new path")


def _write_new_file(folder: Path, name: str, data: bytes, option: str) -> None:
    """Write folder/name through a temp file created exclusively (never through a link), then rename."""
    target = folder / name
    check_output_file(target, option)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def eml_name(index: int, email: str) -> str:
    """`00001-ann-example.org.eml`: ordered, readable, and safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9.+-]+", "-", email.replace("@", "-")).strip(".-")[:80]
    return f"{index:05d}-{safe or 'message'}.eml"


def write_eml_files(folder: Path, messages: Iterable[tuple[str, bytes]], *, option: str = "--out") -> int:
    """Write (file name, message bytes) pairs into `folder`; returns how many were written.

    The files are readable by their owner only (they hold addresses and signed unsubscribe links);
    OutputPathError, with the reason, when the folder or one of its files cannot be written.
    """
    check_output_folder(folder, option)
    count = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in messages:
            _write_new_file(folder, name, data, option)
            count += 1
    except OSError as exc:
        raise OutputPathError(f"{option} {folder}: cannot write there: {exc.strerror or exc}") from None
    return count


def write_file(folder: Path, name: str, data: bytes, *, option: str = "--out") -> Path:
    """One file in an --out folder, with the same rules as `write_eml_files`."""
    check_output_folder(folder, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_new_file(folder, name, data, option)
    except OSError as exc:
        raise OutputPathError(f"{option} {folder}: cannot write there: {exc.strerror or exc}") from None
    return folder / name


def write_mbox(path: Path, messages: Iterable[tuple[str, bytes]], *, sender: str, option: str = "--mbox") -> int:
    """Write an mbox (mboxrd quoting, LF line ends) atomically: a temp file renamed into place.

    Only a regular file (or a new path) is ever replaced; see `check_output_file`.
    """
    check_output_file(path, option)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            for _name, data in messages:
                body = data.replace(b"\r\n", b"\n")
                body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
                handle.write(f"From {sender or 'MAILER-DAEMON'} {stamp}\n".encode("ascii", "replace"))
                handle.write(body if body.endswith(b"\n") else body + b"\n")
                handle.write(b"\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        check_output_file(path, option)  # again: it may have changed while the messages were rendered
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputPathError(f"{option} {path}: cannot write it: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


# -- SMTP ----------------------------------------------------------------------------------------


def parse_hostport(value: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`, or `host` for port 25) → (host, port)."""
    text = value.strip()
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text) or re.fullmatch(r"([^:\s]+)(?::(\d+))?", text)
    if not match:
        raise DeliveryError(f"--smtp {value!r}: expected HOST:PORT, e.g. smtp.example.org:587")
    port = int(match.group(2) or 25)
    if not 0 < port < 65536:
        raise DeliveryError(f"--smtp {value!r}: port must be 1-65535")
    return match.group(1), port


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (where a password in clear text never leaves the box)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass
class SmtpConfig:
    """How to reach the server. `starttls`: None = when offered, True = required, False = never."""

    host: str
    port: int
    starttls: bool | None = None
    user: str | None = None
    password: str | None = None
    timeout: float = 60.0

    def __repr__(self) -> str:  # the password must not show up in a log or traceback
        return f"SmtpConfig(host={self.host!r}, port={self.port}, starttls={self.starttls}, user={self.user!r})"


@dataclasses.dataclass
class Outcome:
    """What happened to one message: a ledger state, the server's code and text."""

    state: str
    code: int = 0
    detail: str = ""


class SmtpSender:
    """Sends messages over one reused SMTP connection; see the module docstring."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        retry_delays: Sequence[float] = (2.0, 10.0, 30.0),
        reconnect_delays: Sequence[float] = (1.0, 5.0, 15.0),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.retry_delays = tuple(retry_delays)
        self.reconnect_delays = tuple(reconnect_delays)
        self.sleep = sleep
        self._smtp: smtplib.SMTP | None = None
        self.connections = 0

        # Where the current transaction is: "idle", "envelope" (MAIL, RCPT, DATA, the body going
        # out: nothing accepted yet), "awaiting" (the final dot sent, the answer not read: a broken
        # connection here leaves the message in doubt), "answered" (the answer read).
        self.phase = "idle"

    @property
    def maybe_accepted(self) -> bool:
        """True when an interruption now could leave a message accepted without us knowing it."""
        return self.phase in ("awaiting", "answered")

    # connection
    def connect(self) -> None:
        """Open the connection: EHLO, STARTTLS (per config), login when credentials are set."""
        cfg = self.config
        try:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerGone(f"cannot connect to SMTP server {cfg.host}:{cfg.port}: {_reason(exc)}") from None
        _no_delay(smtp)
        try:
            smtp.ehlo()
            tls = False
            if cfg.starttls is not False and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                tls = True
            elif cfg.starttls:
                raise DeliveryError(f"{cfg.host}:{cfg.port} does not offer STARTTLS (use --no-starttls to send anyway)")
            if cfg.user:
                if not tls and not is_loopback(cfg.host):
                    raise DeliveryError(
                        f"refusing to send the SMTP password in clear text to {cfg.host}: the server offers no "
                        "STARTTLS; use its TLS port or a local relay"
                    )
                self._login(smtp)
        except smtplib.SMTPAuthenticationError as exc:
            _quit(smtp)
            raise DeliveryError(
                f"{cfg.host} refused the login ({exc.smtp_code}); check {USER_ENV} and {PASSWORD_ENV}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            _quit(smtp)
            raise DeliveryError(
                f"{cfg.host}:{cfg.port} does not support login (no AUTH); unset {USER_ENV} and {PASSWORD_ENV}"
            ) from None
        except ssl.SSLError as exc:
            _quit(smtp)
            raise DeliveryError(f"TLS with {cfg.host} failed: {exc.reason or exc}") from None
        except DeliveryError:
            _quit(smtp)
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _quit(smtp)
            raise ServerGone(f"SMTP server {cfg.host}:{cfg.port} failed during setup: {_reason(exc)}") from None
        self._smtp = smtp
        self.connections += 1

    def _login(self, smtp: smtplib.SMTP) -> None:
        """Log in; credentials with non-ASCII characters go as UTF-8 through AUTH PLAIN (RFC 4616).

        smtplib encodes credentials as ASCII, and its UnicodeEncodeError names a character of the
        password and its position: never let that (or any part of the secret) reach the output.
        """
        cfg = self.config
        user, password = cfg.user or "", cfg.password or ""
        if user.isascii() and password.isascii():
            smtp.login(user, password)
            return
        try:
            blob = b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")
        except UnicodeEncodeError:
            raise DeliveryError(
                f"{USER_ENV} or {PASSWORD_ENV} holds bytes that are not valid UTF-8 text; set it again"
            ) from None
        if not smtp.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("no AUTH")
        mechanisms = str(smtp.esmtp_features.get("auth", "")).upper().split()
        if "PLAIN" not in mechanisms:
            raise DeliveryError(
                f"{USER_ENV} or {PASSWORD_ENV} has non-ASCII characters and {cfg.host} offers no AUTH PLAIN "
                f"to send them as UTF-8 (it offers {' '.join(mechanisms) or 'nothing'}); use an ASCII password"
            )
        code, _reply = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(blob).decode("ascii"))
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, b"authentication failed")

    def close(self) -> None:
        if self._smtp is not None:
            _quit(self._smtp)
            self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None

    # sending
    def send(
        self, sender: str, recipient: str, data: bytes, *, before_end: Callable[[], None] | None = None,
        on_accepted: Callable[[str], None] | None = None,
    ) -> Outcome:
        """Deliver one message; raises ServerGone when the server cannot be reached any more.

        `before_end` runs once the whole body is on the wire, right before the final dot that lets
        the server accept it (the ledger's `in_doubt` mark); if it raises, the connection is dropped
        without the dot, so the server discards the message. `on_accepted(detail)` runs the instant
        the server's 2xx answer to the dot is read, before anything else (the ledger's `sent`).
        """
        temporary = 0
        reconnects = 0
        while True:
            try:
                if self._smtp is None:
                    self.connect()
                code, reply = self._transaction(sender, recipient, data, before_end, on_accepted)
            except ServerGone as exc:
                reconnects = self._wait_to_reconnect(reconnects, str(exc))
                continue
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                in_doubt = self.phase == "awaiting"
                self._drop()
                if in_doubt:
                    return Outcome(ledger.SENDING, 0, f"connection lost while the server answered DATA: {_reason(exc)}")
                reconnects = self._wait_to_reconnect(reconnects, _reason(exc))
                continue
            text = reply_text(reply)
            if 200 <= code < 300:
                return Outcome(ledger.SENT, code, text)
            if code == 421:  # the server is closing this connection: reconnect, same message
                self._drop()
                reconnects = self._wait_to_reconnect(reconnects, f"{code} {text}")
                continue
            if 400 <= code < 500:
                if temporary >= len(self.retry_delays):
                    return Outcome(ledger.DEFERRED, code, text)
                self.sleep(self.retry_delays[temporary])
                temporary += 1
                continue
            return Outcome(ledger.FAILED, code, text)

    def _wait_to_reconnect(self, reconnects: int, reason: str) -> int:
        if reconnects >= len(self.reconnect_delays):
            raise ServerGone(f"SMTP server {self.config.host}:{self.config.port} went away ({reason})")
        self.sleep(self.reconnect_delays[reconnects])
        return reconnects + 1

    def _transaction(
        self, sender: str, recipient: str, data: bytes, before_end: Callable[[], None] | None = None,
        on_accepted: Callable[[str], None] | None = None,
    ) -> tuple[int, bytes]:
        smtp = self._smtp
        assert smtp is not None
        self.phase = "envelope"
        code, reply = smtp.mail(sender)
        if code == 250:
            code, reply = smtp.rcpt(recipient)
            if code in (250, 251):
                code, reply = smtp.docmd("data")
                if code == 354:
                    # smtplib's own data() would hide where a failure happened; we need to know.
                    payload = re.sub(rb"(?m)^\.", b"..", data)
                    if not payload.endswith(b"\r\n"):
                        payload += b"\r\n"
                    # The body first, the dot after `before_end`: a death before the dot leaves the
                    # server an unterminated DATA (discarded), and the server reads the body meanwhile.
                    smtp.send(payload)
                    if before_end is not None:
                        try:
                            before_end()
                        except BaseException:
                            self._drop()  # no QUIT: mid-DATA it would be body text, and wait for an answer
                            raise
                    self.phase = "awaiting"
                    smtp.send(b".\r\n")
                    code, reply = smtp.getreply()
                    if 200 <= code < 300:
                        if on_accepted is not None:
                            on_accepted(f"{code} {reply_text(reply)}")  # the very next thing after the 250
                        self.phase = "answered"
                        return code, reply
                    self.phase = "answered"
        self.phase = "answered"
        if code != 421:
            smtp.rset()  # a clean slate for the retry or the next recipient
        return code, reply


def reply_text(reply: bytes) -> str:
    """A server's answer as one line of text."""
    return reply.decode("utf-8", "replace").replace("\n", " ").strip()


def smtp_config_from_env(hostport: str, starttls: bool | None) -> SmtpConfig:
    """SmtpConfig from `--smtp HOST:PORT` plus NEWSLETTER_SMTP_USER / NEWSLETTER_SMTP_PASSWORD."""
    from ..config import secret

    host, port = parse_hostport(hostport)
    user = secret(USER_ENV)
    password = secret(PASSWORD_ENV)
    if password and not user:
        raise DeliveryError(f"{PASSWORD_ENV} is set but {USER_ENV} is not; set both or neither")
    return SmtpConfig(host, port, starttls=starttls, user=user, password=password)


def _no_delay(smtp: smtplib.SMTP) -> None:
    """TCP_NODELAY: the final dot of DATA goes out the moment it is written.

    The body and the dot are two writes (see `_transaction`); with Nagle's algorithm the 3-byte dot
    waits for the server's (delayed, up to 40 ms) ACK of the body while we already wait for the
    answer, which widens the in-doubt window by that much: a kill then still delivers the dot.
    """
    try:
        if smtp.sock is not None:
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # not TCP (a test double, a Unix socket): nothing to tune


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = str(exc).strip() or type(exc).__name__
    return text.replace("\n", " ")[:200]


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        try:
            smtp.close()
        except OSError:
            pass
