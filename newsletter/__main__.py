"""`python -m newsletter` is the `newsletter` command."""

from .cli.app import main

main()
