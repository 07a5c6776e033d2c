"""newsletter: collect, dedupe, draft and publish a technical newsletter.

The library is the product; the `newsletter` command is a thin shell over `Catalog`.
"""

__version__ = "0.1.0"
