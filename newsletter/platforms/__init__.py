"""Hand-off to the mail platforms teams already send with: listmonk, Buttondown, Ghost.

`base` holds what every adapter shares (the post to send, credentials from the environment, JSON
calls through the one fetch layer, one-line API errors); `listmonk`, `buttondown` and `ghost` speak
each API; `jwt` signs Ghost's short-lived admin tokens; `handoff` renders an issue, picks the adapter,
and keeps the remote id in the issue's front matter so a rerun updates instead of duplicating.
"""

PLATFORMS = ("listmonk", "buttondown", "ghost")
