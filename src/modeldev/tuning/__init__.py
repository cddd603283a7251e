"""Phase 2 tuning: grids (parse, validate, expand), the trial engine and the result analysis."""
