"""Checks of command-line values at the edge: one clear `ArgumentError` line (exit 2) instead of a
traceback, a silent no-op or a wrong answer further in.

Found by feeding the command hostile arguments (issue 16): undecodable bytes crashed the embedder,
`--threshold nan` grouped unrelated items, `--tag '!!!'` listed everything, `draft --issue -1`
wrote `-01-….md`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ArgumentError

# Python decodes argv with surrogateescape: each byte that is not UTF-8 becomes U+DC80..U+DCFF.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def undecodable(value: str) -> bool:
    """Whether `value` came from bytes that are not UTF-8 (argv, file names)."""
    return any(ord(ch) in _ESCAPED_BYTES for ch in value)


def printable(value: str) -> str:
    """`value` with its undecodable bytes written as \\xNN: safe to print and to put in JSON."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def not_utf8(name: str, value: str) -> ArgumentError:
    """The error for an argument that is not UTF-8 text."""
    return ArgumentError(
        f"{name} is not valid UTF-8 text: '{printable(value)}'; check the encoding of the terminal or script"
    )


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Path):
        yield str(value)
    elif isinstance(value, list | tuple):
        for element in value:
            yield from _strings(element)


def check_text(values: Mapping[str, Any], names: Mapping[str, str], *, skip: Iterable[str] = ()) -> None:
    """Refuse any argument in `values` (parameter name -> value) that is not UTF-8.

    `names` maps a parameter to how the user typed it (`--tag`, `QUERY`); `skip` lists parameters the
    command checks itself, one input at a time (`add URL...`: a bad input fails alone).
    """
    skipped = set(skip)
    for key, value in values.items():
        if key in skipped:
            continue
        for text in _strings(value):
            if undecodable(text):
                raise not_utf8(names.get(key, key), text)


def unit_interval(value: float | None, name: str) -> float | None:
    """A score threshold: a finite number from 0 to 1 (NaN compares false with everything)."""
    if value is None:
        return None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ArgumentError(f"{name} must be a number from 0 to 1, got {value}")
    return value


def issue_number(value: int | None, name: str) -> int | None:
    """An issue number: 1 or more (issue files are named by it: `005-….md`)."""
    if value is None:
        return None
    if value < 1:
        raise ArgumentError(f"{name} must be an issue number (1 or more), got {value}")
    return value


def usable_tag(value: str | None, name: str = "--tag") -> str | None:
    """A tag that still says something once normalized ('!!!' would match every item as '')."""
    from ..errors import TagError
    from ..models import normalize_tag  # here, not at import: `newsletter --help` stays light
    from ..text import TAG_MAX

    if value is None:
        return None
    try:
        tag = normalize_tag(value)
    except TagError:  # longer than any tag can be: the same one line as for one over TAG_MAX
        raise ArgumentError(f"{name} is {len(value):,} characters long; a tag has at most {TAG_MAX}") from None
    if not tag:
        raise ArgumentError(
            f"{name} {value!r} has no usable characters (tags are letters, digits, '-', '+', '#', '.')"
        )
    if len(tag) > TAG_MAX:  # tags become file names on the site: a long one breaks `build`
        raise ArgumentError(f"{name} is {len(tag)} characters long; a tag has at most {TAG_MAX}")
    return value


def positive_rate(value: float | None, name: str) -> float | None:
    """A rate limit: a finite number above 0 (NaN passes click's range check and breaks sleeping)."""
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{name} must be a number of messages per second above 0, got {value}")
    return value


def query_text(value: str, name: str = "QUERY") -> str:
    """A search query with something in it (an empty one would list arbitrary "matches")."""
    if not value.strip():
        raise ArgumentError(f"{name} is empty; say what to search for")
    return value


def imap_login(mbox_path: Path | None, imap_host: str | None, imap_user: str | None) -> tuple[str, str] | None:
    """For `--mbox FILE | --imap HOST` (exactly one): None for an mbox, else IMAP's (user, password).

    The user comes from `--user` or NEWSLETTER_IMAP_USER, the password only from NEWSLETTER_IMAP_PASSWORD.
    """
    import click

    from ..config import secret
    from ..mail.bounces import IMAP_PASSWORD_ENV, IMAP_USER_ENV

    if (mbox_path is None) == (imap_host is None):
        raise click.UsageError("give exactly one of --mbox FILE or --imap HOST")
    if imap_host is None:
        return None
    user = imap_user or secret(IMAP_USER_ENV)
    password = secret(IMAP_PASSWORD_ENV)
    if not user or not password:
        raise click.UsageError(f"--imap needs --user (or {IMAP_USER_ENV}) and {IMAP_PASSWORD_ENV} in the environment")
    return user, password
