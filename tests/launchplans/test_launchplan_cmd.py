"""register files, get launchplan, --execFile, on the local registry."""

import json
from pathlib import Path

import pytest

from tests.conftest import TESTDATA, Invoke, write

ROOT = Path(__file__).parents[2]
SQUARES = ROOT / "examples" / "squares.yaml"
GPU = ROOT / "examples" / "gpu-retries.yaml"
BAD = sorted((TESTDATA / "launchplans" / "bad").glob("*.yaml"))
P = ("-p", "flytesnacks", "-d", "development")


def test_examples_register_and_list(cli: Invoke) -> None:
    result = cli("register", "files", str(SQUARES), str(GPU))
    assert result.exit_code == 0, result.stderr
    assert "2 registered, 0 unchanged" in result.stderr
    listed = cli("get", "launchplan", *P, "-o", "json")
    plans = json.loads(listed.stdout)
    assert [(p["name"], p["version"]) for p in plans] == [("squares", "v1")]
    assert plans[0]["task"]["memory"] == 512 and plans[0]["task"]["timeout"] == 600
    table = cli("get", "launchplans", *P)  # flytectl's plural alias
    assert "squares" in table.stdout and "VERSION" in table.stdout


def test_registering_the_same_content_again_is_a_no_op(cli: Invoke) -> None:
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    again = cli("register", "files", str(SQUARES), "-o", "json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)[0]["status"] == "unchanged"


def test_a_version_is_immutable_and_the_error_names_the_difference(cli: Invoke) -> None:
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    changed = write(Path("sq.yaml"), SQUARES.read_text().replace("memory: 512Mi", "memory: 1Gi"))
    result = cli("register", "files", str(changed))
    assert result.exit_code == 3
    assert "flytesnacks/development/squares/v1 is already registered with different content" in (
        result.stderr
    )
    assert "task.memory: 512 → 1024" in result.stderr
    assert "--version" in result.stderr
    assert cli("register", "files", str(changed), "--version", "v2").exit_code == 0
    versions = json.loads(cli("get", "launchplan", *P, "squares", "-o", "json").stdout)
    assert [v["version"] for v in versions] == ["v2", "v1"]
    latest = json.loads(cli("get", "launchplan", *P, "squares", "--latest", "-o", "json").stdout)
    assert latest["version"] == "v2" and latest["task"]["memory"] == 1024


def test_nothing_is_registered_when_any_file_is_invalid(cli: Invoke) -> None:
    result = cli("register", "files", str(SQUARES), str(BAD[0]))
    assert result.exit_code == 3
    assert "nothing registered" in result.stderr or str(BAD[0]) in result.stderr
    assert cli("get", "launchplan", *P, "-o", "json").stdout.strip() == "[]"


def test_project_domain_flags_override_the_file(cli: Invoke) -> None:
    assert cli("register", "files", str(SQUARES), "-p", "other", "-d", "prod").exit_code == 0
    plans = json.loads(cli("get", "launchplan", "-p", "other", "-d", "prod", "-o", "json").stdout)
    assert plans[0]["project"] == "other"


def test_launch_plan_corpus_is_big_enough() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_launch_plans_exit_3_with_path_and_line(cli: Invoke, path: Path) -> None:
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    result = cli("register", "files", str(path))
    assert result.exit_code == 3
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_a_fractional_vcpu_on_ec2_is_one_line_at_register_and_nothing_is_registered(
    cli: Invoke,
) -> None:
    """moto would take vcpu 0.25 on EC2; AWS Batch refuses it, so register does first."""
    text = SQUARES.read_text().replace("  vcpu: 1\n", "  vcpu: 0.25\n")
    assert "vcpu: 0.25" in text
    path = write(Path("fractional.yaml"), text)
    result = cli("register", "files", str(path))
    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert line == (
        f"error: {path.resolve()}:28: task.vcpu: 0.25 vCPU is not allowed on EC2: AWS Batch "
        "takes whole vCPUs (at least 1) on EC2 and SPOT (use a whole number ≥ 1, or platform: "
        "FARGATE, which takes 0.25, 0.5, 1, 2, 4, 8, 16 or 32 vCPU)"
    )
    assert cli("get", "launchplan", *P, "-o", "json").stdout.strip() == "[]"
    fargate = text.replace("  vcpu: 0.25\n", "  vcpu: 0.25\n  platform: FARGATE\n")
    assert cli("register", "files", str(write(Path("f.yaml"), fargate))).exit_code == 0


def test_missing_launch_plan_exits_4_and_lists_what_exists(cli: Invoke) -> None:
    cli("register", "files", str(SQUARES))
    result = cli("get", "launchplan", *P, "sqares")
    assert result.exit_code == 4
    assert "launch plan 'sqares' not found in flytesnacks/development" in result.stderr
    assert "squares" in result.stderr
    result = cli("get", "launchplan", *P, "squares", "--version", "v9")
    assert result.exit_code == 4
    assert "has no version 'v9'" in result.stderr and "versions: v1" in result.stderr
    result = cli("get", "launchplan", "-p", "nobody", "-d", "x", "squares")
    assert result.exit_code == 4 and "register files" in result.stderr


def test_exec_file_round_trip(cli: Invoke) -> None:
    cli("register", "files", str(SQUARES))
    result = cli("get", "launchplan", *P, "squares", "--execFile", "exec.yaml")
    assert result.exit_code == 0, result.stderr
    assert (TESTDATA / "execfiles" / "golden" / "squares.exec.yaml").read_text() == Path(
        "exec.yaml"
    ).read_text()
    assert "create execution -p flytesnacks -d development --execFile exec.yaml" in result.stderr
    again = cli("get", "launchplan", *P, "squares", "--execFile", "exec.yaml")
    assert again.exit_code == 3 and "--force" in again.stderr
    forced = cli("get", "launchplan", *P, "squares", "--exec-file", "exec.yaml", "--force")
    assert forced.exit_code == 0
    stdout = cli("get", "launchplan", *P, "squares", "--execFile", "-")
    assert stdout.stdout == Path("exec.yaml").read_text()


def test_exec_file_needs_a_name(cli: Invoke) -> None:
    """An option that needs an argument not given is a usage error (docs/exit-codes.md)."""
    result = cli("get", "launchplan", *P, "--execFile", "x.yaml")
    assert result.exit_code == 2 and "need a launch plan NAME" in result.stderr


def test_project_and_domain_are_required(cli: Invoke) -> None:
    assert cli("get", "launchplan").exit_code == 2
    ok = cli("get", "launchplan", env={"BATCHMAP_PROJECT": "p", "BATCHMAP_DOMAIN": "d"})
    assert ok.exit_code == 0


EXEC_BAD = sorted((TESTDATA / "execfiles" / "bad").glob("*.yaml"))


@pytest.mark.parametrize("path", EXEC_BAD, ids=lambda p: p.name)
def test_bad_exec_files_exit_3_from_create_execution(cli: Invoke, path: Path) -> None:
    """The same corpus through the command a user runs, before anything is staged."""
    pairs = TESTDATA / "launchplans" / "good" / "pairs.yaml"
    assert cli("register", "files", str(pairs)).exit_code == 0
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    result = cli(
        "create", "execution", "-p", "proj", "-d", "dev", "--execFile", str(path), "--dryRun"
    )
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output


ON_AWS = sorted((TESTDATA / "execfiles" / "bad-on-aws").glob("*.yaml"))


@pytest.mark.parametrize("path", ON_AWS, ids=lambda p: p.name)
def test_identities_aws_would_refuse_stop_aws_runs_only(cli: Invoke, path: Path) -> None:
    """flytectl checks no role syntax; batchmap warns, and stops where AWS would refuse it."""
    pairs = TESTDATA / "launchplans" / "good" / "pairs.yaml"
    assert cli("register", "files", str(pairs)).exit_code == 0
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    exec_file = Path("exec.yaml")
    exec_file.write_text(
        path.read_text() + "inputs: {xs: [1], label: l, weights: [[1.0]], ys: [a], options: {}}\n"
    )
    args = ("create", "execution", "-p", "proj", "-d", "dev", "--execFile", str(exec_file))
    local = cli(*args, "--dryRun")
    assert local.exit_code == 0, local.stderr
    assert f"warning: {exec_file.resolve()}:{expected}" in local.stderr
    on_aws = cli(*args, "--dryRun", "--backend", "aws")
    assert on_aws.exit_code == 3
    assert f"{exec_file.resolve()}:{expected}" in on_aws.stderr
