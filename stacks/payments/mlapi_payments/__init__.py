"""Components of the payments layer (importable on their own for tests)."""
