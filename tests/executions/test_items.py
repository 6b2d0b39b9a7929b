"""Items from files: every format, every error with its file and line, streams that stay
streams, and exec files whose lists name their source."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from batchmap.errors import InvalidInputError
from batchmap.executions import execfile, items
from batchmap.files import itemfiles
from batchmap.files.store import LocalStore
from batchmap.launchplans.inputs import parse_type
from batchmap.launchplans.parse import parse_files
from batchmap.tasks.staging import INDEX, ITEMS, stage
from tests.conftest import write


def _read(tmp_path: Path, name: str, text: str | bytes, t: str | None = "int", **kw) -> list:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    spec = items.file_spec(name, tmp_path, kw.pop("fmt", None))
    got = items.read(spec, parse_type(t) if t else None, **kw)
    return list(got)


def _error(tmp_path: Path, name: str, text: str, t: str = "int", **kw) -> list[str]:
    with pytest.raises(InvalidInputError) as info:
        _read(tmp_path, name, text, t, **kw)
    return info.value.lines()


@pytest.mark.parametrize(
    ("name", "text", "t", "expected"),
    [
        ("a.txt", "1\n 2 \n\n+3\n", "int", [1, 2, 3]),
        ("a.txt", "1.5\n2\n-.5e1\n", "float", [1.5, 2.0, -5.0]),
        ("a.txt", "  two words \nthree\r\n", "str", ["  two words ", "three"]),
        ("a.txt", "true\nFALSE\n", "bool", [True, False]),
        ("a.txt", '{"a": 1}\n{}\n', "dict", [{"a": 1}, {}]),
        ("a.txt", "[1, 2]\n[]\n", "list[int]", [[1, 2], []]),
        ("a.jsonl", "1\n\n  2  \n3\n", "int", [1, 2, 3]),
        ("a.ndjson", '{"x": "é"}\n', "dict", [{"x": "é"}]),
        ("a.jsonl", "1\n2.5\n", "float", [1.0, 2.5]),
        ("a.json", "[1, 2,\n 3]\n", "int", [1, 2, 3]),
        ("a.json", "  [ ]  ", "int", []),
        ("a.json", '[{"a": [1, {"b": "]"}]}, "x"]', "dict", None),
        (
            "a.csv",
            'name,size\nx,1\n\n"y, z",2\n',
            "dict",
            [
                {"name": "x", "size": "1"},
                {"name": "y, z", "size": "2"},
            ],
        ),
        ("a.jsonl", "\ufeff1\n2\n", "int", [1, 2]),
    ],
)
def test_every_format(tmp_path: Path, name: str, text: str, t: str, expected: list | None) -> None:
    if expected is None:
        assert _error(tmp_path, name, text, t) == ['a.json:1: expected dict, got "x" (a string)']
        return
    assert _read(tmp_path, name, text, t) == expected


def test_gzip_and_an_explicit_format(tmp_path: Path) -> None:
    assert _read(tmp_path, "a.jsonl.gz", gzip.compress(b"1\n2\n")) == [1, 2]
    assert _read(tmp_path, "numbers", "4\n5\n", fmt="txt") == [4, 5]


def test_a_json_array_is_split_across_chunks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(itemfiles, "CHUNK", 7)
    values = [123456789, "a long string, with , and ]", {"k": [1, 2, 3]}, -0.5, True, None]
    text = json.dumps(values, indent=1)
    path = tmp_path / "a.json"
    path.write_text(text)
    found = list(itemfiles.records(path.open("rb"), "json"))
    assert [r.value for r in found] == values
    assert [r.line for r in found] == [2, 3, 4, 11, 12, 13]
    assert _read(tmp_path, "b.json", json.dumps(list(range(50))), "int") == list(range(50))


@pytest.mark.parametrize(
    ("name", "text", "t", "expected"),
    [
        (
            "items.jsonl",
            '1\n"two"\n{bad\n',
            "int",
            [
                'items.jsonl:2: expected int, got "two" (a string)',
                "items.jsonl:3: not JSON: Expecting property name enclosed in double quotes",
                "items.jsonl: 2 wrong items",
            ],
        ),
        (
            "items.jsonl",
            '[1, 2]\n[1, "x"]\n',
            "list[int]",
            [
                'items.jsonl:2: [1]: expected int, got "x" (a string)',
            ],
        ),
        (
            "items.txt",
            "1\nx\n1.5\n",
            "int",
            [
                'items.txt:2: expected int, got "x" (a string)',
                'items.txt:3: expected int, got "1.5" (a string)',
                "items.txt: 2 wrong items",
            ],
        ),
        ("items.txt", "yes\n", "bool", ['items.txt:1: expected bool, got "yes" (a string)']),
        (
            "items.txt",
            "{a\n",
            "dict",
            [
                "items.txt:1: not JSON: Expecting property name "
                "enclosed in double quotes: line 1 column 2 (char 1)"
            ],
        ),
        ("items.json", '{"a": 1}', "int", ["items.json:1: not a JSON array (expected '[')"]),
        (
            "items.json",
            "[1,\n2\n3]",
            "int",
            ["items.json:3: not JSON: expected ',' or ']' after an item"],
        ),
        ("items.json", "[1,\n\n oops]", "int", ["items.json:3: not JSON: Expecting value"]),
        (
            "items.json",
            "[1] 2",
            "int",
            ["items.json:1: not JSON: text after the array's closing ']'"],
        ),
        (
            "items.json",
            "[1, 2",
            "int",
            ["items.json:1: not JSON: no closing ']'"],
        ),
        ("items.csv", "a,b\n1\n", "dict", ["items.csv:2: 1 fields, the header has 2"]),
        (
            "items.csv",
            "",
            "dict",
            ["items.csv:1: no header row: the first line names the columns"],
        ),
        ("items.csv", "a,a\n1,2\n", "dict", ["items.csv:1: column 'a' appears twice"]),
        (
            "items.csv",
            "a\n1\n",
            "int",
            ["items.csv: CSV rows are mappings, but the list holds int"],
        ),
    ],
)
def test_every_error_names_file_and_line(
    tmp_path: Path, name: str, text: str, t: str, expected: list[str]
) -> None:
    assert _error(tmp_path, name, text, t) == expected


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"1\n\xff\n3\n")
    with pytest.raises(InvalidInputError) as info:
        items.read(items.file_spec("b.jsonl", tmp_path), parse_type("int"))
    assert info.value.lines() == ["b.jsonl:2: not UTF-8 text"]


def test_twenty_problems_then_a_count(tmp_path: Path) -> None:
    lines = _error(tmp_path, "a.txt", "x\n" * 25 + "1\n")
    assert len(lines) == 22
    assert lines[19] == 'a.txt:20: expected int, got "x" (a string)'
    assert lines[20:] == ["a.txt: and 5 more", "a.txt: 25 wrong items"]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"nope.jsonl: no such items file"):
        items.read(items.file_spec("nope.jsonl", tmp_path), parse_type("int"))
    (tmp_path / "d.txt").mkdir()
    with pytest.raises(InvalidInputError, match="is a directory"):
        items.read(items.file_spec("d.txt", tmp_path), parse_type("int"))


def test_items_are_spooled_not_held(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("1\n2\n3\n")
    got = items.read(items.file_spec("a.jsonl", tmp_path), parse_type("float"))
    (tmp_path / "a.jsonl").unlink()  # read once: the spool holds the items now
    assert len(got) == 3
    assert list(got.lines()) == [b"1.0", b"2.0", b"3.0"]
    assert list(got) == [1.0, 2.0, 3.0]
    assert got.to_dict() == {"fromFile": str(tmp_path / "a.jsonl"), "format": "jsonl", "size": 3}


def test_the_first_item_gives_the_type_when_none_is_declared(tmp_path: Path) -> None:
    assert _read(tmp_path, "a.jsonl", '{"a": 1}\n{}\n', None) == [{"a": 1}, {}]
    assert _read(tmp_path, "b.jsonl", "[1]\n[2, 3]\n", None) == [[1], [2, 3]]
    assert _read(tmp_path, "c.txt", "1\n2\n", None) == ["1", "2"]
    with pytest.raises(InvalidInputError) as info:
        _read(tmp_path, "d.jsonl", "1\n2.5\n", None)
    assert info.value.lines() == ["d.jsonl:2: expected int, got 2.5 (a number)"]
    assert "pass --item-type" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"fromFile": "a.jsonl", "extra": 1}, "unknown key 'extra' next to fromFile"),
        ({"fromFile": "a.jsonl", "fromPrefix": "s3://b/p/"}, "not both"),
        ({"fromFile": 5}, "fromFile must be a path or an s3:// URI, got 5 (a number)"),
        ({"fromFile": "a.xlsx"}, "cannot tell the format of 'a.xlsx'"),
        ({"fromFile": "a.txt", "format": "xml"}, "unknown items format 'xml'"),
        ({"fromFile": "s3://bucket"}, "is not an S3 object URI"),
        ({"fromPrefix": "photos/"}, "fromPrefix takes s3://BUCKET/PREFIX"),
    ],
)
def test_bad_specs(value: dict, expected: str) -> None:
    with pytest.raises(items.SpecError) as info:
        items.parse_spec(value, Path("/x"))
    assert expected in info.value.message


def test_command_line_sources() -> None:
    cwd = Path("/work")
    assert items.parse_override("xs=a.jsonl", cwd) == (
        "xs",
        items.ItemsSpec("file", "/work/a.jsonl", "jsonl", label="a.jsonl"),
    )
    assert items.parse_override("xs=s3://b/k/items.csv", cwd)[1].location == "s3://b/k/items.csv"
    assert items.parse_override("xs=s3://b/photos/", cwd)[1] == items.ItemsSpec(
        "prefix", "s3://b/photos/", label="s3://b/photos/"
    )
    prefix = items.parse_override("xs=s3://b/photos/*.jpg", cwd)[1]
    assert (prefix.kind, prefix.location, prefix.suffix) == ("prefix", "s3://b/photos/", ".jpg")
    for bad in ("xs", "=a.txt", "xs="):
        with pytest.raises(InvalidInputError, match="expected NAME=PATH"):
            items.parse_override(bad, cwd)
    with pytest.raises(InvalidInputError, match="given twice"):
        items.parse_overrides(["xs=a.txt", "xs=b.txt"], cwd)


LAUNCH_PLAN = """\
project: p
domain: d
name: pairs
version: v1
inputs:
  xs: {type: "list[int]"}
  ys: {type: "list[str]"}
  extra: {type: "list[float]", default: []}
map:
  over: [xs, ys]
task:
  image: busybox
  command: [echo, "{{ item.xs }}", "{{ item.ys }}"]
"""


def _resolve(tmp_path: Path, inputs: str, **kw) -> tuple[dict, object]:
    plan = parse_files([write(tmp_path / "lp.yaml", LAUNCH_PLAN)])[0]
    ef = execfile.load(write(tmp_path / "sub" / "exec.yaml", f"workflow: pairs\ninputs:\n{inputs}"))
    return execfile.resolve_inputs(ef, plan, **kw), plan


def test_exec_file_sources_are_relative_to_the_exec_file(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "xs.jsonl", "1\n2\n3\n")
    write(tmp_path / "sub" / "ys.txt", "a\nb\nc\n")
    write(tmp_path / "sub" / "extra.json", "[1, 2.5]")
    values, plan = _resolve(
        tmp_path,
        "  xs: {fromFile: xs.jsonl}\n  ys: {fromFile: ys.txt}\n  extra: {fromFile: extra.json}\n",
    )
    assert isinstance(values["xs"], items.Items) and len(values["xs"]) == 3
    assert values["extra"] == [1.0, 2.5]  # a broadcast list is read whole
    store = LocalStore(tmp_path / "store")
    stage(store, "p/d/e", plan, values)
    staged = (tmp_path / "store/p/d/e" / ITEMS).read_bytes()
    inline = LocalStore(tmp_path / "inline")
    stage(inline, "p/d/e", plan, {"xs": [1, 2, 3], "ys": ["a", "b", "c"], "extra": [1.0, 2.5]})
    assert staged == (tmp_path / "inline/p/d/e" / ITEMS).read_bytes()
    assert staged.splitlines()[0] == b'{"xs":1,"ys":"a"}'
    assert (tmp_path / "store/p/d/e" / INDEX).read_bytes() == (
        tmp_path / "inline/p/d/e" / INDEX
    ).read_bytes()


def test_mapped_streams_of_unequal_length_name_both(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "xs.jsonl", "1\n2\n3\n")
    with pytest.raises(InvalidInputError) as info:
        _resolve(tmp_path, "  xs: {fromFile: xs.jsonl}\n  ys: [a, b]\n")
    assert "'ys' has 2 items, 'xs' has 3" in "\n".join(info.value.lines())


def test_bad_spec_in_the_exec_file_is_located(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        _resolve(tmp_path, "  xs: {fromFile: xs.jsonl, sufix: x}\n  ys: [a]\n")
    assert info.value.lines()[0].endswith(
        "exec.yaml:3: inputs.xs.sufix: unknown key 'sufix' next to fromFile "
        "(allowed: fromFile, format)"
    )


def test_items_override_replaces_the_files_value(tmp_path: Path) -> None:
    write(tmp_path / "other.txt", "7\n8\n")
    overrides = {"xs": items.file_spec("other.txt", tmp_path)}
    values, _ = _resolve(tmp_path, "  xs: [1]\n  ys: [a, b]\n", overrides=overrides)
    assert list(values["xs"]) == [7, 8]
    with pytest.raises(InvalidInputError) as info:
        _resolve(tmp_path, "  xs: [1]\n  ys: [a]\n", overrides={"nope": overrides["xs"]})
    assert info.value.lines()[0].startswith("--items nope: launch plan pairs has no input 'nope'")


def test_a_source_for_a_dict_input_is_a_dict(tmp_path: Path) -> None:
    """{fromFile: …} only means a source for list inputs; a dict input keeps it as a value."""
    text = LAUNCH_PLAN.replace('extra: {type: "list[float]", default: []}', "conf: {type: dict}")
    plan = parse_files([write(tmp_path / "lp.yaml", text)])[0]
    ef = execfile.load(
        write(
            tmp_path / "e.yaml",
            "workflow: pairs\ninputs:\n  xs: [1]\n  ys: [a]\n  conf: {fromFile: x.txt}\n",
        )
    )
    assert execfile.resolve_inputs(ef, plan)["conf"] == {"fromFile": "x.txt"}


def test_where_batchmap_run_reads_its_items(tmp_path: Path) -> None:
    import io

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    piped = io.BytesIO(b"1\n")
    assert items.run_spec(None, None, None, None, tmp_path, piped) == items.ItemsSpec(
        "stdin", "-", "txt", label="<stdin>"
    )
    assert items.run_spec(None, None, None, "jsonl", tmp_path, piped).format == "jsonl"
    for given in (("s3://b/p/", None), (None, "s3://b/p/")):
        spec = items.run_spec(*given, ".jpg", None, tmp_path, None)
        assert (spec.kind, spec.location, spec.suffix) == ("prefix", "s3://b/p/", ".jpg")
    assert items.run_spec("a.csv", None, None, None, tmp_path, None).location == str(
        tmp_path / "a.csv"
    )
    with pytest.raises(InvalidInputError, match="--suffix goes with --items-prefix"):
        items.run_spec("a.txt", None, ".jpg", None, tmp_path, piped)
    with pytest.raises(InvalidInputError, match="no items: give --items FILE"):
        items.run_spec(None, None, None, None, tmp_path, Terminal())
    with pytest.raises(InvalidInputError, match="--items-prefix: fromPrefix takes"):
        items.run_spec(None, "photos/", None, None, tmp_path, None)


def test_flytes_other_types_from_items_files(tmp_path: Path) -> None:
    assert _read(tmp_path, "t.txt", "2024-01-02T03:04:05+01:00\n", "datetime") == [
        "2024-01-02T02:04:05Z"
    ]
    assert _read(tmp_path, "d.txt", " 1h30m \n", "duration") == ["1h30m"]
    assert _read(tmp_path, "o.jsonl", "1\nnull\n", "optional[int]") == [1, None]
    assert _error(tmp_path, "bad.txt", "yesterday\n", "datetime") == [
        'bad.txt:1: expected datetime (RFC 3339, e.g. 2024-01-02T03:04:05Z), got "yesterday" '
        "(a string)"
    ]


def test_local_files_from_an_items_file_are_checked_like_inline_ones(tmp_path: Path) -> None:
    text = LAUNCH_PLAN.replace('xs: {type: "list[int]"}', 'xs: {type: "list[file]"}')
    plan = parse_files([write(tmp_path / "lp.yaml", text)])[0]
    write(tmp_path / "sub" / "a.txt", "a")
    write(tmp_path / "sub" / "files.txt", "a.txt\ns3://bucket/b.txt\n")
    ef = execfile.load(
        write(
            tmp_path / "sub" / "e.yaml",
            "workflow: pairs\ninputs:\n  xs: {fromFile: files.txt}\n  ys: [p, q]\n",
        )
    )
    values = execfile.resolve_inputs(ef, plan)
    assert values["xs"] == [str(tmp_path / "sub" / "a.txt"), "s3://bucket/b.txt"]
    write(tmp_path / "sub" / "files.txt", "a.txt\nnope.txt\n")
    with pytest.raises(InvalidInputError) as info:
        execfile.resolve_inputs(ef, plan)
    assert "inputs.xs[1]: no such file" in "\n".join(info.value.lines())
