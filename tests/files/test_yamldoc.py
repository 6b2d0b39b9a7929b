from pathlib import Path

import pytest

from batchmap.errors import InvalidInputError
from batchmap.files.yamldoc import format_path, load_document, load_documents, load_file, read_text


def test_format_path() -> None:
    assert format_path(("queues", "workflowConfigs", 2, "tags")) == "queues.workflowConfigs[2].tags"
    assert format_path(()) == ""
    assert format_path((0, "a")) == "[0].a"


def test_lines_of_nested_values() -> None:
    doc = load_document("a: 1\nb:\n  - x\n  - y: 2\n    z: 3\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"y": 2, "z": 3}]}
    assert doc.line_of(["a"]) == 1
    assert doc.line_of(["b", 1, "z"]) == 5
    # A missing key points at its deepest existing parent.
    assert doc.line_of(["b", 1, "missing"]) == 4


def test_multi_document_stream_keeps_each_documents_lines() -> None:
    docs = load_documents("a: 1\n---\nb: 2\nc: 3\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2, "c": 3}]
    assert docs[1].line_of(["c"]) == 4


def test_timestamps_stay_text() -> None:
    assert load_document("v: 2024-01-31\n", "f").data == {"v": "2024-01-31"}


def test_empty_file_is_an_empty_mapping() -> None:
    assert load_document("# only a comment\n", "f").data == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", 'f.yaml:2: invalid YAML: found duplicate key "a"'),
        ("a:\n\t- 1\n", "f.yaml:2: invalid YAML"),
        ("a: [1, 2\nb: 3\n", "f.yaml:2: invalid YAML"),
        ("a: !!python/object/apply:os.system ['true']\n", "f.yaml:1: YAML tag"),
        ("a: !custom x\n", "f.yaml:1: YAML tag '!custom' is not allowed"),
        ("a: {fromFile: s3://b/k.txt}\n", 'quote values with "://"'),
        ("a: " + "[" * 400 + "]" * 400 + "\n", "nest"),
        ("a: 1\n---\nb: 2\n", "holds 2 YAML documents"),
    ],
)
def test_bad_yaml_is_one_located_error(text: str, expected: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_document(text, "f.yaml")
    assert expected in "\n".join(info.value.lines())


def test_alias_bomb_is_stopped() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        levels.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(InvalidInputError) as info:
        load_document("\n".join(levels) + "\n", "bomb.yaml")
    assert "document too large" in info.value.lines()[0]


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(InvalidInputError) as info:
        read_text(path)
    assert f"{path}:2: not UTF-8 text" in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file"):
        load_file(tmp_path / "nope.yaml")
