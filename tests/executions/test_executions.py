import pytest

from batchmap.errors import InvalidInputError
from batchmap.executions.names import NAME_PATTERN, check_name, generate_name
from batchmap.executions.phase import phase_of


def test_generated_names_look_like_flytes() -> None:
    names = {generate_name() for _ in range(200)}
    assert len(names) == 200
    assert all(len(n) == 20 and n[0].isalpha() and n.isalnum() and n.islower() for n in names)
    assert all(NAME_PATTERN.match(n) for n in names)


@pytest.mark.parametrize("name", ["Upper", "1abc", "a_b", "a/b", "../x", "a" * 64, ""])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_name(name)


@pytest.mark.parametrize(
    ("counts", "size", "need", "phase"),
    [
        ({"RUNNABLE": 10}, 10, 10, "RUNNING"),
        ({"SUCCEEDED": 9, "RUNNING": 1}, 10, 10, "RUNNING"),
        ({"SUCCEEDED": 10}, 10, 10, "SUCCEEDED"),
        ({"SUCCEEDED": 9, "FAILED": 1}, 10, 10, "FAILED"),
        ({"FAILED": 1, "RUNNING": 9}, 10, 10, "FAILED"),  # fails early
        ({"FAILED": 1, "RUNNING": 9}, 10, 9, "RUNNING"),  # still reachable
        ({"SUCCEEDED": 9, "FAILED": 1}, 10, 9, "SUCCEEDED"),
        ({"SUCCEEDED": 1, "FAILED": 2, "RUNNING": 1}, 4, 2, "RUNNING"),
        ({"SUCCEEDED": 1, "FAILED": 3}, 4, 2, "FAILED"),
        ({"FAILED": 3, "RUNNING": 1}, 4, 2, "FAILED"),
        ({"FAILED": 4}, 4, 0, "SUCCEEDED"),
    ],
)
def test_phase_follows_flytes_summary_to_phase(counts, size, need, phase) -> None:
    assert phase_of(counts, size, need).phase == phase
