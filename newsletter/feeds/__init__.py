"""Feed subscriptions (`feeds.yaml`, shared through git) and pulling their new entries into the catalog.

Two kinds of state, kept apart on purpose:

- ``<project>/feeds.yaml`` is the truth: which feeds the newsletter follows (`subscriptions`, pure).
- ``<project>/.newsletter/feeds.sqlite`` is derived pull state: validators for conditional GETs and the
  entry keys seen per feed (`state`); deleting it loses nothing.

What to take from a feed and how its entries become items are pure decisions (`entries`); the `Feeds`
facade does the fetching, locking and saving (`pull`); `results` is what it reports.
"""

from __future__ import annotations

from .entries import DEFAULT_BACKLOG, entry_item, entry_url, permanent_move, plan_entries
from .pull import FEED_ACCEPT, Feeds, Progress, subscribe_hint
from .results import FeedResult, SubscribeResult
from .state import STATE_FILE, FeedState, PullState
from .subscriptions import (
    FEED_KINDS,
    FEEDS_FILE,
    Subscription,
    discover_feed_links,
    dump_subscriptions,
    feed_key,
    parse_subscriptions,
)

__all__ = [
    "DEFAULT_BACKLOG",
    "FEEDS_FILE",
    "FEED_ACCEPT",
    "FEED_KINDS",
    "STATE_FILE",
    "FeedResult",
    "FeedState",
    "Feeds",
    "Progress",
    "PullState",
    "SubscribeResult",
    "Subscription",
    "discover_feed_links",
    "dump_subscriptions",
    "entry_item",
    "entry_url",
    "feed_key",
    "parse_subscriptions",
    "permanent_move",
    "plan_entries",
    "subscribe_hint",
]
