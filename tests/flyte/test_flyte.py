"""Flyte interop: a real flytekit workflow with a legacy map task, packaged by pyflyte,
registered by batchmap, and run end to end on the local backend by flytekit's own
pyflyte-map-execute; and the same launch plan planned for AWS Batch."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invoke, extract_all

pytest.importorskip("flyteidl")
ROOT = Path(__file__).parents[2]
# `pyflyte package` output of examples/flyte/wf.py (regenerate: bash examples/flyte/package.sh)
PACKAGE = ROOT / "tests" / "testdata" / "flyte" / "pkg.tgz"
# flytekit may live in its own environment (as .ci/run installs it): its commands on PATH.
needs_flytekit = pytest.mark.skipif(
    shutil.which("pyflyte-map-execute") is None,
    reason="running children needs flytekit's pyflyte-map-execute on PATH",
)
P = ("-p", "flytesnacks", "-d", "development")
NAME = "wf.my_map_workflow"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """The example workflow's folder with its package: the fixture's, or a fresh one when
    flytekit is here to make it."""
    folder = tmp_path / "flyte"
    shutil.copytree(ROOT / "examples" / "flyte", folder)
    pyflyte = shutil.which("pyflyte")
    if pyflyte:
        subprocess.run(
            [
                str(pyflyte),
                "--pkgs",
                "wf",
                "package",
                "--image",
                "ghcr.io/example/batchmap-flyte:v1",
                "-f",
                "-o",
                "pkg.tgz",
            ],
            cwd=folder,
            check=True,
            capture_output=True,
        )
    else:
        shutil.copy(PACKAGE, folder / "pkg.tgz")
    return folder


def _exec_file(cli: Invoke, folder: Path, numbers: list[int]) -> Path:
    result = cli("register", "files", str(folder / "pkg.tgz"), *P, "--version", "v1")
    assert result.exit_code == 0, result.stderr
    exec_file = folder / "exec.yaml"
    made = cli("get", "launchplan", *P, NAME, "--execFile", str(exec_file), "--force")
    assert made.exit_code == 0, made.stderr
    text = exec_file.read_text()
    start = text.index("    numbers:")
    end = text.index("envs:")
    exec_file.write_text(text[:start] + f"    numbers: {json.dumps(numbers)}\n" + text[end:])
    return exec_file


def test_register_reads_the_package(cli: Invoke, package: Path) -> None:
    result = cli("register", "files", str(package / "pkg.tgz"), *P, "--version", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (registered,) = json.loads(result.stdout)
    plan = registered["launchPlan"]
    assert plan["name"] == NAME and plan["workflow"] == NAME
    assert plan["inputs"]["numbers"] == {"type": "list[int]", "default": [1, 2, 3]}
    assert plan["map"] == {"over": ["numbers"], "minSuccessRatio": 0.9}
    assert plan["task"]["image"] == "ghcr.io/example/batchmap-flyte:v1"
    assert plan["task"]["command"][0] == "pyflyte-map-execute"
    assert plan["flyte"]["bindings"] == {"x": "numbers"}
    missing = cli("register", "files", str(package / "pkg.tgz"), *P)
    assert missing.exit_code == 3 and "--version" in missing.stderr


@needs_flytekit
def test_flytekit_children_run_unchanged_on_the_local_backend(
    cli: Invoke, package: Path, monkeypatch
) -> None:
    monkeypatch.chdir(package)  # pyflyte-map-execute imports the task's module from here
    exec_file = _exec_file(cli, package, [1, 2, 3, 4, 5])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "fk")
    assert result.exit_code == 0, result.stderr + cli("logs", *P, "fk").stdout
    outputs = cli("get", "execution", *P, "fk", "--outputs", "-o", "json")
    assert json.loads(outputs.stdout) == [1, 4, 9, 16, 25]


@needs_flytekit
def test_a_child_that_raises_fails_as_in_flyte(cli: Invoke, package: Path, monkeypatch) -> None:
    monkeypatch.chdir(package)
    exec_file = _exec_file(cli, package, [3, -1, 2])
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "bad")
    assert result.exit_code == 7  # 2 of 3 succeeded; minSuccessRatio 0.9 needs 3
    data = json.loads(cli("get", "execution", *P, "bad", "--all", "-o", "json").stdout)
    failed = [c for c in data["children"] if c["status"] == "FAILED"]
    assert [(c["index"], c["exitCode"]) for c in failed] == [(1, 1)]
    assert "cannot square a negative number here: -1" in failed[0]["reason"]  # error.pb
    assert json.loads(cli("get", "execution", *P, "bad", "--outputs", "-o", "json").stdout) == [
        9,
        None,
        4,
    ]
    store = Path(os.environ["HOME"]) / ".batchmap/store/flytesnacks/development/bad"
    assert (store / "flyte/outputs/1/error.pb").exists()
    assert "cannot square a negative number" in cli("logs", *P, "bad", "--index", "1").stdout


def test_the_aws_plan_carries_propellers_command_and_environment(
    cli: Invoke, package: Path, monkeypatch
) -> None:
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account

    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        Path("batchmap.yaml").write_text(CONFIG)
        exec_file = _exec_file(cli, package, list(range(12_000)))
        result = cli(
            "create",
            "execution",
            *P,
            "--execFile",
            str(exec_file),
            "--iamRoleARN",
            ROLE_ARN,
            "--dryRun",
            "-o",
            "json",
            "fkaws",
        )
        assert result.exit_code == 0, result.stderr
        plan = json.loads(result.stdout)
    definition = plan["jobDefinition"]
    props = definition["containerProperties"]
    base = "s3://bm-bucket/store/flytesnacks/development/fkaws"
    # flytekit's command runs as it is, in batchmap's child (python3 is in every image
    # pyflyte package builds): it labels the log and checks what flytekit left.
    assert props["command"][:4] == ["python3", "-I", "-S", "-c"]
    assert props["command"][5:11] == [
        "--",
        "pyflyte-map-execute",
        "--inputs",
        f"{base}/flyte/inputs.pb",
        "--output-prefix",
        f"{base}/flyte/outputs",
    ]
    assert '""' in props["command"]  # {{.prevCheckpointPrefix}} on a first attempt
    env = {e["name"]: e["value"] for e in props["environment"]}
    assert env["FLYTE_FAIL_ON_ERROR"] == "true"
    assert env["FLYTE_INTERNAL_EXECUTION_ID"] == "fkaws"
    assert env["FLYTE_INTERNAL_EXECUTION_WORKFLOW"] == f"flytesnacks:development:{NAME}"
    assert env["BATCHMAP_AS_IS"] == "1" and env["BATCHMAP_FLYTE_OUTCOME"] == "array"
    assert env["BATCHMAP_ATTEMPT_VAR"] == "FLYTE_ATTEMPT_NUMBER"
    # Propeller's defaults: retries clamped to minRetries 1, and a 72h timeout.
    assert definition["retryStrategy"]["attempts"] == 2
    assert definition["timeout"] == {"attemptDurationSeconds": 72 * 3600}
    offsets = [
        {e["name"]: e["value"] for e in r["containerOverrides"]["environment"]}[
            "BATCH_JOB_ARRAY_INDEX_OFFSET"
        ]
        for r in plan["submitJobs"]
    ]
    assert offsets == ["0", "10000"]  # flytekit's own hook for maps past 10,000


def test_without_flyteidl_one_line_names_the_extra(cli: Invoke, package: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "flyteidl", None)
    result = cli("register", "files", str(package / "pkg.tgz"), *P, "--version", "v1")
    assert result.exit_code == 3
    assert "pip install 'batchmap[flyte]'" in result.stderr


def test_loose_pb_files_and_launch_plans_batchmap_cannot_run(cli: Invoke, tmp_path: Path) -> None:
    import tarfile

    with tarfile.open(PACKAGE) as archive:
        extract_all(archive, tmp_path / "pb")
    files = sorted((tmp_path / "pb").glob("*.pb"))
    assert len(files) == 4
    result = cli("register", "files", *map(str, files), *P, "--version", "v2")
    assert result.exit_code == 0, result.stderr
    assert "1 registered" in result.stderr
    # Without the map task's own TaskSpec, the launch plan is listed with the reason.
    partial = [f for f in files if "map_square" not in f.name]
    result = cli("register", "files", *map(str, partial), *P, "--version", "v3")
    assert result.exit_code == 3
    assert f"Flyte launch plan {NAME} not registered: its map task wf.map_square" in result.stderr
    assert "is not in the files" in result.stderr
    assert "no launch plan batchmap can run" in result.stderr


def test_a_flytectl_task_exec_file_runs_its_map_task(cli: Invoke, package: Path) -> None:
    """flytectl's `task:` exec file runs that task once; for a map task that is the map."""
    result = cli("register", "files", str(package / "pkg.tgz"), *P, "--version", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (registered,) = json.loads(result.stdout)
    task = registered["launchPlan"]["flyte"]["taskName"]
    exec_file = package / "task.yaml"
    exec_file.write_text(
        'iamRoleARN: ""\ninputs:\n  x:\n  - 4\n  - 5\nkubeServiceAcct: ""\n'
        f'targetDomain: "development"\ntargetProject: "elsewhere"\ntask: {task}\nversion: v1\n'
    )
    dry = cli("create", "execution", *P, "--execFile", str(exec_file), "--dryRun", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["launchPlan"]["name"], plan["size"]) == (NAME, 2)
    # flytectl's meaning: --targetProject, else -p; the file's value is replaced.
    assert plan["project"] == "flytesnacks"
    assert "targetProject 'elsewhere' is not used: as in flytectl" in dry.stderr
    moved = cli(
        "create",
        "execution",
        *P,
        "--execFile",
        str(exec_file),
        "--dryRun",
        "-o",
        "json",
        "--targetProject",
        "other",
    )
    assert json.loads(moved.stdout)["project"] == "other"
    exec_file.write_text("inputs: {x: [1]}\ntask: wf.square\n")
    inner = cli("create", "execution", *P, "--execFile", str(exec_file), "--dryRun")
    assert inner.exit_code == 3
    assert (
        "no registered launch plan runs task wf.square: flytectl would run it once" in inner.stderr
    )
    assert f"{task} (launch plan {NAME})" in inner.stderr


def _with_cpu(
    tmp_path: Path, cpu: str | None, timeout: int = 0, retries: int | None = None
) -> list[Path]:
    """The package's .pb files with the map task asking for ``cpu`` (as
    ``@task(requests=Resources(cpu=...))`` does) and, optionally, a timeout and retries."""
    import tarfile

    from flyteidl.admin import task_pb2
    from flyteidl.core import tasks_pb2

    with tarfile.open(PACKAGE) as archive:
        extract_all(archive, tmp_path / "pb")
    files = sorted((tmp_path / "pb").glob("*.pb"))
    (mapped,) = [f for f in files if "map_square" in f.name]
    spec = task_pb2.TaskSpec()
    spec.ParseFromString(mapped.read_bytes())
    if cpu is not None:
        del spec.template.container.resources.requests[:]
        spec.template.container.resources.requests.append(
            tasks_pb2.Resources.ResourceEntry(name=tasks_pb2.Resources.CPU, value=cpu)
        )
    if timeout:
        spec.template.metadata.timeout.seconds = timeout
    if retries is not None:
        spec.template.metadata.retries.retries = retries
    mapped.write_bytes(spec.SerializeToString())
    return files


def test_a_fractional_cpu_is_rounded_up_as_propeller_does_with_a_note(
    cli: Invoke, tmp_path: Path
) -> None:
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account

    files = _with_cpu(tmp_path, "500m", timeout=30)
    result = cli("register", "files", *map(str, files), *P, "--version", "v1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    note = (
        f"{NAME}: task.vcpu: the task asks for 500m CPU; AWS Batch on EC2 takes whole vCPUs, "
        "so 1 vCPU is requested (FlytePropeller rounds up the same way)"
    )
    assert note in result.stderr
    assert "task.timeout: the task's 30s is below AWS Batch's minimum, so 60s is used" in (
        result.stderr
    )
    (registered,) = json.loads(result.stdout)
    assert registered["launchPlan"]["task"]["vcpu"] == 1
    assert registered["launchPlan"]["task"]["timeout"] == 60
    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        Path("batchmap.yaml").write_text(CONFIG.replace("registry: s3://bm-bucket/registry\n", ""))
        made = cli("get", "launchplan", *P, NAME, "--execFile", "exec.yaml", "--force")
        assert made.exit_code == 0, made.stderr
        dry = cli(
            "create", "execution", *P, "--execFile", "exec.yaml", "--iamRoleARN", ROLE_ARN,
            "--dryRun", "-o", "json", "fkcpu",
        )  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
        assert note.split(": ", 1)[1] in dry.stderr
    requirements = json.loads(dry.stdout)["jobDefinition"]["containerProperties"][
        "resourceRequirements"
    ]
    assert {"type": "VCPU", "value": "1"} in requirements


@pytest.mark.parametrize(("cpu", "vcpu"), [("1500m", 2), ("0.1", 1), ("2", 2)])
def test_cpu_quantities_round_up_to_whole_vcpus(
    cli: Invoke, tmp_path: Path, cpu: str, vcpu: int
) -> None:
    result = cli(
        "register", "files", *map(str, _with_cpu(tmp_path, cpu)), *P, "--version", "v1", "-o",
        "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["launchPlan"]["task"]["vcpu"] == vcpu
    assert ("rounds up" in result.stderr) == (cpu != "2")


@pytest.mark.parametrize(
    ("retries", "timeout", "batch", "attempts", "seconds"),
    [
        (0, 0, "", 2, 72 * 3600),  # Propeller's minRetries 1 and defaultTimeout 72h
        (12, 0, "", 10, 72 * 3600),  # maxRetries 10 would be 11 attempts: AWS allows 10
        (5, 0, "maxRetries: 3\n", 4, 72 * 3600),
        (2, 120, "defaultTimeout: 1h\n", 3, 120),  # the task's own timeout first
        (2, 0, "defaultTimeout: 1h\n", 3, 3600),
        (0, 0, "minRetries: 0\n", 1, 72 * 3600),
    ],
)
def test_propellers_retries_and_timeout_for_flytekit_tasks(
    cli: Invoke, tmp_path: Path, retries: int, timeout: int, batch: str, attempts: int, seconds: int
) -> None:
    """The aws_array plugin's config.go defaults and keys (plugins.aws.batch: minRetries,
    maxRetries, defaultTimeout) applied as its transformer.go applies them."""
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account

    files = _with_cpu(tmp_path, None, timeout=timeout, retries=retries)
    config = (
        CONFIG
        + "plugins:\n  aws:\n    batch:\n"
        + "".join(f"      {line}\n" for line in batch.splitlines())
    )
    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        Path("batchmap.yaml").write_text(config if batch else CONFIG)
        result = cli("register", "files", *map(str, files), *P, "--version", "v1")
        assert result.exit_code == 0, result.stderr
        made = cli("get", "launchplan", *P, NAME, "--execFile", "exec.yaml", "--force")
        assert made.exit_code == 0, made.stderr
        dry = cli(
            "create", "execution", *P, "--execFile", "exec.yaml", "--iamRoleARN", ROLE_ARN,
            "--dryRun", "-o", "json",
        )  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
    definition = json.loads(dry.stdout)["jobDefinition"]
    strategy = definition["retryStrategy"]
    if attempts == 1:  # no retry asked: only a spot reclaim gets a second attempt
        assert strategy["attempts"] == 2
        assert {"onExitCode": "*", "action": "EXIT"} in strategy["evaluateOnExit"]
    else:
        assert strategy["attempts"] == attempts
        assert strategy["evaluateOnExit"] == [{"onStatusReason": "Host EC2*", "action": "RETRY"}]
    assert definition["timeout"] == {"attemptDurationSeconds": seconds}


def test_default_env_vars_come_in_propellers_order(cli: Invoke, tmp_path: Path) -> None:
    """transformer.go getEnvVarsForTask: the task's variables, then Propeller's, then
    plugins.aws.batch.defaultEnvVars over both, then FLYTE_FAIL_ON_ERROR=true last; a
    batchmap launch plan keeps its own order (task.env over the defaults)."""
    from moto import mock_aws

    from tests.aws_account import CONFIG, ROLE_ARN, make_account, register_with_items

    config = CONFIG + (
        "plugins:\n  aws:\n    batch:\n      defaultEnvVars:\n"
        "        TEAM: ops\n        MODE: slow\n        FLYTE_INTERNAL_EXECUTION_DOMAIN: d2\n"
        "        FLYTE_FAIL_ON_ERROR: 'false'\n"
    )
    with mock_aws(config={"batch": {"use_docker": False}}):
        make_account()
        Path("batchmap.yaml").write_text(config)
        result = cli("register", "files", str(PACKAGE), *P, "--version", "v1")
        assert result.exit_code == 0, result.stderr
        cli("get", "launchplan", *P, NAME, "--execFile", "exec.yaml", "--force")
        flyte = cli(
            "create", "execution", *P, "--execFile", "exec.yaml", "--iamRoleARN", ROLE_ARN,
            "--dryRun", "-o", "json",
        )  # fmt: skip
        assert flyte.exit_code == 0, flyte.stderr
        own = register_with_items(cli, 3)
        mine = cli("create", "execution", *P, "--execFile", str(own), "--dryRun", "-o", "json")
        assert mine.exit_code == 0, mine.stderr

    def env(result: Any) -> dict[str, str]:
        props = json.loads(result.stdout)["jobDefinition"]["containerProperties"]
        return {e["name"]: e["value"] for e in props["environment"]}

    flytekit = env(flyte)
    assert flytekit["TEAM"] == "ops"
    assert flytekit["FLYTE_INTERNAL_EXECUTION_DOMAIN"] == "d2"
    assert flytekit["FLYTE_FAIL_ON_ERROR"] == "true"
    assert flytekit["BATCHMAP_AS_IS"] == "1"
    assert env(mine)["MODE"] == "fast" and env(mine)["TEAM"] == "ops"  # task.env first
