import json
from pathlib import Path

import pytest

from tests.conftest import TESTDATA, Invoke, write

GOOD = sorted((TESTDATA / "config" / "good").glob("*.yaml"))
BAD = sorted((TESTDATA / "config" / "bad").glob("*.yaml"))
# Configs FlyteAdmin loads (it ignores unknown keys and takes empty lists and any queue name):
# they load here too, each with the warning its first line names.
ACCEPTED = sorted((TESTDATA / "config" / "flyteadmin-accepts").glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: '"
    return first[len("# expect: ") :]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_configs_validate(cli: Invoke, path: Path) -> None:
    result = cli("config", "validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert f"{path} is valid" in result.stderr


def test_bad_config_corpus_is_big_enough() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_configs_exit_3_with_path_and_line(cli: Invoke, path: Path) -> None:
    result = cli("config", "validate", str(path))
    assert result.exit_code == 3
    assert f"{path}" in result.stderr
    assert _expectation(path) in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.name)
def test_configs_flyteadmin_accepts_load_with_a_warning(cli: Invoke, path: Path) -> None:
    result = cli("config", "validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert f"warning: {path}:{_expectation(path)}" in result.stderr
    assert cli("config", "validate", "--strict", str(path)).exit_code == 3


def test_validate_says_flyteadmin_ignores_project_and_workflow_name(cli: Invoke) -> None:
    path = TESTDATA / "config" / "good" / "guide-complex.yaml"
    result = cli("config", "validate", str(path))
    assert result.exit_code == 0
    assert (
        f"warning: {path}:19: queues.workflowConfigs[0].project: FlyteAdmin ignores project "
        "and workflowName in workflowConfigs (since 2020)" in result.stderr
    )


def test_validate_json_reports_every_problem(cli: Invoke) -> None:
    path = write(Path("c.yaml"), "backend: nope\nqueus: {}\n")
    result = cli("config", "validate", str(path), "-o", "json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [(p["line"], p["path"]) for p in report["problems"]] == [(1, "backend"), (2, "queus")]


def test_validate_strict_turns_warnings_into_errors(cli: Invoke) -> None:
    path = write(Path("c.yaml"), "plugins:\n  k8s: {}\n")
    assert cli("config", "validate", str(path)).exit_code == 0
    result = cli("config", "validate", "--strict", str(path))
    assert result.exit_code == 3
    assert "plugins.k8s: ignored" in result.stderr


def test_validate_without_a_file_says_defaults_are_used(cli: Invoke) -> None:
    result = cli("config", "validate")
    assert result.exit_code == 0
    assert "built-in defaults" in result.stderr


def test_validate_finds_the_config_like_every_command(cli: Invoke) -> None:
    write(Path("batchmap.yaml"), "backend: bogus\n")
    result = cli("config", "validate")
    assert result.exit_code == 3
    assert "batchmap.yaml:1: backend" in result.stderr


def test_init_writes_a_valid_commented_file(cli: Invoke, isolated: Path) -> None:
    result = cli("config", "init")
    assert result.exit_code == 0, result.stderr
    path = isolated / ".batchmap" / "config.yaml"
    text = path.read_text()
    assert text.startswith("# batchmap configuration")
    assert "# queues:" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert cli("config", "validate", str(path)).exit_code == 0


def test_init_never_overwrites_without_force(cli: Invoke, isolated: Path) -> None:
    path = isolated / ".batchmap" / "config.yaml"
    write(path, "backend: aws\n")
    result = cli("config", "init")
    assert result.exit_code == 3
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert path.read_text() == "backend: aws\n"
    assert cli("config", "init", "--force").exit_code == 0
    assert path.read_text().startswith("# batchmap configuration")


def test_init_for_aws_with_a_queue(cli: Invoke) -> None:
    result = cli(
        "config",
        "init",
        "--path",
        "b.yaml",
        "--backend",
        "aws",
        "--storage",
        "s3://bucket/bm",
        "--queue",
        "tutorial",
        "--region",
        "us-east-2",
    )
    assert result.exit_code == 0, result.stderr
    shown = json.loads(cli("-c", "b.yaml", "config", "show", "-o", "json").stdout)
    assert shown["settings"]["backend"]["value"] == "aws"
    assert shown["queues"]["executionQueues"] == [
        {"dynamic": "tutorial", "attributes": ["default"]}
    ]


def test_init_for_aws_needs_s3_storage(cli: Invoke) -> None:
    result = cli("config", "init", "--path", "b.yaml", "--backend", "aws")
    assert result.exit_code == 3
    assert "--storage must be an s3:// location" in result.stderr
    assert not Path("b.yaml").exists()


def test_init_rejects_bad_values_before_writing(cli: Invoke) -> None:
    result = cli("config", "init", "--path", "b.yaml", "--region", "Mars")
    assert result.exit_code == 3
    assert "aws.region" in result.stderr
    assert not Path("b.yaml").exists()


def test_show_table_says_where_values_come_from(cli: Invoke) -> None:
    write(Path("batchmap.yaml"), "backend: local\naws:\n  region: eu-west-1\n")
    result = cli("--profile", "dev", "config", "show", env={"BATCHMAP_STORAGE": "/tmp/s"})
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "batchmap.yaml:3" in rows["aws.region"]
    assert "BATCHMAP_STORAGE" in rows["storage"]
    assert "--profile" in rows["aws.profile"]
    assert "default" in rows["registry"]


def test_show_json_contract(cli: Invoke) -> None:
    """docs/configuration.md documents this shape; scripts rely on it."""
    cfg = TESTDATA / "config" / "good" / "guide-complex.yaml"
    result = cli("-c", str(cfg), "config", "show", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {
        "configFile",
        "settings",
        "queues",
        "plugins",
        "tasks",
        "executionQueueAttributes",
        "warnings",
    }
    assert data["configFile"] == str(cfg)
    assert set(data["settings"]) == {
        "backend",
        "storage",
        "registry",
        "aws.region",
        "aws.profile",
        "aws.endpointUrl",
        "aws.logGroup",
        "flyteadmin.roleNameKey",
        "flyteadmin.assumableIamRole",
    }
    for value in data["settings"].values():
        assert set(value) == {"value", "source", "detail"}
        assert value["source"] in {"flag", "env", "file", "default", "unset"}
    assert data["settings"]["backend"] == {"value": "aws", "source": "file", "detail": f"{cfg}:2"}
    assert data["plugins"]["aws"]["region"] == "us-east-2"
    assert data["tasks"]["task-plugins"]["default-for-task-types"]["container_array"] == "aws_array"
    assert data["warnings"] == []  # config validate alone says how FlyteAdmin reads it


def test_show_yaml(cli: Invoke) -> None:
    result = cli("config", "show", "-o", "yaml")
    assert result.exit_code == 0
    assert "configFile: null" in result.stdout
    assert "settings:" in result.stdout


def test_show_with_a_broken_config_exits_3(cli: Invoke) -> None:
    write(Path("batchmap.yaml"), "backend: [\n")
    result = cli("config", "show")
    assert result.exit_code == 3
    assert "batchmap.yaml" in result.stderr and "Traceback" not in result.stderr
