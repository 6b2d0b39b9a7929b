"""The fast YAML builder against ruamel's loader: the same data, the same errors, the same
lines, on every YAML file of the repository and on generated documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchmap.errors import InvalidInputError
from batchmap.files import yamldoc, yamlevents
from batchmap.files.yamldoc import YamlDocument, load_documents

ROOT = Path(__file__).parents[2]
CORPUS = sorted(
    p
    for folder in ("tests/testdata", "examples", "docs")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in (".yaml", ".yml")
)


def iter_paths(data: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every path in a plain document, depth first."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from iter_paths(value, (*path, i))


def _reference(text: str, source: str) -> list[Any]:
    """What batchmap read before the fast builder: ruamel's safe loader + the plain walk."""
    trees = yamldoc._load_with_ruamel(text, source)
    positions = yamlevents.EventPositions(text)
    return [
        yamldoc._to_plain(tree, YamlDocument(source, None, positions, i))
        for i, tree in enumerate(trees)
    ]


def _outcome(load: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", load(text, "f.yaml")
    except InvalidInputError as exc:
        return "error", exc.lines()


def _fast(text: str, source: str) -> list[Any]:
    return [doc.data for doc in load_documents(text, source)]


def _rt_lines(text: str, index: int, path: tuple) -> int | None:
    """Lines as the round-trip tree gave them (the previous implementation)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import RoundTripConstructor

    yaml = YAML(typ="rt")
    yaml.Constructor = yamldoc._text_timestamps(RoundTripConstructor)  # as batchmap reads them
    trees = list(yaml.load_all(text))
    node = trees[index]
    if node is None:
        return None
    lc = getattr(node, "lc", None)
    line = lc.line + 1 if lc is not None and isinstance(lc.line, int) else 1
    for part in path:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list):
                line = lc.item(part)[0] + 1
                node = node[part]
            elif isinstance(node, dict) and part in node:
                line = lc.key(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def test_the_corpus_is_the_repositorys_yaml() -> None:
    assert len(CORPUS) > 80


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_corpus_loads_the_same_both_ways(path: Path) -> None:
    try:
        text = yamldoc.read_text(path)
    except InvalidInputError:
        return  # not UTF-8: refused before any YAML is read, either way
    assert _outcome(_fast, text) == _outcome(_reference, text)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_corpus_lines_are_the_round_trip_trees_lines(path: Path) -> None:
    try:
        text = yamldoc.read_text(path)
        docs = load_documents(text, str(path))
    except InvalidInputError:
        return
    if "*" in text and "&" in text:
        return  # an alias has no lines of its own in the events; the tree shared them
    for doc in docs:
        for p in iter_paths(doc.data):
            assert doc.line_of(p) == _rt_lines(text, doc.index, p), p


def test_a_million_items_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "xs:\n" + "".join(f"  - {i}\n" for i in range(1000)) + "ys: [a, 'b', 1.5, true, ~]\n"
    monkeypatch.setattr(yamldoc, "_load_with_ruamel", lambda *a: pytest.fail("slow path"))
    (doc,) = load_documents(text, "f.yaml")
    assert doc.data["xs"][-1] == 999
    assert doc.data["ys"] == ["a", "b", 1.5, True, None]
    assert doc.line_of(["xs", 999]) == 1001
    assert doc.line_of(["ys"]) == 1002


@pytest.mark.parametrize(
    "text",
    [
        "v: 2024-01-31\n",
        "a: &x [1]\nb: *x\n",
        "a: !!str 5\n",
        "<<: {a: 1}\nb: 2\n",
        "a: 0x1f\nb: 1_000\nc: .inf\nd: +5\ne: 012\n",
        "%YAML 1.1\n---\na: yes\n",
        "? [1, 2]\n: x\n",
        "a: 1\na: 2\n",
    ],
)
def test_what_the_builder_declines_ruamel_reads(text: str) -> None:
    with pytest.raises(yamlevents.Unsupported):
        yamlevents.build_all(text)
    assert _outcome(_fast, text) == _outcome(_reference, text)


def test_too_large_is_located_without_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlevents, "MAX_NODES", 5)
    monkeypatch.setattr(yamldoc, "MAX_NODES", 5)
    text = "a: 1\nb:\n  - 1\n  - 2\n  - 3\n  - 4\n"
    with pytest.raises(InvalidInputError) as info:
        load_documents(text, "f.yaml")
    assert info.value.lines()[0] == (
        "f.yaml:2: b: document too large (over 5 values after expanding aliases)"
    )


scalars = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "1e3", "0o17", "1:20", "~", "", "null", "-", "2024-01-01"]),
)
keys = st.one_of(st.text(max_size=8), st.integers(0, 99), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values, flow=st.booleans(), width=st.sampled_from([20, 4096]))
def test_generated_documents_load_the_same_both_ways(value: Any, flow: bool, width: int) -> None:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.width = width
    stream = io.StringIO()
    yaml.dump({"inputs": value}, stream)
    text = stream.getvalue()
    assert _outcome(_fast, text) == _outcome(_reference, text)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="ab1:-[]{},'\"\n #&*!.~", max_size=40))
def test_arbitrary_text_loads_or_fails_the_same_both_ways(text: str) -> None:
    assert _outcome(_fast, text) == _outcome(_reference, text)
