"""botocore's models through batchmap's loader: the same models, less work.

The oracle is botocore's own loader: every model a batchmap client uses must be what
botocore loads, documentation aside (checked by a walk of its own, not by the function
that removes it), and an unknown service must fail with botocore's own error.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader as BotocoreLoader
from moto import mock_aws

from batchmap.aws import models
from batchmap.aws.clients import ClientFactory

# Every service batchmap makes a client for (grep 'client("' batchmap/).
SERVICES = ("s3", "batch", "logs", "iam", "sts", "ec2")


def _differences(ours: Any, theirs: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where two JSON values differ: the path of each key one has and the other lacks,
    and of each value that differs."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in ours.keys() | theirs.keys():
            if key not in ours or key not in theirs:
                yield (*path, key)
            else:
                yield from _differences(ours[key], theirs[key], (*path, key))
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            yield from _differences(a, b, (*path, i))
    elif ours != theirs or type(ours) is not type(theirs):
        yield path


def _is_documentation(path: tuple[Any, ...]) -> bool:
    """A documentation key: named so, and not a member's name (``shapes.X.members.KEY``)."""
    return path[-1] in ("documentation", "documentationUrl") and not (
        len(path) >= 2 and path[-2] == "members"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_model_is_botocores_without_its_documentation(
    service: str, tmp_path: Path
) -> None:
    theirs = BotocoreLoader().load_service_model(service, "service-2")
    folder = tmp_path / "models"
    for _ in range(2):  # made and kept, then read back from the cache
        ours = (
            models.session(folder)
            .get_component("data_loader")
            .load_service_model(service, "service-2")
        )
        differences = list(_differences(ours, theirs))
        assert differences, "botocore's model has documentation"
        assert all(_is_documentation(p) for p in differences), [
            p for p in differences if not _is_documentation(p)
        ][:5]
    assert len(list(folder.rglob("*.json"))) == 1


def test_a_member_called_documentation_is_kept() -> None:
    model = {
        "documentation": "the service",
        "operations": {
            "Put": {
                "documentation": "an operation",
                "documentationUrl": "https://example.com",
                "input": {"shape": "Doc", "documentation": "its input"},
                "errors": [{"shape": "Oops", "documentation": "an error"}],
            }
        },
        "shapes": {
            "Doc": {
                "type": "structure",
                "documentation": "a shape",
                "members": {
                    "documentation": {"shape": "Text", "documentation": "a member"},
                    "documentationUrl": {"shape": "Text"},
                },
            },
            "Texts": {"type": "list", "member": {"shape": "Text", "documentation": "x"}},
            "Text": {"type": "string", "enum": ["documentation"]},
        },
    }
    assert models.without_documentation(model) == {
        "operations": {"Put": {"input": {"shape": "Doc"}, "errors": [{"shape": "Oops"}]}},
        "shapes": {
            "Doc": {
                "type": "structure",
                "members": {
                    "documentation": {"shape": "Text"},
                    "documentationUrl": {"shape": "Text"},
                },
            },
            "Texts": {"type": "list", "member": {"shape": "Text"}},
            "Text": {"type": "string", "enum": ["documentation"]},
        },
    }


def test_every_data_file_botocore_reads_is_the_same(tmp_path: Path) -> None:
    """endpoints.json, partitions, a rule set (gzip), extras: decoded as botocore does."""
    theirs, folder = BotocoreLoader(), tmp_path / "models"
    for _ in range(2):  # the gzipped rule sets: decompressed and kept, then read back
        ours = models.session(folder).get_component("data_loader")
        for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
            assert ours.load_data(name) == theirs.load_data(name)
        for service in SERVICES:
            assert ours.load_service_model(service, "endpoint-rule-set-1") == (
                theirs.load_service_model(service, "endpoint-rule-set-1")
            )
            assert ours.load_service_model(service, "paginators-1") == (
                theirs.load_service_model(service, "paginators-1")
            )
    assert len(list(folder.rglob("*.json"))) == len(SERVICES)


def test_a_known_service_is_loaded_without_listing_every_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = models.session(tmp_path).get_component("data_loader")

    def listed(*_: Any, **__: Any) -> Any:
        raise AssertionError("listed every service")

    monkeypatch.setattr(loader, "list_available_services", listed)
    assert "DescribeJobs" in loader.load_service_model("batch", "service-2")["operations"]


@pytest.mark.parametrize(
    ("name", "version"),
    [("no-such-service", None), ("no-such-service", "2020-01-01"), ("../data/sts", None)],
)
def test_an_unknown_service_fails_with_botocores_own_error(
    name: str, version: str | None, tmp_path: Path
) -> None:
    loader = models.session(tmp_path).get_component("data_loader")
    with pytest.raises(Exception) as ours:
        loader.load_service_model(name, "service-2", version)
    with pytest.raises(Exception) as theirs:
        BotocoreLoader().load_service_model(name, "service-2", version)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)
    assert isinstance(ours.value, UnknownServiceError) or version is not None


def _sts(folder: Path) -> Any:
    return (
        models.session(folder).get_component("data_loader").load_service_model("sts", "service-2")
    )


@pytest.mark.parametrize(
    "damage",
    [
        b'{"half": ',
        b"[]",
        b"{}",
        b'{"format": 1, "origin": null, "data": {"metadata": {}}}',
        "same origin, no shapes",
        "same origin, another botocore's format",
    ],
)
def test_a_damaged_entry_is_not_used_and_is_made_again(damage: Any, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    _sts(folder)
    (entry,) = folder.rglob("*.json")
    kept = json.loads(entry.read_text())
    if damage == "same origin, no shapes":
        damage = json.dumps({**kept, "data": {"metadata": {}, "operations": {}}}).encode()
    elif damage == "same origin, another botocore's format":
        damage = json.dumps({**kept, "format": 0}).encode()
    entry.write_bytes(damage)
    theirs = BotocoreLoader().load_service_model("sts", "service-2")
    assert all(_is_documentation(p) for p in _differences(_sts(folder), theirs))
    assert json.loads(entry.read_text()) == kept  # made again, whole


def test_an_unwritable_cache_is_not_used(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert "GetCallerIdentity" in _sts(blocked / "models")["operations"]


def test_what_was_not_written_for_a_month_is_dropped(tmp_path: Path) -> None:
    """Other botocore versions' folders and entries of earlier installs go once they have
    not been written for STALE seconds (two installs sharing a cache do not thrash)."""
    folder = tmp_path / "models"
    _sts(folder)
    month = time.time() - models.STALE - 60
    old, recent = folder / "1.0.0", folder / "1.0.1"
    for version in (old, recent):
        version.mkdir()
        (version / "x.json").write_text("{}")
    os.utime(old, (month, month))
    earlier = folder / botocore.__version__ / "0123.json"
    earlier.write_text("{}")
    os.utime(earlier, (month, month))
    mine = folder / "notes"  # not a version: not ours to drop
    mine.mkdir()
    os.utime(mine, (month, month))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "2.0.0").symlink_to(elsewhere)
    os.utime(folder / "2.0.0", (month, month), follow_symlinks=False)
    for entry in (folder / botocore.__version__).glob("*.json"):
        if entry != earlier:
            entry.unlink()  # the next load writes again
    _sts(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [botocore.__version__, "1.0.1", "notes", "2.0.0"]
    )
    assert elsewhere.is_dir() and not earlier.exists()


def test_a_path_that_is_not_utf8_is_loaded_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Path(os.fsdecode(bytes(tmp_path) + b"/lat\xe9n"))
    custom = data / "sts" / "2011-06-15"
    custom.mkdir(parents=True)
    model = BotocoreLoader().load_service_model("sts", "service-2")
    (custom / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", str(data))
    folder = tmp_path / "models"
    for _ in range(2):
        assert "GetCallerIdentity" in _sts(folder)["operations"]
    assert len(list(folder.rglob("*.json"))) == 1


def _entry_of(folder: Path) -> Path:
    _sts(folder)
    (entry,) = folder.rglob("*.json")
    return entry


@pytest.mark.parametrize("kind", ["fifo", "deep", "huge", "link", "shared folder", "not mine"])
def test_an_entry_that_cannot_be_trusted_or_read_is_passed_over(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    entry = _entry_of(folder)
    kept = entry.read_bytes()
    if kind == "fifo":
        entry.unlink()
        os.mkfifo(entry)  # would block a plain read for ever
    elif kind == "deep":
        entry.write_text("[" * 200_000)  # json's RecursionError
    elif kind == "huge":
        with entry.open("r+b") as handle:
            handle.truncate(models.MAX_ENTRY + 1)  # sparse: never read
    elif kind == "link":
        target = tmp_path / "planted.json"
        target.write_bytes(kept)
        entry.unlink()
        entry.symlink_to(target)
    elif kind == "shared folder":
        entry.parent.chmod(0o777)
    else:
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    theirs = BotocoreLoader().load_service_model("sts", "service-2")
    assert all(_is_documentation(p) for p in _differences(_sts(folder), theirs))
    if kind in ("deep", "huge"):
        assert entry.read_bytes() == kept  # made again


def test_a_custom_model_on_aws_data_path_is_found_and_kept_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model in AWS_DATA_PATH comes first, as in botocore; its cache entry is its own."""
    folder = tmp_path / "cache"
    models.session(folder).get_component("data_loader").load_service_model("sts", "service-2")
    custom = tmp_path / "data" / "sts" / "2011-06-15"
    custom.mkdir(parents=True)
    model = BotocoreLoader().load_service_model("sts", "service-2")
    model["operations"]["GetCallerIdentity"]["documentation"] = "custom"
    model["metadata"]["serviceFullName"] = "Custom STS"
    with gzip.open(custom / "service-2.json.gz", "wt") as handle:
        json.dump(model, handle)
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "data"))
    for _ in range(2):
        loaded = (
            models.session(folder)
            .get_component("data_loader")
            .load_service_model("sts", "service-2")
        )
        assert loaded["metadata"]["serviceFullName"] == "Custom STS"
        assert "documentation" not in loaded["operations"]["GetCallerIdentity"]
    assert len(list(folder.rglob("*.json"))) == 2


@mock_aws
def test_clients_built_on_the_loader_call_aws(tmp_path: Path) -> None:
    factory = ClientFactory(region="us-east-1", models=tmp_path / "models")
    s3 = factory.client("s3")
    s3.create_bucket(Bucket="bucket-one")
    s3.put_object(Bucket="bucket-one", Key="k", Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bucket-one")["Contents"]] == ["k"]
    assert factory.client("sts").get_caller_identity()["Account"] == "123456789012"
    assert factory.client("batch").describe_jobs(jobs=["nope"])["jobs"] == []
    assert list((tmp_path / "models").iterdir())
    # the same requests as a client on botocore's own loader
    plain = boto3.Session(region_name="us-east-1").client("s3")
    assert plain.list_objects_v2(Bucket="bucket-one")["Contents"][0]["Key"] == "k"


def test_a_session_made_by_botocore_has_botocores_loader() -> None:
    """The loader is this session's own: other sessions keep botocore's."""
    assert type(botocore.session.Session().get_component("data_loader")) is BotocoreLoader
