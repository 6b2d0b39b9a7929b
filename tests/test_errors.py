from batchmap.errors import (
    AwsRefusedError,
    AwsServiceError,
    BelowSuccessRatioError,
    ExitCode,
    InvalidInputError,
    NotFoundError,
    Problem,
)


def test_exit_codes_are_the_documented_contract() -> None:
    # DESIGN.md §5 and docs/exit-codes.md: CI scripts depend on these numbers.
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "ERROR": 1,
        "USAGE": 2,
        "INVALID_INPUT": 3,
        "NOT_FOUND": 4,
        "AWS_REFUSED": 5,
        "AWS_SERVICE": 6,
        "BELOW_SUCCESS_RATIO": 7,
        "INTERRUPTED": 130,
    }


def test_each_error_carries_its_exit_code() -> None:
    assert InvalidInputError("x").exit_code == 3
    assert NotFoundError("x").exit_code == 4
    assert AwsRefusedError("x").exit_code == 5
    assert AwsServiceError("x").exit_code == 6
    assert BelowSuccessRatioError("x").exit_code == 7


def test_problem_names_file_line_and_path() -> None:
    p = Problem("must not be empty", file="c.yaml", path="queues.workflowConfigs[2].tags", line=12)
    assert str(p) == "c.yaml:12: queues.workflowConfigs[2].tags: must not be empty"
    assert str(Problem("bad", hint="fix it")) == "bad (fix it)"


def test_invalid_input_lists_every_problem_then_a_summary() -> None:
    err = InvalidInputError.from_problems(
        [
            Problem("a", file="f", line=1),
            Problem("b", file="f", line=2),
            Problem("w", file="f", line=3, warning=True),
        ],
        "f: invalid",
    )
    assert err.lines() == ["f:1: a", "f:2: b", "f: invalid: 2 problems"]
    assert [str(w) for w in err.warnings] == ["f:3: w"]


def test_a_single_problem_is_a_single_line() -> None:
    err = InvalidInputError.from_problems([Problem("a", file="f", line=1)], "f: invalid")
    assert err.lines() == ["f:1: a"]
