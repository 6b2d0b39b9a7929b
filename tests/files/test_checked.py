"""A schema check that passed is remembered until the document changes
(batchmap.files.checked): pinned by how often the schema is walked, never by time."""

import datetime as dt
from pathlib import Path

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
