from pathlib import Path

import pytest

from batchmap.config.loader import Overrides, check_config, find_config_file, resolve
from batchmap.errors import InvalidInputError
from batchmap.files.yamldoc import load_document
from tests.conftest import TESTDATA, write

GOOD = TESTDATA / "config" / "good"


def _resolve(home: Path, cwd: Path, environ: dict[str, str] | None = None, **flags: str):
    return resolve(Overrides(**flags), environ or {}, cwd, home)


def test_defaults_without_any_file(tmp_path: Path) -> None:
    s = _resolve(tmp_path / "home", tmp_path)
    assert s.config_file is None
    assert s.backend == "local"
    assert s.storage == str(tmp_path / "home" / ".batchmap" / "store")
    assert s.registry == str(tmp_path / "home" / ".batchmap" / "registry")
    assert s.values["backend"].source == "default"
    assert s.region is None and s.values["aws.region"].source == "unset"


def test_file_search_order(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    user = write(home / ".batchmap" / "config.yaml", "backend: local\n")
    assert find_config_file(None, {}, cwd, home) == (user, "file")
    local = write(cwd / "batchmap.yaml", "backend: local\n")
    assert find_config_file(None, {}, cwd, home) == (local, "file")
    env_file = write(tmp_path / "env.yaml", "{}\n")
    assert find_config_file(None, {"BATCHMAP_CONFIG": str(env_file)}, cwd, home)[0] == env_file
    flag_file = write(tmp_path / "flag.yaml", "{}\n")
    found = find_config_file(str(flag_file), {"BATCHMAP_CONFIG": str(env_file)}, cwd, home)
    assert found == (flag_file, "flag")


def test_missing_named_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="from BATCHMAP_CONFIG"):
        find_config_file(None, {"BATCHMAP_CONFIG": str(tmp_path / "x.yaml")}, tmp_path, tmp_path)
    with pytest.raises(InvalidInputError, match="from --config"):
        find_config_file("nope.yaml", {}, tmp_path, tmp_path)


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "aws:\n  region: eu-west-1\n  profile: filep\n")
    env = {"BATCHMAP_REGION": "eu-central-1"}
    s = _resolve(tmp_path, tmp_path, env, config=str(cfg), region="ap-south-1")
    assert (s.region, s.values["aws.region"].source) == ("ap-south-1", "flag")
    s = _resolve(tmp_path, tmp_path, env, config=str(cfg))
    assert (s.region, s.values["aws.region"].detail) == ("eu-central-1", "BATCHMAP_REGION")
    s = _resolve(tmp_path, tmp_path, {}, config=str(cfg))
    assert s.region == "eu-west-1"
    assert s.values["aws.region"].detail == f"{cfg}:2"
    assert s.profile == "filep"


def test_region_falls_back_to_propellers_plugins_aws_region(tmp_path: Path) -> None:
    s = _resolve(tmp_path, tmp_path, config=str(GOOD / "guide-simple.yaml"))
    assert s.region == "us-east-2"
    assert s.values["aws.region"].source == "file"


def test_boto3_variables_are_reported_when_batchmap_has_no_value(tmp_path: Path) -> None:
    s = _resolve(tmp_path, tmp_path, {"AWS_REGION": "sa-east-1"})
    assert s.values["aws.region"].value == "sa-east-1"
    assert s.values["aws.region"].detail == "AWS_REGION (boto3)"


def test_relative_local_storage_is_relative_to_the_config_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "proj" / "batchmap.yaml", "storage: ./store\nregistry: ~/reg\n")
    s = _resolve(tmp_path / "home", tmp_path, config=str(cfg))
    assert s.storage == str(tmp_path / "proj" / "store")
    assert s.registry == str(tmp_path / "home" / "reg")


def test_s3_locations_are_kept(tmp_path: Path) -> None:
    s = _resolve(tmp_path, tmp_path, config=str(GOOD / "guide-complex.yaml"))
    assert s.backend == "aws"
    assert s.storage == "s3://my-flyte-bucket/batchmap"


def test_env_values_are_validated_like_file_values(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        _resolve(tmp_path, tmp_path, {"BATCHMAP_BACKEND": "awz"})
    assert "BATCHMAP_BACKEND: backend must be 'local' or 'aws'; got 'awz'" in info.value.lines()[0]
    assert "did you mean 'aws'" in info.value.lines()[0]


def test_aws_backend_from_a_flag_needs_s3_storage(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        _resolve(tmp_path, tmp_path, backend="aws")
    assert "storage must be an s3:// location" in info.value.lines()[0]


def test_guide_examples_load_with_their_queues(tmp_path: Path) -> None:
    s = _resolve(tmp_path, tmp_path, config=str(GOOD / "guide-complex.yaml"))
    assert [q["dynamic"] for q in s.queues["executionQueues"]] == [
        "gpu_dynamic",
        "critical",
        "default",
    ]
    assert s.batch_plugin["roleAnnotationKey"] == "eks.amazonaws.com/role-arn"
    assert s.get("flyteadmin.roleNameKey") == "eks.amazonaws.com/role-arn"


def _warnings(text: str) -> list[str]:
    return [str(p) for p in check_config(load_document(text, "c.yaml")) if p.warning]


def test_warnings_for_unused_tags_plugins_and_duplicates() -> None:
    text = (
        "queues:\n"
        "  executionQueues:\n"
        "    - {dynamic: q1, attributes: [default]}\n"
        "    - {dynamic: q1, attributes: [cpu]}\n"
        "  workflowConfigs:\n"
        "    - {domain: d, tags: [defualt, default]}\n"
        "    - {domain: d, tags: [cpu]}\n"
        "plugins:\n"
        "  k8s: {}\n"
    )
    warnings = _warnings(text)
    assert any("executionQueues[1].dynamic: queue 'q1' is listed again" in w for w in warnings)
    assert any(
        "c.yaml:6: queues.workflowConfigs[0].tags[0]: tag 'defualt' is not an attribute" in w
        and "did you mean 'default'" in w
        for w in warnings
    )
    assert any(
        "workflowConfigs[0]: never used: workflowConfigs[1] matches the same executions and "
        "comes later" in w
        for w in warnings
    )
    assert any("plugins.k8s: ignored" in w for w in warnings)


def test_task_plugin_problems_are_only_warnings_for_the_local_backend() -> None:
    text = "tasks:\n  task-plugins:\n    enabled-plugins: [container]\n"
    problems = check_config(load_document(text, "c.yaml"))
    assert problems and all(p.warning for p in problems)
    problems = check_config(load_document("backend: aws\n" + text, "c.yaml"))
    assert problems and not any(p.warning for p in problems)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = "backend: nope\nqueus: {}\naws:\n  region: 12\n"
    problems = check_config(load_document(text, "c.yaml"))
    assert [p.path for p in problems] == ["backend", "queus", "aws.region"]
    assert [p.line for p in problems] == [1, 2, 4]
