import pytest

from batchmap.launchplans.inputs import TypeSyntaxError, check_value, coerce, parse_type, zero_value


@pytest.mark.parametrize(
    ("text", "shown", "depth"),
    [
        ("int", "int", 0),
        ("list[int]", "list[int]", 1),
        ("List[ list[FLOAT] ]", "list[list[float]]", 2),
        ("dict", "dict", 0),
        ("list[dict]", "list[dict]", 1),
    ],
)
def test_parse_type(text: str, shown: str, depth: int) -> None:
    t = parse_type(text)
    assert str(t) == shown and t.depth == depth


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("integer", "did you mean 'int'"),
        ("list", "needs an item type"),
        ("lst[int]", "unknown type"),
        ("list[foo]", "unknown type"),
        ("tuple[int]", "unknown type"),
    ],
)
def test_bad_types(text: str, message: str) -> None:
    with pytest.raises(TypeSyntaxError, match=message.replace("[", r"\[")):
        parse_type(text)


def test_zero_values_follow_flytectl() -> None:
    assert [zero_value(parse_type(t)) for t in ("int", "float", "str", "bool", "dict")] == [
        0,
        0.0,
        "",
        False,
        {},
    ]
    assert zero_value(parse_type("list[list[int]]")) == [[0]]


def test_check_value_reports_every_wrong_item_with_its_path() -> None:
    t = parse_type("list[list[int]]")
    found = [(p.path, p.message) for p in check_value(t, [[1, "x"], 3, [True]])]
    assert found == [
        ((0, 1), 'expected int, got "x" (a string)'),
        ((1,), "expected list[int], got 3 (a number)"),
        ((2, 0), "expected int, got true (a boolean)"),
    ]


def test_ints_are_floats_but_floats_are_not_ints() -> None:
    assert list(check_value(parse_type("float"), 3)) == []
    assert coerce(parse_type("list[float]"), [1, 2.5]) == [1.0, 2.5]
    (problem,) = check_value(parse_type("int"), 3.0)
    assert "(write 3)" in problem.message


def test_strings_are_not_numbers() -> None:
    (problem,) = check_value(parse_type("str"), 42)
    assert "quote it" in problem.message
