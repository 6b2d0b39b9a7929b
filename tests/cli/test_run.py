"""`batchmap run` on the local backend, end to end with real processes: items from stdin
and files, the ad-hoc launch plan reused on a re-run, and the other commands on its
executions unchanged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from batchmap.errors import InvalidInputError
from batchmap.executions.adhoc import command_template
from tests.conftest import Invoke, write

PY = sys.executable
P = ("-p", "proj", "-d", "dev")
SQUARE = (
    "import json, os, sys; n = int(sys.argv[1]); print('item', n); "
    "json.dump(n * n, open(os.environ['BATCHMAP_OUTPUT'], 'w'))"
)


def _launch_plans(isolated: Path) -> list[str]:
    root = isolated / ".batchmap" / "registry" / "proj" / "dev" / "launchplans"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json")) if root.exists() else []


def test_items_from_stdin_run_and_a_rerun_reuses_the_launch_plan(
    cli: Invoke, isolated: Path
) -> None:
    first = cli("run", *P, "--image", "python:3", "--wait", "--", PY, "-c", SQUARE,
                stdin=b"1\n2\n3\n")  # fmt: skip
    assert first.exit_code == 0, first.stderr
    name = first.stdout.strip()
    assert "SUCCEEDED: 3 of 3 children succeeded" in first.stderr
    assert "(registered); 3 children" in first.stderr
    (plan,) = _launch_plans(isolated)
    assert plan.startswith("run-")
    outputs = cli("get", "execution", *P, name, "--outputs", "-o", "json")
    assert json.loads(outputs.stdout) == [1, 4, 9]
    assert cli("logs", *P, name).stdout.splitlines() == ["[0] item 1", "[1] item 2", "[2] item 3"]
    again = cli("run", *P, "--image", "python:3", "--wait", "--", PY, "-c", SQUARE,
                stdin=b"4\n")  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert "(reused); 1 children" in again.stderr
    assert _launch_plans(isolated) == [plan]
    listed = json.loads(cli("get", "execution", *P, "-o", "json").stdout)
    assert sorted(e["name"] for e in listed) == sorted([name, again.stdout.strip()])
    other = cli("run", *P, "--image", "python:3", "--retries", "1", "--", PY, "-c", SQUARE,
                stdin=b"4\n")  # fmt: skip
    assert other.exit_code == 0, other.stderr
    assert len(_launch_plans(isolated)) == 2  # another task, another launch plan


def test_items_from_a_jsonl_file_with_fields_and_relaunch(cli: Invoke, tmp_path: Path) -> None:
    write(tmp_path / "rows.jsonl", '{"n": 1}\n{"n": 2}\n{"n": 3}\n')
    fail_on_2 = "import sys; n = int(sys.argv[1]); print('n', n); sys.exit(n == 2)"
    result = cli(
        "run", *P, "--image", "x", "--items", str(tmp_path / "rows.jsonl"), "--name", "rows",
        "--wait", "--", PY, "-c", fail_on_2, "{{ item.n }}",
    )  # fmt: skip
    assert result.exit_code == 7
    assert "2 of 3 children succeeded" in result.stderr
    relaunch = cli("relaunch", *P, "rows", "--failed", "--dryRun", "-o", "json")
    assert relaunch.exit_code == 0, relaunch.stderr
    assert json.loads(relaunch.stdout)["indexMap"] == [1]
    lp = json.loads(cli("get", "execution", *P, "rows", "-o", "json").stdout)
    assert lp["launchPlanSpec"]["inputs"] == {"items": {"type": "list[dict]"}}


def test_dry_run_registers_and_stages_nothing(cli: Invoke, isolated: Path) -> None:
    result = cli("run", *P, "--image", "busybox", "--dryRun", "-o", "json", "--", "echo",
                 stdin=b"a\nb\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["size"] == 2
    assert plan["itemSources"] == {"items": {"fromStdin": True, "format": "txt", "size": 2}}
    assert plan["launchPlanSpec"]["task"]["command"] == ["echo", "{{ item }}"]
    assert plan["launchPlanStatus"] == "to register"
    assert _launch_plans(isolated) == []
    assert not (isolated / ".batchmap" / "store").exists()


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (("--", "echo"), None, "no items: give --items FILE"),
        (("--items", "a.txt", "--items-prefix", "s3://b/p/", "--", "echo"), None, "not both"),
        (("--items", "nope.txt", "--", "echo"), None, "nope.txt: no such items file"),
        (("--item-type", "integer", "--", "echo"), b"1\n", "did you mean 'int'?"),
        (("--", "echo", "{{ itme }}"), b"1\n", "unknown placeholder {{ itme }}"),
        (("--timeout", "5s", "--", "echo"), b"1\n", "60"),
        (("--", "echo"), b"\n\n", "<stdin>: no items: nothing to run"),
        (("--item-type", "int", "--", "echo"), b"1\nx\n", "<stdin>:2: expected int"),
        (("--project", "../x", "--", "echo"), b"1\n", "--project: '../x' is not a project"),
    ],
)
def test_bad_runs_exit_3_with_one_clear_line(
    cli: Invoke, isolated: Path, args: tuple, stdin: bytes | None, expected: str
) -> None:
    result = cli("run", *P, "--image", "busybox", *args, stdin=stdin)
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert _launch_plans(isolated) == []


def test_a_run_without_a_command_is_a_usage_error(cli: Invoke) -> None:
    result = cli("run", *P, "--image", "busybox", stdin=b"1\n")
    assert result.exit_code == 2
    assert "Missing argument 'CMD ARG...'" in result.stderr


def test_command_templates() -> None:
    assert command_template(["echo", "{{", "item", "}}"]) == ("echo", "{{ item }}")
    assert command_template(["cp", "{{", "item.src", "}}", "out/"]) == (
        "cp",
        "{{ item.src }}",
        "out/",
    )
    assert command_template(["wc", "-l"]) == ("wc", "-l", "{{ item }}")
    assert command_template(["echo", "{{ index }}"]) == ("echo", "{{ index }}")
    with pytest.raises(InvalidInputError):
        command_template([])


def test_manifests_with_item_sources_fit_the_schema(cli: Invoke, isolated: Path) -> None:
    from jsonschema import Draft202012Validator

    from batchmap.files.schemas import load_schema

    write(Path("n.txt"), "1\n2\n")
    for name, args, stdin in (
        ("piped", (), b"x\n"),
        ("filed", ("--items", "n.txt", "--item-type", "int"), None),
    ):
        result = cli("run", *P, "--image", "x", "--name", name, *args, "--", "true", stdin=stdin)
        assert result.exit_code == 0, result.stderr
        path = isolated / ".batchmap" / "store" / "proj" / "dev" / name / "execution.json"
        data = json.loads(path.read_text())
        assert not list(Draft202012Validator(load_schema("execution")).iter_errors(data))
        (source,) = data["itemSources"].values()
        assert source["size"] in (1, 2)
    shown = json.loads(cli("get", "execution", *P, "filed", "-o", "json").stdout)
    assert shown["itemSources"]["items"]["fromFile"].endswith("n.txt")
