"""Link health: check every link of the published issues, ask the Wayback Machine to keep a copy.

`check` decides whether a link is alive (HEAD, then GET where HEAD is refused; soft-404s caught),
`archive` asks Save Page Now for snapshots, `state` keeps the last results (derived, git-ignored),
`targets` lists the links of an issue and the catalog items they stand for, and `annotate` is what
the site and `email` read: the "(archived)" links beside dead ones, and the dead links of an issue.
"""
