"""The job definition's command: the child, made small, runs in any python3 from 3.8 on with
the standard library only, and fits AWS Batch's 24 KiB job-definition limit with room."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batchmap.aws.limits import MAX_JOB_DEFINITION_BYTES
from batchmap.backends.aws.requests import job_definition
from batchmap.errors import InvalidInputError
from batchmap.files.store import LocalStore
from batchmap.launchplans.model import LaunchPlan
from batchmap.launchplans.parse import parse_files
from batchmap.runtime import bootstrap, bootstrap_command
from batchmap.tasks import kind_of
from batchmap.tasks.base import ChildSpec, Target
from batchmap.tasks.staging import stage

ROOT = Path(__file__).parents[2]
PYENV = Path("/root/.pyenv/versions")  # older and newer Pythons, where the machine has them
SOURCE = bootstrap.CHILD.read_text("utf-8")


def _child(plan: LaunchPlan) -> ChildSpec:
    """What the execution's task kind says each child runs (a container task here)."""
    return kind_of(plan).child(plan, {}, Target("e", plan.project, plan.domain, "s3://b/p"))


def _without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            if docstring and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def test_stripping_keeps_the_code_and_drops_only_docs_and_comments() -> None:
    stripped = bootstrap.strip(SOURCE)
    assert ast.dump(ast.parse(stripped)) == _without_docstrings(ast.parse(SOURCE))
    assert "#" not in "".join(line.split('"')[0] for line in stripped.splitlines())
    assert len(stripped) < 0.85 * len(SOURCE)
    tricky = 'def f():\n    """only a docstring"""\n\n\nX = """\n\n# kept\n"""  # gone\n'
    assert bootstrap.strip(tricky) == 'def f():\n pass\nX = """\n\n# kept\n"""\n'


def test_the_child_is_python38_syntax_and_imports_the_standard_library_only() -> None:
    tree = ast.parse(SOURCE, feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported
    assert "batchmap" not in imported
    # Names that appeared after 3.8 and that the 3.8 grammar check cannot see.
    for newer in (".removeprefix(", ".removesuffix(", "strict=True", "functools.cache("):
        assert newer not in SOURCE


def test_the_command_is_small_and_safe_in_every_container_engine() -> None:
    command = bootstrap_command(["echo", "{{ item }}"])
    assert command[:4] == ["python3", "-I", "-S", "-c"]
    assert command[5:] == ["--", "echo", "{{ item }}"]
    size = len(json.dumps(command).encode())
    assert size < 13 * 1024, size  # about 13 KB of the 24 KiB (docs/aws.md)
    program = command[4]
    # Kubernetes expands $(VAR) and reduces $$ in EKS commands; AWS Batch fills Ref::name.
    assert "$" not in program and "Ref::" not in program
    assert program.count("\n") == 3


def test_the_squares_job_definition_leaves_room_for_env_and_tags() -> None:
    (plan,) = parse_files([ROOT / "examples" / "squares.yaml"])
    request = job_definition(
        execution="abcdefghij0123456789",
        plan=plan.spec_dict(),
        child=_child(plan),
        role="arn:aws:iam::123456789012:role/batchmap-task",
        service_account=None,
        log_group="/aws/batch/job",
        plugin={},
        eks=False,
    )
    size = len(json.dumps(request).encode())
    assert size < MAX_JOB_DEFINITION_BYTES - 10 * 1024, size


def _interpreters() -> list[str]:
    """This Python plus every other python3 found (pyenv's or on PATH), oldest first."""
    found = {sys.executable}
    for minor in range(8, 14):
        found |= {str(p) for p in PYENV.glob(f"3.{minor}.*/bin/python3")}
        on_path = shutil.which(f"python3.{minor}")
        if on_path and "/shims/" not in on_path:  # pyenv's shims need pyenv's environment
            found.add(on_path)
    return sorted(found)


@pytest.mark.parametrize("python", _interpreters())
def test_the_command_runs_in_each_python3(python: str, tmp_path: Path) -> None:
    lp = tmp_path / "lp.yaml"
    lp.write_text(
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[str]\nmap:\n  over: [xs]\n"
        "task:\n  image: i\n  command: [x]\n"
    )
    (plan,) = parse_files([lp])
    store = LocalStore(tmp_path / "store with space")
    staged = stage(store, "p/d/e", plan, {"xs": ["a b", "ü;$(id)"]})
    script = "import os,sys; open(os.environ['BATCHMAP_OUTPUT'],'w').write(sys.argv[1])"
    command = bootstrap_command([python, "-c", script, "{{ item }}"])
    env = {
        "PATH": "/usr/bin:/bin",
        "BATCHMAP_INPUTS": staged.inputs_uri,
        "BATCHMAP_OUTPUT_PREFIX": store.uri("p/d/e/outputs"),
        "BATCHMAP_EXECUTION": "e",
        "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "AWS_BATCH_JOB_ARRAY_INDEX",
        "AWS_BATCH_JOB_ARRAY_INDEX": "1",
    }
    done = subprocess.run([python, *command[1:]], env=env, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "batchmap-task: index=1 attempt=1 size=2 execution=e\n"
    assert json.loads((tmp_path / "store with space/p/d/e/outputs/1.json").read_text()) == "ü;$(id)"


@pytest.mark.parametrize(
    "python",
    sorted(str(p) for p in PYENV.glob("3.[67].*/bin/python3"))
    or [pytest.param(None, marks=pytest.mark.skip(reason="no Python older than 3.8 here"))],
)
def test_an_older_python_is_one_line_and_exit_70(python: str) -> None:
    command = bootstrap_command(["true"])
    done = subprocess.run([python, *command[1:]], capture_output=True, text=True, env={})
    assert done.returncode == 70
    assert done.stderr.startswith("batchmap-task: error: this image has Python ")
    assert done.stderr.endswith("needs 3.8 or later (see examples/Dockerfile)\n")
    assert done.stderr.count("\n") == 1


def _runtime_plan(tmp_path: Path, runtime: str | None):
    lp = tmp_path / "lp.yaml"
    lp.write_text(
        "project: p\ndomain: d\nname: lp\nversion: v1\n"
        "inputs:\n  xs:\n    type: list[int]\nmap:\n  over: [xs]\n"
        "task:\n  image: i\n  command: [run, '{{ item }}']\n"
        + (f"  runtime: {runtime}\n" if runtime else "")
    )
    return parse_files([lp])[0]


@pytest.mark.parametrize("eks", [False, True])
def test_task_runtime_chooses_the_command(tmp_path: Path, eks: bool) -> None:
    def command(runtime: str | None) -> list[str]:
        plan = _runtime_plan(tmp_path, runtime)
        definition = job_definition(
            execution="e",
            plan=plan.spec_dict(),
            child=_child(plan),
            role=None,
            service_account=None,
            log_group="g",
            plugin={},
            eks=eks,
        )
        if eks:
            return definition["eksProperties"]["podProperties"]["containers"][0]["command"]
        return definition["containerProperties"]["command"]

    assert command(None) == command("python3") == bootstrap_command(["run", "{{ item }}"])
    assert command("batchmap-task") == ["batchmap-task", "--", "run", "{{ item }}"]


def test_the_default_runtime_leaves_registered_launch_plans_unchanged(tmp_path: Path) -> None:
    assert "runtime" not in _runtime_plan(tmp_path, "python3").spec_dict()["task"]
    assert _runtime_plan(tmp_path, "batchmap-task").spec_dict()["task"]["runtime"] == (
        "batchmap-task"
    )
    with pytest.raises(InvalidInputError) as refused:
        _runtime_plan(tmp_path, "bash")
    (problem,) = refused.value.problems
    assert "task.runtime" in str(problem) and "batchmap-task" in str(problem)


def test_the_program_is_made_once_per_change_of_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making it parses and compresses child.py (about 50 ms): it is kept in the cache
    until child.py, bootstrap.py or batchmap's version changes."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    child = tmp_path / "child.py"
    child.write_text(SOURCE)
    monkeypatch.setattr(bootstrap, "CHILD", child)
    bootstrap.program.cache_clear()
    made: list[int] = []
    real = bootstrap.make_program
    monkeypatch.setattr(bootstrap, "make_program", lambda s: made.append(1) or real(s))
    try:
        first = bootstrap.program()
        assert first == real(SOURCE)
        bootstrap.program.cache_clear()  # another command: read from the cache
        assert bootstrap.program() == first and made == [1]
        child.write_text(SOURCE + "\nX = 1\n")  # a changed child: made again, one entry kept
        bootstrap.program.cache_clear()
        assert bootstrap.program() != first and made == [1, 1]
        assert len(list((tmp_path / "cache" / "batchmap" / "bootstrap").iterdir())) == 1
        (tmp_path / "cache").chmod(0o500)  # a cache that cannot be written: made each time
        child.write_text(SOURCE + "\nX = 2\n")
        bootstrap.program.cache_clear()
        bootstrap.program()
        bootstrap.program.cache_clear()
        bootstrap.program()
        assert len(made) == 4 or os.geteuid() == 0  # root writes through a 0500 folder
    finally:
        (tmp_path / "cache").chmod(0o700)
        bootstrap.program.cache_clear()


def test_the_program_is_made_without_a_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container user with no HOME and no passwd entry: no cache, the same program."""

    def nowhere() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(bootstrap, "cache_folder", nowhere)
    bootstrap.program.cache_clear()
    try:
        assert bootstrap.program() == bootstrap.make_program(SOURCE)
    finally:
        bootstrap.program.cache_clear()
