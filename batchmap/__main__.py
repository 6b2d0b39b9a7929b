"""`python -m batchmap` runs the CLI."""

from batchmap.cli.app import main

if __name__ == "__main__":
    raise SystemExit(main())
