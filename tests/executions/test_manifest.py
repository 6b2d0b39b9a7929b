"""The execution manifest: its schema, its format versions, and what reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from batchmap.errors import InvalidInputError
from batchmap.executions.manifest import FORMAT_VERSION, Manifest, decode, list_all
from batchmap.files.schemas import load_schema
from batchmap.files.store import LocalStore
from tests.conftest import TESTDATA, Invoke

MANIFESTS = TESTDATA / "manifests"
ROOT = Path(__file__).parents[2]


def _validator() -> Draft202012Validator:
    schema = load_schema("execution")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_a_real_local_run_writes_a_manifest_the_schema_accepts(cli: Invoke, isolated: Path) -> None:
    assert cli("register", "files", str(ROOT / "examples" / "squares.yaml")).exit_code == 0
    exec_file = isolated / "exec.yaml"
    assert cli("get", "launchplan", "-p", "flytesnacks", "-d", "development", "squares",
               "--execFile", str(exec_file)).exit_code == 0  # fmt: skip
    run = cli("create", "execution", "-p", "flytesnacks", "-d", "development",
              "--execFile", str(exec_file), "--wait", "schema")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    path = isolated / ".batchmap/store/flytesnacks/development/schema/execution.json"
    data = json.loads(path.read_text())
    errors = sorted(_validator().iter_errors(data), key=str)
    assert not errors, [e.message for e in errors]
    assert data["formatVersion"] == FORMAT_VERSION
    # Derived values are computed, not stored.
    assert not {"minSuccesses", "minSuccessRatio", "command", "launchPlan"} & set(data)
    shown = json.loads(cli("get", "execution", "-p", "flytesnacks", "-d", "development",
                           "schema", "-o", "json").stdout)  # fmt: skip
    assert (shown["minSuccesses"], shown["launchPlan"]["name"]) == (10, "squares")


@pytest.mark.parametrize("name", ["v1-local.json", "v1-aws.json"])
def test_format_1_manifests_are_read(name: str) -> None:
    old = json.loads((MANIFESTS / name).read_text())
    manifest = Manifest.from_dict(old)
    assert (manifest.name, manifest.size, manifest.state) == (old["name"], 10, "SUBMITTED")
    assert manifest.min_successes == old["minSuccesses"]
    assert manifest.child.templated and list(manifest.child.command) == old["command"]
    if old["backend"] == "aws":
        assert manifest.run["jobs"] == old["jobs"]
        assert manifest.queue is not None and manifest.queue.name == "critical"
        assert manifest.relaunches == ("v1relaunch",)
    else:
        assert manifest.run["local"]["directory"].endswith("/v1local")
    # Written again, it is a format-2 manifest the schema accepts, and reads back the same.
    again = manifest.to_dict()
    assert not list(_validator().iter_errors(again))
    assert Manifest.from_dict(again).view() == manifest.view()


def test_a_broken_manifest_is_one_clear_error_and_never_hides_the_others(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    good = (MANIFESTS / "v1-local.json").read_bytes()
    store.put("p/d/good/execution.json", good)
    store.put("p/d/bad/execution.json", b'{"name": "bad", "size": "many"}')
    with pytest.raises(InvalidInputError, match="not a readable execution manifest"):
        decode(b"{not json", "somewhere")
    found, broken = list_all(store, "p", "d")
    assert [m.name for m in found] == ["v1local"]
    assert len(broken) == 1 and "p/d/bad/execution.json" in broken[0].message


def test_a_newer_format_is_refused_clearly() -> None:
    data = json.loads((MANIFESTS / "v1-local.json").read_text())
    data["formatVersion"] = FORMAT_VERSION + 1
    with pytest.raises(InvalidInputError, match="newer than this batchmap"):
        decode(json.dumps(data).encode(), "x")
