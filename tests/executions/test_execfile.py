"""Exec files: golden text, round trips, flytectl compatibility, and the bad corpus."""

from pathlib import Path

import pytest

from batchmap.errors import InvalidInputError
from batchmap.executions import execfile
from batchmap.launchplans.parse import parse_files
from tests.conftest import TESTDATA

ROOT = Path(__file__).parents[2]
GOLDEN = TESTDATA / "execfiles" / "golden"
PAIRS = TESTDATA / "launchplans" / "good" / "pairs.yaml"


def _plan(path: Path):
    return parse_files([path])[0]


@pytest.mark.parametrize(
    ("source", "golden"),
    [
        (ROOT / "examples" / "squares.yaml", "squares.exec.yaml"),
        (ROOT / "examples" / "gpu-retries.yaml", "embed_images.exec.yaml"),
        (PAIRS, "pairs.exec.yaml"),
    ],
)
def test_render_matches_golden_text(source: Path, golden: str) -> None:
    assert execfile.render(_plan(source)) == (GOLDEN / golden).read_text()


def test_render_has_flytectl_key_order_and_marks_required_inputs() -> None:
    text = execfile.render(_plan(PAIRS))
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert keys == list(execfile.KEY_ORDER)
    assert 'label: ""  # required' in text
    assert "xs:  # required: left values" in text


def test_written_file_loads_back_with_defaults(tmp_path: Path) -> None:
    plan = _plan(ROOT / "examples" / "squares.yaml")
    path = tmp_path / "exec.yaml"
    execfile.write(path, execfile.render(plan), force=False)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ef = execfile.load(path)
    assert (ef.workflow, ef.version, ef.iam_role_arn) == ("squares", "v1", None)
    assert execfile.resolve_inputs(ef, plan) == {"numbers": list(range(1, 11))}


def test_edit_then_load(tmp_path: Path) -> None:
    plan = _plan(PAIRS)
    path = tmp_path / "exec.yaml"
    text = execfile.render(plan)
    text = text.replace('iamRoleARN: ""', "iamRoleARN: arn:aws:iam::123456789012:role/r")
    text = text.replace(
        "    xs:  # required: left values\n        - 0",
        "    xs:  # required: left values\n        - 7\n        - 8",
    )
    text = text.replace('label: ""', "label: hello world")
    text = text.replace("envs: {}", "envs:\n    LOG_LEVEL: debug\n    RETRIES: 3")
    path.write_text(text)
    ef = execfile.load(path)
    values = execfile.resolve_inputs(ef, plan)
    assert values == {
        "xs": [7, 8],
        "ys": ["a", "b"],
        "label": "hello world",
        "flag": False,
        "weights": [[0.0]],
        "options": {},
    }
    assert ef.iam_role_arn == "arn:aws:iam::123456789012:role/r"
    assert ef.envs == {"LOG_LEVEL": "debug", "RETRIES": "3"}
    assert execfile.map_size(plan, values) == 2


def test_write_never_overwrites_without_force(tmp_path: Path) -> None:
    path = tmp_path / "exec.yaml"
    path.write_text("mine\n")
    with pytest.raises(InvalidInputError, match="already exists"):
        execfile.write(path, "new\n", force=False)
    assert path.read_text() == "mine\n"
    execfile.write(path, "new\n", force=True)
    assert path.read_text() == "new\n"


def test_a_file_written_by_flytectl_loads() -> None:
    plan = _plan(TESTDATA / "launchplans" / "good" / "launchplan1.yaml")
    ef = execfile.load(TESTDATA / "execfiles" / "good" / "flytectl-written.yaml")
    assert execfile.resolve_inputs(ef, plan) == {
        "generic": {"foo": "foo"},
        "numbers": [0],
        "numbers_count": 0,
        "run_local_at_count": 10,
    }


BAD = sorted((TESTDATA / "execfiles" / "bad").glob("*.yaml"))


def test_bad_exec_file_corpus_is_big_enough() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_bad_exec_files_name_the_field_and_line(path: Path) -> None:
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    plan = _plan(PAIRS)
    with pytest.raises(InvalidInputError) as info:
        ef = execfile.load(path)
        if ef.task:
            ef = execfile.for_task(ef, [plan])
        execfile.resolve_inputs(ef, plan)
    assert info.value.exit_code == 3
    text = "\n".join(info.value.lines())
    assert expected in text
    assert str(path) in text


FLYTECTL = TESTDATA / "execfiles" / "flytectl"  # flytectl/cmd/testdata, unchanged (README.md)


def test_flytectl_exec_files() -> None:
    """Every exec file of flytectl's own tests loads as flytectl loads it."""
    plan = execfile.load(FLYTECTL / "launchplan_execution_spec.yaml")
    assert (plan.workflow, plan.version) == ("core.control_flow.merge_sort.merge_sort", "v3")
    assert plan.inputs == {"numbers": [0], "numbers_count": 0, "run_local_at_count": 10}
    assert plan.warnings == []
    task = execfile.load(FLYTECTL / "task_execution_spec.yaml")
    assert (task.task, task.version, task.workflow) == (
        "core.control_flow.merge_sort.merge",
        "v2",
        None,
    )
    assert (task.target_project, task.target_domain) == ("flytesnacks", "development")
    # Placeholder identities: flytectl checks nothing; here a warning until AWS uses them.
    assert [(w.path, w.warning) for w in task.warnings] == [
        ("iamRoleARN", True),
        ("kubeServiceAcct", True),
    ]
    pooled = execfile.load(FLYTECTL / "task_execution_spec_with_iamrole.yaml")
    assert [str(w) for w in pooled.warnings if w.path == "clusterPool"] == [
        f"{FLYTECTL / 'task_execution_spec_with_iamrole.yaml'}:16: clusterPool: clusterPool is "
        "not used here: AWS Batch has no Flyte cluster pools; the queue rules choose the job "
        "queue (docs/queues.md)"
    ]
    with pytest.raises(InvalidInputError) as info:
        execfile.load(FLYTECTL / "invalid_execution_spec.yaml")
    assert "12: task: both task and workflow are set" in "\n".join(info.value.lines())


def test_keys_match_case_insensitively_as_in_flytectl(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "IamRoleArn: arn:aws:iam::123456789012:role/r\nWORKFLOW: pairs\nInputs: {xs: [1]}\n"
        "overwritecache: true\niamRoleARN: arn:aws:iam::123456789012:role/s\n"
    )
    ef = execfile.load(path)
    assert ef.workflow == "pairs" and ef.inputs == {"xs": [1]}
    assert ef.iam_role_arn == "arn:aws:iam::123456789012:role/s"  # the later one, as in Go
    messages = [str(w) for w in ef.warnings]
    assert any(
        "4: overwritecache: overwritecache is not used here: batchmap has no cache" in m
        for m in messages
    )
    assert any(
        "5: iamRoleARN: 'iamRoleARN' sets iamRoleARN again (after 'IamRoleArn')" in m
        for m in messages
    )
    path.write_text("workflow: pairs\nclusterpol: gpu\n")
    with pytest.raises(InvalidInputError) as info:
        execfile.load(path)
    assert "2: clusterpol: unknown key 'clusterpol' (did you mean 'clusterPool'?)" in "\n".join(
        info.value.lines()
    )
