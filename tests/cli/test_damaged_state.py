"""Damaged records in the store — a manifest, a local status file, a registry entry, an
output — changed by hand, by a full disk or by a child (issue 18): every command that
reads one says which file and exits 3; a listing shows the healthy ones and names the
damaged one."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import PY, prepare
from tests.conftest import Invoke

P = ("-p", "proj", "-d", "dev")
SQUARE = (
    "import json, os, sys; "
    "json.dump(int(sys.argv[1]) ** 2, open(os.environ['BATCHMAP_OUTPUT'], 'w'))"
)


def _run(cli: Invoke, tmp_path: Path, *names: str) -> Path:
    exec_file = prepare(cli, tmp_path, [PY, "-c", SQUARE, "{{ item }}"], default=[1, 2, 3])
    for name in names:
        result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", name)
        assert result.exit_code == 0, result.stderr
    return Path.home() / ".batchmap" / "store" / "proj" / "dev"


def _edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


MANIFESTS: dict[str, Callable[[Path], object]] = {
    "not-json": lambda p: p.write_text('{"name": 5'),
    "size-a-word": lambda p: _edit_json(p, lambda d: d.update(size="lots")),
    "size-huge": lambda p: _edit_json(p, lambda d: d.update(size=10**12)),
    "nan-ratio": lambda p: p.write_text(
        p.read_text().replace('"minSuccessRatio": 1.0', '"minSuccessRatio": NaN')
    ),
    "over-not-a-list": lambda p: _edit_json(p, lambda d: d["launchPlanSpec"]["map"].update(over=5)),
    "empty": lambda p: p.write_text(""),
}
STATUSES: dict[str, Callable[[Path], object]] = {
    "not-json": lambda p: p.write_text("{"),
    "children-missing": lambda p: _edit_json(p, lambda d: d.pop("children")),
    "too-few-children": lambda p: _edit_json(p, lambda d: d.update(children=d["children"][:1])),
    "status-a-number": lambda p: _edit_json(p, lambda d: d["children"][0].update(status=3)),
    "attempt-a-string": lambda p: _edit_json(p, lambda d: d["children"][1].update(attempts=["x"])),
    "time-garbage": lambda p: _edit_json(
        p, lambda d: d["children"][2]["attempts"][0].update(startedAt="yesterday")
    ),
}


@pytest.mark.parametrize("damage", MANIFESTS, ids=list(MANIFESTS))
def test_a_damaged_manifest_is_named_and_never_hides_the_others(
    cli: Invoke, tmp_path: Path, damage: str
) -> None:
    store = _run(cli, tmp_path, "good", "bad")
    MANIFESTS[damage](store / "bad" / "execution.json")
    listing = cli("get", "execution", *P, "-o", "json")
    assert listing.exit_code == 0, listing.stderr
    assert [e["name"] for e in json.loads(listing.stdout)] == ["good"]
    assert "skipped: " in listing.stderr and "bad/execution.json" in listing.stderr
    for args in (
        ["get", "execution", *P, "bad"],
        ["get", "execution", *P, "bad", "--outputs"],
        ["logs", *P, "bad"],
        ["delete", "execution", *P, "bad"],
        ["relaunch", *P, "bad", "--failed"],
    ):
        result = cli(*args)
        assert result.exit_code == 3, (args, result.stderr)
        assert "bad/execution.json: not a readable execution manifest" in result.stderr


@pytest.mark.parametrize("damage", STATUSES, ids=list(STATUSES))
def test_a_damaged_status_file_is_named_and_never_hides_the_others(
    cli: Invoke, tmp_path: Path, damage: str
) -> None:
    store = _run(cli, tmp_path, "good", "bad")
    STATUSES[damage](store / "bad" / "local" / "status.json")
    listing = cli("get", "execution", *P)
    assert listing.exit_code == 0, listing.stderr
    assert "good" in listing.stdout and "bad/local/status.json" in listing.stderr
    for args in (
        ["get", "execution", *P, "bad"],
        ["logs", *P, "bad"],
        ["delete", "execution", *P, "bad"],
        ["relaunch", *P, "bad", "--failed"],
    ):
        result = cli(*args)
        assert result.exit_code == 3, (args, result.stderr)
        assert "bad/local/status.json: not a readable status file" in result.stderr


EVENTS: dict[str, Callable[[Path], object]] = {
    "not-json": lambda p: p.write_text("{\n"),
    "index-outside": lambda p: p.write_text('{"i":7,"a":1,"at":"2026-12-03T00:00:00Z"}\n'),
    "attempt-skipped": lambda p: p.write_text('{"i":0,"a":2,"at":"2026-12-03T00:00:00Z"}\n'),
    "end-never-started": lambda p: p.write_text(
        '{"i":0,"a":1,"end":"2026-12-03T00:00:00Z","code":0,"reason":null,"status":"SUCCEEDED"}\n'
    ),
    "not-an-object": lambda p: p.write_text("[1, 2]\n"),
    "a-folder": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("damage", EVENTS, ids=list(EVENTS))
def test_a_damaged_events_file_of_a_running_execution_is_named(
    cli: Invoke, tmp_path: Path, damage: str
) -> None:
    """While a map runs, its children are read from local/events.jsonl (the status file
    names the supervisor only): a damaged one is named, exit 3, for every reader."""
    store = _run(cli, tmp_path, "good", "bad")
    status = store / "bad" / "local" / "status.json"
    _edit_json(status, lambda d: (d.pop("children"), d.update(finished=False)))
    EVENTS[damage](store / "bad" / "local" / "events.jsonl")
    listing = cli("get", "execution", *P)
    assert listing.exit_code == 0, listing.stderr
    assert "good" in listing.stdout and "bad/local/events.jsonl" in listing.stderr
    for args in (["get", "execution", *P, "bad"], ["logs", *P, "bad"]):
        result = cli(*args)
        assert result.exit_code == 3, (args, result.stderr)
        assert "bad/local/events.jsonl: not a readable events file" in result.stderr


def test_a_damaged_output_is_named(cli: Invoke, tmp_path: Path) -> None:
    store = _run(cli, tmp_path, "out")
    (store / "out" / "outputs" / "1.json").write_text("{not json")
    result = cli("get", "execution", *P, "out", "--outputs")
    assert result.exit_code == 3, result.stderr
    assert "out/outputs/1.json: not a readable output" in result.stderr
    assert "relaunch child 1" in result.stderr


@pytest.mark.parametrize("damage", ["not-json", "no-spec", "nan", "spec-a-list"])
def test_a_damaged_registry_entry_is_named_and_never_hides_the_others(
    cli: Invoke, tmp_path: Path, isolated: Path, damage: str
) -> None:
    prepare(cli, tmp_path, [PY, "-c", "print(1)"], name="good")
    prepare(cli, tmp_path, [PY, "-c", "print(1)"], name="bad")
    entry = isolated / ".batchmap/registry/proj/dev/launchplans/bad/v1.json"
    if damage == "not-json":
        entry.write_text("{")
    elif damage == "nan":
        entry.write_text(
            entry.read_text().replace('"minSuccessRatio": 1.0', '"minSuccessRatio": NaN')
        )
    else:
        _edit_json(entry, lambda d: d.pop("spec") if damage == "no-spec" else d.update(spec=[]))
    listing = cli("get", "launchplan", *P, "-o", "json")
    assert listing.exit_code == 0, listing.stderr
    assert [p["name"] for p in json.loads(listing.stdout)] == ["good"]
    assert "skipped: " in listing.stderr and "bad/v1.json: corrupt registry entry" in listing.stderr
    shown = cli("get", "launchplan", *P, "bad", "--version", "v1")
    assert shown.exit_code == 3 and "bad/v1.json: corrupt registry entry" in shown.stderr
