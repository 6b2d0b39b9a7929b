"""A staged item line is ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``
in UTF-8, byte for byte: the fast paths of ``json_line`` are held to json's own output."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import pytest

from batchmap.tasks.staging import json_line


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _text(rng: random.Random) -> str:
    alphabet = [
        '"',
        "\\",
        "/",
        "\n",
        "\t",
        "\x00",
        "\x1f",
        "\x7f",
        "é",
        "漢",
        "😀",
        "\u2028",
        "a",
        " ",
    ]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.randrange(-(10**30), 10**30)
    if kind == 1:
        return rng.choice([0, -1, 1, 2**63, -(2**64), True, False])
    if kind == 2:
        return rng.choice([0.1, -0.0, 1e300, 2.5, float(rng.randrange(10**6)) / 7])
    if kind == 3:
        return None
    if kind in (4, 5):
        return _text(rng)
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_random_values_are_encoded_as_json_dumps_encodes_them() -> None:
    rng = random.Random(21)
    for _ in range(20_000):
        value = _value(rng)
        assert json_line(value) == _dumps(value), value


@pytest.mark.parametrize(
    "value",
    [True, False, None, "", "plain", 0, -5, float("nan"), float("inf"), [1, "a"], {"k": 1}],
)
def test_the_special_values(value: Any) -> None:
    assert json_line(value) == _dumps(value)


def test_what_json_refuses_it_refuses_alike() -> None:
    with pytest.raises(UnicodeEncodeError):
        json_line("\ud800")  # a lone surrogate: not UTF-8, as with json.dumps(...).encode()
    with pytest.raises(UnicodeEncodeError):
        _dumps("\ud800")
    if hasattr(sys, "set_int_max_str_digits"):
        huge = 10**5000
        with pytest.raises(ValueError):
            json_line(huge)
        with pytest.raises(ValueError):
            _dumps(huge)
