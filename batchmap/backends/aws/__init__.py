"""backends.aws."""
