"""AWS Batch's documented request rules, in one place, checked before any call.

moto takes nearly any request (fractional vCPUs on EC2, a 100 KB environment, any
name); AWS refuses them, or fails the job later. Each rule below cites the page that
states it, and each check is a pure function: it returns the violations it finds — the
field path, what breaks which limit, and the fix — and never calls AWS. Launch-plan and
exec-file checks use them to point at a line; ``backends/aws/requests.py`` uses them
on the very requests it builds, so ``--dryRun`` fails exactly as a real run does.

Sources (read 2026-12; botocore 1.44.8 carries the same API reference text):

- QUOTAS: https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html
- RESOURCES: https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
- EKS_RESOURCES:
  https://docs.aws.amazon.com/batch/latest/APIReference/API_EksContainerResourceRequirements.html
- SUBMIT: https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
- REGISTER: https://docs.aws.amazon.com/batch/latest/APIReference/API_RegisterJobDefinition.html
- CONTAINER: https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerProperties.html
- RETRY: https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html
- TIMEOUT: https://docs.aws.amazon.com/batch/latest/APIReference/API_JobTimeout.html
- TAGS: https://docs.aws.amazon.com/batch/latest/userguide/tag-restrictions.html
- FARGATE_SIZES: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from batchmap.errors import Problem
from batchmap.runtime.env import reserved as reserved_env

QUOTAS = "https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html"
RESOURCES = "https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html"
EKS_RESOURCES = "https://docs.aws.amazon.com/batch/latest/APIReference/API_EksContainerResourceRequirements.html"
SUBMIT = "https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html"
REGISTER = "https://docs.aws.amazon.com/batch/latest/APIReference/API_RegisterJobDefinition.html"
CONTAINER = "https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerProperties.html"
RETRY = "https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html"
TIMEOUT = "https://docs.aws.amazon.com/batch/latest/APIReference/API_JobTimeout.html"
TAGS = "https://docs.aws.amazon.com/batch/latest/userguide/tag-restrictions.html"
FARGATE_SIZES = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
    "fargate-tasks-services.html#fargate-tasks-size"
)

# QUOTAS: "Maximum array size for array jobs 10000"; SUBMIT (arrayProperties): 2 to 10,000.
MIN_ARRAY_SIZE = 2
MAX_ARRAY_SIZE = 10_000
# QUOTAS: "Maximum job payload size (for SubmitJob API operations) 30 KiB" and
# "Maximum job definition size (for RegisterJobDefinition API operations) 24 KiB".
MAX_SUBMIT_BYTES = 30 * 1024
MAX_JOB_DEFINITION_BYTES = 24 * 1024
# SUBMIT (jobName): up to 128 letters, digits, '-' and '_', the first alphanumeric.
# REGISTER (jobDefinitionName): up to 128 letters, digits, '-' and '_'.
MAX_NAME_LENGTH = 128
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
JOB_DEFINITION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# RETRY (attempts): "You can specify between 1 and 10 attempts."
MIN_ATTEMPTS, MAX_ATTEMPTS = 1, 10
# TIMEOUT (attemptDurationSeconds): "The minimum value for the timeout is 60 seconds."
MIN_TIMEOUT_SECONDS = 60
# TAGS: 50 tags per resource, keys ≤ 128 and values ≤ 256 characters, no "aws:" prefix
# (any case) on keys or values. SUBMIT (propagateTags): job plus job-definition tags over
# 50 move the job to FAILED, so the limit holds for their union too.
MAX_TAGS = 50
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256
RESERVED_TAG_PREFIX = "aws:"
# CONTAINER (environment): "Environment variables cannot start with AWS_BATCH."
AWS_RESERVED_ENV_PREFIX = "AWS_BATCH"
# batchmap's own rules on top of AWS's: names a POSIX shell can use, and BATCHMAP_ is what
# batchmap itself sets in every child.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV_PREFIXES = (AWS_RESERVED_ENV_PREFIX, "BATCHMAP_")
# RESOURCES: "You must specify at least 4 MiB of memory for a job"; on EC2 "you must
# specify at least one vCPU" and VCPU is a whole number (fractions are Fargate's).
MIN_MEMORY_MIB = 4
MIN_EC2_VCPU = 1
# EKS_RESOURCES: cpu "must be an even multiple of 0.25"; GPUs are whole numbers.
EKS_CPU_STEP = 0.25

# RESOURCES (type=VCPU, jobs on Fargate): each VCPU value and the MEMORY values (MiB) it
# takes. Through 16 vCPU this is ECS's Fargate task-size table (FARGATE_SIZES): 8 vCPU
# takes 16–60 GiB in 4 GiB steps, 16 vCPU 32–120 GiB in 8 GiB steps. The Batch API
# reference also lists 32 vCPU with 60, 120 or 244 GiB, which ECS's table does not show.
FARGATE_MEMORY: dict[float, tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: (1024, 2048, 3072, 4096),
    1: tuple(range(2048, 8192 + 1, 1024)),
    2: tuple(range(4096, 16384 + 1, 1024)),
    4: tuple(range(8192, 30720 + 1, 1024)),
    8: tuple(range(16384, 61440 + 1, 4096)),
    16: tuple(range(32768, 122880 + 1, 8192)),
    32: (61440, 122880, 249856),
}
PLATFORMS = ("EC2", "FARGATE", "EKS")

# A SubmitJob is checked before its job definition exists; its ARN is counted at the
# longest it can be: arn:PARTITION:batch:REGION:ACCOUNT:job-definition/NAME:REVISION.
_LONGEST_DEFINITION_ARN = (
    "arn:aws-us-gov:batch:"
    + "r" * 20
    + ":123456789012:job-definition/"
    + "n" * 128
    + ":"
    + "9" * 10
)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (a field path), what against which limit, and the fix."""

    path: Path
    message: str
    fix: str

    def where(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def __str__(self) -> str:
        return f"{self.where()}: {self.message} ({self.fix})"

    def to_problem(self) -> Problem:
        return Problem(self.message, path=self.where(), hint=self.fix)


def number(value: float) -> str:
    """0.25 → "0.25", 2.0 → "2"."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def sizes(values: Sequence[int]) -> str:
    """A list of MiB values as a person reads it: a range with its step, or the values."""
    steps = {b - a for a, b in pairwise(values)}
    if len(values) > 3 and len(steps) == 1:
        return f"{values[0]} to {values[-1]} MiB in steps of {steps.pop()}"
    head = ", ".join(str(v) for v in values[:-1])
    return f"{head} or {values[-1]} MiB" if head else f"{values[-1]} MiB"


def _choices(values: Iterable[float]) -> str:
    shown = [number(v) for v in values]
    return f"{', '.join(shown[:-1])} or {shown[-1]}" if len(shown) > 1 else shown[0]


# -- resources ---------------------------------------------------------------------------
def vcpu_violations(vcpu: float, platform: str, path: Path = ("task", "vcpu")) -> list[Violation]:
    """RESOURCES: whole vCPUs ≥ 1 on EC2 (and SPOT); Fargate's listed values; on EKS
    multiples of 0.25 (EKS_RESOURCES)."""
    if platform == "FARGATE":
        if vcpu not in FARGATE_MEMORY:
            return [
                Violation(
                    path,
                    f"{number(vcpu)} vCPU is not a Fargate size",
                    f"use {_choices(FARGATE_MEMORY)}",
                )
            ]
        return []
    if platform == "EKS":
        if vcpu <= 0 or not (vcpu / EKS_CPU_STEP).is_integer():
            return [
                Violation(
                    path,
                    f"{number(vcpu)} vCPU is not allowed on EKS: AWS Batch takes multiples "
                    f"of {EKS_CPU_STEP} there",
                    "use 0.25, 0.5, 0.75, 1, …",
                )
            ]
        return []
    if vcpu < MIN_EC2_VCPU or not float(vcpu).is_integer():
        return [
            Violation(
                path,
                f"{number(vcpu)} vCPU is not allowed on EC2: AWS Batch takes whole vCPUs "
                f"(at least {MIN_EC2_VCPU}) on EC2 and SPOT",
                f"use a whole number ≥ {MIN_EC2_VCPU}, or platform: FARGATE, which takes "
                f"{_choices(FARGATE_MEMORY)} vCPU",
            )
        ]
    return []


def memory_violations(
    memory_mib: int, vcpu: float, platform: str, path: Path = ("task", "memory")
) -> list[Violation]:
    """RESOURCES: at least 4 MiB; on Fargate one of the values its vCPU takes."""
    if memory_mib < MIN_MEMORY_MIB:
        return [
            Violation(
                path,
                f"{memory_mib} MiB is below AWS Batch's minimum of {MIN_MEMORY_MIB} MiB",
                f"ask for at least {MIN_MEMORY_MIB} MiB",
            )
        ]
    if platform != "FARGATE" or vcpu not in FARGATE_MEMORY:
        return []
    allowed = FARGATE_MEMORY[vcpu]
    if memory_mib in allowed:
        return []
    others = [v for v, memories in FARGATE_MEMORY.items() if memory_mib in memories]
    fix = f"with {number(vcpu)} vCPU Fargate takes {sizes(allowed)}"
    if others:
        fix += f"; {memory_mib} MiB goes with {_choices(others)} vCPU"
    return [Violation(path, f"{memory_mib} MiB is not a Fargate size for {number(vcpu)} vCPU", fix)]


def gpu_violations(gpu: int, platform: str, path: Path = ("task", "gpu")) -> list[Violation]:
    """RESOURCES: "GPUs aren't available for jobs that are running on Fargate resources."""
    if gpu and platform == "FARGATE":
        return [Violation(path, "Fargate has no GPUs", "use platform EC2, or no gpu")]
    if gpu < 0:
        return [Violation(path, f"{gpu} GPUs", "ask for 0 or more whole GPUs")]
    return []


def resource_violations(
    vcpu: float, memory_mib: int, gpu: int, platform: str, base: Path = ("task",)
) -> list[Violation]:
    """vCPU, memory and GPU of one container on one platform (EC2, FARGATE or EKS)."""
    return (
        vcpu_violations(vcpu, platform, (*base, "vcpu"))
        + memory_violations(memory_mib, vcpu, platform, (*base, "memory"))
        + gpu_violations(gpu, platform, (*base, "gpu"))
    )


# -- names, environment, tags, retries, timeouts, arrays ----------------------------------
def job_name_violations(name: str, path: Path = ("jobName",)) -> list[Violation]:
    """SUBMIT: ≤ 128 letters, digits, '-' and '_', starting with a letter or digit."""
    if JOB_NAME.match(name):
        return []
    return [
        Violation(
            path,
            f"{name[:40]!r}{'…' if len(name) > 40 else ''} ({len(name)} characters) is not "
            f"an AWS Batch job name",
            f"use 1–{MAX_NAME_LENGTH} letters, digits, '-' or '_', starting with a letter or digit",
        )
    ]


def job_definition_name_violations(
    name: str, path: Path = ("jobDefinitionName",)
) -> list[Violation]:
    """REGISTER: ≤ 128 letters, digits, '-' and '_'."""
    if JOB_DEFINITION_NAME.match(name):
        return []
    return [
        Violation(
            path,
            f"{name[:40]!r}{'…' if len(name) > 40 else ''} ({len(name)} characters) is not "
            "an AWS Batch job definition name",
            f"use 1–{MAX_NAME_LENGTH} letters, digits, '-' or '_'",
        )
    ]


def env_name_violations(
    name: str,
    path: Path,
    *,
    reserved: Sequence[str] = RESERVED_ENV_PREFIXES,
    portable: bool = True,
) -> list[Violation]:
    """CONTAINER: no name starts with AWS_BATCH. batchmap's files also keep BATCHMAP_ for
    batchmap and ask for names a shell can use (``portable``)."""
    if portable and not ENV_NAME.match(name):
        return [
            Violation(
                path,
                "not a valid environment variable name",
                "use letters, digits and '_', not starting with a digit",
            )
        ]
    for prefix in reserved:
        if name.startswith(prefix):
            return [
                Violation(
                    path,
                    f"names starting with {' or '.join(reserved)} are reserved",
                    f"rename it: {prefix} variables are set by "
                    + ("AWS Batch" if prefix == AWS_RESERVED_ENV_PREFIX else "batchmap"),
                )
            ]
    if portable and reserved_env(name):  # flytekit's index contract, set in every child
        return [
            Violation(
                path,
                f"{name} is reserved: batchmap sets it in every child to give each its index",
                "rename it: a value set here would shift every child's item",
            )
        ]
    return []


def environment_violations(entries: Iterable[Mapping[str, Any]], path: Path) -> list[Violation]:
    """The names of a request's ``[{"name": …, "value": …}]`` list (AWS's rule only)."""
    found = []
    for entry in entries:
        name = str(entry.get("name", ""))
        found += env_name_violations(
            name, (*path, name), reserved=(AWS_RESERVED_ENV_PREFIX,), portable=False
        )
    return found


def tag_violations(tags: Mapping[str, str], path: Path = ("tags",)) -> list[Violation]:
    """TAGS: ≤ 50 tags, keys 1–128 and values ≤ 256 characters, no 'aws:' prefix."""
    found = []
    if len(tags) > MAX_TAGS:
        found.append(Violation(path, f"{len(tags)} tags; AWS allows {MAX_TAGS}", "drop some tags"))
    for key, value in tags.items():
        where = (*path, key)
        if not 1 <= len(key) <= MAX_TAG_KEY:
            found.append(
                Violation(
                    where,
                    f"a tag key of {len(key)} characters; AWS allows 1–{MAX_TAG_KEY}",
                    "shorten the key",
                )
            )
        if len(value) > MAX_TAG_VALUE:
            found.append(
                Violation(
                    where,
                    f"a tag value of {len(value)} characters; AWS allows {MAX_TAG_VALUE}",
                    "shorten the value",
                )
            )
        for part, text in (("key", key), ("value", value)):
            if text.lower().startswith(RESERVED_TAG_PREFIX):
                found.append(
                    Violation(
                        where,
                        f"a tag {part} starting with {RESERVED_TAG_PREFIX!r} (reserved for AWS)",
                        f"rename the {part}",
                    )
                )
    return found


def propagated_tag_violations(
    job_tags: Mapping[str, str], definition_tags: Mapping[str, str], path: Path = ("tags",)
) -> list[Violation]:
    """SUBMIT (propagateTags): over 50 job plus job-definition tags, the job FAILS."""
    count = len(set(job_tags) | set(definition_tags))
    if count <= MAX_TAGS:
        return []
    return [
        Violation(
            path,
            f"{count} tags with the job definition's propagated ones; AWS Batch fails a job "
            f"over {MAX_TAGS}",
            "drop some tags",
        )
    ]


def attempts_violations(
    attempts: int, path: Path = ("retryStrategy", "attempts")
) -> list[Violation]:
    """RETRY: 1 to 10 attempts."""
    if MIN_ATTEMPTS <= attempts <= MAX_ATTEMPTS:
        return []
    return [
        Violation(
            path,
            f"{attempts} attempts; AWS Batch allows {MIN_ATTEMPTS} to {MAX_ATTEMPTS}",
            f"ask for 0 to {MAX_ATTEMPTS - 1} retries",
        )
    ]


def timeout_violations(
    seconds: int,
    path: Path = ("timeout", "attemptDurationSeconds"),
    where: str = "a timeout",
) -> list[Violation]:
    """TIMEOUT: at least 60 seconds."""
    if seconds >= MIN_TIMEOUT_SECONDS:
        return []
    return [
        Violation(
            path,
            f"{seconds}s is below AWS Batch's minimum timeout of {MIN_TIMEOUT_SECONDS}s",
            f"use {where} of at least {MIN_TIMEOUT_SECONDS}s",
        )
    ]


def array_size_violations(size: int, path: Path = ("arrayProperties", "size")) -> list[Violation]:
    """QUOTAS and SUBMIT: an array job has 2 to 10,000 children."""
    if MIN_ARRAY_SIZE <= size <= MAX_ARRAY_SIZE:
        return []
    return [
        Violation(
            path,
            f"{size:,} children; an AWS Batch array job has {MIN_ARRAY_SIZE} to {MAX_ARRAY_SIZE:,}",
            f"keep plugins.aws.batch.maxArrayJobSize at or below {MAX_ARRAY_SIZE}",
        )
    ]


# -- whole requests ----------------------------------------------------------------------
def encoded_size(request: Mapping[str, Any]) -> int:
    """Bytes of a request body as botocore's rest-json serializer sends it."""
    return len(json.dumps(request).encode())


def _largest(entries: Iterable[tuple[str, Any]]) -> tuple[str, int] | None:
    sized = [(name, len(json.dumps(value).encode())) for name, value in entries]
    return max(sized, key=lambda pair: pair[1]) if sized else None


def size_violations(
    request: Mapping[str, Any],
    limit: int,
    what: str,
    path: Path,
    parts: Iterable[tuple[str, Any]],
    fix: str,
) -> list[Violation]:
    """QUOTAS: a request over its size limit, naming its largest part."""
    size = encoded_size(request)
    if size <= limit:
        return []
    biggest = _largest(parts)
    if biggest:
        fix = f"its largest part is {biggest[0]} ({biggest[1]:,} bytes): {fix}"
    return [
        Violation(
            path,
            f"the {what} request is {size:,} bytes as sent; AWS Batch accepts "
            f"{limit:,} bytes ({limit // 1024} KiB) at most",
            fix,
        )
    ]


def _resource_values(definition: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(platform, {VCPU, MEMORY, GPU: value}) of a job definition."""
    if "eksProperties" in definition:
        containers = definition["eksProperties"].get("podProperties", {}).get("containers", [])
        limits = (containers[0].get("resources", {}).get("limits", {})) if containers else {}
        return "EKS", {
            "VCPU": str(limits.get("cpu", "1")),
            "MEMORY": str(limits.get("memory", "0")).removesuffix("Mi"),
            "GPU": str(limits.get("nvidia.com/gpu", "0")),
        }
    platform = (definition.get("platformCapabilities") or ["EC2"])[0]
    requirements = (definition.get("containerProperties") or {}).get("resourceRequirements") or []
    return platform, {r["type"]: str(r["value"]) for r in requirements}


def job_definition_violations(definition: Mapping[str, Any]) -> list[Violation]:
    """Every rule a RegisterJobDefinition request must keep, checked on the request."""
    base: Path = ("jobDefinition",)
    found = job_definition_name_violations(
        str(definition.get("jobDefinitionName", "")), (*base, "jobDefinitionName")
    )
    platform, values = _resource_values(definition)
    where: Path = (
        (*base, "eksProperties", "resources")
        if platform == "EKS"
        else (*base, "containerProperties", "resourceRequirements")
    )
    try:
        vcpu = float(values.get("VCPU", "1"))
        memory = int(float(values.get("MEMORY", "0")))
        gpu = int(values.get("GPU", "0"))
    except ValueError as exc:
        return [*found, Violation(where, f"not a number: {exc}", "use numbers")]
    found += resource_violations(vcpu, memory, gpu, platform, where)
    properties = definition.get("containerProperties") or {}
    found += environment_violations(
        properties.get("environment") or [], (*base, "containerProperties", "environment")
    )
    for container in (
        (definition.get("eksProperties") or {}).get("podProperties", {}).get("containers", [])
    ):
        found += environment_violations(container.get("env") or [], (*base, "eksProperties", "env"))
    found += tag_violations(definition.get("tags") or {}, (*base, "tags"))
    attempts = (definition.get("retryStrategy") or {}).get("attempts")
    if attempts is not None:
        found += attempts_violations(int(attempts), (*base, "retryStrategy", "attempts"))
    timeout = (definition.get("timeout") or {}).get("attemptDurationSeconds")
    if timeout is not None:
        found += timeout_violations(
            int(timeout),
            (*base, "timeout", "attemptDurationSeconds"),
            "a task.timeout or plugins.aws.batch.defaultTimeout",
        )
    parts = [
        ("containerProperties.command", properties.get("command")),
        *(
            (f"environment {e['name']}", e.get("value"))
            for e in properties.get("environment") or []
        ),
    ]
    return found + size_violations(
        definition,
        MAX_JOB_DEFINITION_BYTES,
        "RegisterJobDefinition",
        base,
        parts,
        "move large values out of the launch plan's task.env and command, into inputs",
    )


def submit_job_violations(
    request: Mapping[str, Any], definition_tags: Mapping[str, str] | None = None
) -> list[Violation]:
    """Every rule a SubmitJob request must keep, checked on the request."""
    name = str(request.get("jobName", ""))
    base: Path = (f"SubmitJob {name}",)
    found = job_name_violations(name, (*base, "jobName"))
    size = (request.get("arrayProperties") or {}).get("size")
    if size is not None:
        found += array_size_violations(int(size), (*base, "arrayProperties", "size"))
    overrides = request.get("containerOverrides") or {}
    found += environment_violations(
        overrides.get("environment") or [], (*base, "containerOverrides", "environment")
    )
    tags = request.get("tags") or {}
    found += tag_violations(tags, (*base, "tags"))
    if definition_tags is not None and request.get("propagateTags"):
        found += propagated_tag_violations(tags, definition_tags, (*base, "tags"))
    attempts = (request.get("retryStrategy") or {}).get("attempts")
    if attempts is not None:
        found += attempts_violations(int(attempts), (*base, "retryStrategy", "attempts"))
    timeout = (request.get("timeout") or {}).get("attemptDurationSeconds")
    if timeout is not None:
        found += timeout_violations(int(timeout), (*base, "timeout", "attemptDurationSeconds"))
    sent = dict(request, jobDefinition=request.get("jobDefinition") or _LONGEST_DEFINITION_ARN)
    parts = [
        (f"environment {e['name']}", e.get("value")) for e in overrides.get("environment") or []
    ]
    return found + size_violations(
        sent,
        MAX_SUBMIT_BYTES,
        "SubmitJob",
        base,
        parts,
        "move large values out of the exec file's envs, into inputs",
    )
