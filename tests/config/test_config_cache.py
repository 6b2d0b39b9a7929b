"""A config file is checked once per change (batchmap.config.cache): pinned by how often
the checks run, never by time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from batchmap.config import loader
from batchmap.config.loader import Overrides, resolve
from batchmap.errors import InvalidInputError
from tests.conftest import write

CONFIG = (
    "backend: aws\n"
    "storage: s3://bucket/store\n"
    "aws:\n  region: eu-west-1\n"
    "queues:\n"
    "  executionQueues:\n    - dynamic: q\n      attributes: [default]\n"
    "  workflowConfigs:\n    - tags: [default, nope]\n"  # 'nope': a warning
)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run of the config checks, by file."""
    seen: list[str] = []
    real = loader.check_config

    def counting(doc, backend=None):  # type: ignore[no-untyped-def]
        seen.append(doc.source)
        return real(doc, backend)

    monkeypatch.setattr(loader, "check_config", counting)
    return seen


def _resolve(tmp_path: Path, environ: dict[str, str] | None = None, **flags: str):
    return resolve(Overrides(**flags), environ or {}, tmp_path, tmp_path / "home")


def test_an_unchanged_config_is_checked_once(tmp_path: Path, checks: list[str]) -> None:
    path = write(tmp_path / "batchmap.yaml", CONFIG)
    first = _resolve(tmp_path)
    second = _resolve(tmp_path)
    assert checks == [str(path)]
    assert second == first  # data, warnings and the lines `config show` cites
    assert [str(w) for w in second.warnings] == [str(w) for w in first.warnings]
    assert "nope" in str(second.warnings[0])
    assert second.values["aws.region"].detail == f"{path}:4"


def test_a_changed_config_is_checked_again(tmp_path: Path, checks: list[str]) -> None:
    path = write(tmp_path / "batchmap.yaml", CONFIG)
    _resolve(tmp_path)
    write(path, CONFIG.replace("eu-west-1", "eu-west-2"))
    assert _resolve(tmp_path).region == "eu-west-2"
    assert len(checks) == 2


def test_another_backend_flag_is_checked_again(tmp_path: Path, checks: list[str]) -> None:
    write(tmp_path / "batchmap.yaml", CONFIG)
    _resolve(tmp_path)
    _resolve(tmp_path, {"BATCHMAP_BACKEND": "aws"})
    assert len(checks) == 2


def test_an_invalid_config_is_never_remembered(tmp_path: Path, checks: list[str]) -> None:
    write(tmp_path / "batchmap.yaml", "backend: aws\nbogus: 1\n")
    for _ in range(2):
        with pytest.raises(InvalidInputError, match="invalid configuration"):
            _resolve(tmp_path)
    assert len(checks) == 2
    assert not list((tmp_path / "home" / ".cache").rglob("*.json"))


def test_the_cache_is_safe_to_delete_or_break(tmp_path: Path, checks: list[str]) -> None:
    write(tmp_path / "batchmap.yaml", CONFIG)
    _resolve(tmp_path)
    (entry,) = (tmp_path / "home" / ".cache" / "batchmap" / "config").glob("*.json")
    entry.write_text("{not json")
    assert _resolve(tmp_path).region == "eu-west-1"
    entry.unlink()
    assert _resolve(tmp_path).region == "eu-west-1"
    assert len(checks) == 3
    assert json.loads(entry.read_text())["data"]["aws"]["region"] == "eu-west-1"


def test_an_unwritable_cache_is_not_used(tmp_path: Path, checks: list[str]) -> None:
    write(tmp_path / "batchmap.yaml", CONFIG)
    blocker = write(tmp_path / "not-a-folder", "")
    environ = {"XDG_CACHE_HOME": str(blocker)}
    assert _resolve(tmp_path, environ).region == "eu-west-1"
    assert _resolve(tmp_path, environ).region == "eu-west-1"
    assert len(checks) == 2


def test_xdg_cache_home_is_where_entries_go(tmp_path: Path) -> None:
    write(tmp_path / "batchmap.yaml", CONFIG)
    _resolve(tmp_path, {"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert len(list((tmp_path / "xdg" / "batchmap" / "config").glob("*.json"))) == 1


def test_a_remembered_config_loads_neither_yaml_nor_jsonschema(tmp_path: Path) -> None:
    write(tmp_path / "batchmap.yaml", CONFIG)
    _resolve(tmp_path)  # checked and remembered here
    code = (
        "import sys; from pathlib import Path; from batchmap.config.loader import Overrides, "
        f"resolve; resolve(Overrides(), {{}}, Path({str(tmp_path)!r}), "
        f"Path({str(tmp_path / 'home')!r})); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ruamel', 'jsonschema'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
