"""Components of the network layer (importable on their own for tests)."""
