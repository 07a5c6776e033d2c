"""The `newsletter` command: a thin shell over `Catalog`, one module per command group."""

from .app import main

__all__ = ["main"]
