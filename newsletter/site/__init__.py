"""The archive website: an mkdocs plugin (`plugin.NewsletterPlugin`) and the pure helpers behind it.

`pages` decides what is public and renders escaped HTML listings, `issues` reads issue front
matter, `feed` writes RSS/Atom, `related` reads the semantic index, `config` is the plugin's typed
settings. Nothing outside this package knows which static-site generator renders the site.
"""
