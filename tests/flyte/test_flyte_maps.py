"""flytekit's current map task (``flytekit.map_task``, an ArrayNode) and the input types
Flyte users have (files, directories, dataclasses, datetimes, durations): packaged by the
real ``pyflyte package`` from examples/flyte/maps.py, registered, and run on the local
backend by flytekit's own ``pyflyte-map-execute``."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invoke

pytest.importorskip("flyteidl")
ROOT = Path(__file__).parents[2]
# `pyflyte package` output of examples/flyte/maps.py (regenerate: bash examples/flyte/package.sh)
PACKAGE = ROOT / "tests" / "testdata" / "flyte" / "maps.tgz"
needs_flytekit = pytest.mark.skipif(
    shutil.which("pyflyte-map-execute") is None,
    reason="running children needs flytekit's pyflyte-map-execute on PATH",
)
P = ("-p", "flytesnacks", "-d", "development")
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf"


@pytest.fixture
def maps(tmp_path: Path) -> Path:
    """examples/flyte/maps.py and its package: made fresh by pyflyte when flytekit is here."""
    folder = tmp_path / "maps"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "flyte" / "maps.py", folder)
    pyflyte = shutil.which("pyflyte")
    if pyflyte:
        subprocess.run(
            [
                pyflyte,
                "--pkgs",
                "maps",
                "package",
                "--image",
                "ghcr.io/example/batchmap-flyte:v1",
                "-f",
                "-o",
                "maps.tgz",
            ],
            cwd=folder,
            check=True,
            capture_output=True,
        )
    else:
        shutil.copy(PACKAGE, folder / "maps.tgz")
    return folder


def _entities(package: Path) -> dict[str, Any]:
    """The package's files parsed with flyteidl, by name: what the parser must read."""
    from flyteidl.admin import launch_plan_pb2, task_pb2, workflow_pb2

    out: dict[str, Any] = {}
    with tarfile.open(package) as archive:
        for member in archive.getmembers():
            kind = member.name[-4]
            message = {
                "1": task_pb2.TaskSpec,
                "2": workflow_pb2.WorkflowSpec,
                "3": launch_plan_pb2.LaunchPlan,
            }[kind]()
            message.ParseFromString(archive.extractfile(member).read())  # type: ignore[union-attr]
            name = member.name.split("_", 1)[1].rsplit("_", 1)[0]
            out[f"{name}/{kind}"] = message
    return out


def _register(cli: Invoke, folder: Path, *extra: str) -> dict[str, Any]:
    result = cli("register", "files", str(folder / "maps.tgz"), *P, "--version", "v1", *extra)
    assert result.exit_code == 0, result.stderr
    return result  # type: ignore[return-value]


def _registered(cli: Invoke, folder: Path) -> tuple[dict[str, dict[str, Any]], str]:
    result = cli("register", "files", str(folder / "maps.tgz"), *P, "--version", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return {r["launchPlan"]["name"]: r for r in json.loads(result.stdout)}, result.stderr


def test_the_array_node_is_what_pyflyte_package_writes(maps: Path) -> None:
    """What the parser relies on, read straight from flytekit's output."""
    entities = _entities(maps / "maps.tgz")
    workflow = entities["maps.scaled/2"].template
    (node,) = workflow.nodes
    array = node.array_node
    assert array.parallelism == 2 and array.min_success_ratio == 0.5
    assert list(array.bound_inputs) == ["factor"]
    task_name = array.node.task_node.reference_id.name
    assert task_name.endswith("-arraynode")
    template = entities[f"{task_name}/1"].template
    assert template.type == "python-task" and template.task_type_version == 1
    args = list(template.container.args)
    assert args[args.index("--resolver") + 1] == (
        "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver"
    )
    assert args[args.index("vars") + 1] == "factor"
    assert template.metadata.interruptible and template.metadata.discoverable
    assert [(s.group, s.key) for s in template.security_context.secrets] == [("db", "password")]
    # A dataclass default is flytekit's msgpack binary.
    default = entities["maps.described/3"].spec.default_inputs.parameters["points"].default
    assert default.collection.literals[0].scalar.binary.tag == "msgpack"


def test_register_records_what_the_run_side_needs(cli: Invoke, maps: Path) -> None:
    plans, stderr = _registered(cli, maps)
    assert set(plans) == {"maps.scaled", "maps.described", "maps.stamped", "maps.counted"}
    scaled = plans["maps.scaled"]["launchPlan"]
    assert scaled["map"] == {"over": ["numbers"], "minSuccessRatio": 0.5, "concurrency": 2}
    assert scaled["inputs"]["factor"] == {"type": "int", "default": 10}
    flyte = scaled["flyte"]
    assert flyte["kind"] == "arraynode"
    assert flyte["bindings"] == {"x": "numbers", "factor": "factor"}
    assert (flyte["mapped"], flyte["bound"]) == (["x"], ["factor"])
    assert flyte["cache"] == {"version": "1"}
    assert flyte["secretRequests"] == [{"group": "db", "key": "password"}]
    assert scaled["task"]["interruptible"] is True
    assert scaled["task"]["retries"] == 1
    assert "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver" in scaled["task"]["command"]
    # Every input type of the package is one batchmap has.
    assert plans["maps.described"]["launchPlan"]["inputs"]["points"] == {
        "type": "list[dict]",
        "default": [{"x": 0, "y": 0.0, "label": "origin"}, {"x": 3, "y": 4.5, "label": "p"}],
    }
    stamped = plans["maps.stamped"]["launchPlan"]["inputs"]
    assert stamped == {
        "files": {"type": "list[file]"},
        "since": {"type": "datetime", "default": "2024-01-02T03:04:05Z"},
        "every": {"type": "duration", "default": "5m0s"},
    }
    assert plans["maps.counted"]["launchPlan"]["inputs"] == {
        "folders": {"type": "list[directory]"},
        "suffix": {"type": "optional[str]", "default": None},  # Optional[str] = None
    }
    # What is not applied is said, at register, on stderr and in the JSON.
    notes = plans["maps.scaled"]["notes"]
    assert any(n.startswith("cache=True (cache_version 1) is not applied") for n in notes)
    assert any("secret db/password is not applied" in n for n in notes)
    assert any(n.startswith("concurrency 2: applied by the local backend; not") for n in notes)
    assert any(n.startswith("interruptible:") for n in notes)
    assert "maps.scaled: cache=True (cache_version 1) is not applied" in stderr
    assert "its workflow has" not in stderr  # the old, misleading refusal


def test_defaults_go_back_to_the_literals_flytekit_wrote(maps: Path) -> None:
    """Launch plan defaults (msgpack dataclasses, datetimes, durations) convert to batchmap
    values and back to the very literals flytekit serialized."""
    from batchmap.flyte.literals import to_literal, to_value

    entities = _entities(maps / "maps.tgz")
    checked = 0
    for key, message in entities.items():
        if not key.endswith("/3"):
            continue
        for parameter in message.spec.default_inputs.parameters.values():
            if parameter.HasField("default"):
                value = to_value(parameter.default)
                assert to_literal(value, parameter.var.type) == parameter.default, key
                checked += 1
    assert checked == 6


def test_mapped_secrets_become_batch_secrets(cli: Invoke, maps: Path) -> None:
    Path("batchmap.yaml").write_text(
        f"aws:\n  secrets:\n    - group: db\n      key: password\n      valueFrom: {SECRET_ARN}\n"
    )
    plans, _ = _registered(cli, maps)
    scaled = plans["maps.scaled"]
    assert scaled["launchPlan"]["task"]["secrets"] == {"_FSEC_DB_PASSWORD": SECRET_ARN}
    assert not any("secret" in n for n in scaled["notes"])
    Path("batchmap.yaml").write_text(
        "aws:\n  secrets:\n    - group: db\n      valueFrom: arn:aws:s3:::bucket\n"
    )
    bad = cli("register", "files", str(maps / "maps.tgz"), *P, "--version", "v2")
    assert bad.exit_code == 3
    assert "aws.secrets[0].valueFrom: must be the ARN of a Secrets Manager secret" in bad.stderr


def _exec(folder: Path, name: str, inputs: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"inputs:\n{inputs}workflow: maps.{name}\n")
    return path


def _outputs(cli: Invoke, execution: str) -> Any:
    result = cli("get", "execution", *P, execution, "--outputs", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@needs_flytekit
def test_map_task_runs_on_the_local_backend(cli: Invoke, maps: Path, monkeypatch) -> None:
    monkeypatch.chdir(maps)  # pyflyte-map-execute imports the task's module from here
    _register(cli, maps)
    exec_file = _exec(maps, "scaled", "    numbers: [1, -2, 3]\n    factor: 7\n")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "an")
    assert result.exit_code == 0, result.stderr  # 2 of 3 meet min_success_ratio 0.5
    assert "cache=True (cache_version 1) is not applied" in result.stderr
    assert _outputs(cli, "an") == [7, None, 21]
    data = json.loads(cli("get", "execution", *P, "an", "--all", "-o", "json").stdout)
    (failed,) = [c for c in data["children"] if c["status"] == "FAILED"]
    assert failed["index"] == 1
    assert "cannot scale a negative number here: -2" in failed["reason"]  # its error.pb
    store = maps.parent / "home" / ".batchmap/store/flytesnacks/development/an"
    assert (store / "flyte/outputs/1/error.pb").exists()  # each child its own prefix


@needs_flytekit
def test_files_datetimes_and_durations_run_unchanged(cli: Invoke, maps: Path, monkeypatch) -> None:
    monkeypatch.chdir(maps)
    _register(cli, maps)
    (maps / "data").mkdir()
    (maps / "data" / "a.txt").write_text("one\ntwo\n")
    (maps / "b.txt").write_text("three\n")
    exec_file = _exec(
        maps,
        "stamped",
        "    files: [data/a.txt, b.txt]\n    since: 2025-06-01T12:00:00Z\n    every: 90s\n",
    )
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "fl")
    assert result.exit_code == 0, result.stderr
    assert _outputs(cli, "fl") == [
        "a.txt: 2 lines since 2025-06-01T12:00:00+00:00 every 0:01:30",
        "b.txt: 1 lines since 2025-06-01T12:00:00+00:00 every 0:01:30",
    ]
    # On the local backend, paths stay where they are (made absolute).
    from batchmap.flyte.literals import read_literal_map

    store = maps.parent / "home" / ".batchmap/store/flytesnacks/development/fl"
    staged = read_literal_map((store / "flyte/inputs.pb").read_bytes())
    assert staged["f"] == [str(maps / "data" / "a.txt"), str(maps / "b.txt")]


@needs_flytekit
def test_dataclasses_and_directories_run_unchanged(cli: Invoke, maps: Path, monkeypatch) -> None:
    monkeypatch.chdir(maps)
    _register(cli, maps)
    exec_file = _exec(maps, "described", "    points: [{x: 5, label: five}, {}]\n")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "dc")
    assert result.exit_code == 0, result.stderr
    assert _outputs(cli, "dc") == ["five: 5,0.0", "origin: 0,0.0"]  # the dataclass's defaults
    for name, files in (("one", ["a"]), ("two", ["b", "c", "d"])):
        (maps / name).mkdir()
        for file in files:
            (maps / name / file).write_text(file)
    exec_file = _exec(maps, "counted", "    folders: [one, two]\n")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "dirs")
    assert result.exit_code == 0, result.stderr
    assert _outputs(cli, "dirs") == [1, 3]  # suffix: None, its default
    exec_file = _exec(maps, "counted", "    folders: [one, two]\n    suffix: c\n")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "dirs-c")
    assert result.exit_code == 0, result.stderr
    assert _outputs(cli, "dirs-c") == [0, 1]


def test_a_missing_local_file_is_named_with_its_line(cli: Invoke, maps: Path) -> None:
    _register(cli, maps)
    (maps / "here.txt").write_text("x")
    exec_file = _exec(maps, "stamped", "    files:\n        - here.txt\n        - gone.txt\n")
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--dryRun")
    assert result.exit_code == 3
    assert f"stamped.yaml:4: inputs.files[1]: no such file: {maps / 'gone.txt'}" in result.stderr
    bad = _exec(maps, "stamped", "    files: [here.txt]\n    every: 90\n")
    result = cli("create", "execution", *P, "--execFile", str(bad), "--dryRun")
    assert result.exit_code == 3
    assert "inputs.every: expected duration, got 90 (a number) (write 90s" in result.stderr


def test_on_aws_local_files_are_uploaded_and_array_nodes_run(cli: Invoke, maps: Path) -> None:
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account

    (maps / "a.txt").write_text("a")
    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        Path("batchmap.yaml").write_text(CONFIG)
        _register(cli, maps)
        exec_file = _exec(
            maps, "stamped", f"    files: [a.txt, 's3://data/b.txt']\niamRoleARN: {ROLE_ARN}\n"
        )
        result = cli("create", "execution", *P, "--execFile", str(exec_file), "--dryRun")
        assert result.exit_code == 0, result.stderr
        assert "not applied on AWS Batch" not in result.stderr  # no concurrency here
        dry = cli(
            "create", "execution", *P, "--execFile", str(exec_file), "--dryRun", "-o", "json", "up"
        )
        plan = json.loads(dry.stdout)
        assert plan["uploads"] == [
            {
                "input": "files[0]",
                "from": str(maps / "a.txt"),
                "to": "s3://bm-bucket/store/flytesnacks/development/up/blobs/0/a.txt",
            }
        ]
        scaled = _exec(maps, "scaled", f"    numbers: [1, 2]\niamRoleARN: {ROLE_ARN}\n")
        dry = cli(
            "create", "execution", *P, "--execFile", str(scaled), "--dryRun", "-o", "json", "sc"
        )
        assert dry.exit_code == 0, dry.stderr
        assert "concurrency 2: not applied on AWS Batch" in dry.stderr
        # An ArrayNode runs on AWS Batch too: batchmap's child gives each child its own
        # output prefix (it fills the mark with the child's index).
        props = json.loads(dry.stdout)["jobDefinition"]["containerProperties"]
        prefix = props["command"][props["command"].index("--output-prefix") + 1]
        assert (
            prefix
            == "s3://bm-bucket/store/flytesnacks/development/sc/flyte/outputs/{{batchmap.index}}"
        )
        env = {e["name"]: e["value"] for e in props["environment"]}
        assert env["BATCHMAP_FLYTE_OUTCOME"] == "task-outputs"
        assert env["BATCHMAP_INDEX_VAR"] == "FLYTE_K8S_ARRAY_INDEX"
        submitted = cli("create", "execution", *P, "--execFile", str(scaled), "sc")
        assert submitted.exit_code == 0, submitted.stderr


def test_aws_uploads_local_files_of_any_launch_plan(cli: Invoke, tmp_path: Path) -> None:
    """A batchmap launch plan with file inputs: the children get s3:// URIs."""
    import boto3
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "one.csv").write_text("1\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x.bin").write_bytes(b"x")
    plan = tmp_path / "lp.yaml"
    plan.write_text(
        "project: flytesnacks\ndomain: development\nname: files\nversion: v1\n"
        "inputs:\n  files: {type: 'list[file]'}\n  dir: {type: directory}\n"
        "map: {over: [files]}\n"
        "task:\n  image: python:3.12\n  command: [wc, '{{ item }}', '{{ inputs.dir }}']\n"
    )
    exec_file = tmp_path / "exec.yaml"
    exec_file.write_text(
        f"iamRoleARN: {ROLE_ARN}\ninputs:\n  files: [in/one.csv, in/one.csv, 's3://b/k']\n"
        "  dir: folder\nworkflow: files\n"
    )
    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        Path("batchmap.yaml").write_text(CONFIG)
        assert cli("register", "files", str(plan)).exit_code == 0
        result = cli("create", "execution", *P, "--execFile", str(exec_file), "fx")
        assert result.exit_code == 0, result.stderr
        s3 = boto3.client("s3", region_name="us-east-1")
        prefix = "store/flytesnacks/development/fx"
        keys = {
            o["Key"]
            for o in s3.list_objects_v2(Bucket="bm-bucket", Prefix=f"{prefix}/blobs")["Contents"]
        }
        assert keys == {f"{prefix}/blobs/0/one.csv", f"{prefix}/blobs/1/folder/x.bin"}
        items = s3.get_object(Bucket="bm-bucket", Key=f"{prefix}/items.jsonl")["Body"].read()
        base = f"s3://bm-bucket/{prefix}/blobs"
        assert [json.loads(line) for line in items.splitlines()] == [
            f"{base}/0/one.csv",
            f"{base}/0/one.csv",  # the same file is uploaded once
            "s3://b/k",
        ]
        meta = json.loads(
            s3.get_object(Bucket="bm-bucket", Key=f"{prefix}/inputs.json")["Body"].read()
        )
        assert meta["broadcast"]["dir"] == f"{base}/1/folder"
