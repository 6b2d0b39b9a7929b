"""The JSON Schemas batchmap ships are valid schemas (checked here once, not on every run)."""

from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from batchmap.files.schemas import load_schema

NAMES = sorted(
    p.name.removesuffix(".schema.json")
    for p in resources.files("batchmap.schemas").iterdir()
    if p.name.endswith(".schema.json")
)


def test_every_schema_is_found() -> None:
    assert {"config", "execfile", "launchplan", "execution"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(load_schema(name))
