"""The request builders of the AWS backend: pure data, pinned."""

import pytest

from batchmap.backends.aws.requests import (
    batch_name,
    chunks,
    job_definition,
    retry_strategy,
    submit_requests,
)
from batchmap.errors import InvalidInputError
from batchmap.runtime import bootstrap_command
from batchmap.tasks.base import ChildSpec
from batchmap.times import parse_duration

SPEC = {
    "project": "p",
    "domain": "d",
    "name": "lp",
    "version": "v1",
    "task": {
        "image": "img:1",
        "command": ["run", "{{ item }}"],
        "vcpu": 0.25,
        "memory": 512,
        "gpu": 0,
        "retries": 0,
        "env": {"A": "1"},
        "secrets": {},
        "platform": "EC2",
    },
}


def test_chunks_cover_up_to_a_million_items() -> None:
    assert chunks(1) == [(0, 1)]
    assert chunks(10_000) == [(0, 10_000)]
    assert chunks(10_001) == [(0, 10_000), (10_000, 1)]
    pieces = chunks(1_000_000)
    assert len(pieces) == 100 and sum(n for _, n in pieces) == 1_000_000
    assert chunks(25, 10) == [(0, 10), (10, 10), (20, 5)]


@pytest.mark.parametrize(
    ("retries", "plugin", "attempts", "rules"),
    [
        (0, {}, 2, 2),  # spot reclaims still get a second attempt; other failures exit
        (3, {}, 4, 1),
        (20, {}, 10, 1),  # AWS allows 1..10 attempts
        (0, {"minRetries": 1}, 2, 1),  # propeller's default floor
        (5, {"maxRetries": 2}, 3, 1),
    ],
)
def test_retry_strategy(retries, plugin, attempts, rules) -> None:
    strategy = retry_strategy(retries, plugin)
    assert strategy["attempts"] == attempts
    assert len(strategy["evaluateOnExit"]) == rules
    assert strategy["evaluateOnExit"][0] == {"onStatusReason": "Host EC2*", "action": "RETRY"}


def test_names_are_valid_for_aws_batch() -> None:
    assert batch_name("batchmap-my proj.v1") == "batchmap-my-proj-v1"
    assert batch_name("_x") == "b_x"
    assert len(batch_name("a" * 300)) == 128


def test_go_durations() -> None:
    assert parse_duration("72h", go=True) == 259_200
    assert parse_duration("1h30m", go=True) == 5400


def test_eks_queues_get_pod_properties_with_the_service_account() -> None:
    definition = job_definition(
        execution="e",
        plan=SPEC,
        child=ChildSpec(tuple(SPEC["task"]["command"])),
        role=None,
        service_account="runner",
        log_group="/aws/batch/job",
        plugin={},
        eks=True,
    )
    assert "containerProperties" not in definition
    pod = definition["eksProperties"]["podProperties"]
    assert pod["serviceAccountName"] == "runner"
    (container,) = pod["containers"]
    assert container["command"] == bootstrap_command(["run", "{{ item }}"])
    assert container["resources"]["limits"] == {"cpu": "0.25", "memory": "512Mi"}


def test_fargate_needs_an_execution_role() -> None:
    spec = {**SPEC, "task": {**SPEC["task"], "platform": "FARGATE"}}
    with pytest.raises(InvalidInputError, match=r"Fargate needs task\.executionRoleArn"):
        job_definition(
            execution="e",
            plan=spec,
            child=ChildSpec(tuple(spec["task"]["command"])),
            role="arn:aws:iam::1:role/r",
            service_account=None,
            log_group="g",
            plugin={},
            eks=False,
        )
    spec["task"]["executionRoleArn"] = "arn:aws:iam::123456789012:role/exec"
    definition = job_definition(
        execution="e",
        plan=spec,
        child=ChildSpec(tuple(spec["task"]["command"])),
        role=None,
        service_account=None,
        log_group="g",
        plugin={"defaultTimeout": "2h"},
        eks=False,
    )
    assert definition["platformCapabilities"] == ["FARGATE"]
    assert definition["containerProperties"]["executionRoleArn"].endswith("role/exec")
    assert definition["timeout"] == {"attemptDurationSeconds": 7200}


def test_submit_requests_split_and_carry_the_offsets() -> None:
    requests = submit_requests(
        execution="e",
        project="p",
        domain="d",
        plan=SPEC,
        size=20_001,
        queue="q",
        inputs_uri="s3://b/i",
        output_prefix="s3://b/o",
        envs={"TEAM": "x"},
    )
    assert [r["jobName"] for r in requests] == ["e-0", "e-1", "e-2"]
    assert [r.get("arrayProperties", {}).get("size") for r in requests] == [10_000, 10_000, None]
    last = {e["name"]: e["value"] for e in requests[2]["containerOverrides"]["environment"]}
    assert last["BATCH_JOB_ARRAY_INDEX_OFFSET"] == "20000"
    assert last["BATCH_JOB_ARRAY_INDEX_VAR_NAME"] == "BATCHMAP_JOB_INDEX"
    assert last["BATCHMAP_JOB_INDEX"] == "0" and last["TEAM"] == "x"
