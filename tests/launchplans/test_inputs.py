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


@pytest.mark.parametrize(
    ("seconds", "nanos", "text"),
    [
        (0, 0, "0s"),
        (1, 0, "1s"),
        (300, 0, "5m0s"),
        (3600, 0, "1h0m0s"),
        (5400, 0, "1h30m0s"),
        (1, 500_000_000, "1.5s"),
        (0, 300_000_000, "300ms"),
        (0, 1_500, "1.5µs"),
        (-90, 0, "-1m30s"),
    ],
)
def test_durations_print_as_go_does(seconds: int, nanos: int, text: str) -> None:
    """Go's time.Duration.String(), which flytectl writes into exec files."""
    from batchmap.launchplans.inputs import duration_seconds, format_duration

    assert format_duration(seconds, nanos) == text
    assert duration_seconds(text) == pytest.approx(seconds + nanos / 1e9)


def test_flyte_types_check_their_text() -> None:
    assert not list(check_value(parse_type("datetime"), "2024-01-02T03:04:05Z"))
    assert coerce(parse_type("datetime"), "2024-01-02T04:04:05+01:00") == "2024-01-02T03:04:05Z"
    assert coerce(parse_type("datetime"), "2024-01-02 03:04:05") == "2024-01-02T03:04:05Z"
    (wrong,) = check_value(parse_type("list[datetime]"), ["yesterday"])
    assert wrong.path == (0,) and "RFC 3339" in wrong.message
    assert not list(check_value(parse_type("duration"), "1h30m"))
    (unitless,) = check_value(parse_type("duration"), 90)
    assert "write 90s" in unitless.message
    assert not list(check_value(parse_type("list[file]"), ["a.csv", "s3://b/k"]))
    (empty,) = check_value(parse_type("directory"), "")
    assert "a local path or a URI" in empty.message
    assert zero_value(parse_type("file")) == "/tmp/somepath"  # flytectl's blob zero value
    assert zero_value(parse_type("duration")) == "1s"
    with pytest.raises(TypeSyntaxError, match="did you mean 'file'"):
        parse_type("FlyteFile")
