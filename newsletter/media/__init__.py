"""Images: local, re-encoded copies of item images and curators' figures, and their checks."""
