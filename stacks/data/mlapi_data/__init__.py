"""Components of the data layer (importable on their own for tests)."""
