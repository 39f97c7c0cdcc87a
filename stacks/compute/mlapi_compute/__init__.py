"""Components of the compute layer (importable on their own for tests)."""
