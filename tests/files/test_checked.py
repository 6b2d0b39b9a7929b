"""A schema check that passed is remembered until the document changes
(batchmap.files.checked): pinned by how often the schema is walked, never by time."""

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from batchmap.errors import InvalidInputError
from batchmap.executions import execfile
from batchmap.files import checked
from tests.conftest import write

GOOD = "inputs:\n  xs: [1, 2]\nversion: v1\nworkflow: lp\n"


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every schema walk of an exec file."""
    seen: list[str] = []
    real = execfile.schema_problems

    def counting(doc, name, data=None, base=()):  # type: ignore[no-untyped-def]
        seen.append(name)
        return real(doc, name, data, base)

    monkeypatch.setattr(execfile, "schema_problems", counting)
    return seen


def test_a_valid_exec_file_is_walked_once_per_change(tmp_path: Path, walks: list[str]) -> None:
    cache = tmp_path / "cache"
    path = write(tmp_path / "exec.yaml", GOOD)
    first = execfile.load(path, checks=cache)
    again = execfile.load(path, checks=cache)
    assert walks == ["execfile"]
    assert again.inputs == first.inputs == {"xs": [1, 2]}
    write(path, GOOD.replace("[1, 2]", "[1, 2, 3]"))  # changed: walked again
    assert execfile.load(path, checks=cache).inputs == {"xs": [1, 2, 3]}
    assert walks == ["execfile", "execfile"]
    execfile.load(path)  # no cache folder: always walked
    assert len(walks) == 3


def test_an_invalid_exec_file_is_reported_every_time(tmp_path: Path, walks: list[str]) -> None:
    cache = tmp_path / "cache"
    path = write(tmp_path / "exec.yaml", GOOD.replace("version: v1", "version: [v1]"))
    for _ in range(2):
        with pytest.raises(InvalidInputError) as raised:
            execfile.load(path, checks=cache)
        assert [p.path for p in raised.value.problems] == ["version"]
    assert walks == ["execfile", "execfile"]
    assert not list(cache.glob("*")) if cache.exists() else True


def test_another_batchmap_or_a_damaged_entry_checks_again(
    tmp_path: Path, walks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = write(tmp_path / "exec.yaml", GOOD)
    execfile.load(path, checks=cache)
    monkeypatch.setattr(checked, "__version__", "0.0.0-other")
    execfile.load(path, checks=cache)
    assert len(walks) == 2
    for entry in cache.glob("*.sha256"):
        entry.write_text("garbage")
    execfile.load(path, checks=cache)
    assert len(walks) == 3
    execfile.load(path, checks=cache)  # remembered again
    assert len(walks) == 3


def test_data_json_cannot_give_back_is_never_remembered() -> None:
    assert checked.fingerprint("execfile", {"when": dt.date(2024, 1, 1)}) is None
    assert checked.fingerprint("execfile", {"x": float("nan")}) is None
    assert checked.fingerprint("execfile", {1: "a"}) is None  # JSON gives back "1"
    assert checked.fingerprint("execfile", {"a": [1]}) == checked.fingerprint(
        "execfile", {"a": [1]}
    )
    assert checked.fingerprint("execfile", {"a": [1]}) != checked.fingerprint(
        "launchplan", {"a": [1]}
    )


def test_an_unwritable_cache_only_costs_a_check(tmp_path: Path, walks: list[str]) -> None:
    blocked = write(tmp_path / "not-a-folder", "x")
    path = write(tmp_path / "exec.yaml", GOOD)
    for _ in range(2):
        assert execfile.load(path, checks=blocked / "cache").inputs == {"xs": [1, 2]}
    assert len(walks) == 2


def _round_trip_rule(data: Any) -> bool:
    """The rule the walk replaced: JSON gives the data back equal."""
    try:
        text = json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return False
    return isinstance(data, dict) and json.loads(text) == data


def _random_data(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 4 else 5)
    scalars: list[Any] = [0, 1, -7, 2.5, "s", "", None, True, False, 10**20, -0.0]
    if kind < 5:
        return rng.choice(scalars)
    if kind == 5:
        return rng.choice([dt.date(2024, 1, 1), float("nan"), float("inf"), {1, 2}, b"x"])
    if kind in (6, 7):
        keys: list[Any] = ["a", "b", "c", "1"]
        if rng.random() < 0.15:
            keys.append(rng.choice([1, 2.5, None, True]))
        return {rng.choice(keys): _random_data(rng, depth + 1) for _ in range(rng.randrange(4))}
    items = [_random_data(rng, depth + 1) for _ in range(rng.randrange(4))]
    return tuple(items) if rng.random() < 0.1 else items


def test_what_is_remembered_is_what_json_gives_back_equal() -> None:
    rng = random.Random(21)
    seen = {True: 0, False: 0}
    for _ in range(20_000):
        data = {"inputs": _random_data(rng)}
        expected = _round_trip_rule(data)
        seen[expected] += 1
        assert (checked.fingerprint("execfile", data) is not None) == expected, data
    assert min(seen.values()) > 1_000  # both outcomes are exercised
