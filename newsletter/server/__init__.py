"""The subscriber service: signup with confirmation, one-click unsubscribe, an API for the CLI.

`settings` reads `[server]` of newsletter.toml, `db` keeps subscribers and an event log in SQLite,
`app` is the Starlette application that uvicorn serves (`newsletter server`).
"""
