"""`newsletter publish N --to PLATFORM [--draft | --at ISO-TIME]`: the hand-off half of `publish`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .common import Context, echo, emit_json


def hand_off(ctx: Context, number: int, platform: str, as_draft: bool, at: dt.datetime | None, as_json: bool) -> Any:
    """Create or update issue NUMBER on the platform and print what happened; returns the `Remote`.

    `at` is parsed once by the caller: checked against the clock before the network round-trip, and
    the same moment dates the local publish.
    """
    mode = "draft" if as_draft else "schedule" if at else "send"
    remote = ctx.catalog.publish_to(number, platform, mode=mode, at=at)
    if as_json:
        if as_draft:
            emit_json({"issue": number, "remote": remote.to_json()})
        return remote
    verb = "created" if remote.created else "updated"
    where = f"  {remote.url}" if remote.url else ""
    echo(f"{platform}: {verb} {platform}_id {remote.id} ({remote.status}){where}")
    return remote
