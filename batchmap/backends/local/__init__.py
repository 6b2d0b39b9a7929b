"""backends.local."""
