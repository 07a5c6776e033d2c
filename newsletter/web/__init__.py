"""Everything that talks HTTP or parses URLs: canonical URLs, the polite Fetcher, charset detection."""
