"""`newsletter publish N --to PLATFORM [--draft | --at ISO-TIME]`: the hand-off half of `publish`."""

from __future__ import annotations

from typing import Any

import click

from .common import Context, echo, emit_json


def hand_off(ctx: Context, number: int, platform: str, as_draft: bool, send_at: str | None, as_json: bool) -> Any:
    """Create or update issue NUMBER on the platform and print what happened; returns the `Remote`."""
    from ..platforms.handoff import parse_at

    if as_draft and send_at:
        raise click.UsageError("choose one of --draft and --at")
    at = parse_at(send_at) if send_at else None
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
