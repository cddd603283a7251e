"""The `modeldev` console script: one module per command, presentation only."""
