"""The bad-input corpus as a whole, huge inputs, and a property test over exec-file inputs:
every malformed input ends in exit 3 or 4 with a located line, never a traceback."""

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchmap.errors import InvalidInputError
from batchmap.executions import execfile
from batchmap.launchplans.parse import parse_files
from tests.aws.test_arns import BAD_ROLE_ARNS, BAD_SERVICE_ACCOUNTS
from tests.conftest import TESTDATA

PAIRS = TESTDATA / "launchplans" / "good" / "pairs.yaml"
CORPORA = ("config/bad", "launchplans/bad", "execfiles/bad")


def test_the_bad_input_corpus_has_over_60_cases() -> None:
    files = sum(len(list((TESTDATA / c).glob("*.yaml"))) for c in CORPORA)
    arns = len(BAD_ROLE_ARNS) + len(BAD_SERVICE_ACCOUNTS)
    assert files >= 60, files
    assert files + arns >= 75
    print(f"bad inputs: {files} files + {arns} role ARNs and service accounts")


def test_a_huge_list_of_wrong_items_is_one_short_report(tmp_path: Path) -> None:
    plan = parse_files([PAIRS])[0]
    path = tmp_path / "huge.yaml"
    path.write_text(
        "workflow: pairs\ninputs:\n    label: l\n    weights: [[1.0]]\n"
        "    options: {}\n    xs: " + json.dumps(["x"] * 100_000) + "\n"
    )
    try:
        execfile.resolve_inputs(execfile.load(path), plan)
    except InvalidInputError as exc:
        lines = exc.lines()
    assert len(lines) == 22  # 20 located items, "and 99980 more", the summary
    assert "inputs.xs[0]: expected int" in lines[0]
    assert "and 99980 more wrong items" in lines[20]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    inputs=st.dictionaries(
        st.sampled_from(["xs", "ys", "label", "flag", "weights", "options", "unknown"]),
        JSON,
        max_size=7,
    )
)
def test_any_exec_file_inputs_load_or_fail_cleanly(tmp_path: Path, inputs: dict) -> None:
    plan = parse_files([PAIRS])[0]
    path = tmp_path / "exec.yaml"
    path.write_text(json.dumps({"workflow": "pairs", "inputs": inputs}))  # JSON is YAML
    try:
        values = execfile.resolve_inputs(execfile.load(path), plan)
    except InvalidInputError as exc:
        assert exc.exit_code == 3
        assert all(str(path) in line for line in exc.lines()[:-1] or exc.lines())
        return
    assert set(values) == set(plan.inputs)
    assert len(values["xs"]) == len(values["ys"]) > 0
    assert all(isinstance(x, int) and not isinstance(x, bool) for x in values["xs"])
    assert isinstance(values["label"], str)
