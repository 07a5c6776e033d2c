"""Getting things into the catalog: routing a URL to its source, file importers, the one batch pipeline."""
