"""The commented starter file that ``batchmap config init`` writes."""

from __future__ import annotations

import json
from pathlib import Path

from batchmap.aws.clients import partition_for
from batchmap.config.checks import backend_storage_problem, check_config
from batchmap.errors import InvalidInputError
from batchmap.files.atomic import write_user_file
from batchmap.files.yamldoc import load_document

_TEMPLATE = """\
# batchmap configuration. Reference: docs/configuration.md
# Precedence: command-line flag > BATCHMAP_* environment variable > this file > default.

# Where executions run: "local" (this machine) or "aws" (AWS Batch).
backend: {backend}

# Where inputs, outputs and execution manifests go: s3://BUCKET/PREFIX or a local folder.
storage: {storage}

# Where launch plans are registered: s3://BUCKET/PREFIX or a local folder.
registry: {registry}

{aws_block}

{setup_block}

# ---------------------------------------------------------------------------
# The blocks below are Flyte's own, accepted verbatim: paste your FlyteAdmin
# `flyteadmin:` and `queues:` blocks and your FlytePropeller `plugins.aws:` and
# `tasks:` blocks here (from "AWS Batch Setup for Map Tasks").
# ---------------------------------------------------------------------------
{flyte_blocks}"""

_SETUP = """\
# What `batchmap setup` creates in AWS (docs/setup.md): a compute environment,
# one job queue per queues.executionQueues entry, the roles, the bucket of
# `storage`. Every key has a default; `batchmap setup --dryRun` shows the plan.
setup:
  computeEnvironment:
    name: batchmap                  # the AWS Batch compute environment
    type: SPOT                      # SPOT, EC2, FARGATE or FARGATE_SPOT
    maxvCpus: 256
    # Without these two, setup uses the default VPC: its default subnets and
    # its "default" security group (as the AWS Batch console does).
    # subnets: [subnet-0abc1234]
    # securityGroups: [sg-0def5678]
    # instanceTypes: [optimal]      # EC2/SPOT
  userRole:
    name: batchmap-task             # the role children run as: iamRoleARN in exec files
    # managedPolicies: ["arn:{partition}:iam::aws:policy/AmazonS3ReadOnlyAccess"]
  # Who submits jobs, if not you: gets iam:PassRole on the user role.
  # passRolePrincipal: arn:{partition}:iam::123456789012:role/ci-runner
"""

_FLYTE_EXAMPLE = """\
# flyteadmin:
#   roleNameKey: "eks.amazonaws.com/role-arn"
# queues:
#   # One item per AWS Batch job queue.
#   executionQueues:
#     - dynamic: "tutorial"      # the job queue's name in AWS Batch
#       attributes:
#         - default              # tags that workflowConfigs route to
#   # Which executions go to which tags; an entry with no fields is the default.
#   workflowConfigs:
#     - tags:
#         - default
# plugins:
#   aws:
#     batch:
#       # Must match flyteadmin.roleNameKey.
#       roleAnnotationKey: eks.amazonaws.com/role-arn
#     region: us-east-2
# tasks:
#   task-plugins:
#     enabled-plugins:
#       - aws_array
#     default-for-task-types:
#       container_array: aws_array
"""

_FLYTE_QUEUE = """\
flyteadmin:
  roleNameKey: "eks.amazonaws.com/role-arn"
queues:
  # One item per AWS Batch job queue.
  executionQueues:
    - dynamic: {queue}      # the job queue's name in AWS Batch
      attributes:
        - default             # tags that workflowConfigs route to
  # Which executions go to which tags; an entry with no fields is the default.
  workflowConfigs:
    - tags:
        - default
plugins:
  aws:
    batch:
      # Must match flyteadmin.roleNameKey.
      roleAnnotationKey: eks.amazonaws.com/role-arn
tasks:
  task-plugins:
    enabled-plugins:
      - aws_array
    default-for-task-types:
      container_array: aws_array
"""


def render_starter_config(
    *,
    backend: str = "local",
    storage: str | None = None,
    registry: str | None = None,
    region: str | None = None,
    queue: str | None = None,
) -> str:
    """The starter file's text, checked against the config schema before it is returned."""
    if backend_storage_problem(backend, storage or ""):
        raise InvalidInputError(
            "with --backend aws, --storage must be an s3:// location",
            hint="batchmap config init --backend aws --storage s3://BUCKET/batchmap",
        )
    aws_lines = [
        "aws:" if region else "# aws:",
        f"  region: {json.dumps(region)}" if region else "#   region: us-east-2",
        "#   profile: default",
        "#   endpointUrl: http://127.0.0.1:5000   # e.g. a local moto server",
        "#   logGroup: /aws/batch/job",
    ]
    text = _TEMPLATE.format(
        backend=json.dumps(backend),
        storage=json.dumps(storage or "~/.batchmap/store"),
        registry=json.dumps(registry or "~/.batchmap/registry"),
        aws_block="\n".join(aws_lines),
        setup_block=_SETUP.rstrip("\n").format(partition=partition_for(region))
        if backend == "aws"
        else "# setup:    # what `batchmap setup` creates in AWS: docs/setup.md",
        flyte_blocks=_FLYTE_QUEUE.format(queue=json.dumps(queue)) if queue else _FLYTE_EXAMPLE,
    )
    doc = load_document(text, "<starter config>")
    errors = [p for p in check_config(doc) if not p.warning]
    if errors:
        raise InvalidInputError.from_problems(errors, "the values given make an invalid config")
    return text


def write_starter_config(path: Path, text: str, *, force: bool) -> None:
    """Write the starter file; refuse to replace an existing one unless ``force``."""
    write_user_file(path, text, force=force)
