"""The child side of the contract (child.py) and how the job definition runs it."""

from __future__ import annotations

from collections.abc import Sequence


def bootstrap_command(template: Sequence[str]) -> list[str]:
    """The job definition's command: ``python3`` running the child inline, then the template.

    Imported lazily, so ``batchmap-task`` starts without loading the bootstrap builder."""
    from batchmap.runtime.bootstrap import command

    return command(template)
