"""The issue stage: issue files, drafting, tag suggestions, publish and check."""
