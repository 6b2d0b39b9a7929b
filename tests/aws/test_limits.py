"""AWS Batch's request rules (batchmap/aws/limits.py), each at its boundary, and the request
builders of the AWS backend refusing what AWS would refuse before anything is sent."""

from __future__ import annotations

import re

import pytest

from batchmap.aws import limits
from batchmap.backends.aws.requests import job_definition, submit_requests
from batchmap.errors import InvalidInputError
from batchmap.tasks.base import ChildSpec

# The Batch API reference's other view of the Fargate table (ResourceRequirement, type
# MEMORY): each memory value and the vCPUs that take it, as written there. The rule's own
# table is written per vCPU; the two must say the same thing.
FARGATE_BY_MEMORY = {
    (512,): (0.25,),
    (1024,): (0.25, 0.5),
    (2048,): (0.25, 0.5, 1),
    (3072,): (0.5, 1),
    (4096,): (0.5, 1, 2),
    (5120, 6144, 7168): (1, 2),
    (8192,): (1, 2, 4),
    (9216, 10240, 11264, 12288, 13312, 14336, 15360): (2, 4),
    (16384,): (2, 4, 8),
    (17408, 18432, 19456, 21504, 22528, 23552, 25600, 26624, 27648, 29696, 30720): (4,),
    (20480, 24576, 28672): (4, 8),
    (36864, 45056, 53248): (8,),
    (61440,): (8, 32),
    (32768, 40960, 49152, 57344): (8, 16),
    (65536, 73728, 81920, 90112, 98304, 106496, 114688): (16,),
    (122880,): (16, 32),
    (249856,): (32,),
}


def _ok(found: list[limits.Violation]) -> bool:
    return not found


# -- vCPU, memory, GPU ---------------------------------------------------------------------
@pytest.mark.parametrize("vcpu", [1, 2, 96, 1.0])
def test_whole_vcpus_are_allowed_on_ec2(vcpu: float) -> None:
    assert _ok(limits.vcpu_violations(vcpu, "EC2"))


@pytest.mark.parametrize("vcpu", [0.25, 0.5, 0.999, 1.5, 0, -1])
def test_fractional_or_no_vcpu_is_refused_on_ec2_with_the_fix(vcpu: float) -> None:
    (found,) = limits.vcpu_violations(vcpu, "EC2")
    assert found.where() == "task.vcpu"
    assert f"{limits.number(vcpu)} vCPU is not allowed on EC2" in found.message
    assert found.fix.startswith("use a whole number ≥ 1, or platform: FARGATE")


def test_the_fargate_table_matches_the_api_references_memory_view() -> None:
    by_memory: dict[int, set[float]] = {}
    for vcpu, memories in limits.FARGATE_MEMORY.items():
        for memory in memories:
            by_memory.setdefault(memory, set()).add(vcpu)
    documented = {m: set(v) for ms, v in FARGATE_BY_MEMORY.items() for m in ms}
    assert by_memory == documented


@pytest.mark.parametrize(
    ("vcpu", "low", "high", "step"),
    [
        (0.25, 512, 2048, None),
        (0.5, 1024, 4096, 1024),
        (1, 2048, 8192, 1024),
        (2, 4096, 16384, 1024),
        (4, 8192, 30720, 1024),
        (8, 16384, 61440, 4096),
        (16, 32768, 122880, 8192),
        (32, 61440, 249856, None),
    ],
)
def test_every_fargate_pair_edge(vcpu: float, low: int, high: int, step: int | None) -> None:
    check = limits.memory_violations
    assert _ok(check(low, vcpu, "FARGATE")) and _ok(check(high, vcpu, "FARGATE"))
    assert _ok(limits.vcpu_violations(vcpu, "FARGATE"))
    for wrong in (low - 1, low + 1, high - 1, high + 1, high + (step or 1024)):
        (found,) = check(wrong, vcpu, "FARGATE")
        assert found.message == f"{wrong} MiB is not a Fargate size for {limits.number(vcpu)} vCPU"
        assert f"with {limits.number(vcpu)} vCPU Fargate takes" in found.fix
    if step:
        (found,) = check(low + step // 2, vcpu, "FARGATE")
        assert f"{low} to {high} MiB in steps of {step}" in found.fix


def test_a_memory_that_fits_another_vcpu_says_which() -> None:
    (found,) = limits.memory_violations(512, 1, "FARGATE")
    assert found.fix.endswith("512 MiB goes with 0.25 vCPU")
    (found,) = limits.memory_violations(2048, 2, "FARGATE")
    assert found.fix.endswith("2048 MiB goes with 0.25, 0.5 or 1 vCPU")


@pytest.mark.parametrize("vcpu", [0.75, 3, 6, 12, 64])
def test_other_vcpus_are_not_fargate_sizes(vcpu: float) -> None:
    (found,) = limits.vcpu_violations(vcpu, "FARGATE")
    assert found.fix == "use 0.25, 0.5, 1, 2, 4, 8, 16 or 32"
    assert _ok(limits.memory_violations(512, vcpu, "FARGATE"))  # one problem, not two


def test_eks_takes_multiples_of_a_quarter_vcpu() -> None:
    assert _ok(limits.vcpu_violations(0.25, "EKS")) and _ok(limits.vcpu_violations(1.75, "EKS"))
    assert limits.vcpu_violations(0.3, "EKS") and limits.vcpu_violations(0, "EKS")


@pytest.mark.parametrize("platform", ["EC2", "FARGATE", "EKS"])
def test_memory_is_at_least_4_mib(platform: str) -> None:
    assert _ok(limits.memory_violations(4, 1, "EC2"))
    (found,) = limits.memory_violations(3, 1, platform)
    assert found.message == "3 MiB is below AWS Batch's minimum of 4 MiB"


def test_gpus_are_not_on_fargate() -> None:
    assert _ok(limits.gpu_violations(1, "EC2")) and _ok(limits.gpu_violations(1, "EKS"))
    assert _ok(limits.gpu_violations(0, "FARGATE"))
    (found,) = limits.gpu_violations(1, "FARGATE")
    assert str(found) == "task.gpu: Fargate has no GPUs (use platform EC2, or no gpu)"


def test_resource_violations_report_each_field_once() -> None:
    found = limits.resource_violations(3, 3, 1, "FARGATE")
    assert [v.where() for v in found] == ["task.vcpu", "task.memory", "task.gpu"]
    assert _ok(limits.resource_violations(1, 2048, 0, "FARGATE"))
    assert _ok(limits.resource_violations(2, 4096, 1, "EC2"))


# -- names ---------------------------------------------------------------------------------
def test_job_names_are_up_to_128_starting_alphanumeric() -> None:
    assert _ok(limits.job_name_violations("a"))  # moto's Docker mode wrongly refuses this
    assert _ok(limits.job_name_violations("A" + "b-_" * 42 + "c"))  # 128
    (found,) = limits.job_name_violations("a" * 129)
    assert "(129 characters) is not an AWS Batch job name" in found.message
    for bad in ("_x", "-x", "a b", "a.b", "a:b", ""):
        assert limits.job_name_violations(bad), bad


def test_job_definition_names_are_up_to_128() -> None:
    assert _ok(limits.job_definition_name_violations("n" * 128))
    assert _ok(limits.job_definition_name_violations("_x"))  # no first-character rule here
    assert limits.job_definition_name_violations("n" * 129)
    assert limits.job_definition_name_violations("a.b")


# -- environment, tags, attempts, timeouts, arrays -------------------------------------------
def test_environment_names_in_files() -> None:
    assert _ok(limits.env_name_violations("MODE_2", ("envs", "MODE_2")))
    (reserved,) = limits.env_name_violations("AWS_BATCH_JOB_ID", ("envs", "AWS_BATCH_JOB_ID"))
    assert str(reserved) == (
        "envs.AWS_BATCH_JOB_ID: names starting with AWS_BATCH or BATCHMAP_ are reserved "
        "(rename it: AWS_BATCH variables are set by AWS Batch)"
    )
    (ours,) = limits.env_name_violations("BATCHMAP_X", ("envs", "BATCHMAP_X"))
    assert "set by batchmap" in ours.fix
    for bad in ("MY-VAR", "1A", "A B", ""):
        (found,) = limits.env_name_violations(bad, ("envs", bad))
        assert found.message == "not a valid environment variable name"


def test_environment_names_in_requests_keep_only_aws_rule() -> None:
    entries = [{"name": "my.var", "value": "1"}, {"name": "BATCHMAP_INPUTS", "value": "s3://"}]
    assert _ok(limits.environment_violations(entries, ("environment",)))
    (found,) = limits.environment_violations([{"name": "AWS_BATCHY"}], ("environment",))
    assert found.where() == "environment.AWS_BATCHY"
    assert "AWS_BATCH" in found.message and "BATCHMAP_" not in found.message


def test_tags_at_their_limits() -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    assert _ok(limits.tag_violations(fifty))
    (found,) = limits.tag_violations({**fifty, "k50": "v"})
    assert found.message == "51 tags; AWS allows 50"
    assert _ok(limits.tag_violations({"k" * 128: "v" * 256}))
    (key,) = limits.tag_violations({"k" * 129: "v"})
    assert "a tag key of 129 characters" in key.message
    (value,) = limits.tag_violations({"k": "v" * 257})
    assert "a tag value of 257 characters" in value.message
    assert limits.tag_violations({"": "v"})


@pytest.mark.parametrize("tags", [{"aws:x": "1"}, {"AWS:x": "1"}, {"x": "Aws:1"}])
def test_the_aws_prefix_is_reserved_in_any_case(tags: dict[str, str]) -> None:
    (found,) = limits.tag_violations(tags)
    assert "starting with 'aws:' (reserved for AWS)" in found.message


def test_propagated_tags_count_the_job_and_its_definition() -> None:
    job = {f"job{i}": "v" for i in range(45)} | {"shared": "v"}
    definition = {f"def{i}": "v" for i in range(4)} | {"shared": "v"}
    assert _ok(limits.propagated_tag_violations(job, definition))  # 46 + 5 - 1 = 50
    (found,) = limits.propagated_tag_violations(job, definition | {"one-more": "v"})
    assert found.message.startswith("51 tags with the job definition's propagated ones")


def test_attempts_are_1_to_10() -> None:
    assert _ok(limits.attempts_violations(1)) and _ok(limits.attempts_violations(10))
    assert limits.attempts_violations(0) and limits.attempts_violations(11)


def test_timeouts_are_at_least_60_seconds() -> None:
    assert _ok(limits.timeout_violations(60))
    (found,) = limits.timeout_violations(59)
    assert found.message == "59s is below AWS Batch's minimum timeout of 60s"


def test_array_jobs_hold_2_to_10000_children() -> None:
    assert _ok(limits.array_size_violations(2)) and _ok(limits.array_size_violations(10_000))
    assert limits.array_size_violations(1)
    (found,) = limits.array_size_violations(10_001)
    assert "10,001 children" in found.message and "maxArrayJobSize" in found.fix


# -- sizes -----------------------------------------------------------------------------------
def _submit(padding: int, definition: str = "arn:aws:batch:r:1:job-definition/d:1") -> dict:
    return {
        "jobName": "j",
        "jobQueue": "q",
        "jobDefinition": definition,
        "containerOverrides": {"environment": [{"name": "BIG", "value": "x" * padding}]},
    }


def test_a_submit_job_request_is_at_most_30_kib_as_sent() -> None:
    base = limits.encoded_size(_submit(0))
    exactly = _submit(limits.MAX_SUBMIT_BYTES - base)
    assert limits.encoded_size(exactly) == 30 * 1024
    assert _ok(limits.submit_job_violations(exactly))
    (found,) = limits.submit_job_violations(_submit(limits.MAX_SUBMIT_BYTES - base + 1))
    assert found.where() == "SubmitJob j"
    assert found.message == (
        "the SubmitJob request is 30,721 bytes as sent; AWS Batch accepts 30,720 bytes "
        "(30 KiB) at most"
    )
    assert found.fix.startswith("its largest part is environment BIG (30,")


def test_an_unregistered_definition_is_counted_at_its_longest_arn() -> None:
    fits = _submit(limits.MAX_SUBMIT_BYTES - limits.encoded_size(_submit(0)))
    assert limits.submit_job_violations(dict(fits, jobDefinition=""))


def _definition(padding: int) -> dict:
    return {
        "jobDefinitionName": "d",
        "type": "container",
        "platformCapabilities": ["EC2"],
        "containerProperties": {
            "image": "i",
            "command": ["c"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
            "environment": [{"name": "BIG", "value": "x" * padding}],
        },
    }


def test_a_job_definition_is_at_most_24_kib_as_sent() -> None:
    base = limits.encoded_size(_definition(0))
    assert _ok(
        limits.job_definition_violations(_definition(limits.MAX_JOB_DEFINITION_BYTES - base))
    )
    (found,) = limits.job_definition_violations(
        _definition(limits.MAX_JOB_DEFINITION_BYTES - base + 1)
    )
    assert "is 24,577 bytes as sent; AWS Batch accepts 24,576 bytes (24 KiB)" in found.message
    assert "environment BIG" in found.fix and "task.env" in found.fix


# -- the request builders ---------------------------------------------------------------------
SPEC = {
    "project": "p",
    "domain": "d",
    "name": "lp",
    "version": "v1",
    "task": {
        "image": "img:1",
        "command": ["run", "{{ item }}"],
        "vcpu": 1,
        "memory": 512,
        "env": {},
        "secrets": {},
        "platform": "EC2",
    },
}


def _build(spec: dict, plugin: dict | None = None, eks: bool = False) -> dict:
    return job_definition(
        execution="e",
        plan=spec,
        child=ChildSpec(tuple(spec["task"]["command"]), dict(spec["task"].get("env") or {})),
        role="arn:aws:iam::123456789012:role/r",
        service_account=None,
        log_group="/aws/batch/job",
        plugin=plugin or {},
        eks=eks,
    )


def test_a_launch_plan_registered_before_these_rules_is_refused_at_the_request() -> None:
    old = {**SPEC, "task": {**SPEC["task"], "vcpu": 0.25}}
    with pytest.raises(InvalidInputError) as caught:
        _build(old)
    (line,) = caught.value.lines()
    assert line.startswith(
        "jobDefinition.containerProperties.resourceRequirements.vcpu: 0.25 vCPU is not allowed "
        "on EC2"
    )
    assert _build(old, eks=True)["eksProperties"]  # EKS takes quarters


def test_eks_definitions_name_gpus_as_kubernetes_does() -> None:
    spec = {**SPEC, "task": {**SPEC["task"], "gpu": 1}}
    limits_ = _build(spec, eks=True)["eksProperties"]["podProperties"]["containers"][0]
    assert limits_["resources"]["limits"] == {"cpu": "1", "memory": "512Mi", "nvidia.com/gpu": "1"}


def test_a_default_timeout_below_60s_is_refused_naming_where_it_comes_from() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _build(SPEC, {"defaultTimeout": "30s"})
    (line,) = caught.value.lines()
    assert "timeout.attemptDurationSeconds: 30s is below AWS Batch's minimum" in line
    assert "plugins.aws.batch.defaultTimeout" in line


def test_a_large_task_env_breaks_the_job_definition_limit() -> None:
    spec = {**SPEC, "task": {**SPEC["task"], "env": {"BLOB": "x" * 25_000}}}
    with pytest.raises(InvalidInputError) as caught:
        _build(spec)
    (line,) = caught.value.lines()
    # 25,000 bytes of env plus the rest, the child's inline command among it
    size = re.search(r"RegisterJobDefinition request is ([\d,]+) bytes as sent", line)
    assert size is not None and int(size.group(1).replace(",", "")) > 25_002 + 10_000, line
    assert "environment BLOB (25,002 bytes)" in line


def _requests(envs: dict, size: int = 5, max_array: int = limits.MAX_ARRAY_SIZE) -> list:
    return submit_requests(
        execution="e",
        project="p",
        domain="d",
        plan=SPEC,
        size=size,
        queue="q",
        inputs_uri="s3://b/i",
        output_prefix="s3://b/o",
        envs=envs,
        max_array=max_array,
    )


def test_large_envs_break_the_submit_limit_naming_the_variable() -> None:
    assert _requests({"SMALL": "x" * 20_000})
    with pytest.raises(InvalidInputError) as caught:
        _requests({"SMALL": "1", "BIG": "x" * 31_000})
    (line,) = caught.value.lines()
    assert line.startswith("SubmitJob e: the SubmitJob request is 31,")
    assert "environment BIG (31,002 bytes)" in line and "exec file's envs" in line


def test_a_max_array_size_above_aws_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _requests({}, size=20_000, max_array=20_000)
    assert "arrayProperties.size: 20,000 children" in caught.value.lines()[0]


def test_the_requests_tags_and_names_keep_the_rules() -> None:
    for request in _requests({}, size=25_000):
        assert _ok(limits.submit_job_violations(request, {"a": "b"}))
    assert _ok(limits.job_definition_violations(_build(SPEC)))
