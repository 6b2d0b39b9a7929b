"""The variables a child receives from batchmap: the one definition of the child's
environment contract, used by the AWS requests and the local supervisor alike.

The index contract is flytekit's: a child's index is ``BATCH_JOB_ARRAY_INDEX_OFFSET``
plus the value of the variable named by ``BATCH_JOB_ARRAY_INDEX_VAR_NAME`` (AWS Batch
sets ``AWS_BATCH_JOB_ARRAY_INDEX`` in array children; a plain job — a one-item map —
has no index variable, so batchmap names its own, set to 0).
"""

from __future__ import annotations

# A command run as it is (flytekit's pyflyte-map-execute; ChildSpec.templated False) runs in
# batchmap's child too, which reads its own variables for it: AS_IS, INDEX_MARK, INDEX_MAP,
# INDEX_OWN_VAR, ATTEMPT_VAR, FLYTE_OUTCOME and FLYTE_OUTPUTS are defined (and described)
# in runtime/child.py, which must stand alone inside the container.
INDEX_VAR = "AWS_BATCH_JOB_ARRAY_INDEX"
SINGLE_INDEX_VAR = "BATCHMAP_JOB_INDEX"
# Names a user may not set in envs or task.env: AWS Batch's own, and batchmap's contract.
RESERVED_PREFIXES = ("AWS_BATCH", "BATCHMAP_")
RESERVED_NAMES = ("BATCH_JOB_ARRAY_INDEX_OFFSET", "BATCH_JOB_ARRAY_INDEX_VAR_NAME")


def child_environment(
    *,
    execution: str,
    inputs_uri: str,
    output_prefix: str,
    size: int,
    offset: int = 0,
    array: bool = True,
) -> dict[str, str]:
    """The contract variables of the children of one array (``offset`` is its first
    index in the execution; ``array`` False for a plain one-child job)."""
    env = {
        "BATCHMAP_INPUTS": inputs_uri,
        "BATCHMAP_OUTPUT_PREFIX": output_prefix,
        "BATCHMAP_EXECUTION": execution,
        "BATCHMAP_ARRAY_SIZE": str(size),
        "BATCH_JOB_ARRAY_INDEX_OFFSET": str(offset),
        "BATCH_JOB_ARRAY_INDEX_VAR_NAME": INDEX_VAR if array else SINGLE_INDEX_VAR,
    }
    if not array:
        env[SINGLE_INDEX_VAR] = "0"
    return env


def reserved(name: str) -> bool:
    return name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES


def reserved_problem(name: str) -> tuple[str, str] | None:
    """(why, fix) when an environment variable a user sets is one batchmap sets in every
    child to give each its index (the prefixes AWS_BATCH and BATCHMAP_ are aws/limits.py's
    rule)."""
    if name not in RESERVED_NAMES:
        return None
    return (
        f"{name} is reserved: batchmap sets it in every child to give each its index",
        "rename it: a value set here would shift every child's item",
    )
