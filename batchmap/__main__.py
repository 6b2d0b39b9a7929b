"""`python -m batchmap` runs the CLI (as the console script does)."""

from batchmap.cli.entry import run

if __name__ == "__main__":
    run()
